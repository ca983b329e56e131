//! Checks for crash-isolating (process) backends only: a task that aborts, exits or segfaults
//! fails with `WorkerLost` and takes down nothing else; tasks run in other processes.

use concurrent_futures_core::{TaskError, WorkerExit};

use crate::conformance::support::{Fixture, expect_value, outcome, started};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask};

super::checks! { "crash":
    abort_fails_only_its_task [Requirement::IsolatesCrashes, Requirement::Concurrent(2)],
    exit_fails_only_its_task [Requirement::IsolatesCrashes],
    segfault_fails_only_its_task [Requirement::IsolatesCrashes],
    executor_survives_many_crashes [Requirement::IsolatesCrashes],
    runs_in_another_process [Requirement::IsolatesCrashes],
}

/// The worker exit of a crashed task, or a failure naming what came instead.
fn worker_lost(result: Result<u64, TaskError<String>>, what: &str) -> WorkerExit {
    match result {
        Err(TaskError::WorkerLost(exit)) => exit,
        other => panic!("{what}: expected WorkerLost, got {other:?}"),
    }
}

/// An aborting task fails with `WorkerLost` (killed by `SIGABRT`); a task running beside it on
/// another worker finishes normally, and the executor takes new work.
pub fn abort_fails_only_its_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let neighbour = fx.submit(gate.task(1));
    started(&gate, 1);
    let crashed = fx.submit(TestTask::Abort);
    let exit = worker_lost(outcome(&crashed, "an aborting task"), "Abort");
    assert_eq!(
        exit.signal,
        Some(libc::SIGABRT),
        "an abort is SIGABRT: {exit:?}"
    );
    gate.release_all();
    expect_value(&neighbour, 1, "a task running beside a crash");
    expect_value(&fx.submit(TestTask::Return(2)), 2, "a task after a crash");
}

/// A task that exits its process fails with `WorkerLost` carrying the exit code.
pub fn exit_fails_only_its_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let crashed = fx.submit(TestTask::Exit(3));
    let exit = worker_lost(outcome(&crashed, "an exiting task"), "Exit(3)");
    assert_eq!(exit.code, Some(3), "the exit code is kept: {exit:?}");
    expect_value(
        &fx.submit(TestTask::Return(2)),
        2,
        "a task after a worker exit",
    );
}

/// A segfaulting task fails with `WorkerLost` (killed by `SIGSEGV`).
pub fn segfault_fails_only_its_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let crashed = fx.submit(TestTask::Segfault);
    let exit = worker_lost(outcome(&crashed, "a segfaulting task"), "Segfault");
    assert_eq!(
        exit.signal,
        Some(libc::SIGSEGV),
        "a segfault is SIGSEGV: {exit:?}"
    );
    expect_value(
        &fx.submit(TestTask::Return(2)),
        2,
        "a task after a segfault",
    );
}

/// More crashes than workers: each crash fails only its task, and the executor keeps its
/// capacity (crashed workers are replaced).
pub fn executor_survives_many_crashes<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let n = caps.bounded_workers.unwrap_or(2) + 2;
    let crashed: Vec<_> = (0..n).map(|_| fx.submit(TestTask::Exit(7))).collect();
    for f in &crashed {
        worker_lost(outcome(f, "one of many crashing tasks"), "Exit(7)");
    }
    let after: Vec<_> = (0..n as u64 * 2)
        .map(|i| fx.submit(TestTask::Return(i)))
        .collect();
    for (i, f) in (0..).zip(&after) {
        expect_value(f, i, "a task after many crashes");
    }
}

/// Crash-isolating backends run tasks in processes other than the caller's.
pub fn runs_in_another_process<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let pid = outcome(&fx.submit(TestTask::Pid), "Pid").expect("Pid never fails");
    assert_ne!(
        pid,
        u64::from(std::process::id()),
        "a crash-isolating backend ran the task in the test process"
    );
}
