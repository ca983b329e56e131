//! `as_completed` and `as_completed_within` (reference §3.2–§3.4): done futures first, then
//! completion order; each distinct future once; a known length; the exact timeout message of the
//! reference's scenario; cancelled futures yielded at once (gh-87893); early drop; and completion
//! racing against registration.

use std::iter;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{
    AsCompletedTimeout, Future, TaskError, Waitable, as_completed, as_completed_within,
    backend::Start,
};

const BOUND: Duration = Duration::from_secs(30);

type F = Future<i32>;

fn same(a: &F, b: &F) -> bool {
    std::ptr::eq(a, b)
}

#[test]
fn done_futures_come_first_then_completion_order() {
    let (pa, a) = F::pending();
    let (pb, b) = F::pending();
    let (pc, c) = F::pending();
    let d = F::ready(4);
    let mut iter = as_completed([&a, &b, &c, &d]);
    assert_eq!(iter.len(), 4);
    assert!(same(iter.next().unwrap(), &d), "the done one first");
    assert_eq!(iter.len(), 3);
    // Completions arrive in the order c, a, b; each next() blocks until one is there.
    pc.set_result(3).unwrap();
    assert!(same(iter.next().unwrap(), &c));
    pa.set_result(1).unwrap();
    assert!(same(iter.next().unwrap(), &a));
    pb.set_result(2).unwrap();
    assert!(same(iter.next().unwrap(), &b));
    assert_eq!(iter.len(), 0);
    assert!(iter.next().is_none());
    assert!(iter.next().is_none(), "fused");
}

#[test]
fn a_batch_of_completions_is_yielded_in_completion_order() {
    let (promises, futures): (Vec<_>, Vec<_>) = (0..6).map(|_| F::pending()).unzip();
    let iter = as_completed(&futures);
    // Complete them all before the first next(): the order is the completion order, not the
    // input order.
    let order = [4, 1, 5, 0, 3, 2];
    let mut promises: Vec<_> = promises.into_iter().map(Some).collect();
    for &i in &order {
        promises[i].take().unwrap().set_result(i as i32).unwrap();
    }
    let yielded: Vec<i32> = iter.map(|f| f.result().unwrap()).collect();
    assert_eq!(yielded, order.map(|i| i as i32));
}

#[test]
fn completions_from_another_thread_are_each_yielded_once() {
    let (promises, futures): (Vec<_>, Vec<_>) = (0..16).map(|_| F::pending()).unzip();
    let mut yielded: Vec<i32> = thread::scope(|s| {
        s.spawn(move || {
            for (i, p) in promises.into_iter().enumerate() {
                p.set_result(i as i32).unwrap();
            }
        });
        as_completed_within(&futures, BOUND)
            .map(|f| f.expect("no lost wake-up").result().unwrap())
            .collect()
    });
    yielded.sort();
    assert_eq!(yielded, (0..16).collect::<Vec<_>>());
}

#[test]
fn duplicates_are_yielded_once() {
    let f = F::ready(1);
    // The reference's `itertools.repeat(f, 3)`.
    assert_eq!(as_completed(iter::repeat_n(&f, 3)).count(), 1);
    let (_p, g) = F::pending();
    let (f, g) = (f.share(), g.share());
    let iter = as_completed([g.clone(), f.clone(), g.clone(), f.clone()]);
    assert_eq!(iter.len(), 2);
}

#[test]
fn empty_input_ends_at_once() {
    assert_eq!(as_completed(Vec::<&F>::new()).count(), 0);
    let mut within = as_completed_within(Vec::<&F>::new(), Duration::ZERO);
    assert!(within.next().is_none(), "nothing unfinished, so no timeout");
}

/// The reference's test: [CANCELLED_AND_NOTIFIED, PENDING, RUNNING, FINISHED] with `timeout=0`
/// yields the two done ones, then fails with exactly "2 (of 4) futures unfinished".
#[test]
fn the_timeout_says_how_many_of_how_many_are_unfinished() {
    let (acknowledged, cancelled) = F::pending();
    assert!(cancelled.cancel());
    assert_eq!(acknowledged.start(), Ok(Start::Cancelled));
    let (_pending_promise, pending) = F::pending();
    let (running_promise, running) = F::pending();
    assert_eq!(running_promise.start(), Ok(Start::Run));
    let finished = F::ready(42);

    let all = [&cancelled, &pending, &running, &finished];
    let mut iter = as_completed_within(all, Duration::ZERO);
    assert_eq!(iter.size_hint(), (1, Some(4)));
    let first = iter.next().unwrap().unwrap();
    let second = iter.next().unwrap().unwrap();
    assert!(same(first, &cancelled) && same(second, &finished));
    let error = iter.next().unwrap().unwrap_err();
    assert_eq!(
        error,
        AsCompletedTimeout {
            unfinished: 2,
            total: 4
        }
    );
    assert_eq!(error.to_string(), "2 (of 4) futures unfinished");
    assert!(
        iter.next().is_none(),
        "the iteration ends after the timeout"
    );
    assert_eq!(iter.size_hint(), (0, Some(0)));
}

