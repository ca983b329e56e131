//! The shared conformance suite on a session's pools, run one check at a time on rank 0 and
//! reported in libtest's format (which `cargo xtask conformance` reads).
//!
//! The checks run one at a time (not libtest-mimic's parallel trials): every pool of the
//! session shares the same worker ranks, so concurrent checks would see each other's tasks.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use concurrent_futures_mpi::{MpiPoolExecutor, Session};
use concurrent_futures_testkit::Capabilities;
use concurrent_futures_testkit::conformance::{self, CheckOutcome};

/// What the MPI pool declares: bounded by its workers, not in-process, no crash isolation
/// (a dead worker breaks the session, at best: see the crate's fault model), no interrupts or
/// time limits.
pub fn capabilities(workers: usize) -> Capabilities {
    Capabilities {
        in_process: false,
        ..Capabilities::THREADS
    }
    .with_max_workers(workers)
}

/// Runs every check (or those the command line's filters name) on pools of `session`, then
/// finalises it. `backend` labels the failures.
pub fn run(session: Session, backend: &str) -> ExitCode {
    let caps = capabilities(session.workers());
    let builder = session.builder();
    let make: Arc<dyn Fn() -> MpiPoolExecutor + Send + Sync> = Arc::new(move || builder.build());
    let filters = super::name_filters();
    let checks: Vec<_> = conformance::all_checks::<MpiPoolExecutor>()
        .into_iter()
        .filter(|check| {
            filters.is_empty()
                || filters
                    .iter()
                    .any(|f| check.full_name().contains(f.as_str()))
        })
        .collect();
    println!("\nrunning {} tests", checks.len());
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    let mut failures = Vec::new();
    let started = Instant::now();
    for check in checks {
        let name = check.full_name();
        match conformance::run_check(check, make.clone(), caps, conformance::DEFAULT_WATCHDOG) {
            CheckOutcome::Passed => {
                passed += 1;
                println!("test {name} ... ok");
            }
            CheckOutcome::Skipped(reason) => {
                ignored += 1;
                println!("test {name} ... ignored ({reason})");
            }
            CheckOutcome::Failed(message) => {
                failed += 1;
                println!("test {name} ... FAILED");
                failures.push(format!("[{backend}] {name}: {message}"));
            }
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for failure in &failures {
            println!("    {failure}");
        }
    }
    drop(make);
    session.finalize();
    super::summary(passed, failed, ignored, started)
}
