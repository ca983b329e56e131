//! The executor traits: [`Executor`] (lifecycle) and [`Submit`] (accepting tasks of one type).
//!
//! They are split because a backend accepts many task types but has one lifecycle: a thread
//! pool implements `Submit<T>` for every [`Task`], a process pool for every task type it can
//! carry, and `shutdown` must not depend on which.

use crate::error::SubmitError;
use crate::future::Future;
use std::num::NonZeroUsize;

use crate::chunk::Chunk;
use crate::map::{Map, MapOptions};
use crate::task::Task;

/// How [`Executor::shutdown`] behaves: CPython's `shutdown(wait, cancel_futures)`.
///
/// Build it with [`Shutdown::wait`] or [`Shutdown::no_wait`], and
/// [`cancel_futures`](Shutdown::cancel_futures) to also cancel what has not started. The fields
/// stay public so that backends read them directly; users need not write the struct literal.
///
/// ```
/// use concurrent_futures::Shutdown;
/// // CPython's default, and `Shutdown::default()`: wait, let queued tasks run.
/// assert_eq!(Shutdown::wait(), Shutdown::default());
/// // Return at once; queued tasks still run.
/// assert!(!Shutdown::no_wait().wait);
/// // Return at once and cancel every task that has not started.
/// let now = Shutdown::no_wait().cancel_futures(true);
/// assert!(now.cancel_futures && !now.wait);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shutdown {
    /// Block until every accepted, non-cancelled task has finished and the workers have exited.
    pub wait: bool,
    /// Cancel every task that has not started; their futures are done at once.
    pub cancel_futures: bool,
}

impl Shutdown {
    /// Blocks until every accepted task that was not cancelled has finished and the workers
    /// have exited (CPython's `shutdown()`; the same as `Shutdown::default()`).
    ///
    /// ```
    /// use concurrent_futures::Shutdown;
    /// assert_eq!(Shutdown::wait(), Shutdown { wait: true, cancel_futures: false });
    /// ```
    pub const fn wait() -> Self {
        Shutdown {
            wait: true,
            cancel_futures: false,
        }
    }

    /// Returns at once (CPython's `shutdown(wait=False)`); queued tasks still run. Dropping the
    /// last handle of the pool still waits for them: see
    /// [Dropping the last handle](Executor#dropping-the-last-handle).
    ///
    /// ```
    /// use concurrent_futures::Shutdown;
    /// assert_eq!(Shutdown::no_wait(), Shutdown { wait: false, cancel_futures: false });
    /// ```
    pub const fn no_wait() -> Self {
        Shutdown {
            wait: false,
            cancel_futures: false,
        }
    }

    /// With `true`, also cancels every task that has not started (CPython's
    /// `cancel_futures=True`); running tasks are not stopped.
    ///
    /// ```
    /// use concurrent_futures::Shutdown;
    /// let how = Shutdown::wait().cancel_futures(true);
    /// assert_eq!(how, Shutdown { wait: true, cancel_futures: true });
    /// ```
    pub const fn cancel_futures(mut self, cancel: bool) -> Self {
        self.cancel_futures = cancel;
        self
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::wait()
    }
}

