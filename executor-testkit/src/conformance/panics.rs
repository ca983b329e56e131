//! Checks of panicking tasks: the panic becomes the future's error with its message (and, in
//! process, its location and payload), and the executor loses no capacity.

use concurrent_futures_core::TaskError;

use crate::conformance::support::{Fixture, expect_value, outcome};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Requirement, TestTask};

super::checks! { "panics":
    message_is_kept,
    location_and_payload_are_kept [Requirement::InProcess],
    executor_survives_panics,
}

const MESSAGE: &str = "deliberate panic in a task (conformance check)";

/// A panicking task's future holds `Panicked` with the panic's message.
pub fn message_is_kept<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Panic(MESSAGE.into()));
    match outcome(&future, "a panicking task") {
        Err(TaskError::Panicked(info)) => assert_eq!(info.message(), MESSAGE),
        other => panic!("a panicking task should give Panicked, got {other:?}"),
    }
    assert!(
        !future.cancelled(),
        "a panicked task is finished, not cancelled"
    );
}

/// In process, the panic also keeps where it happened and its payload.
pub fn location_and_payload_are_kept<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Panic(MESSAGE.into()));
    let Err(TaskError::Panicked(info)) = outcome(&future, "a panicking task") else {
        panic!("a panicking task should give Panicked");
    };
    let location = info
        .location()
        .expect("an in-process panic keeps its location");
    assert!(
        location.file.ends_with("tasks.rs") && location.line > 0,
        "the location should point into the task's code, got {location:?}"
    );
    let payload = info
        .take_payload()
        .expect("an in-process panic keeps its payload");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some(MESSAGE)
    );
}

/// Panics do not cost workers: after more panics than workers, every task still runs.
pub fn executor_survives_panics<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let n = caps.bounded_workers.unwrap_or(4) * 2 + 1;
    let panicked: Vec<_> = (0..n)
        .map(|_| fx.submit(TestTask::Panic(MESSAGE.into())))
        .collect();
    for f in &panicked {
        assert!(
            outcome(f, "a panicking task").is_err_and(|e| e.is_panic()),
            "a panicking task's outcome"
        );
    }
    let after: Vec<_> = (0..n as u64)
        .map(|i| fx.submit(TestTask::Return(i)))
        .collect();
    for (i, f) in (0..).zip(&after) {
        expect_value(f, i, "a task after many panics");
    }
}
