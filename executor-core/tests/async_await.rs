//! `.await` on a `Future` (it implements `std::future::Future`), driven by a minimal `block_on`
//! written here so no runtime is needed: wake-ups from other threads, cancellation and failure as
//! outcomes, dropping an awaiting task neither cancelling the work nor losing the result, and
//! completion racing against waker registration.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use concurrent_futures_core::{Future, State, TaskError};

const BOUND: Duration = Duration::from_secs(30);

/// Wakes the thread blocked in `block_on`, and counts wake-ups.
struct Unpark {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Polls `future` to completion on this thread; panics if it is not ready within `BOUND`.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    let waker = Waker::from(Arc::new(Unpark {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    }));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + BOUND;
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "not woken within {BOUND:?}: lost wake-up?");
        thread::park_timeout(left);
    }
}

/// A waker that only counts.
fn counting_waker() -> (Waker, Arc<Unpark>) {
    let unpark = Arc::new(Unpark {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (Waker::from(unpark.clone()), unpark)
}

#[test]
fn awaiting_a_done_future_gives_its_outcome() {
    assert_eq!(block_on(Future::<u8>::ready(4)), Ok(4));
    let failed = Future::<u8, String>::failed(TaskError::Failed("no".into()));
    assert_eq!(block_on(failed), Err(TaskError::Failed("no".into())));
    let (_promise, cancelled) = Future::<u8>::pending();
    cancelled.cancel();
    assert_eq!(block_on(cancelled), Err(TaskError::Cancelled));
}

#[test]
fn a_completion_in_another_thread_wakes_the_awaiting_task() {
    let (promise, future) = Future::<String>::pending();
    let barrier = Arc::new(Barrier::new(2));
    let go = barrier.clone();
    let completer = thread::spawn(move || {
        go.wait();
        promise.set_result("hello".into()).unwrap();
    });
    let value = block_on(async {
        barrier.wait();
        future.await
    });
    assert_eq!(value.as_deref(), Ok("hello"));
    completer.join().unwrap();
}

#[test]
fn awaiting_inside_async_code_composes() {
    let a = Future::<u32>::ready(2);
    let (promise, b) = Future::<u32>::pending();
    let completer = thread::spawn(move || promise.set_result(3).unwrap());
    let sum = block_on(async { a.await.unwrap() + b.await.unwrap() });
    assert_eq!(sum, 5);
    completer.join().unwrap();
}

#[test]
fn dropping_the_awaiting_task_neither_cancels_nor_loses_the_result() {
    let (promise, mut future) = Future::<u32>::pending();
    let (waker, wakes) = counting_waker();
    {
        let mut awaiting = pin!(&mut future);
        let poll = awaiting.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending());
    }
    assert_eq!(future.state(), State::Pending, "not cancelled");
    promise.set_result(9).unwrap();
    assert_eq!(future.result(), Ok(9), "not lost");
    assert_eq!(block_on(future), Ok(9), "and still awaitable");
    assert_eq!(
        wakes.wakes.load(Ordering::SeqCst),
        1,
        "the old waker was woken, harmlessly"
    );
}

#[test]
fn a_cancellation_wakes_the_awaiting_task() {
    let (_promise, future) = Future::<u32>::pending();
    let (waker, wakes) = counting_waker();
    let canceller = future.cancel_handle();
    let mut awaiting = pin!(future);
    let mut cx = Context::from_waker(&waker);
    assert!(awaiting.as_mut().poll(&mut cx).is_pending());
    assert!(canceller.cancel());
    assert_eq!(wakes.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(
        awaiting.as_mut().poll(&mut cx),
        Poll::Ready(Err(TaskError::Cancelled))
    );
}

#[test]
fn polling_again_with_a_new_waker_wakes_the_new_one() {
    let (promise, future) = Future::<u32>::pending();
    let (first, first_wakes) = counting_waker();
    let (second, second_wakes) = counting_waker();
    let mut awaiting = pin!(future);
    assert!(
        awaiting
            .as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending()
    );
    // Polling twice with the same waker registers it once.
    assert!(
        awaiting
            .as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending()
    );
    assert!(
        awaiting
            .as_mut()
            .poll(&mut Context::from_waker(&second))
            .is_pending()
    );
    promise.set_result(1).unwrap();
    assert_eq!(second_wakes.wakes.load(Ordering::SeqCst), 1);
    assert!(first_wakes.wakes.load(Ordering::SeqCst) <= 1);
}

#[test]
fn many_clones_awaited_from_many_threads_all_get_the_value() {
    let (promise, future) = Future::<u64>::pending();
    let future = future.share();
    let barrier = Barrier::new(5);
    thread::scope(|s| {
        let awaiters: Vec<_> = (0..4)
            .map(|_| {
                let future = future.clone();
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    block_on(future)
                })
            })
            .collect();
        barrier.wait();
        promise.set_result(77).unwrap();
        for awaiter in awaiters {
            assert_eq!(awaiter.join().unwrap(), Ok(77));
        }
    });
}

#[test]
fn race_completion_against_waker_registration() {
    for round in 0..1000 {
        let (promise, future) = Future::<usize>::pending();
        let barrier = Barrier::new(2);
        let outcome = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                promise.set_result(round).unwrap();
            });
            barrier.wait();
            block_on(future)
        });
        assert_eq!(outcome, Ok(round), "round {round}");
    }
}
