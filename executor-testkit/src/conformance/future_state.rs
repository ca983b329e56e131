//! Checks of the future state machine through a real executor: pending while queued, running
//! once started, finished with a value or an error; reads are repeatable and non-destructive.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use concurrent_futures_core::{State, TaskError};

use crate::conformance::support::{
    Fixture, GLIMPSE, expect_value, outcome, queued, recv, saturate, started,
};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask};

super::checks! { "future_state":
    pending_while_queued [Requirement::Saturable],
    running_once_started [Requirement::Concurrent(1)],
    finished_with_value,
    finished_with_error,
    terminal_state_is_final,
    result_read_many_times,
    result_from_many_threads_and_clones [Requirement::Concurrent(1)],
    result_timeout_leaves_future_untouched [Requirement::Concurrent(1)],
    into_result_moves_the_value,
}

/// A task queued behind busy workers is pending: not running, not done, no result yet.
pub fn pending_while_queued<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(5));
    assert!(!waiting.running() && !waiting.done() && !waiting.cancelled());
    assert_eq!(
        waiting.result_timeout(Duration::ZERO),
        Err(TaskError::Timeout),
        "a pending future has no result"
    );
    assert_eq!(
        waiting.state(),
        State::Pending,
        "a timed-out read changed the state"
    );
    gate.release_all();
    expect_value(&waiting, 5, "the queued task once workers were free");
    for f in &busy {
        assert!(outcome(f, "a gated task").is_ok());
    }
}

/// A task that has started is running until it returns, then finished.
pub fn running_once_started<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(9));
    started(&gate, 1);
    assert_eq!(
        future.state(),
        State::Running,
        "a task blocked in a gate is running"
    );
    assert!(future.running() && !future.done() && !future.cancelled());
    gate.release_all();
    expect_value(&future, 9, "the released task");
    assert_eq!(future.state(), State::Finished);
    assert!(!future.running() && future.done() && !future.cancelled());
}

/// A task that returned a value leaves a finished future.
pub fn finished_with_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(1));
    expect_value(&future, 1, "Return(1)");
    assert_eq!(future.state(), State::Finished);
    assert_eq!(future.error(), None, "a successful future has no error");
}

/// A task that returned its error leaves a finished (not cancelled) future holding it.
pub fn finished_with_error<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Fail("bad input".into()));
    let expected = Err(TaskError::Failed("bad input".to_string()));
    assert_eq!(outcome(&future, "Fail"), expected);
    assert_eq!(future.state(), State::Finished);
    assert!(future.done() && !future.cancelled());
    assert_eq!(
        future.error(),
        Some(TaskError::Failed("bad input".to_string()))
    );
}

/// Nothing leaves `Finished`: cancel and interrupt say no and change nothing.
pub fn terminal_state_is_final<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(3));
    expect_value(&future, 3, "Return(3)");
    assert!(
        !future.cancel(),
        "cancel() of a finished future must be false"
    );
    assert!(
        !future.interrupt(),
        "interrupt() of a finished future must be false"
    );
    assert_eq!(future.state(), State::Finished);
    assert_eq!(future.result(), Ok(3));
}

/// The outcome can be read again and again, through any clone.
pub fn result_read_many_times<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let ok = fx.submit(TestTask::Return(8));
    let failed = fx.submit(TestTask::Fail("x".into()));
    expect_value(&ok, 8, "Return(8)");
    let _ = outcome(&failed, "Fail");
    assert_eq!(ok.result(), Ok(8), "a repeated read of the unique handle");
    let (ok, failed) = (ok.share(), failed.share());
    for _ in 0..5 {
        let (a, b) = (ok.clone(), failed.clone());
        assert_eq!(a.result(), Ok(8), "a repeated read through a clone");
        assert_eq!(b.result(), Err(TaskError::Failed("x".to_string())));
        assert_eq!(b.error(), Some(TaskError::Failed("x".to_string())));
        assert_eq!(ok.result_timeout(Duration::ZERO), Ok(8));
    }
}

/// Threads blocked on clones of one future all get its value when it finishes.
pub fn result_from_many_threads_and_clones<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(21)).share();
    let readers = 8;
    let barrier = Arc::new(Barrier::new(readers + 1));
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..readers {
        let (clone, barrier, tx) = (future.clone(), barrier.clone(), tx.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let _ = tx.send(clone.result());
        });
    }
    barrier.wait();
    gate.release_all();
    for _ in 0..readers {
        assert_eq!(recv(&rx, "a reader blocked in result()"), Ok(21));
    }
}

/// A read that times out leaves the future as it was; it can be waited on again.
pub fn result_timeout_leaves_future_untouched<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(6));
    started(&gate, 1);
    assert_eq!(future.result_timeout(GLIMPSE), Err(TaskError::Timeout));
    assert_eq!(
        future.result_timeout(Duration::ZERO),
        Err(TaskError::Timeout)
    );
    assert_eq!(future.error_timeout(GLIMPSE), Some(TaskError::Timeout));
    assert!(!future.wait_timeout(Duration::ZERO));
    assert_eq!(
        future.state(),
        State::Running,
        "timed-out reads changed the state"
    );
    gate.release_all();
    expect_value(&future, 6, "the future after timed-out reads");
}

/// `into_result` moves the outcome out of the last handle.
pub fn into_result_moves_the_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(12));
    let _ = outcome(&future, "Return(12)");
    assert_eq!(future.join(), Ok(12));
}
