//! Checks of `map`: results in input order whatever the completion order, per-item outcomes
//! (a failing item does not end the iteration), `chunksize`, `buffersize` bounding how much
//! input is pulled, the deadline, and cancel-on-drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use concurrent_futures_core::{MapOptions, Rejected, Submit, TaskError};

use crate::conformance::support::{Fixture, GLIMPSE, saturate, started};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask};

super::checks! { "map":
    results_in_input_order,
    order_ignores_completion_order [Requirement::Concurrent(2)],
    failing_item_does_not_end_iteration,
    chunksize_keeps_order_and_outcomes,
    adaptive_chunks_keep_order_and_outcomes,
    buffersize_bounds_pulled_input,
    deadline_yields_timeout_then_ends [Requirement::Concurrent(1)],
    deadline_cancels_unstarted [Requirement::Saturable],
    early_drop_cancels_pending [Requirement::Saturable],
    empty_input,
    after_shutdown_items_are_rejected,
}

type Outcome = Result<u64, TaskError<String>>;

fn map_all<E: TestExecutor>(
    ex: &E,
    tasks: impl IntoIterator<Item = TestTask>,
    options: MapOptions,
) -> Vec<Outcome> {
    Submit::<TestTask>::map(ex, tasks, options).collect()
}

/// Results come back in input order.
pub fn results_in_input_order<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let results = map_all(&*fx.ex, (0..100).map(TestTask::Return), MapOptions::new());
    let expected: Vec<Outcome> = (0..100).map(Ok).collect();
    assert_eq!(results, expected, "map must yield results in input order");
}

/// A later item finishing first does not change the order.
pub fn order_ignores_completion_order<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let (first, second) = (Gate::new(), Gate::new());
    let iter = Submit::<TestTask>::map(
        &*fx.ex,
        [first.task(1), second.task(2), TestTask::Return(3)],
        MapOptions::new(),
    );
    started(&first, 1);
    started(&second, 1);
    second.release_all();
    first.release_all();
    let results: Vec<_> = iter.collect();
    assert_eq!(results, [Ok(1), Ok(2), Ok(3)], "map order");
}

/// Each item yields its own outcome: failures and panics do not end the iteration.
pub fn failing_item_does_not_end_iteration<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let tasks = [
        TestTask::Return(1),
        TestTask::Fail("bad".into()),
        TestTask::Panic("deliberate panic in a map item (conformance check)".into()),
        TestTask::Return(4),
    ];
    let results = map_all(&*fx.ex, tasks, MapOptions::new());
    assert_eq!(results.len(), 4, "map ended early: {results:?}");
    assert_eq!(results[0], Ok(1));
    assert_eq!(results[1], Err(TaskError::Failed("bad".to_string())));
    assert!(
        results[2].as_ref().is_err_and(TaskError::is_panic),
        "a panicking item yields a panic error, got {:?}",
        results[2]
    );
    assert_eq!(results[3], Ok(4), "the item after a failure still runs");
}

/// With `chunksize`, order and per-item outcomes are kept, also within a chunk.
pub fn chunksize_keeps_order_and_outcomes<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let task = |i: u64| match i {
        10 => TestTask::Fail("ten".into()),
        20 => TestTask::Panic("deliberate panic in a chunk item (conformance check)".into()),
        i => TestTask::Return(i),
    };
    for chunksize in [1, 3, 7, 64] {
        let results = map_all(
            &*fx.ex,
            (0..50).map(task),
            MapOptions::new().chunksize(chunksize),
        );
        assert_eq!(results.len(), 50, "chunksize {chunksize}: item count");
        for (i, result) in (0..).zip(&results) {
            match i {
                10 => assert_eq!(*result, Err(TaskError::Failed("ten".to_string()))),
                20 => assert!(
                    result.as_ref().is_err_and(TaskError::is_panic),
                    "chunksize {chunksize}: item 20 should have panicked: {result:?}"
                ),
                i => assert_eq!(*result, Ok(i), "chunksize {chunksize}: item {i}"),
            }
        }
    }
}

