//! The shared conformance suite on the MPI pool, under `mpirun -n 3` (rank 0 and 2 workers).
//!
//! `cargo test` runs this binary plainly: it then launches `mpirun -n 3` on itself (with a
//! timeout) and passes its output and status through. Under MPI, rank 0 runs every check in
//! turn, printing libtest's format, which `cargo xtask conformance` reads as
//! backend: "mpi". Without `mpirun` on the PATH it prints a notice and skips.
//!
//! The checks run one at a time (not libtest-mimic's parallel trials): every pool of the
//! session shares the same two worker ranks, so concurrent checks would see each other's tasks.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use executor_mpi::MpiPoolExecutor;
use executor_testkit::conformance::{self, CheckOutcome};
use executor_testkit::{Capabilities, TestTask};

executor_mpi::register_task!(TestTask);

/// Set in the environment of the ranks `mpirun` starts.
const UNDER_MPI: &str = "EXECUTOR_MPI_CONFORMANCE_RANK";
/// How many ranks: rank 0 and two workers.
const RANKS: &str = "3";
/// The whole suite must end by then.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    if std::env::var_os(UNDER_MPI).is_some() {
        run_suite()
    } else {
        launch()
    }
}

/// Not under MPI: runs this binary under `mpirun -n 3` and reports its status.
fn launch() -> ExitCode {
    let Some(mpirun) = find_on_path("mpirun") else {
        println!(
            "notice: `mpirun` is not installed; the MPI conformance suite is skipped \
             (Debian: apt-get install openmpi-bin libopenmpi-dev)"
        );
        println!("test mpi::conformance ... ignored (mpirun is not installed)");
        println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
        return ExitCode::SUCCESS;
    };
    let filters = name_filters();
    let exe = std::env::current_exe().expect("the test knows its own path");
    let mut command = Command::new(mpirun);
    command
        .args(["-n", RANKS, "--oversubscribe"])
        .arg(exe)
        .args(&filters)
        .env(UNDER_MPI, "1")
        // CI runs as root; OpenMPI refuses that unless told twice.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    // One machine: OpenMPI's default launcher wants `ssh` even for local ranks, and its
    // single-copy shared memory needs ptrace rights that containers often lack.
    for (name, value) in [
        ("OMPI_MCA_plm", "isolated"),
        ("OMPI_MCA_btl_vader_single_copy_mechanism", "none"),
    ] {
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    let mut child = command.spawn().expect("mpirun starts");
    let deadline = Instant::now() + SUITE_TIMEOUT;
    // A timeout, not synchronisation: poll the child until it exits or the deadline passes.
    let status = loop {
        if let Some(status) = child.try_wait().expect("mpirun can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "the MPI conformance suite did not finish within {}s; mpirun was killed",
                SUITE_TIMEOUT.as_secs()
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("mpirun -n {RANKS} on the conformance suite failed: {status}");
        ExitCode::FAILURE
    }
}

/// The test-name filters among libtest's arguments (flags and their values left out).
fn name_filters() -> Vec<String> {
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if matches!(
            arg.as_str(),
            "--test-threads" | "--format" | "--skip" | "--color" | "-Z"
        ) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    filters
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
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
    let filters = name_filters();
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
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; \
         0 filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    drop(make);
    session.finalize();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
