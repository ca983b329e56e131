//! The shared conformance suite on the MPI pool in spawned mode across two simulated hosts:
//! `mpirun -n 1 --enable-recovery` on a cluster with one slot on the first host and two on the
//! second, so rank 0 runs on the first and the 2 workers that `concurrent_futures_mpi::spawn`
//! starts land on the second (`scripts/cluster.sh`; the ranks talk TCP).
//!
//! `cargo test` runs this binary plainly: it makes a cluster named after its process id,
//! launches `mpirun` on itself there, passes the output and status through and removes the
//! cluster. Under MPI, rank 0 runs every check in turn (`common::suite`), which `cargo xtask
//! conformance` reads as backend: "mpi-multihost-spawned". Where namespaces cannot be made or
//! `mpirun` is missing, it prints a notice and skips.

mod common;

use std::process::ExitCode;

use concurrent_futures_testkit::{TestTask, conformance};

concurrent_futures_mpi::register_task!(TestTask);

fn main() -> ExitCode {
    common::main_on_cluster("conformance_multihost_spawned", common::SPAWNED, run_suite)
}

/// Under MPI: rank 0 spawns the workers (which serve inside `spawn`) and runs the checks.
fn run_suite() -> ExitCode {
    conformance::quiet_deliberate_panics();
    let session = concurrent_futures_mpi::spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes");
    common::assert_workers_on_the_other_host(&session);
    common::suite::run(session, "mpi-multihost-spawned")
}
