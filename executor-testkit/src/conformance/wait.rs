//! Checks of `wait` in its three modes: the partition into done and not done, timeouts that
//! return partial sets, duplicates, mixed executors, and cancelled futures counting as done.

use std::time::Duration;

use concurrent_futures_core::{ReturnWhen, Waitable, wait};

use crate::conformance::support::{
    Fixture, GLIMPSE, PATIENCE, expect_value, in_thread, nothing_yet, outcome, queued, recv,
    saturate, started, submit,
};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestFuture, TestTask};

super::checks! { "wait":
    all_completed,
    first_completed [Requirement::Concurrent(1)],
    first_exception [Requirement::Concurrent(1)],
    first_exception_without_failure_waits_for_all,
    first_exception_ignores_cancellation [Requirement::Saturable],
    timeout_returns_partial_sets [Requirement::Concurrent(1)],
    blocks_until_completion [Requirement::Concurrent(1)],
    duplicates_collapse,
    empty_input,
    cancelled_counts_as_done [Requirement::Saturable],
    cancellation_wakes_a_waiter [Requirement::Saturable],
    futures_of_different_executors_mix,
}

/// The values of `futures`, which must all be done.
fn values(futures: &[TestFuture]) -> Vec<u64> {
    futures
        .iter()
        .map(|f| {
            outcome(f, "a future in the done set")
                .unwrap_or_else(|e| panic!("unexpected error {e:?}"))
        })
        .collect()
}

/// `AllCompleted` returns when every future is done, all in `done`.
pub fn all_completed<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let futures: Vec<_> = (0..10).map(|i| fx.submit(TestTask::Return(i))).collect();
    let sets = wait(&futures, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert_eq!(sets.not_done.len(), 0, "AllCompleted left futures not done");
    assert_eq!(sets.done.len(), 10);
    assert!(futures.iter().all(|f| f.done()));
}

/// `FirstCompleted` returns once one future is done, the blocked one in `not_done`.
pub fn first_completed<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let blocked = fx.submit(gate.task(1));
    let quick = fx.submit(TestTask::Return(2));
    let sets = wait(
        [&blocked, &quick],
        Some(PATIENCE),
        ReturnWhen::FirstCompleted,
    );
    assert_eq!(sets.done.len(), 1, "FirstCompleted: done set");
    assert!(
        std::ptr::eq(sets.done[0], &quick),
        "the quick future is done"
    );
    assert_eq!(sets.not_done.len(), 1, "FirstCompleted: not_done set");
    assert!(std::ptr::eq(sets.not_done[0], &blocked));
    gate.release_all();
    expect_value(&blocked, 1, "the gated task");
}

/// `FirstException` returns when a future fails, with the failed (and earlier finished) ones
/// done and the still-running one not done (the reference's [success, raiser, sleeper]).
pub fn first_exception<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let success = fx.submit(TestTask::Return(1));
    expect_value(&success, 1, "the successful task");
    let sleeper = fx.submit(gate.task(3));
    let raiser = fx.submit(TestTask::Fail("boom".into()));
    let sets = wait(
        [&success, &raiser, &sleeper],
        Some(PATIENCE),
        ReturnWhen::FirstException,
    );
    assert_eq!(
        sets.done.len(),
        2,
        "FirstException: the success and the failure are done"
    );
    assert!(std::ptr::eq(sets.done[0], &success) && std::ptr::eq(sets.done[1], &raiser));
    assert_eq!(
        sets.not_done.len(),
        1,
        "FirstException: the blocked task is not done"
    );
    assert!(std::ptr::eq(sets.not_done[0], &sleeper));
    gate.release_all();
    expect_value(&sleeper, 3, "the gated task");
}

/// Without a failure, `FirstException` waits for all.
pub fn first_exception_without_failure_waits_for_all<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let futures: Vec<_> = (0..5).map(|i| fx.submit(TestTask::Return(i))).collect();
    let sets = wait(&futures, Some(PATIENCE), ReturnWhen::FirstException);
    assert_eq!(
        sets.done.len(),
        5,
        "FirstException without failures waits for all"
    );
    assert_eq!(values(&futures), [0, 1, 2, 3, 4]);
}

/// A cancellation is not an exception: `FirstException` keeps waiting for the others.
pub fn first_exception_ignores_cancellation<E: TestExecutor>(
    make: Factory<'_, E>,
    caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1));
    assert!(waiting.cancel());
    let sets = wait(
        [&waiting, &busy[0]],
        Some(GLIMPSE),
        ReturnWhen::FirstException,
    );
    assert_eq!(sets.done.len(), 1, "only the cancelled future is done");
    assert!(std::ptr::eq(sets.done[0], &waiting));
    assert_eq!(
        sets.not_done.len(),
        1,
        "FirstException must not treat a cancellation as an exception"
    );
}

