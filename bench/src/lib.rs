//! The benchmark harness behind `cargo xtask bench`: our executors beside what users would
//! pick instead (CPython's `concurrent.futures`, rayon, procspawn) and the raw floors, on the
//! same machine in the same run.
//!
//! - [`harness`] interleaves the contenders of a workload round by round;
//! - [`threads`], [`process`], [`memory`], [`mpi`] and [`mpi_hosts`] define the workloads of the
//!   issues (T1-T3, P1-P5, C1, M1-M2, MPI1-MPI5), [`floors`] the raw floors, [`python`] drives
//!   `python/anchors.py`;
//! - [`record`] is what a run writes, [`report`] and [`chart`] turn it into `latest.md` and
//!   `ratios.svg`;
//! - [`sweeps`] measures T1, M1 and P1 at several points of one parameter (submitting
//!   threads, queued futures, worker processes), and [`sweep_report`] turns those into
//!   `sweeps.md` and a line chart per sweep;
//! - [`cli`] is the command line `cargo xtask bench` drives.
//!
//! The binary's `main` must call `procspawn::init()` and [`ours_process::worker_hook`] first:
//! both pools start workers by running this binary again. The MPI workloads launch a second
//! binary, `executor-bench-mpi` (feature `mpi`), under `mpirun`.

pub mod catalog;
pub mod chart;
pub mod cli;
pub mod context;
pub mod cpu;
pub mod floors;
pub mod harness;
pub mod machine;
pub mod memory;
pub mod mpi;
pub mod mpi_hosts;
pub mod ours_process;
pub mod peers;
pub mod process;
pub mod python;
pub mod record;
pub mod report;
pub mod shm_floor;
pub mod stats;
pub mod sweep_report;
pub mod sweeps;
pub mod threads;