#[test]
fn a_short_timeout_with_nothing_completing_times_out() {
    let (_p, pending) = F::pending();
    let mut iter = as_completed_within([&pending], Duration::from_millis(5));
    assert_eq!(
        iter.next().unwrap().unwrap_err().to_string(),
        "1 (of 1) futures unfinished"
    );
    assert!(iter.next().is_none());
    assert!(!pending.done(), "the future is untouched");
}

#[test]
fn completions_before_the_deadline_are_all_yielded() {
    let (promises, futures): (Vec<_>, Vec<_>) = (0..3).map(|_| F::pending()).unzip();
    for p in promises {
        p.set_result(0).unwrap();
    }
    let items: Vec<_> = as_completed_within(&futures, Duration::ZERO).collect();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(Result::is_ok));
}

/// CPython gh-87893: a cancelled future that no executor will ever look at again is never
/// yielded by `as_completed`. Here it is yielded at once.
#[test]
fn gh_87893_as_completed_yields_cancelled_futures_at_once() {
    let (_p1, a) = F::pending();
    let (_p2, b) = F::pending();
    assert!(a.cancel());
    let mut iter = as_completed([&a, &b]);
    assert!(same(iter.next().unwrap(), &a));
    // A cancellation while blocked in next() wakes it.
    let barrier = Barrier::new(2);
    let next = thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            assert!(b.cancel());
        });
        barrier.wait();
        iter.next()
    });
    assert!(same(next.unwrap(), &b));
    assert_eq!(b.result(), Err(TaskError::Cancelled));
}

#[test]
fn futures_of_different_value_types_mix() {
    let a = Future::<i32>::ready(1);
    let b = Future::<&'static str, String>::failed(TaskError::Failed("no".into()));
    let (_p, c) = Future::<()>::pending();
    let mixed: [&dyn Waitable; 3] = [&a, &b, &c];
    let mut iter = as_completed_within(mixed, Duration::ZERO);
    assert!(iter.next().unwrap().is_ok());
    assert!(iter.next().unwrap().is_ok());
    assert!(matches!(iter.next(), Some(Err(e)) if e.unfinished == 1));
}

#[test]
fn owned_futures_come_back_owned() {
    let futures: Vec<F> = (0..3).map(F::ready).collect();
    let values: Vec<i32> = as_completed(futures).map(|f| f.join().unwrap()).collect();
    assert_eq!(values, [0, 1, 2]);
}

#[test]
fn dropping_the_iterator_early_leaves_the_futures_usable() {
    let (p1, a) = F::pending();
    let (p2, b) = F::pending();
    let c = F::ready(3);
    {
        let mut iter = as_completed([&a, &b, &c]);
        assert!(same(iter.next().unwrap(), &c));
    }
    p1.set_result(1).unwrap();
    p2.set_result(2).unwrap();
    assert_eq!(as_completed([&a, &b]).count(), 2);
}

#[test]
fn it_composes_as_an_exact_size_iterator() {
    fn progress<I: ExactSizeIterator>(iter: I) -> Vec<(usize, usize)> {
        let total = iter.len();
        iter.enumerate().map(|(i, _)| (i + 1, total)).collect()
    }
    let futures: Vec<F> = (0..3).map(F::ready).collect();
    assert_eq!(progress(as_completed(&futures)), [(1, 3), (2, 3), (3, 3)]);
}

#[test]
fn race_completion_against_registration() {
    for round in 0..1000 {
        let (p1, a) = F::pending();
        let (p2, b) = F::pending();
        let barrier = Barrier::new(2);
        let yielded = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                p1.set_result(1).unwrap();
                drop(p2); // abandoned: done as well
            });
            barrier.wait();
            as_completed_within([&a, &b], BOUND).collect::<Vec<_>>()
        });
        assert_eq!(yielded.len(), 2, "round {round}");
        assert!(
            yielded.iter().all(Result::is_ok),
            "round {round}: a completion was lost"
        );
    }
}

#[test]
fn race_cancel_against_registration() {
    for round in 0..1000 {
        let (_p, a) = F::pending();
        let barrier = Barrier::new(2);
        let yielded = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                assert!(a.cancel());
            });
            barrier.wait();
            as_completed_within([&a], BOUND).next()
        });
        assert!(
            matches!(yielded, Some(Ok(_))),
            "round {round}: the cancellation was lost"
        );
    }
}
