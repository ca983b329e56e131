//! Checks of `submit`: every accepted task runs and its future gets its own outcome.

use std::time::Duration;

use concurrent_futures_core::Submit;

use crate::conformance::support::{Fixture, PATIENCE, expect_value, outcome, started, submit};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask, hooks};

super::checks! { "submit":
    returns_value,
    returns_each_value,
    runs_cpu_work,
    sleep_returns_value,
    does_not_wait_for_the_task [Requirement::Concurrent(1)],
    runs_during_submit [Requirement::RunsInline],
    runs_in_this_process [Requirement::InProcess],
    from_inside_a_task [Requirement::InProcess, Requirement::Concurrent(2)],
}

/// A task's value reaches its future.
pub fn returns_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    expect_value(&fx.submit(TestTask::Return(7)), 7, "submit(Return(7))");
}

/// Every future gets its own task's value, whatever order they complete in.
pub fn returns_each_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let futures: Vec<_> = (0..100).map(|i| fx.submit(TestTask::Return(i))).collect();
    for (i, future) in (0..).zip(&futures) {
        expect_value(future, i, "one of 100 submitted tasks");
    }
}

/// CPU-bound work runs to its result.
pub fn runs_cpu_work<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Spin {
        iterations: 100_000,
    });
    expect_value(&future, TestTask::spin_checksum(100_000), "Spin");
}

/// A task that takes wall time still returns its value.
pub fn sleep_returns_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Sleep {
        millis: 5,
        value: 3,
    });
    expect_value(&future, 3, "Sleep");
}

/// `submit` returns while the task is still blocked: it schedules, it does not run.
pub fn does_not_wait_for_the_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(4));
    assert!(
        !future.done(),
        "the gated task cannot have finished, yet its future is {}",
        future.state()
    );
    started(&gate, 1);
    gate.release_all();
    expect_value(&future, 4, "the released task");
}

/// An inline backend's future is done when `submit` returns.
pub fn runs_during_submit<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(2));
    assert!(
        future.done(),
        "an inline backend finishes the task inside submit, but the future is {}",
        future.state()
    );
    assert_eq!(future.result_timeout(Duration::ZERO), Ok(2));
}

/// In-process backends run tasks in the caller's process.
pub fn runs_in_this_process<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    expect_value(
        &fx.submit(TestTask::Pid),
        u64::from(std::process::id()),
        "Pid on an in-process backend",
    );
}

/// A task may submit to its own executor and wait for that task (with a worker to spare).
pub fn from_inside_a_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let ex = fx.ex.clone();
    let task = hooks::register(move || {
        let inner = Submit::<TestTask>::submit(&*ex, TestTask::Return(11))
            .map_err(|e| format!("submit from inside a task was refused: {e}"))?;
        inner
            .result_timeout(PATIENCE)
            .map_err(|e| format!("the task submitted from a task: {e}"))
    });
    let future = fx.submit(task);
    assert_eq!(
        outcome(&future, "a task that submits"),
        Ok(11),
        "a task submitting to its own executor"
    );
    // And the executor still takes work from outside.
    expect_value(&submit(&*fx.ex, TestTask::Return(1)), 1, "a later submit");
}
