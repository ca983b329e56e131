//! The shared conformance suite on the MPI pool, under `mpirun -n 3` (rank 0 and 2 workers).
//!
//! `cargo test` runs this binary plainly: it then launches `mpirun -n 3` on itself (with a
//! timeout) and passes its output and status through (`common`). Under MPI, rank 0 runs every
//! check in turn (`common::suite`), printing libtest's format, which `cargo xtask conformance`
//! reads as backend: "mpi". Without `mpirun` on the PATH it prints a notice and skips.

mod common;

use std::process::ExitCode;

use concurrent_futures_testkit::{TestTask, conformance};

concurrent_futures_mpi::register_task!(TestTask);

fn main() -> ExitCode {
    common::main("conformance", run_suite)
}

/// Under MPI: worker ranks serve inside `init`; rank 0 runs the checks one by one.
fn run_suite() -> ExitCode {
    conformance::quiet_deliberate_panics();
    let session = concurrent_futures_mpi::init().expect("the MPI session starts");
    common::suite::run(session, "mpi")
}
