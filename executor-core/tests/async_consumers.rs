//! Async consumers (issue #11, point 7): `as_completed` as a `Stream` and `wait_async`, on a
//! current-thread tokio runtime while plain threads complete the futures, and polled by hand
//! with counting wakers to observe exactly who is woken and what the futures still hold.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{Future, ReturnWhen, TaskError, WaitSets, as_completed, wait_async};
use futures_core::{FusedStream, Stream};

const BOUND: Duration = Duration::from_secs(30);

type F = Future<i32>;

/// Runs `future` on a current-thread runtime (one thread: the test's), failing if it is not
/// ready within `BOUND`.
fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(BOUND, future)
            .await
            .expect("not woken within BOUND: lost wake-up?")
    })
}

/// A waker that counts its wake-ups; its `Arc`'s strong count tells who still holds a clone.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn counting_waker() -> (Waker, Arc<Counter>) {
    let counter = Arc::new(Counter::default());
    (Waker::from(counter.clone()), counter)
}

/// How many clones of `counter`'s waker something other than the test (which holds the waker
/// and `counter`) keeps.
fn clones_held(counter: &Arc<Counter>) -> usize {
    Arc::strong_count(counter) - 2
}

fn poll_next<S: Stream + Unpin>(stream: &mut S, waker: &Waker) -> Poll<Option<S::Item>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(waker))
}

fn poll<T: std::future::Future + Unpin>(future: &mut T, waker: &Waker) -> Poll<T::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn values(futures: &[&F]) -> Vec<i32> {
    futures.iter().map(|f| f.result().unwrap()).collect()
}

#[test]
fn the_stream_drains_on_a_current_thread_runtime_while_a_thread_completes() {
    let (pa, a) = F::pending();
    let (pb, b) = F::pending();
    let (pc, c) = F::pending();
    let d = F::ready(4);
    // The completer waits for a signal that only a second task on the runtime's one thread
    // sends: if draining the stream blocked that thread, the signal would never come (the
    // completer then completes anyway after BOUND, so a blocking stream fails instead of
    // hanging).
    let (go, signal) = mpsc::channel::<()>();
    let completer = thread::spawn(move || {
        let mut released_by_the_runtime = true;
        for (promise, value) in [(pc, 3), (pa, 1), (pb, 2)] {
            released_by_the_runtime &= signal.recv_timeout(BOUND).is_ok();
            promise.set_result(value).unwrap();
        }
        released_by_the_runtime
    });
    let (order, ()) = run(async {
        let mut completed = as_completed([&a, &b, &c, &d]);
        let drain = async {
            let mut order = Vec::new();
            while let Some(future) = completed.next_async().await {
                order.push(future);
            }
            order
        };
        let release = async {
            for _ in 0..3 {
                go.send(()).unwrap();
                tokio::task::yield_now().await;
            }
        };
        tokio::join!(drain, release)
    });
    assert!(
        completer.join().unwrap(),
        "the runtime thread was blocked while the stream waited"
    );
    assert_eq!(
        values(&order),
        [4, 3, 1, 2],
        "done first, then completion order"
    );
}

#[test]
fn done_futures_come_first_in_input_order_then_the_stream_waits() {
    let (pa, a) = F::pending();
    let b = F::ready(2);
    let c = F::ready(3);
    let mut completed = as_completed([&a, &b, &c]);
    let (waker, counter) = counting_waker();
    assert_eq!(Stream::size_hint(&completed), (3, Some(3)));
    let Poll::Ready(Some(first)) = poll_next(&mut completed, &waker) else {
        panic!("b is done")
    };
    let Poll::Ready(Some(second)) = poll_next(&mut completed, &waker) else {
        panic!("c is done")
    };
    assert_eq!(values(&[first, second]), [2, 3]);
    assert_eq!(Stream::size_hint(&completed), (1, Some(1)));
    assert!(poll_next(&mut completed, &waker).is_pending());
    assert_eq!(counter.wakes(), 0);
    pa.set_result(1).unwrap();
    assert_eq!(counter.wakes(), 1, "the completion wakes the stream's task");
    let Poll::Ready(Some(last)) = poll_next(&mut completed, &waker) else {
        panic!("woken for a")
    };
    assert!(std::ptr::eq(last, &a));
    assert!(completed.is_terminated());
    assert!(matches!(
        poll_next(&mut completed, &waker),
        Poll::Ready(None)
    ));
    assert!(
        matches!(poll_next(&mut completed, &waker), Poll::Ready(None)),
        "fused"
    );
}

