//! An MPI backend for `executor`: the same [`Executor`](executor_core::Executor) on the ranks of
//! an MPI job, like Python's `mpi4py.futures`.
//!
//! # Pre-launched mode
//!
//! Launch the program with `mpirun -n N ./app` (or `srun`) and call [`init`] first in `main`.
//! Rank 0 gets a [`Session`], which makes [`MpiPoolExecutor`]s; ranks 1 to N-1 serve tasks
//! until the session ends, then finalise MPI and exit (`init` never returns there). Tasks are
//! registered like the process pool's: task types with [`register_task!`], plain functions
//! with [`remote_fn!`]; tasks and outcomes travel encoded with postcard.
//!
//! The task model *is* the process pool's ([`executor_process::task_model`]): [`Call`],
//! [`RemoteFn`] and both macros are re-exported from `executor-process`, and a binary has one
//! task registry. So a task registered once, with `executor_mpi::register_task!` or
//! `executor_process::register_task!`, runs on threads, on a process pool and on MPI ranks
//! alike.
//!
//! ```no_run
//! use executor_core::{Executor, MapOptions, Shutdown, Submit};
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//! executor_mpi::remote_fn!(is_prime);
//!
//! fn main() {
//!     let session = executor_mpi::init().expect("run me with mpirun -n 2 or more");
//!     let pool = session.pool();
//!     assert_eq!(pool.call(is_prime, 17).unwrap().result(), Ok(true));
//!     pool.shutdown(Shutdown::default());
//!     session.finalize(); // or let it drop at the end of main
//! }
//! ```
//!
//! # Spawned mode
//!
//! Start the program as one process (`mpirun -n 1 --oversubscribe ./app`) and call
//! [`spawn`]`(n)` first in `main`: rank 0 starts `n` copies of its own binary with
//! `MPI_Comm_spawn` and gets the [`Session`]; the copies run `main` again, find their parent
//! inside `spawn` (or `init`), serve tasks until the session ends and exit. If MPI cannot
//! spawn, `spawn` returns [`InitError::Spawn`] with MPI's reason.
//!
//! # Design
//!
//! MPI is initialised once per process, on a progress thread that makes every MPI call
//! (`MPI_THREAD_FUNNELED`). On rank 0, submitting hands the encoded task to that thread over a
//! channel; it blocks on that channel while nothing is in flight, and polls MPI with a short
//! backoff (spinning, then sleeping up to 1 ms, waking at once for new work) while tasks run.
//! Sends are non-blocking (`MPI_Isend`), so no two ranks can deadlock sending to each other.
//! A worker rank's progress thread receives the tasks and runs them itself, one at a time
//! (its main thread only waits for the end of the job).
//!
//! Only idle workers are fed, each with a batch sized to about a millisecond of the pool's
//! measured task time (one task until one has finished), at most a fair share of the queue and
//! at most [`MpiPoolBuilder::tasks_per_worker`] (default 64). As in CPython's call queue, a task
//! is `Running` from the moment it is sent: a queued task can be cancelled, a sent one cannot.
//!
//! # Fault model
//!
//! There is **no crash isolation**. A task that panics fails its own future
//! (`TaskError::Panicked`) and the worker carries on, but a rank that dies (abort, segfault,
//! `exit`, killed) makes plain MPI abort the whole job, rank 0 included: the executor cannot
//! observe it and no future reports `WorkerLost`. Tasks cannot be interrupted while running and
//! have no time limits. Use `executor-process` on each node if tasks may crash.

mod dynamic;
mod initializer;
mod job;
mod liveness;
mod pool;
mod progress;
mod protocol;
mod session;
mod transport;
mod worker;

pub use crate::pool::{MpiPoolBuilder, MpiPoolExecutor};
pub use crate::session::{InitError, Session, init, spawn};
pub use executor_process::{Call, RemoteFn, register_task, remote_fn};
