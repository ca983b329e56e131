//! `wait` (reference §3.1, §3.3, §3.4): the three return conditions, partial sets on timeout,
//! duplicates, mixed value types, input order, cancelled futures counting as done at once
//! (gh-87893), and completion racing against waiter installation.

use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{
    Future, ReturnWhen, TaskError, WaitSets, Waitable, backend::Promise, wait,
};

const BOUND: Duration = Duration::from_secs(30);
const MODES: [ReturnWhen; 3] = [
    ReturnWhen::FirstCompleted,
    ReturnWhen::FirstException,
    ReturnWhen::AllCompleted,
];

type F = Future<i32, String>;

fn pending() -> (Promise<i32, String>, F) {
    F::pending()
}

fn cancelled() -> F {
    let (_promise, future) = pending();
    assert!(future.cancel());
    future
}

fn failed() -> F {
    F::failed(TaskError::Failed("boom".into()))
}

/// The positions of `sets`' members in `all`, so assertions read as index lists.
fn positions(all: &[&F], sets: &WaitSets<&F>) -> (Vec<usize>, Vec<usize>) {
    let pos = |list: &Vec<&F>| {
        list.iter()
            .map(|f| all.iter().position(|g| std::ptr::eq(*g, *f)).unwrap())
            .collect()
    };
    (pos(&sets.done), pos(&sets.not_done))
}

#[test]
fn empty_input_returns_two_empty_sets_in_every_mode() {
    for mode in MODES {
        let sets = wait(Vec::<&F>::new(), None, mode);
        assert!(sets.done.is_empty() && sets.not_done.is_empty(), "{mode:?}");
    }
}

#[test]
fn all_done_returns_at_once_in_every_mode_in_input_order() {
    let a = F::ready(1);
    let b = cancelled();
    let c = failed();
    let all = [&a, &b, &c];
    for mode in MODES {
        let sets = wait(all, None, mode);
        assert_eq!(positions(&all, &sets), (vec![0, 1, 2], vec![]), "{mode:?}");
    }
}

#[test]
fn a_timeout_returns_the_partial_sets_and_is_not_an_error() {
    let (_p1, a) = pending();
    let b = F::ready(1);
    let (_p2, c) = pending();
    let all = [&a, &b, &c];
    for timeout in [Duration::ZERO, Duration::from_millis(5)] {
        for mode in [ReturnWhen::FirstException, ReturnWhen::AllCompleted] {
            let sets = wait(all, Some(timeout), mode);
            assert_eq!(positions(&all, &sets), (vec![1], vec![0, 2]), "{mode:?}");
        }
        let sets = wait([&a, &c], Some(timeout), ReturnWhen::FirstCompleted);
        assert_eq!(sets.done.len(), 0);
        assert_eq!(sets.not_done.len(), 2);
    }
    // The futures are untouched.
    assert!(!a.done() && !c.done());
}

#[test]
fn duplicates_collapse_to_the_first_occurrence() {
    let (_p, a) = pending();
    let b = F::ready(2);
    let sets = wait(
        [&a, &b, &a, &b, &b],
        Some(Duration::ZERO),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(sets.done.len(), 1);
    assert_eq!(sets.not_done.len(), 1);
    // Clones of a shared future are the same future too.
    let (a, b) = (a.share(), b.share());
    let sets = wait(
        vec![b.clone(), b.clone(), a.clone()],
        Some(Duration::ZERO),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(sets.done.len(), 1);
    assert_eq!(sets.not_done.len(), 1);
}

#[test]
fn futures_of_different_value_types_mix_through_dyn_waitable() {
    let (p1, a) = Future::<i32>::pending();
    let (p2, b) = Future::<String, std::io::Error>::pending();
    let c = Future::<Vec<u8>>::ready(vec![]);
    let mixed: Vec<&dyn Waitable> = vec![&a, &b, &c];
    let sets = wait(
        mixed.clone(),
        Some(Duration::ZERO),
        ReturnWhen::AllCompleted,
    );
    assert_eq!((sets.done.len(), sets.not_done.len()), (1, 2));
    let completer = thread::spawn(move || {
        p1.set_result(1).unwrap();
        p2.set_result("two".into()).unwrap();
    });
    let sets = wait(mixed, Some(BOUND), ReturnWhen::AllCompleted);
    assert_eq!((sets.done.len(), sets.not_done.len()), (3, 0));
    completer.join().unwrap();
}

#[test]
fn owned_futures_come_back_owned() {
    let (promise, a) = pending();
    let b = F::ready(2);
    promise.set_result(1).unwrap();
    let sets: WaitSets<F> = wait(vec![a, b], None, ReturnWhen::AllCompleted);
    let values: Vec<_> = sets.done.iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, [1, 2]);
}

#[test]
fn first_completed_returns_when_one_completes_in_another_thread() {
    let (p1, a) = pending();
    let (_p2, b) = pending();
    let all = [&a, &b];
    let sets = thread::scope(|s| {
        s.spawn(move || p1.set_result(1).unwrap());
        wait(all, Some(BOUND), ReturnWhen::FirstCompleted)
    });
    assert_eq!(positions(&all, &sets), (vec![0], vec![1]));
}

#[test]
fn first_completed_may_return_several_done() {
    let a = F::ready(1);
    let b = cancelled();
    let (_p, c) = pending();
    let all = [&a, &b, &c];
    let sets = wait(all, None, ReturnWhen::FirstCompleted);
    assert_eq!(positions(&all, &sets), (vec![0, 1], vec![2]));
}

#[test]
fn first_exception_returns_on_the_first_error() {
    // The reference's test: [success, raises later, never finishes].
    let ok = F::ready(1);
    let (raiser_promise, raiser) = pending();
    let (_sleeper_promise, sleeper) = pending();
    let all = [&ok, &raiser, &sleeper];
    let sets = thread::scope(|s| {
        s.spawn(move || raiser_promise.set_error("late".into()).unwrap());
        wait(all, Some(BOUND), ReturnWhen::FirstException)
    });
    assert_eq!(positions(&all, &sets), (vec![0, 1], vec![2]));
}

#[test]
fn first_exception_with_an_error_already_there_returns_at_once() {
    let bad = failed();
    let (_p, other) = pending();
    let all = [&other, &bad];
    let sets = wait(all, None, ReturnWhen::FirstException);
    assert_eq!(positions(&all, &sets), (vec![1], vec![0]));
}

#[test]
fn first_exception_counts_an_abandoned_promise_as_an_error() {
    let (promise, abandoned) = pending();
    let (_p, other) = pending();
    let all = [&abandoned, &other];
    let sets = thread::scope(|s| {
        s.spawn(move || drop(promise));
        wait(all, Some(BOUND), ReturnWhen::FirstException)
    });
    assert_eq!(positions(&all, &sets), (vec![0], vec![1]));
}

#[test]
fn first_exception_does_not_treat_a_cancellation_as_an_error() {
    let gone = cancelled();
    let (promise, slow) = pending();
    let all = [&gone, &slow];
    // With only a cancellation done, FIRST_EXCEPTION keeps waiting: it returns only when the
    // other future is done too, so both are in `done`.
    let barrier = Barrier::new(2);
    let sets = thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            promise.set_result(5).unwrap();
        });
        barrier.wait();
        wait(all, Some(BOUND), ReturnWhen::FirstException)
    });
    assert_eq!(positions(&all, &sets), (vec![0, 1], vec![]));
    // And with nothing else to come, the cancellation alone does not satisfy it.
    let (_p, never) = pending();
    let sets = wait(
        [&gone, &never],
        Some(Duration::from_millis(5)),
        ReturnWhen::FirstException,
    );
    assert_eq!((sets.done.len(), sets.not_done.len()), (1, 1));
}

