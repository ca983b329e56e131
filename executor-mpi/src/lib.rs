//! An MPI backend for `concurrent-futures`: the same [`Executor`](concurrent_futures_core::Executor) on the ranks of
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
//! The task model *is* the process pool's ([`concurrent_futures_process::task_model`]): [`Call`],
//! [`RemoteFn`] and both macros are re-exported from `concurrent-futures-process`, and a binary has one
//! task registry. So a task registered once, with `concurrent_futures_mpi::register_task!` or
//! `concurrent_futures_process::register_task!`, runs on threads, on a process pool and on MPI ranks
//! alike.
//!
//! ```no_run
//! use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//! concurrent_futures_mpi::remote_fn!(is_prime);
//!
//! fn main() {
//!     let session = concurrent_futures_mpi::init().expect("run me with mpirun -n 2 or more");
//!     let pool = session.pool();
//!     assert_eq!(pool.call(is_prime, 17).unwrap().result(), Ok(true));
//!     pool.shutdown(Shutdown::default());
//!     session.finalize(); // or let it drop at the end of main
//! }
//! ```
//!
//! # Spawned mode
//!
//! Start the program as one process and call [`spawn`]`(n)` first in `main`: rank 0 starts `n`
//! copies of its own binary (same arguments) with `MPI_Comm_spawn` and gets the [`Session`];
//! the copies run `main` again, find their parent inside `spawn` (or `init`), serve tasks until
//! the session ends and exit. With OpenMPI:
//!
//! ```text
//! mpirun -n 1 --oversubscribe ./app                 # --oversubscribe: more processes than cores
//! OMPI_MCA_rmaps_base_oversubscribe=1 ./app         # a singleton, without mpirun
//! mpirun -n 1 --oversubscribe --enable-recovery ./app   # a dead worker does not kill rank 0
//! ```
//!
//! If MPI cannot spawn (Debian's MPICH cannot; OpenMPI without a free slot per worker says
//! `MPI_ERR_SPAWN`), `spawn` returns a [`BuildError`] of kind [`BuildErrorKind::Spawn`] with
//! MPI's reason and a hint, not an abort. `spawn` is for a program started as one process: in a
//! job of several ranks it is an error (use [`init`]).
//!
//! ```no_run
//! use concurrent_futures_core::{Executor, Shutdown, Submit};
//!
//! fn cube(x: u64) -> u64 { x * x * x }
//! concurrent_futures_mpi::remote_fn!(cube);
//!
//! fn main() {
//!     let session = concurrent_futures_mpi::spawn(2).expect("MPI spawns 2 workers");
//!     let pool = session.pool();
//!     assert_eq!(pool.call(cube, 3).unwrap().result(), Ok(27));
//!     pool.shutdown(Shutdown::default());
//! }
//! ```
//!
//! # Initializer
//!
//! [`MpiPoolBuilder::initializer`] takes a registered task (for a function,
//! [`Call::new`]`(f, args)`: mpi4py's `initializer` and `initargs`), run once on each worker
//! before that pool's first task reaches it. If it fails or panics on any worker, that pool is
//! broken (its unsent tasks fail with `TaskError::Broken`, later submits are refused with
//! `Rejected::Broken`); the session's other pools keep working.
//!
//! # Design
//!
//! MPI is initialised once per process, on a progress thread; the threads that call MPI take
//! turns (`MPI_THREAD_SERIALIZED`), with one keeper thread per rank sending heartbeats while
//! the others are busy. On rank 0 the thread that needs progress makes it: a submitter sends
//! its own task when rank 0's state is free (else the progress thread sends it), and a thread
//! that blocks on a future of the session (`result`, `join`, `wait_timeout`...) polls MPI for
//! the answers itself for up to 200 µs before it sleeps, so a round trip crosses no thread
//! hand-off. The progress thread looks after what nobody waits for (done-callbacks, `wait` and
//! `as_completed` over many futures), heartbeats and liveness: it naps while others drive,
//! polls with a short backoff while tasks run, and parks when idle. Sends are non-blocking (`MPI_Isend`), so no two ranks can deadlock
//! sending to each other. A worker's progress thread receives the tasks and runs them itself,
//! one at a time, letting go of MPI meanwhile so its keeper can answer for it (its main thread
//! only waits for the end of the job). Pre-launched, the messages travel on `MPI_COMM_WORLD`;
//! spawned, on the intercommunicator `MPI_Comm_spawn` returned.
//!
//! Only idle workers are fed, each with a batch sized to about a millisecond of the pool's
//! measured task time (one task until one has finished), at most a fair share of the queue and
//! at most [`MpiPoolBuilder::tasks_per_worker`] (default 64). As in CPython's call queue, a task
//! is `Running` from the moment it is sent: a queued task can be cancelled, a sent one cannot.
//!
//! # Fault model
//!
//! A task that panics or fails fails its own future (`TaskError::Panicked`,
//! `TaskError::Failed`) and the worker carries on. A worker rank that is **lost** (its process
//! dies: abort, segfault, `exit`, killed; it stops: `SIGSTOP`, a debugger; its host is cut off
//! from the network) is noticed by rank 0, on any host:
//!
//! - on rank 0's own host, a dead worker within milliseconds (rank 0 checks its process id);
//! - anywhere, a worker silent for [`SessionBuilder::worker_timeout`] (default 3 s): rank 0
//!   and the workers send each other heartbeats from their progress threads, which never run
//!   tasks, so a long task is not silence.
//!
//! What happens then is [`LostWorker`]'s choice. By default ([`LostWorker::Requeue`]) only the
//! task the lost worker was running fails, with `TaskError::WorkerLost` naming the rank, its
//! process id and host; the tasks it had been sent but not started run on the other workers,
//! and the session goes on ([`Session::live_workers`] says how many are left). When no worker
//! is left the session breaks: the rest fail with `TaskError::Broken` ("every MPI worker was
//! lost"), submits are refused. [`LostWorker::BreakSession`] is mpi4py.futures' semantics:
//! the first loss breaks the session.
//!
//! ```no_run
//! use std::time::Duration;
//! use concurrent_futures_core::{Executor, Shutdown, TaskError};
//!
//! fn square(x: u64) -> u64 { x * x }
//! concurrent_futures_mpi::remote_fn!(square);
//!
//! fn main() {
//!     // mpirun -n 1 --oversubscribe --enable-recovery ./app
//!     let session = concurrent_futures_mpi::builder()
//!         .worker_timeout(Duration::from_secs(2))
//!         .spawn(2)
//!         .expect("MPI spawns 2 workers");
//!     let pool = session.pool();
//!     let futures: Vec<_> = (0..100).map(|x| pool.call(square, x).unwrap()).collect();
//!     for future in futures {
//!         match future.result() {
//!             Ok(squared) => println!("{squared}"),
//!             // Its worker was lost while running it: the others still run.
//!             Err(TaskError::WorkerLost(exit)) => eprintln!("lost: {exit}"),
//!             Err(other) => eprintln!("failed: {other}"),
//!         }
//!     }
//!     println!("{} of {} workers left", session.live_workers(), session.workers());
//!     pool.shutdown(Shutdown::default());
//! }
//! ```
//!
//! A silent worker is also *fenced*: killed with `SIGKILL` by rank 0 if it is on its host, else
//! by another worker on its host, if there is one; a worker that hears nothing from rank 0 for
//! the timeout ends its own process. So a stopped or cut-off process is not left behind.
//!
//! The MPI runtime must let the job survive a lost rank: by default OpenMPI ends the whole job
//! (rank 0 included) when a rank dies; run `mpirun --enable-recovery` to keep it. After a loss,
//! OpenMPI 4.1 can no longer end the job through `MPI_Finalize` (it returns, but `mpirun` never
//! exits), so `finalize` skips it and rank 0's process ends the job with `MPI_Abort` when it
//! exits, with its exit status as the code: `mpirun` prints MPI_Abort's notice and exits. Two
//! cases remain where OpenMPI 4.1.4's `mpirun` does not exit by itself although every process
//! of the program has: a host cut off from the network, and a spawned worker on another host
//! that died (README, "Fault model"). On a real cluster, also lower the kernel's TCP
//! retransmission limit (`net.ipv4.tcp_retries2`) so the launcher learns of a lost host in
//! seconds rather than a quarter of an hour.
//!
//! There is no crash isolation otherwise: a lost worker is not replaced, tasks cannot be
//! interrupted while running and have no time limits. Use `concurrent-futures-process` on each
//! node if tasks may crash and the work must go on at full strength.

mod builder;
mod dynamic;
mod heartbeat;
mod initializer;
mod job;
mod liveness;
mod pool;
mod progress;
mod protocol;
mod session;
mod transport;
mod worker;

pub use crate::builder::{DEFAULT_WORKER_TIMEOUT, LostWorker, SessionBuilder, builder};
pub use crate::pool::{MpiPoolBuilder, MpiPoolExecutor};
pub use crate::session::{Session, init, spawn};
pub use concurrent_futures_core::{BuildError, BuildErrorKind};
pub use concurrent_futures_process::{Call, RemoteFn, register_task, remote_fn};
