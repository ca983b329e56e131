//! Checks of cancellation: a pending task can be cancelled and then never runs; a running or
//! finished one cannot; cancellation wakes readers at once; cancel racing start always leaves a
//! consistent answer; `interrupt` stops running tasks where the backend can.

use std::sync::mpsc;

use concurrent_futures_core::{State, TaskError};

use crate::conformance::support::{
    Fixture, PATIENCE, expect_cancelled, expect_value, outcome, queued, recv, saturate, started,
};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestFuture, TestTask};

super::checks! { "cancel":
    queued_task_never_runs [Requirement::Saturable],
    running_task_cannot_be_cancelled [Requirement::Concurrent(1)],
    finished_task_cannot_be_cancelled,
    cancel_wakes_blocked_readers [Requirement::Saturable],
    cancel_races_start,
    interrupt_cancels_a_pending_task [Requirement::Saturable],
    interrupt_stops_a_running_task [Requirement::InterruptsRunning, Requirement::Concurrent(1)],
    interrupt_of_a_running_task_is_refused [Requirement::CannotInterrupt, Requirement::Concurrent(1)],
}

/// Cancelling a queued task succeeds (and again), its future is cancelled at once, and the
/// task never runs.
pub fn queued_task_never_runs<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let witness = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting = queued(&fx, witness.task(9));
    assert!(
        waiting.cancel(),
        "cancel() of a pending future must be true"
    );
    assert!(waiting.cancelled() && waiting.done() && !waiting.running());
    assert_eq!(waiting.state(), State::Cancelled);
    assert!(
        waiting.cancel(),
        "cancel() of a cancelled future stays true"
    );
    assert_eq!(waiting.result(), Err(TaskError::Cancelled));
    assert_eq!(waiting.error(), Some(TaskError::Cancelled));
    gate.release_all();
    witness.release_all();
    for f in &busy {
        assert!(outcome(f, "a gated task").is_ok());
    }
    fx.shutdown(true, false);
    assert_eq!(
        witness.started(),
        0,
        "the cancelled task ran anyway (the backend ignored Start::Cancelled)"
    );
    assert_eq!(
        waiting.state(),
        State::Cancelled,
        "a cancelled future changed state"
    );
}

/// A running task cannot be cancelled: `cancel` is false and the task finishes normally.
pub fn running_task_cannot_be_cancelled<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(5));
    started(&gate, 1);
    assert!(
        !future.cancel(),
        "cancel() of a running future must be false"
    );
    assert_eq!(future.state(), State::Running);
    gate.release_all();
    expect_value(&future, 5, "the task whose cancel was refused");
}

/// A finished task cannot be cancelled.
pub fn finished_task_cannot_be_cancelled<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(5));
    expect_value(&future, 5, "Return(5)");
    assert!(
        !future.cancel(),
        "cancel() of a finished future must be false"
    );
    assert_eq!(future.result(), Ok(5));
}

/// A thread blocked on a pending future's result wakes with `Cancelled` when it is cancelled.
pub fn cancel_wakes_blocked_readers<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1)).share();
    let (tx, rx) = mpsc::channel();
    let reader = waiting.clone();
    std::thread::spawn(move || tx.send(reader.result()).unwrap());
    assert!(waiting.cancel());
    assert_eq!(
        recv(&rx, "a reader blocked on a future that was cancelled"),
        Err(TaskError::Cancelled)
    );
}

/// Cancelling right after submitting races the worker starting the task: whoever wins, the
/// answer of `cancel` matches the outcome.
pub fn cancel_races_start<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let futures: Vec<(u64, TestFuture, bool)> = (0..200)
        .map(|i| {
            let f = fx.submit(TestTask::Return(i));
            let cancelled = f.cancel();
            (i, f, cancelled)
        })
        .collect();
    for (i, f, cancelled) in futures {
        check_cancel_answer(&f, cancelled, i);
    }
}

/// `cancel` said `cancelled`: the outcome must agree.
pub(crate) fn check_cancel_answer(f: &TestFuture, cancelled: bool, value: u64) {
    let result = outcome(f, "a future whose cancel raced its start");
    if cancelled {
        assert_eq!(
            result,
            Err(TaskError::Cancelled),
            "cancel() returned true, yet the future has another outcome"
        );
    } else {
        assert_eq!(
            result,
            Ok(value),
            "cancel() returned false, yet the task did not finish with its value"
        );
    }
}

/// `interrupt` on a pending future cancels it like `cancel`.
pub fn interrupt_cancels_a_pending_task<E: TestExecutor>(
    make: Factory<'_, E>,
    caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1));
    assert!(
        waiting.interrupt(),
        "interrupt() of a pending future must be true"
    );
    expect_cancelled(&waiting, "an interrupted pending future");
}

/// `interrupt` stops a running task: its future ends cancelled, and the executor keeps working.
pub fn interrupt_stops_a_running_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    started(&gate, 1);
    assert!(
        future.interrupt(),
        "interrupt() of a running future must be true on a backend that interrupts"
    );
    assert!(
        future.wait_timeout(PATIENCE),
        "an interrupted task did not stop within {PATIENCE:?}"
    );
    expect_cancelled(&future, "an interrupted running task");
    expect_value(
        &fx.submit(TestTask::Return(2)),
        2,
        "a task after an interrupt",
    );
}

/// Where running tasks cannot be stopped, `interrupt` says so and the task finishes.
pub fn interrupt_of_a_running_task_is_refused<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(3));
    started(&gate, 1);
    assert!(
        !future.interrupt(),
        "interrupt() of a running task must be false on a backend that cannot interrupt"
    );
    assert_eq!(future.state(), State::Running);
    gate.release_all();
    expect_value(&future, 3, "the task whose interrupt was refused");
}