/// An executor's lifecycle, common to all the task types it accepts.
///
/// Contract for implementors:
/// - `shutdown` is idempotent and safe from any thread, including from inside one of the
///   executor's own tasks or a done-callback (it then does not wait for the calling worker);
/// - after `shutdown`, `submit` refuses tasks with [`Rejected::ShutDown`](crate::Rejected);
/// - queued tasks still run unless `cancel_futures` is set;
/// - dropping the last handle follows the rule below.
///
/// # Dropping the last handle
///
/// Every pool of this workspace is a cheap handle: `Clone` shares one pool. Dropping the last
/// handle behaves as `shutdown(Shutdown::wait())`: the pool accepts no more tasks, every
/// accepted task that was not cancelled still runs, and the drop returns once they have
/// finished and the pool's workers (threads or processes) have exited. This holds even if
/// `shutdown(Shutdown::no_wait())` was called earlier: "no wait" means that call returns at
/// once, never that accepted work may be lost.
///
/// Why: a Rust process does not wait for its threads when `main` returns, and a process pool's
/// workers die with their parent, so a drop that did not wait would silently lose queued work
/// at the end of `main`. CPython keeps the same promise (its exit hook joins every executor),
/// and so does `std::thread::scope`.
///
/// The exception: if the last handle is dropped on one of the pool's own threads (a task or a
/// done-callback owned it), the drop does not wait, because that thread would be waiting for
/// itself. The drop returns at once; the pool's workers still run every accepted task and then
/// exit on their own (a process pool still reaps its workers). Nothing waits for them, though:
/// if the program ends before they are done, that work is lost. Keep a handle elsewhere, or
/// wait for the futures, when that matters.
///
/// To drop a pool without running its queue, call
/// `shutdown(Shutdown::no_wait().cancel_futures(true))` first: the drop then waits only for
/// the tasks already running.
///
/// How each backend applies it: `ThreadPool` joins its threads; `RayonExecutor` waits for its
/// tasks (rayon's threads belong to rayon); `ProcessPool` waits for its tasks and reaps its
/// worker processes; `MpiPoolExecutor` waits for the tasks of that pool (the worker ranks
/// belong to the `Session`, whose drop ends the MPI job).
pub trait Executor: Send + Sync {
    /// Stops accepting tasks; see [`Shutdown`] for the options.
    fn shutdown(&self, how: Shutdown);

    /// `true` once `shutdown` was called (or the executor broke).
    fn is_shutdown(&self) -> bool;

    /// How many tasks it runs at once, if it knows: its workers. [`Submit::map`]'s adaptive
    /// chunk size uses it to keep every worker busy to the end of the input; without it, `map`
    /// assumes the machine's available parallelism. An executor without a fixed number of
    /// workers (a thread per task, say) keeps the default, `None`.
    ///
    /// ```
    /// use concurrent_futures::{Executor, ThreadPool};
    ///
    /// let pool = ThreadPool::builder().max_workers(3).build()?;
    /// assert_eq!(pool.parallelism().map(|n| n.get()), Some(3));
    /// # Ok::<(), concurrent_futures::BuildError>(())
    /// ```
    fn parallelism(&self) -> Option<NonZeroUsize> {
        None
    }
}

/// An executor that accepts tasks of type `T`.
///
/// A minimal executor that runs each task on a new thread:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use concurrent_futures::{Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task, backend::{Start, run_caught}};
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

    /// Runs every task of `tasks` and yields their outcomes in input order.
    ///
    /// Tasks are submitted during this call (all of them, or `buffersize` chunks, refilled as
    /// results are taken), several at a time as one [`Chunk`]: a fixed `chunksize`, or by
    /// default a size adapted to the pace of the work (see [`MapOptions::chunksize`]). The
    /// `timeout` counts from this call. Each item yields its own outcome; a failing item does
    /// not end the iteration, but a deadline does (that item yields
    /// [`TaskError::Timeout`](crate::TaskError) and the rest are cancelled). Dropping the
    /// iterator cancels the tasks that have not started.
    ///
    /// Semantics are per item whatever the chunk size: a backend's per-task time limit applies
    /// to each item of a chunk, and a backend that isolates crashes fails only the item that was
    /// running, not its chunk (see [`MapOptions::chunksize`]). Cancelling (dropping the map,
    /// the `timeout`) cancels the chunks that have not started and, where a chunk runs in this
    /// process through [`Task::run`] (threads, rayon, an executor of your own), the items of a
    /// running chunk that have not started; a chunk already sent to another process runs to its
    /// end. Neither waits: tasks already running go on and finish after the drop returns.
    ///
    /// Implementors: `map` needs `Submit<Chunk<T>>` as well as `Submit<T>`; an executor that
    /// implements `Submit` for every [`Task`] has both.
    fn map<I>(&self, tasks: I, options: MapOptions) -> Map<'_, Self, T, I::IntoIter>
    where
        Self: Submit<Chunk<T>> + Sized,
        I: IntoIterator<Item = T>,
    {
        Map::new(self, tasks.into_iter(), options)
    }
}
