//! An isolation-first process pool for `concurrent-futures`: Python's `ProcessPoolExecutor`, minus its
//! worst habits.
//!
//! A task runs in a worker process, so a task that panics, aborts, segfaults, leaks, hangs or
//! calls `exit` fails **its own future only**: the pool starts a replacement worker and every
//! other task completes normally. Tasks can have time limits (the worker is killed and
//! replaced), a running task can be interrupted, and encoding failures are pinned on the one task
//! they concern.
//!
//! # Set-up
//!
//! Workers are your own binary, started again in worker mode. Two things are needed:
//!
//! 1. call [`init`] first in `main` (in the parent it returns at once);
//! 2. register what workers may run: task types with [`register_task!`], plain functions with
//!    [`remote_fn!`]. Submitting an unregistered type gives a future failed with a message
//!    that says so.
//!
//! ```no_run
//! use concurrent_futures::{Executor, Shutdown, Submit};
//! use concurrent_futures::ProcessPool;
//! use serde::{Deserialize, Serialize};
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//! concurrent_futures::remote_fn!(is_prime);
//!
//! #[derive(Serialize, Deserialize)]
//! struct Checksum(Vec<u8>);
//! impl concurrent_futures::Task for Checksum {
//!     type Output = u32;
//!     type Error = String;
//!     fn run(self) -> Result<u32, String> {
//!         Ok(self.0.iter().map(|&b| u32::from(b)).sum())
//!     }
//! }
//! concurrent_futures::register_task!(Checksum);
//!
//! fn main() {
//!     concurrent_futures::process::init();
//!     let pool = ProcessPool::builder().max_workers(2).build().unwrap();
//!     assert_eq!(pool.call(is_prime, 17).unwrap().result(), Ok(true));
//!     assert_eq!(pool.submit(Checksum(vec![1, 2, 3])).unwrap().result(), Ok(6));
//!     pool.shutdown(Shutdown::wait());
//! }
//! ```
//!
//! In tests: integration tests with `harness = false` call [`init`] first in their `main`. With
//! the default libtest harness, put [`libtest_worker!`] at the crate root of the test and build
//! pools with [`ProcessPoolBuilder::libtest_worker`].
//!
//! # Guarantees
//!
//! - One anonymous socket pair per worker, inherited as its standard input: queue depth never
//!   costs file descriptors, and a worker listens on nothing, so no other process can reach it
//!   or pose as its parent, and nothing of the pool is ever on disk.
//! - Small messages travel through two shared-memory rings per worker, so a round trip makes no
//!   system call while both sides are busy; a thread waiting for a result reads it from the
//!   worker's ring itself instead of waiting to be woken.
//! - `submit` only encodes and enqueues. Messages go only to idle workers and stay small (large
//!   payloads travel in sealed shared memory), so no send blocks and results are drained
//!   continuously.
//! - The parent checks everything a worker sends (framing, descriptors, shared-memory seals and
//!   sizes, task ids, order) before believing it: a worker that sends garbage is killed and its
//!   task fails with what was wrong; the parent never panics, leaks or allocates on a worker's
//!   word.
//! - Workers die with the parent (parent-death signal plus the socket's end-of-file), inherit
//!   no stray descriptors, and are reaped after shutdown.
//! - Parent and worker check that they run the same task registry; a mismatch is a clear error.
//!
//! # Other backends
//!
//! The task model (registration, encoding, the registry) is public in [`task_model`] for
//! backends that carry tasks to other processes: `concurrent-futures-mpi` uses it, so a task registered
//! once runs on this pool and on MPI ranks alike.

mod arena;
mod builder;
mod bytes;
mod chunk;
mod codec;
mod connection;
mod fault;
mod frame;
mod guard;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod hostile;
mod inbox;
mod job;
mod link;
mod pool;
mod protocol;
mod registry;
mod remote_fn;
// Public only for the loom model of its protocol (`tests/loom_ring.rs`).
#[cfg(executor_loom)]
#[doc(hidden)]
pub mod ring;
#[cfg(not(executor_loom))]
mod ring;
mod shared;
mod spawn;
mod supervisor;
mod sys;
pub mod task_model;
mod worker;

pub use crate::builder::ProcessPoolBuilder;
pub use crate::bytes::Bytes;
pub use crate::pool::{ProcessPool, SubmitOptions};
pub use crate::remote_fn::{Call, RemoteFn};
pub use crate::worker::init;
pub use concurrent_futures_core::{BuildError, BuildErrorKind};

/// Defines the worker entry point for test binaries that use the default libtest harness.
///
/// Put it at the crate root of the integration test, and build pools with
/// [`ProcessPoolBuilder::libtest_worker`]: workers re-run the test binary with only this test
/// selected, which calls [`init`]. In the parent it is an empty test that passes.
///
/// ```
/// concurrent_futures::process::libtest_worker!();
/// ```
#[macro_export]
macro_rules! libtest_worker {
    () => {
        #[test]
        fn executor_process_worker() {
            $crate::init();
        }
    };
}

/// Items used by the macros' expansions. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{DecodeFn, ItemSink, Never, RunFn, RunItemsFn, RunResult, TaskEntry};
    pub use crate::remote_fn::expand;
    pub use concurrent_futures_core::CodecError;
    pub use inventory;
}
