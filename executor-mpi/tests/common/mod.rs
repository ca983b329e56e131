//! Shared by the test binaries: run plainly by `cargo test`, a binary launches `mpirun -n 3`
//! on itself (with a timeout) and passes its output and status through; under MPI it runs its
//! checks on rank 0 and prints libtest's format. Without `mpirun` it prints a notice and skips.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Set in the environment of the ranks `mpirun` starts.
const UNDER_MPI: &str = "EXECUTOR_MPI_TEST_UNDER_MPIRUN";
/// How many ranks: rank 0 and two workers.
const RANKS: &str = "3";
/// The whole binary must end by then.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

/// `main` of a test binary: `suite` under `mpirun -n 3`, or the launch of it.
pub fn main(name: &str, suite: fn() -> ExitCode) -> ExitCode {
    if std::env::var_os(UNDER_MPI).is_some() {
        suite()
    } else {
        launch(name)
    }
}

/// Not under MPI: runs this binary under `mpirun -n 3` and reports its status.
fn launch(name: &str) -> ExitCode {
    let Some(mpirun) = find_on_path("mpirun") else {
        println!(
            "notice: `mpirun` is not installed; the MPI tests of `{name}` are skipped \
             (Debian: apt-get install openmpi-bin libopenmpi-dev)"
        );
        println!("test mpi::{name} ... ignored (mpirun is not installed)");
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
                "`{name}` under MPI did not finish within {}s; mpirun was killed",
                SUITE_TIMEOUT.as_secs()
            );
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("mpirun -n {RANKS} on `{name}` failed: {status}");
        ExitCode::FAILURE
    }
}

/// The test-name filters among libtest's arguments (flags and their values left out).
pub fn name_filters() -> Vec<String> {
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

/// Prints libtest's summary line; the exit code for it.
pub fn summary(passed: usize, failed: usize, ignored: usize, started: Instant) -> ExitCode {
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; \
         0 filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
