//! Thread pools with Python's `concurrent.futures.ThreadPoolExecutor` semantics.
//!
//! [`ThreadPool`] runs any [`Task`](concurrent_futures_core::Task) (every `FnOnce() -> R + Send` is
//! one) on a bounded set of lazily started threads and hands back an
//! [`concurrent_futures_core::Future`]: cancel it while it is queued, wait on it, add done-callbacks,
//! mix it with other futures in [`wait`](concurrent_futures_core::wait) and
//! [`as_completed`](concurrent_futures_core::as_completed), or `.await` it.
//!
//! ```
//! use concurrent_futures::{Executor, Shutdown, Submit, TaskError};
//! use concurrent_futures::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_workers(4).thread_name_prefix("demo").build().unwrap();
//! let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).unwrap();
//! assert_eq!(name.result().unwrap().as_deref(), Some("demo_0"));
//!
//! let boom = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
//! assert!(matches!(boom.result(), Err(TaskError::Panicked(p)) if p.message() == "boom"));
//!
//! let squares: Vec<u64> = pool
//!     .map((0..10u64).map(|i| move || i * i), Default::default())
//!     .map(Result::unwrap)
//!     .collect();
//! assert_eq!(squares[9], 81);
//! pool.shutdown(Shutdown::default());
//! ```
//!
//! [`ThreadPool::scope`] runs tasks that borrow from the caller's stack, as
//! `std::thread::scope` does, and returns once every one of them is done.
//!
//! With the `rayon` feature, [`RayonExecutor`] gives the same handles on top of a
//! `rayon::ThreadPool`.
//!
//! # How it works
//!
//! - Jobs go into one lock-free FIFO (`crossbeam_deque::Injector`). A job is an
//!   [`concurrent_futures_core::backend::Job`]: the task lives inside its future's shared cell, so a submit
//!   allocates once, and the caller, who usually drops the last handle, frees the cell on the
//!   thread that allocated it. A pending future whose task captures a `usize` holds about
//!   144 bytes of heap, queue slot included, plus the 16-byte handle its caller keeps
//!   (`examples/pending_memory.rs`); `examples/per_task_cost.rs` times T1-T3's loops.
//! - One atomic word counts threads, idle workers, claims and parked workers (see the `idle`
//!   module): a submit claims an idle worker or reserves a new thread with one
//!   compare-and-swap, CPython's rule, and takes no lock; when the pool is full and busy it
//!   does a single load.
//! - A worker whose queue looks empty when its task returns declares itself idle before the
//!   task's future completes, so a caller that submits as soon as it sees the result reuses it.
//!   Idle workers spin about 50 µs (pauses, then yields) before they park on a condvar: a
//!   hand-off costs no system call, and an idle pool uses no CPU.
//! - Shutdown counts submits in flight, so none is lost and none runs after
//!   `shutdown(wait = true)` returned.
//! - Every primitive comes from the private `sync` module, which switches to loom under
//!   `--cfg executor_loom` (the queue becomes a `Mutex<VecDeque>`); `tests/loom_pool.rs`
//!   model-checks the submit, idle/wake, shutdown and broken-pool protocols,
//!   `tests/loom_scope.rs` the completion counting of scopes.

mod builder;
mod idle;
mod job;
mod lifecycle;
mod pool;
#[cfg(all(feature = "rayon", not(executor_loom)))]
mod rayon;
mod registry;
mod scope;
mod sync;
mod worker;

pub use crate::builder::{InitializerOutcome, ThreadPoolBuilder};
pub use crate::pool::ThreadPool;
#[cfg(all(feature = "rayon", not(executor_loom)))]
pub use crate::rayon::RayonExecutor;
pub use crate::scope::Scope;
pub use concurrent_futures_core::{BuildError, BuildErrorKind};
