//! The suite can fail: run against [`BrokenCancel`], a pool that runs tasks even after their
//! futures were cancelled, the cancellation checks must fail with their messages, while checks
//! that do not involve cancellation still pass.

use std::sync::Arc;
use std::time::Duration;

use concurrent_futures_testkit::backends::BrokenCancel;
use concurrent_futures_testkit::conformance::{Check, CheckOutcome, find_check, run_check};
use concurrent_futures_testkit::{Capabilities, TestExecutor};

const WORKERS: usize = 2;

fn run(name: &str) -> CheckOutcome {
    run_with(name, Arc::new(|| BrokenCancel::new(WORKERS)))
}

fn run_with<E: TestExecutor>(name: &str, make: Arc<dyn Fn() -> E + Send + Sync>) -> CheckOutcome {
    let check = find_check::<E>(name).unwrap_or_else(|| panic!("no check named {name}"));
    let caps = Capabilities::THREADS.with_max_workers(WORKERS);
    run_check(check, make, caps, Duration::from_secs(60))
}

fn assert_fails(name: &str, expected_message: &str) {
    match run(name) {
        CheckOutcome::Failed(message) => assert!(
            message.contains(expected_message),
            "{name} failed, but not for the planted bug: {message}"
        ),
        other => panic!("{name} must fail on the broken backend, got {other:?}"),
    }
}

#[test]
fn a_cancelled_queued_task_that_runs_is_caught() {
    assert_fails("cancel::queued_task_never_runs", "ran anyway");
}

#[test]
fn map_items_that_run_after_an_early_drop_are_caught() {
    assert_fails("map::early_drop_cancels_pending", "ran anyway");
}

#[test]
fn map_items_that_run_after_the_deadline_are_caught() {
    assert_fails("map::deadline_cancels_unstarted", "ran anyway");
}

#[test]
fn shutdown_that_does_not_cancel_the_queue_is_caught() {
    assert_fails(
        "shutdown::cancel_futures_cancels_queued",
        "expected a cancelled future",
    );
}

#[test]
fn checks_without_cancellation_still_pass_on_the_broken_backend() {
    for name in [
        "submit::returns_each_value",
        "wait::first_exception",
        "map::results_in_input_order",
    ] {
        assert_eq!(run(name), CheckOutcome::Passed, "{name}");
    }
}

#[test]
fn a_check_the_capabilities_exclude_is_skipped_with_a_reason() {
    let check = find_check::<BrokenCancel>("crash::abort_fails_only_its_task").unwrap();
    let outcome = run_check(
        check,
        Arc::new(|| BrokenCancel::new(WORKERS)),
        Capabilities::THREADS,
        Duration::from_secs(60),
    );
    assert_eq!(
        outcome,
        CheckOutcome::Skipped("a crashing task would take the test process down".into())
    );
}

#[test]
fn every_check_has_a_unique_group_qualified_name() {
    let checks = concurrent_futures_testkit::conformance::all_checks::<BrokenCancel>();
    let mut names: Vec<_> = checks.iter().map(|c| c.full_name()).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "duplicate check names");
    assert!(names.iter().all(|n| n.split("::").count() == 2));
}

/// A check that never finishes: what a deadlocked backend looks like to the runner.
fn hangs<E>(_make: &dyn Fn() -> E, _caps: &Capabilities) {
    loop {
        std::thread::park();
    }
}

#[test]
fn a_hung_check_fails_with_a_message_instead_of_hanging() {
    let check = Check::<BrokenCancel> {
        group: "runner",
        name: "hangs",
        requires: &[],
        run: hangs::<BrokenCancel>,
    };
    let outcome = run_check(
        check,
        Arc::new(|| BrokenCancel::new(WORKERS)),
        Capabilities::THREADS,
        Duration::from_millis(100),
    );
    assert_eq!(
        outcome,
        CheckOutcome::Failed("check hung after 0.1s: runner::hangs".into())
    );
}