/// On timeout `wait` returns the partial sets, never an error; a zero timeout does not block.
pub fn timeout_returns_partial_sets<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let finished = fx.submit(TestTask::Return(1));
    expect_value(&finished, 1, "Return(1)");
    let blocked = fx.submit(gate.task(2));
    for timeout in [Duration::ZERO, GLIMPSE] {
        for mode in [
            ReturnWhen::AllCompleted,
            ReturnWhen::FirstException,
            ReturnWhen::FirstCompleted,
        ] {
            let sets = wait([&blocked, &finished], Some(timeout), mode);
            assert_eq!(
                (sets.done.len(), sets.not_done.len()),
                (1, 1),
                "{mode:?} with timeout {timeout:?}: partial sets"
            );
            assert!(std::ptr::eq(sets.done[0], &finished));
            assert!(std::ptr::eq(sets.not_done[0], &blocked));
        }
    }
    gate.release_all();
    expect_value(&blocked, 2, "the gated task");
}

/// `wait` without a timeout blocks until completion in another thread wakes it.
pub fn blocks_until_completion<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let futures: Vec<_> = (0..3).map(|i| fx.submit(gate.task(i)).share()).collect();
    let watched = futures.clone();
    let rx = in_thread(move || {
        let sets = wait(&watched, None, ReturnWhen::AllCompleted);
        (sets.done.len(), sets.not_done.len())
    });
    started(&gate, 1);
    nothing_yet(&rx, "wait(AllCompleted) while tasks are blocked");
    gate.release_all();
    assert_eq!(
        recv(&rx, "wait(AllCompleted) after the tasks finished"),
        (3, 0)
    );
}

/// Clones of one future count once.
pub fn duplicates_collapse<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let a = fx.submit(TestTask::Return(1)).share();
    let b = fx.submit(TestTask::Return(2)).share();
    let sets = wait(
        [a.clone(), a.clone(), b.clone(), a.clone(), b],
        Some(PATIENCE),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(sets.done.len(), 2, "duplicates must collapse");
    assert_eq!(sets.not_done.len(), 0);
}

/// `wait` on nothing returns two empty sets at once.
pub fn empty_input<E: TestExecutor>(_make: Factory<'_, E>, _caps: &Capabilities) {
    for mode in [
        ReturnWhen::AllCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::FirstCompleted,
    ] {
        let sets = wait(Vec::<TestFuture>::new(), None, mode);
        assert!(sets.done.is_empty() && sets.not_done.is_empty());
    }
}

/// A future cancelled while queued counts as done at once (CPython's plain-CANCELLED quirk,
/// gh-87893, fixed): `wait` without a timeout returns.
pub fn cancelled_counts_as_done<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1));
    assert!(waiting.cancel());
    let waiting = waiting.share();
    let watched = waiting.clone();
    let rx = in_thread(move || wait([&watched], None, ReturnWhen::AllCompleted).done.len());
    assert_eq!(
        recv(
            &rx,
            "wait() on a cancelled future (the plain-CANCELLED quirk)"
        ),
        1
    );
}

/// A waiter blocked on a pending future is woken by its cancellation, not by its dequeueing.
pub fn cancellation_wakes_a_waiter<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1)).share();
    let watched = waiting.clone();
    let rx = in_thread(move || {
        wait([&watched], None, ReturnWhen::FirstCompleted)
            .done
            .len()
    });
    nothing_yet(&rx, "wait() on a pending future");
    assert!(waiting.cancel());
    assert_eq!(
        recv(
            &rx,
            "wait() woken by a cancellation while workers are still busy"
        ),
        1
    );
}

/// Futures from different executors (and of different types) wait together.
pub fn futures_of_different_executors_mix<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let one = Fixture::new(make);
    let two = Fixture::new(make);
    let a = one.submit(TestTask::Return(1));
    let b = submit(&*two.ex, TestTask::Return(2));
    let c = concurrent_futures_core::Future::<&str>::ready("hand-made");
    let mixed: [&dyn Waitable; 3] = [&a, &b, &c];
    let sets = wait(mixed, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert_eq!(
        sets.done.len(),
        3,
        "futures of two executors and a hand-made one"
    );
    assert_eq!(values(&[a, b]), [1, 2]);
}
