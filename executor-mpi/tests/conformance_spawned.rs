//! The shared conformance suite on the MPI pool in spawned mode: under
//! `mpirun -n 1 --oversubscribe --enable-recovery`, rank 0 spawns 2 workers with
//! `concurrent_futures_mpi::spawn`.
//!
//! `cargo test` runs this binary plainly: it then launches `mpirun -n 1` on itself (with a
//! timeout) and passes its output and status through (`common`). Under MPI, rank 0 runs every
//! check in turn (`common::suite`), printing libtest's format, which `cargo xtask conformance`
//! reads as backend: "mpi-spawned". The spawned workers run this `main` too and serve inside
//! `spawn`. Without `mpirun` on the PATH it prints a notice and skips.

mod common;

use std::process::ExitCode;

use concurrent_futures_testkit::{TestTask, conformance};

concurrent_futures_mpi::register_task!(TestTask);

fn main() -> ExitCode {
    common::main_with("conformance_spawned", common::SPAWNED, run_suite)
}

/// Under MPI: rank 0 spawns the workers (which serve inside `spawn`) and runs the checks.
fn run_suite() -> ExitCode {
    conformance::quiet_deliberate_panics();
    let session = concurrent_futures_mpi::spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes");
    common::suite::run(session, "mpi-spawned")
}