#[test]
fn a_cancellation_wakes_the_stream() {
    let (_pa, a) = F::pending();
    let mut completed = as_completed([&a]);
    let (waker, counter) = counting_waker();
    assert!(poll_next(&mut completed, &waker).is_pending());
    assert!(a.cancel());
    assert_eq!(counter.wakes(), 1);
    let Poll::Ready(Some(future)) = poll_next(&mut completed, &waker) else {
        panic!("woken for the cancellation")
    };
    assert_eq!(future.result(), Err(TaskError::Cancelled));
}

#[test]
fn a_cancellation_from_another_thread_wakes_the_runtime() {
    let (_pa, a) = F::pending();
    let (pb, b) = F::pending();
    let yielded = thread::scope(|s| {
        let mut completed = as_completed([&a, &b]);
        s.spawn(|| {
            assert!(a.cancel());
            pb.set_result(2).unwrap();
        });
        run(async {
            let mut yielded = Vec::new();
            while let Some(future) = completed.next_async().await {
                yielded.push(future.result());
            }
            yielded
        })
    });
    assert_eq!(yielded, [Err(TaskError::Cancelled), Ok(2)]);
}

#[test]
fn only_the_waker_of_the_latest_poll_is_kept_and_woken() {
    let (pa, a) = F::pending();
    let (_pb, b) = F::pending();
    let mut completed = as_completed([&a, &b]);
    let (old, old_counter) = counting_waker();
    let (new, new_counter) = counting_waker();
    for _ in 0..3 {
        assert!(poll_next(&mut completed, &old).is_pending());
    }
    assert_eq!(
        clones_held(&old_counter),
        1,
        "one clone kept, not one per poll"
    );
    assert!(poll_next(&mut completed, &new).is_pending());
    assert_eq!(clones_held(&old_counter), 0, "replaced, not accumulated");
    pa.set_result(1).unwrap();
    assert_eq!((old_counter.wakes(), new_counter.wakes()), (0, 1));
    assert_eq!(clones_held(&new_counter), 0, "taken out by the wake-up");
}

#[test]
fn dropping_the_stream_early_unregisters_it() {
    let (pa, a) = F::pending();
    let (pb, b) = F::pending();
    let (waker, counter) = counting_waker();
    {
        let mut completed = as_completed([&a, &b]);
        assert!(poll_next(&mut completed, &waker).is_pending());
        assert_eq!(
            clones_held(&counter),
            1,
            "the stream's waiter holds the waker"
        );
    }
    // Nothing holds the waker any more: the futures no longer list the stream's waiter.
    assert_eq!(clones_held(&counter), 0);
    pa.set_result(1).unwrap();
    pb.set_result(2).unwrap();
    assert_eq!(
        counter.wakes(),
        0,
        "a later completion does not touch the dropped stream"
    );
    assert_eq!(values(&[&a, &b]), [1, 2]);
}

#[test]
fn a_stream_of_owned_futures_yields_them_by_value() {
    let (promises, futures): (Vec<_>, Vec<_>) = (0..4).map(|_| F::pending()).unzip();
    // Watched before any completes, so the order is the completion order.
    let mut completed = as_completed(futures);
    let completer = thread::spawn(move || {
        for (i, promise) in promises.into_iter().enumerate().rev() {
            promise.set_result(i as i32).unwrap();
        }
    });
    let order: Vec<i32> = run(async {
        let mut order = Vec::new();
        while let Some(future) = completed.next_async().await {
            order.push(future.join().unwrap());
        }
        order
    });
    completer.join().unwrap();
    assert_eq!(order, [3, 2, 1, 0]);
}

#[test]
fn the_stream_works_with_stream_ext() {
    use futures_util::StreamExt;

    let futures = [F::ready(1), F::ready(2), F::ready(3)];
    let sum = run(StreamExt::fold(
        as_completed(&futures),
        0,
        |sum, future| async move { sum + future.result().unwrap() },
    ));
    assert_eq!(sum, 6);
}

fn values_of(sets: &WaitSets<&F>) -> (Vec<i32>, usize) {
    (values(&sets.done), sets.not_done.len())
}

