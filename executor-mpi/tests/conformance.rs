//! The shared conformance suite on the MPI pool, under `mpirun -n 3` (rank 0 and 2 workers).
//!
//! `cargo test` runs this binary plainly: it then launches `mpirun -n 3` on itself (with a
//! timeout) and passes its output and status through (`common`). Under MPI, rank 0 runs every
//! check in turn, printing libtest's format, which `cargo xtask conformance` reads as
//! backend: "mpi". Without `mpirun` on the PATH it prints a notice and skips.
//!
//! The checks run one at a time (not libtest-mimic's parallel trials): every pool of the
//! session shares the same two worker ranks, so concurrent checks would see each other's tasks.

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use executor_mpi::MpiPoolExecutor;
use executor_testkit::conformance::{self, CheckOutcome};
use executor_testkit::{Capabilities, TestTask};

executor_mpi::register_task!(TestTask);

fn main() -> ExitCode {
    common::main("conformance", run_suite)
}

/// Under MPI: worker ranks serve inside `init`; rank 0 runs the checks one by one.
fn run_suite() -> ExitCode {
    conformance::quiet_deliberate_panics();
    let session = executor_mpi::init().expect("the MPI session starts");
    let workers = session.workers();
    let caps = Capabilities {
        in_process: false,
        ..Capabilities::THREADS
    }
    .with_max_workers(workers);
    let builder = session.builder();
    let make: Arc<dyn Fn() -> MpiPoolExecutor + Send + Sync> = Arc::new(move || builder.build());
    let filters = common::name_filters();
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
                failures.push(format!("[mpi] {name}: {message}"));
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
    common::summary(passed, failed, ignored, started)
}
