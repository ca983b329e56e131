//! Checks of task errors: the task's own error travels intact, is told apart from panics and
//! cancellations, and every future keeps its own outcome.

use concurrent_futures_core::TaskError;

use crate::conformance::support::{Fixture, outcome};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, TestTask};

super::checks! { "errors":
    error_travels_intact,
    error_is_not_a_panic_or_cancellation,
    each_future_keeps_its_outcome,
}

/// The task's own error arrives byte for byte, whatever it contains.
pub fn error_travels_intact<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let long = "x".repeat(100_000);
    for message in [
        "",
        "disk full",
        "ünïcödé ✓ \"quoted\"\nsecond line\t\0",
        &long,
    ] {
        let future = fx.submit(TestTask::Fail(message.to_string()));
        assert_eq!(
            outcome(&future, "a failing task"),
            Err(TaskError::Failed(message.to_string())),
            "the task's own error must travel intact ({} bytes)",
            message.len()
        );
    }
}

/// A failure is `Failed`: not a panic, not a cancellation, not a timeout.
pub fn error_is_not_a_panic_or_cancellation<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Fail("no".into()));
    let error = outcome(&future, "a failing task").expect_err("Fail fails");
    assert!(!error.is_panic() && !error.is_cancelled() && !error.is_timeout());
    assert_eq!(error.failure().map(String::as_str), Some("no"));
    assert!(!future.cancelled());
}

/// Values, failures and panics mixed: each future has its own task's outcome.
pub fn each_future_keeps_its_outcome<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let task = |i: u64| match i % 3 {
        0 => TestTask::Return(i),
        1 => TestTask::Fail(format!("failure {i}")),
        _ => TestTask::Panic(format!("deliberate panic {i} (conformance check)")),
    };
    let futures: Vec<_> = (0..60).map(|i| fx.submit(task(i))).collect();
    for (i, f) in (0..).zip(&futures) {
        let result = outcome(f, "one of mixed tasks");
        match i % 3 {
            0 => assert_eq!(result, Ok(i)),
            1 => assert_eq!(result, Err(TaskError::Failed(format!("failure {i}")))),
            _ => assert!(
                matches!(&result, Err(TaskError::Panicked(p))
                    if p.message() == format!("deliberate panic {i} (conformance check)")),
                "task {i}: {result:?}"
            ),
        }
    }
}
