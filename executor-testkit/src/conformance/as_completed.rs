//! Checks of `as_completed`: each distinct future once, done ones first then in completion
//! order, a known length, the timeout error "N (of M) futures unfinished", and cancelled
//! futures yielded at once.

use std::collections::BTreeSet;
use std::time::Duration;

use concurrent_futures_core::{AsCompletedTimeout, as_completed, as_completed_within};

use crate::conformance::support::{
    Fixture, PATIENCE, expect_value, in_thread, outcome, queued, recv, saturate, started,
};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask};

super::checks! { "as_completed":
    yields_each_once,
    done_first_then_completion_order [Requirement::Concurrent(2)],
    duplicates_yield_once,
    timeout_reports_unfinished [Requirement::Concurrent(1)],
    timeout_counts_like_the_reference [Requirement::Saturable],
    cancellation_wakes_the_iterator [Requirement::Saturable],
    early_drop_is_harmless [Requirement::Concurrent(1)],
}

/// Every future comes out exactly once, and the iterator knows how many are left.
pub fn yields_each_once<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let futures: Vec<_> = (0..20).map(|i| fx.submit(TestTask::Return(i))).collect();
    let mut iter = as_completed(&futures);
    assert_eq!(iter.len(), 20, "as_completed's length");
    let mut seen = BTreeSet::new();
    let mut left = 20;
    while let Some(f) = iter.next() {
        left -= 1;
        assert_eq!(iter.len(), left, "length after a yield");
        let value = outcome(f, "a yielded future").expect("Return never fails");
        assert!(seen.insert(value), "future {value} was yielded twice");
    }
    assert_eq!(
        seen.len(),
        20,
        "as_completed yielded {} of 20 futures",
        seen.len()
    );
}

/// Already-done futures come first; the others in the order they complete.
pub fn done_first_then_completion_order<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let (first, second) = (Gate::new(), Gate::new());
    let finished = fx.submit(TestTask::Return(0));
    expect_value(&finished, 0, "Return(0)");
    let a = fx.submit(first.task(1));
    let b = fx.submit(second.task(2));
    started(&first, 1);
    started(&second, 1);
    let mut iter = as_completed([&a, &b, &finished]);
    let next = |iter: &mut concurrent_futures_core::AsCompleted<_>, what| {
        let f: &crate::TestFuture = iter.next().unwrap_or_else(|| panic!("{what}: ended early"));
        outcome(f, what).expect("gated tasks return values")
    };
    assert_eq!(
        next(&mut iter, "the first yield"),
        0,
        "the done future first"
    );
    second.release_all();
    assert_eq!(next(&mut iter, "after releasing b"), 2, "b completed first");
    first.release_all();
    assert_eq!(next(&mut iter, "after releasing a"), 1, "then a");
    assert!(iter.next().is_none(), "three futures, three yields");
}

/// References to one future, and clones of one shared future, come out once.
pub fn duplicates_yield_once<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let f = fx.submit(TestTask::Return(1));
    let iter = as_completed([&f, &f, &f]);
    assert_eq!(iter.len(), 1, "duplicate references must collapse");
    assert_eq!(iter.count(), 1);
    let shared = f.share();
    let iter = as_completed([shared.clone(), shared.clone(), shared]);
    assert_eq!(iter.len(), 1, "clones of a shared future must collapse");
    assert_eq!(iter.count(), 1);
}

/// At the deadline the iterator yields the done ones, then one error saying how many of how
/// many are unfinished, then ends.
pub fn timeout_reports_unfinished<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let finished = fx.submit(TestTask::Return(1));
    expect_value(&finished, 1, "Return(1)");
    let blocked = [fx.submit(gate.task(2)), fx.submit(gate.task(3))];
    for timeout in [Duration::ZERO, Duration::from_millis(20)] {
        let mut iter = as_completed_within([&finished, &blocked[0], &blocked[1]], timeout);
        assert!(
            matches!(iter.next(), Some(Ok(f)) if std::ptr::eq(f, &finished)),
            "the done future comes first"
        );
        let error = match iter.next() {
            Some(Err(error)) => error,
            other => panic!(
                "expected the timeout error, got {:?}",
                other.map(|r| r.is_ok())
            ),
        };
        assert_eq!(
            error,
            AsCompletedTimeout {
                unfinished: 2,
                total: 3
            }
        );
        assert_eq!(error.to_string(), "2 (of 3) futures unfinished");
        assert!(
            iter.next().is_none(),
            "the iteration ends after the timeout"
        );
    }
    gate.release_all();
}

/// The reference's case: [cancelled, pending, running, finished] with a zero timeout yields the
/// cancelled and finished ones (cancelled counts as done), then "2 (of 4) futures unfinished".
pub fn timeout_counts_like_the_reference<E: TestExecutor>(
    make: Factory<'_, E>,
    caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let finished = fx.submit(TestTask::Return(0));
    expect_value(&finished, 0, "Return(0)");
    let busy = saturate(&fx, &gate, caps);
    let cancelled = queued(&fx, TestTask::Return(1));
    let pending = queued(&fx, TestTask::Return(2));
    assert!(cancelled.cancel());
    let running = &busy[0];
    let yielded: Vec<_> =
        as_completed_within([&cancelled, &pending, running, &finished], Duration::ZERO).collect();
    assert_eq!(yielded.len(), 3, "two done futures and the timeout error");
    assert!(yielded[..2].iter().all(Result::is_ok));
    assert_eq!(
        yielded[2].as_ref().map(|_| ()).unwrap_err().to_string(),
        "2 (of 4) futures unfinished"
    );
}

/// An iterator blocked on a pending future yields it as soon as it is cancelled.
pub fn cancellation_wakes_the_iterator<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1)).share();
    let watched = waiting.clone();
    let rx = in_thread(move || {
        as_completed([watched])
            .map(|f| f.cancelled())
            .collect::<Vec<_>>()
    });
    assert!(waiting.cancel());
    assert_eq!(
        recv(
            &rx,
            "as_completed on a future cancelled while workers are busy"
        ),
        [true]
    );
}

/// Dropping the iterator early leaves the futures working.
pub fn early_drop_is_harmless<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let finished = fx.submit(TestTask::Return(1));
    expect_value(&finished, 1, "Return(1)");
    let blocked = fx.submit(gate.task(2));
    {
        let mut iter = as_completed([&finished, &blocked]);
        assert!(iter.next().is_some());
    }
    gate.release_all();
    expect_value(&blocked, 2, "a future whose as_completed was dropped");
    assert!(
        blocked.wait_timeout(PATIENCE),
        "the future still completes normally"
    );
}