#[test]
fn all_completed_waits_for_every_future() {
    let promises_and_futures: Vec<_> = (0..8).map(|_| pending()).collect();
    let (promises, futures): (Vec<_>, Vec<_>) = promises_and_futures.into_iter().unzip();
    let sets = thread::scope(|s| {
        s.spawn(move || {
            for (i, promise) in promises.into_iter().enumerate().rev() {
                promise.set_result(i as i32).unwrap();
            }
        });
        wait(&futures, Some(BOUND), ReturnWhen::AllCompleted)
    });
    assert_eq!(sets.done.len(), 8);
    assert!(sets.not_done.is_empty());
}

/// CPython gh-87893 (also gh-92001, gh-109934): futures cancelled by hand, or drained by
/// `shutdown(cancel_futures=True)`, are never "notified", so `wait` hangs forever on them and
/// `as_completed` never yields them. Here cancellation itself notifies.
#[test]
fn gh_87893_wait_does_not_hang_on_cancelled_futures() {
    let a = cancelled();
    let b = cancelled();
    for mode in MODES {
        let sets = wait([&a, &b], Some(BOUND), mode);
        assert_eq!(sets.done.len(), 2, "{mode:?}: cancelled futures are done");
    }
    let yielded = concurrent_futures_core::as_completed_within([&a, &b], BOUND)
        .collect::<Result<Vec<_>, _>>()
        .expect("cancelled futures are yielded at once");
    assert_eq!(yielded.len(), 2);
}

#[test]
fn gh_87893_a_cancellation_wakes_a_blocked_wait() {
    let (_p1, a) = pending();
    let (_p2, b) = pending();
    let barrier = Barrier::new(2);
    let sets = thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            assert!(a.cancel());
            assert!(b.cancel());
        });
        barrier.wait();
        wait([&a, &b], Some(BOUND), ReturnWhen::AllCompleted)
    });
    assert_eq!(sets.done.len(), 2, "cancel() must notify the waiter");
}

#[test]
fn race_completion_against_waiter_installation() {
    for round in 0..1000 {
        let (p1, a) = pending();
        let (p2, b) = pending();
        let c = F::ready(0);
        let barrier = Barrier::new(2);
        let sets = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                p1.set_result(1).unwrap();
                assert!(b.cancel() || p2.set_result(2).is_ok());
            });
            barrier.wait();
            wait([&a, &b, &c], Some(BOUND), ReturnWhen::AllCompleted)
        });
        assert_eq!(
            (sets.done.len(), sets.not_done.len()),
            (3, 0),
            "round {round}: a completion was lost"
        );
    }
}

#[test]
fn race_first_completed_against_completion() {
    for round in 0..1000 {
        let (promise, a) = pending();
        let (_p, b) = pending();
        let barrier = Barrier::new(2);
        let sets = thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                promise.set_error("x".into()).unwrap();
            });
            barrier.wait();
            wait([&a, &b], Some(BOUND), ReturnWhen::FirstCompleted)
        });
        assert_eq!(sets.done.len(), 1, "round {round}");
        assert!(sets.done[0].done());
    }
}

#[test]
fn a_wait_that_returned_leaves_no_waiter_behind() {
    // After a timed-out wait the futures complete normally and a later wait sees them.
    let (promise, a) = pending();
    let sets = wait([&a], Some(Duration::ZERO), ReturnWhen::AllCompleted);
    assert_eq!(sets.not_done.len(), 1);
    promise.set_result(1).unwrap();
    let sets = wait([&a], None, ReturnWhen::AllCompleted);
    assert_eq!(sets.done.len(), 1);
}
