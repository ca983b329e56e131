//! `concurrent-futures`: Python's `concurrent.futures`, done right in Rust.
//!
//! Submit blocking work to a pool and get a [`Future`] back: a handle you can `.await` or
//! [`join`](Future::join) (both move the value out, so it need not be `Clone`), wait on with a
//! timeout, cancel while it is queued, attach done-callbacks to, mix with other futures in [`wait`]
//! and [`as_completed`] (also a `Stream`), or [`share`](Future::share) with several readers.
//! What only backend authors need is in [`backend`].
//!
//! Backends are chosen with Cargo features:
//!
//! | feature | backend | for |
//! |---|---|---|
//! | `threads` (default) | [`ThreadPool`] | blocking I/O and CPU work in this process |
//! | `rayon` | [`RayonExecutor`] | futures on top of an existing `rayon::ThreadPool` |
//! | `process` | [`ProcessPool`] | isolation: tasks that may crash, hang, leak or are not thread-safe |
//! | `mpi` | `mpi::MpiPoolExecutor` | the ranks of an `mpirun` job, or workers it spawns (needs MPI and libclang to build) |
//!
//! All of them implement the same traits, [`Executor`] and [`Submit`], so generic code and the
//! conformance suite (`concurrent-futures-testkit`) run on each, and on your own backend.
//!
//! ```
//! # #[cfg(feature = "threads")] {
//! use concurrent_futures::{ReturnWhen, Shutdown, Submit, ThreadPool, wait, Executor};
//! use std::time::Duration;
//!
//! let pool = ThreadPool::builder().max_workers(4).build().unwrap();
//! let futures: Vec<_> = (0..8u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
//! let sets = wait(&futures, Some(Duration::from_secs(10)), ReturnWhen::AllCompleted);
//! assert_eq!(sets.done.len(), 8);
//! assert_eq!(futures[3].result(), Ok(9));
//! pool.shutdown(Shutdown::default());
//! # }
//! ```

pub use concurrent_futures_core::*;

/// The thread pool backend (`threads` feature), and the rayon one (`rayon` feature).
#[cfg(feature = "threads")]
pub mod threads {
    pub use concurrent_futures_threads::*;
}
#[cfg(feature = "rayon")]
pub use concurrent_futures_threads::RayonExecutor;
#[cfg(feature = "threads")]
pub use concurrent_futures_threads::{ThreadPool, ThreadPoolBuilder};

/// The process pool backend (`process` feature): crash isolation, time limits, recycling.
#[cfg(feature = "process")]
pub mod process {
    pub use concurrent_futures_process::*;
}
#[cfg(feature = "process")]
pub use concurrent_futures_process::{
    ProcessPool, ProcessPoolBuilder, SubmitOptions, register_task, remote_fn,
};

/// The MPI backend (`mpi` feature): tasks on the worker ranks of an `mpirun -n N` job
/// (`mpi::init`), or on workers that rank 0 spawns (`mpi::spawn`).
#[cfg(feature = "mpi")]
pub mod mpi {
    pub use concurrent_futures_mpi::*;
}

/// The README's Rust examples, compiled and run as doctests so that they stay true.
#[cfg(all(doctest, feature = "threads", feature = "process"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
