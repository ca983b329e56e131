//! The backend-independent heart of `concurrent-futures`: Python's `concurrent.futures` model in Rust.
//!
//! - [`Future`]: the unique handle on one task's outcome, with CPython's state machine
//!   (pending, running, cancelled, finished), blocking and timed waits, done-callbacks and
//!   `.await`, which moves the value out (no `Clone` needed); [`SharedFuture`] is its cloneable
//!   form.
//! - [`backend`]: what only backend authors need: [`Promise`](backend::Promise), the backend's
//!   side that completes a future, [`Job`](backend::Job), which packs a task with its future's
//!   cell, and the helpers to run tasks.
//! - [`Executor`] and [`Submit`]: the traits every backend implements; [`Submit::map`] is the
//!   ordered, chunked, bounded `map`.
//! - [`wait`] and [`as_completed`]: wait for some or all of many futures; in async code,
//!   [`wait_async`] and [`AsCompleted`] as a `Stream` do the same without blocking a thread.
//! - [`TaskError`] and friends: every failure, typed.
//!
//! ```
//! use concurrent_futures::{Future, ReturnWhen, as_completed, wait};
//!
//! let (promise, future) = Future::<u32>::pending();
//! let worker = std::thread::spawn(move || promise.set_result(7).unwrap());
//! let sets = wait([&future], None, ReturnWhen::AllCompleted);
//! assert_eq!(sets.done.len(), 1);
//! assert_eq!(as_completed([&future]).count(), 1);
//! assert_eq!(future.result(), Ok(7));
//! worker.join().unwrap();
//! ```
//!
//! Deliberate differences from CPython: cancellation notifies `wait`/`as_completed` at once (so
//! they never hang on futures cancelled by `shutdown(cancel_futures)`, gh-87893); a panicking
//! callback never stops the others; callbacks never run under an executor or future lock; `map`
//! keeps going after a failing item.

mod as_completed;
pub mod backend;
mod callback;
mod chunk;
mod drive;
mod error;
mod executor;
mod future;
mod job;
mod map;
mod panic;
pub mod prelude;
mod promise;
mod state;
mod sync;
mod task;
mod wait;
mod waiter;

pub use crate::as_completed::{AsCompleted, AsCompletedWithin, as_completed, as_completed_within};
pub use crate::callback::set_callback_panic_hook;
pub use crate::error::{
    AsCompletedTimeout, BackendError, BrokenExecutor, BuildError, BuildErrorKind, ChainedTaskError,
    CodecError, CodecStage, PanicInfo, PanicLocation, Rejected, SubmitError, TaskError, WorkerExit,
};
pub use crate::executor::{Executor, Shutdown, Submit};
pub use crate::future::{CancelHandle, Future, SharedFuture};
pub use crate::map::{Map, MapOptions};
pub use crate::state::State;
pub use crate::task::{Fallible, Task, fallible};
pub use crate::wait::{ReturnWhen, WaitAsync, WaitSets, wait, wait_async};
pub use crate::waiter::Waitable;
