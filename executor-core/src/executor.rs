//! The executor traits: [`Executor`] (lifecycle) and [`Submit`] (accepting tasks of one type).
//!
//! They are split because a backend accepts many task types but has one lifecycle: a thread
//! pool implements `Submit<T>` for every [`Task`], a process pool for every task type it can
//! carry, and `shutdown` must not depend on which.

use crate::error::SubmitError;
use crate::future::Future;
use crate::map::{ChunkFutures, Map, MapOptions};
use crate::task::{Chunk, Task};

/// How [`Executor::shutdown`] behaves.
///
/// ```
/// use executor_core::Shutdown;
/// assert_eq!(Shutdown::default(), Shutdown { wait: true, cancel_futures: false });
/// let now = Shutdown { wait: false, cancel_futures: true };
/// # let _ = now;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// Block until every accepted, non-cancelled task has finished and the workers have exited.
    pub wait: bool,
    /// Cancel every task that has not started; their futures are done at once.
    pub cancel_futures: bool,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            wait: true,
            cancel_futures: false,
        }
    }
}

/// An executor's lifecycle, common to all the task types it accepts.
///
/// Contract for implementors:
/// - `shutdown` is idempotent and safe from any thread, including from inside one of the
///   executor's own tasks or a done-callback (it then does not wait for the calling worker);
/// - after `shutdown`, `submit` refuses tasks with [`Rejected::ShutDown`](crate::Rejected);
/// - queued tasks still run unless `cancel_futures` is set.
pub trait Executor: Send + Sync {
    /// Stops accepting tasks; see [`Shutdown`] for the options.
    fn shutdown(&self, how: Shutdown);

    /// `true` once `shutdown` was called (or the executor broke).
    fn is_shutdown(&self) -> bool;
}

/// An executor that accepts tasks of type `T`.
///
/// A minimal executor that runs each task on a new thread:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use executor_core::{Executor, Future, Rejected, Shutdown, Start, Submit, SubmitError, Task, run_caught};
///
/// #[derive(Default)]
/// struct ThreadPerTask { closed: AtomicBool }
///
/// impl Executor for ThreadPerTask {
///     fn shutdown(&self, _how: Shutdown) { self.closed.store(true, Ordering::SeqCst); }
///     fn is_shutdown(&self) -> bool { self.closed.load(Ordering::SeqCst) }
/// }
///
/// impl<T: Task> Submit<T> for ThreadPerTask {
///     fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
///         if self.is_shutdown() { return Err(SubmitError::new(Rejected::ShutDown, task)); }
///         let (promise, future) = Future::pending();
///         std::thread::spawn(move || {
///             if let Ok(Start::Run) = promise.start() {
///                 let _ = promise.set_outcome(run_caught(task));
///             }
///         });
///         Ok(future)
///     }
/// }
///
/// let ex = ThreadPerTask::default();
/// assert_eq!(ex.submit(|| 6 * 7).unwrap().result(), Ok(42));
/// let squares: Vec<_> = ex.map((0..4).map(|i| move || i * i), Default::default())
///     .map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub trait Submit<T: Task>: Executor {
    /// Schedules `task` and returns its future, or hands the task back if refused.
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>>;

    /// Submits one chunk of [`map`](Submit::map)'s tasks (always more than one task).
    ///
    /// By default the chunk travels as one [`Chunk`] task ([`ChunkFutures::Whole`]): one queue
    /// item or message, so whatever the backend applies to a task as a whole (a time limit, the
    /// loss of a crashed worker) applies to the chunk. A backend with per-task time limits or
    /// crash isolation overrides this to submit each task with its own future
    /// ([`ChunkFutures::Items`]), so that `chunksize` changes how tasks travel, not what
    /// happens to each of them. A refusal covers the whole chunk.
    ///
    /// ```
    /// # use executor_core::{Executor, Future, Shutdown, Submit, SubmitError, Task, run_caught};
    /// # struct Inline;
    /// # impl Executor for Inline {
    /// #     fn shutdown(&self, _how: Shutdown) {}
    /// #     fn is_shutdown(&self) -> bool { false }
    /// # }
    /// # impl<T: Task> Submit<T> for Inline {
    /// #     fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
    /// #         Ok(match run_caught(task) { Ok(v) => Future::ready(v), Err(e) => Future::failed(e) })
    /// #     }
    /// # }
    /// use executor_core::ChunkFutures;
    ///
    /// // `Inline` runs each task during `submit` and keeps the default: one future per chunk.
    /// match Inline.submit_chunk(vec![|| 1, || 2]).unwrap() {
    ///     ChunkFutures::Whole(chunk) => assert_eq!(chunk.into_result(), Ok(vec![Ok(1), Ok(2)])),
    ///     ChunkFutures::Items(_) => unreachable!("not overridden"),
    /// }
    /// ```
    fn submit_chunk(&self, tasks: Vec<T>) -> Result<ChunkFutures<T>, SubmitError<Chunk<T>>>
    where
        Self: Submit<Chunk<T>>,
    {
        Submit::<Chunk<T>>::submit(self, Chunk(tasks)).map(ChunkFutures::Whole)
    }

    /// Runs every task of `tasks` and yields their outcomes in input order.
    ///
    /// Tasks are submitted during this call (all of them, or `buffersize` chunks, refilled as
    /// results are taken), `chunksize` at a time through [`submit_chunk`](Submit::submit_chunk).
    /// The `timeout` counts from this call. Each item yields its own outcome; a failing item does
    /// not end the iteration, but a deadline does (that item yields
    /// [`TaskError::Timeout`](crate::TaskError) and the rest are cancelled). Dropping the
    /// iterator cancels the tasks that have not started.
    fn map<I>(&self, tasks: I, options: MapOptions) -> Map<'_, Self, T, I::IntoIter>
    where
        Self: Submit<Chunk<T>> + Sized,
        I: IntoIterator<Item = T>,
    {
        Map::new(self, tasks.into_iter(), options)
    }
}
