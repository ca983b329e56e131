//! The shared conformance suite on the MPI pool across two simulated hosts: `mpirun -n 3` with
//! rank 0 on one host and both workers on the other (`scripts/cluster.sh`: each host its own
//! network and UTS namespace, so the ranks talk TCP and know each other by host name, as on a
//! real cluster).
//!
//! `cargo test` runs this binary plainly: it makes a cluster named after its process id,
//! launches `mpirun` on itself there (with a timeout), passes the output and status through and
//! removes the cluster. Under MPI, rank 0 runs every check in turn (`common::suite`), which
//! `cargo xtask conformance` reads as backend: "mpi-multihost". Where namespaces cannot be made
//! (not root, no iproute2) or `mpirun` is missing, it prints a notice and skips.

mod common;

use std::process::ExitCode;

use concurrent_futures_testkit::{TestTask, conformance};

concurrent_futures_mpi::register_task!(TestTask);

fn main() -> ExitCode {
    common::main_on_cluster("conformance_multihost", common::PRE_LAUNCHED, run_suite)
}

/// Under MPI: worker ranks serve inside `init`; rank 0 runs the checks one by one.
fn run_suite() -> ExitCode {
    conformance::quiet_deliberate_panics();
    let session = concurrent_futures_mpi::init().expect("the MPI session starts");
    common::assert_workers_on_the_other_host(&session);
    common::suite::run(session, "mpi-multihost")
}