#[test]
fn wait_async_first_completed_resolves_on_a_completion_from_another_thread() {
    let (pa, a) = F::pending();
    let (_pb, b) = F::pending();
    let mut waiting = wait_async([&a, &b], ReturnWhen::FirstCompleted);
    let (waker, counter) = counting_waker();
    assert!(poll(&mut waiting, &waker).is_pending());
    thread::spawn(move || pa.set_result(1).unwrap())
        .join()
        .unwrap();
    assert_eq!(counter.wakes(), 1);
    let Poll::Ready(sets) = poll(&mut waiting, &waker) else {
        panic!("woken for a")
    };
    assert_eq!(values_of(&sets), (vec![1], 1));
    assert!(std::ptr::eq(sets.not_done[0], &b));
}

#[test]
fn wait_async_all_completed_on_the_runtime() {
    let (pa, a) = F::pending();
    let (pb, b) = F::pending();
    let c = F::ready(3);
    let completer = thread::spawn(move || {
        pb.set_result(2).unwrap();
        pa.set_result(1).unwrap();
    });
    let sets = run(wait_async([&a, &b, &c, &a], ReturnWhen::AllCompleted));
    completer.join().unwrap();
    assert_eq!(
        values_of(&sets),
        (vec![1, 2, 3], 0),
        "input order, duplicates once"
    );
}

#[test]
fn wait_async_first_exception_resolves_on_a_failure_not_a_cancellation() {
    let (_pa, a) = Future::<i32, String>::pending();
    let (pb, b) = Future::<i32, String>::pending();
    let (pc, c) = Future::<i32, String>::pending();
    let mut waiting = wait_async([&a, &b, &c], ReturnWhen::FirstException);
    let (waker, counter) = counting_waker();
    assert!(poll(&mut waiting, &waker).is_pending());
    pc.set_cancelled().unwrap();
    assert_eq!(counter.wakes(), 1);
    assert!(
        poll(&mut waiting, &waker).is_pending(),
        "a cancellation is no exception"
    );
    pb.set_error("boom".into()).unwrap();
    assert_eq!(counter.wakes(), 2);
    let Poll::Ready(sets) = poll(&mut waiting, &waker) else {
        panic!("b failed")
    };
    assert_eq!(sets.done.len(), 2);
    assert!(std::ptr::eq(sets.done[0], &b) && std::ptr::eq(sets.done[1], &c));
    assert!(std::ptr::eq(sets.not_done[0], &a));
}

#[test]
fn wait_async_on_done_or_no_futures_is_ready_at_once() {
    let (waker, counter) = counting_waker();
    let a = F::ready(1);
    let mut waiting = wait_async([&a], ReturnWhen::AllCompleted);
    let Poll::Ready(sets) = poll(&mut waiting, &waker) else {
        panic!("a is done")
    };
    assert_eq!(values_of(&sets), (vec![1], 0));
    let mut none = wait_async(Vec::<&F>::new(), ReturnWhen::FirstCompleted);
    assert!(poll(&mut none, &waker).is_ready());
    assert_eq!(counter.wakes(), 0);
}

#[test]
fn wait_async_under_a_runtime_timeout_gives_up() {
    let (pa, a) = F::pending();
    let b = F::ready(2);
    let timed_out = run(async {
        tokio::time::timeout(Duration::ZERO, wait_async([&a], ReturnWhen::AllCompleted)).await
    });
    assert!(timed_out.is_err(), "a never completes");
    // The timeout polls the wait first: one that holds already is not lost to it.
    let sets = run(async {
        tokio::time::timeout(
            Duration::ZERO,
            wait_async([&a, &b], ReturnWhen::FirstCompleted),
        )
        .await
    })
    .expect("b is done");
    assert_eq!(values_of(&sets), (vec![2], 1));
    drop(pa);
}

#[test]
fn dropping_wait_async_unregisters_it() {
    let (pa, a) = F::pending();
    let (waker, counter) = counting_waker();
    let mut waiting = wait_async([&a], ReturnWhen::AllCompleted);
    assert!(poll(&mut waiting, &waker).is_pending());
    assert_eq!(clones_held(&counter), 1);
    drop(waiting);
    assert_eq!(clones_held(&counter), 0);
    pa.set_result(1).unwrap();
    assert_eq!(counter.wakes(), 0);
}