/// With the default, adaptive chunk size, a long map of quick items (which the map batches
/// into growing chunks) still yields every item's own outcome, in order.
pub fn adaptive_chunks_keep_order_and_outcomes<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    const N: u64 = 20_000;
    let fx = Fixture::new(make);
    let failing = |i: u64| i % 997 == 500;
    let panicking = |i: u64| i % 1499 == 1000;
    let task = move |i: u64| {
        if failing(i) {
            TestTask::Fail(format!("item {i}"))
        } else if panicking(i) {
            TestTask::Panic("deliberate panic in an adaptive map item (conformance check)".into())
        } else {
            TestTask::Return(i)
        }
    };
    let results = map_all(&*fx.ex, (0..N).map(task), MapOptions::new());
    assert_eq!(results.len(), N as usize, "adaptive map: item count");
    for (i, result) in (0..).zip(&results) {
        if failing(i) {
            assert_eq!(*result, Err(TaskError::Failed(format!("item {i}"))));
        } else if panicking(i) {
            assert!(
                result.as_ref().is_err_and(TaskError::is_panic),
                "adaptive map: item {i} should have panicked: {result:?}"
            );
        } else {
            assert_eq!(*result, Ok(i), "adaptive map: item {i}");
        }
    }
}

/// An endless input runs in bounded memory: after `k` results, at most `buffersize + k`
/// chunks of input have been pulled.
pub fn buffersize_bounds_pulled_input<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    for (buffersize, chunksize) in [(1, 1), (2, 1), (2, 3)] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let endless = (0u64..).map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            TestTask::Return(i)
        });
        let options = MapOptions::new()
            .buffersize(buffersize)
            .chunksize(chunksize);
        let mut iter = Submit::<TestTask>::map(&*fx.ex, endless, options);
        let bound = |k: usize| (buffersize + k) * chunksize;
        assert!(
            pulled.load(Ordering::SeqCst) <= bound(0),
            "buffersize {buffersize}, chunksize {chunksize}: map() pulled {} inputs before any result",
            pulled.load(Ordering::SeqCst)
        );
        for k in 1..=10 {
            let result = iter.next().expect("an endless input never ends");
            assert_eq!(result, Ok(k as u64 - 1), "item {k} of an endless map");
            let now = pulled.load(Ordering::SeqCst);
            assert!(
                now <= bound(k),
                "buffersize {buffersize}, chunksize {chunksize}: {now} inputs pulled after {k} results (at most {})",
                bound(k)
            );
        }
    }
}

/// When the deadline passes, the waiting item yields `Timeout` and the iteration ends.
pub fn deadline_yields_timeout_then_ends<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let mut iter = Submit::<TestTask>::map(
        &*fx.ex,
        [gate.task(1), TestTask::Return(2)],
        MapOptions::new().timeout(GLIMPSE),
    );
    assert_eq!(
        iter.next(),
        Some(Err(TaskError::Timeout)),
        "a gated item past the map deadline"
    );
    assert_eq!(iter.next(), None, "the iteration ends at the deadline");
    drop(iter);
    gate.release_all();
}

/// At the deadline, items that have not started are cancelled: they never run.
pub fn deadline_cancels_unstarted<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let witness = Gate::new();
    saturate(&fx, &gate, caps);
    let mut iter = Submit::<TestTask>::map(
        &*fx.ex,
        (0..3).map(|i| witness.task(i)),
        MapOptions::new().timeout(Duration::from_millis(20)),
    );
    assert_eq!(iter.next(), Some(Err(TaskError::Timeout)));
    assert_eq!(iter.next(), None);
    drop(iter);
    gate.release_all();
    witness.release_all();
    fx.shutdown(true, false);
    assert_eq!(
        witness.started(),
        0,
        "items cancelled by the map deadline ran anyway"
    );
}

/// Dropping the iterator cancels the items that have not started: they never run.
pub fn early_drop_cancels_pending<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let witness = Gate::new();
    saturate(&fx, &gate, caps);
    let iter = Submit::<TestTask>::map(&*fx.ex, (0..5).map(|i| witness.task(i)), MapOptions::new());
    drop(iter);
    gate.release_all();
    witness.release_all();
    fx.shutdown(true, false);
    assert_eq!(
        witness.started(),
        0,
        "items of a dropped map iterator ran anyway"
    );
}

/// No input, no output.
pub fn empty_input<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    for options in [
        MapOptions::new(),
        MapOptions::new().buffersize(2).chunksize(3),
    ] {
        assert_eq!(map_all(&*fx.ex, [], options), []);
    }
}

/// After shutdown, `map` yields `Rejected(ShutDown)` instead of results (nothing is lost
/// silently) and never a value.
pub fn after_shutdown_items_are_rejected<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    fx.shutdown(true, false);
    let results = map_all(&*fx.ex, (0..3).map(TestTask::Return), MapOptions::new());
    assert!(!results.is_empty(), "map after shutdown yielded nothing");
    for result in &results {
        assert_eq!(
            *result,
            Err(TaskError::Rejected(Rejected::ShutDown)),
            "map after shutdown"
        );
    }
}
