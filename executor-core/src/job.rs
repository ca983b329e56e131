//! [`Job`]: a task packed with the cell of its future, in one allocation, for backends that keep
//! tasks in memory until a worker runs them (thread pools).
//!
//! A backend that pairs a task with a [`Promise`](crate::backend::Promise) allocates twice: the future's
//! shared cell, and whatever box carries the task and the promise to the worker. A `Job` keeps
//! the task inside the future's cell (see [`crate::state`]) and is itself only a pointer to it:
//! queueing, running and completing a task then cost one allocation, and the cell is usually
//! freed by the thread that allocated it (the caller, dropping its future last), which is the
//! cheap case for the allocator.

use std::convert::Infallible;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::error::{InvalidStateError, TaskError};
use crate::future::Future;
use crate::state::{Inner, Start, State};
use crate::sync::Arc;
use crate::task::{Task, run_caught};

/// A task and its future's cell, runnable once: what an in-memory backend queues.
///
/// [`Job::new`] returns the job and the future it completes. The job is the backend's side, as
/// a [`Promise`](crate::backend::Promise) is, with the task inside: [`run`](Self::run) starts the future
/// (unless it was cancelled meanwhile), runs the task, catches its panic and completes the
/// future with the outcome; [`cancel`](Self::cancel) and [`fail`](Self::fail) complete it
/// without running the task. A job dropped without any of them fails its future with
/// [`TaskError::Abandoned`]. A task that is not run is dropped by the job (a panic in its `Drop`
/// is swallowed); a task that runs is consumed by [`Task::run`].
///
/// ```
/// use concurrent_futures::{TaskError, backend::Job};
///
/// let (job, future) = Job::new(|| 6 * 7);
/// std::thread::spawn(move || job.run()).join().unwrap();
/// assert_eq!(future.result(), Ok(42));
///
/// let (job, future) = Job::new(|| 1);
/// assert!(future.cancel()); // cancelled while queued: the job will not run it
/// job.run();
/// assert_eq!(future.result(), Err(TaskError::Cancelled));
/// ```
pub struct Job {
    /// Always `Some` until a consuming method takes it; `Drop` abandons what is left.
    cell: Option<Arc<dyn Run>>,
}

/// What a [`Job`] does with its cell, with the task's type erased.
trait Run: Send + Sync {
    fn run(self: Arc<Self>, before_complete: &mut dyn FnMut());
    fn cancel(self: Arc<Self>) -> Result<(), InvalidStateError>;
    fn fail(self: Arc<Self>, error: TaskError<Infallible>) -> Result<(), InvalidStateError>;
    fn state(&self) -> State;
}

impl Job {
    /// Packs `task` with a new pending future, in one allocation.
    pub fn new<T: Task>(task: T) -> (Job, Future<T::Output, T::Error>) {
        let cell = Arc::new(Inner::<T::Output, T::Error, Option<T>>::new(Some(task)));
        let future = Future::from_inner(cell.clone());
        (Job { cell: Some(cell) }, future)
    }

    fn take(&mut self) -> Arc<dyn Run> {
        self.cell
            .take()
            .expect("a job's cell is only taken by a consuming method")
    }

    /// Runs the task unless its future was cancelled, and completes the future with the
    /// outcome (a panic becomes [`TaskError::Panicked`]).
    pub fn run(self) {
        self.run_with(|| {});
    }

    /// Like [`run`](Self::run), calling `before_complete` after the task returned and before
    /// its future is completed (so before any waiter or callback sees the outcome). It is not
    /// called if the future was cancelled and the task did not run. If it panics, the future
    /// is completed anyway and the panic goes on.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use concurrent_futures::backend::Job;
    ///
    /// let (job, future) = Job::new(|| 1);
    /// let called = AtomicBool::new(false);
    /// job.run_with(|| {
    ///     called.store(true, Ordering::SeqCst);
    /// });
    /// assert!(called.load(Ordering::SeqCst));
    /// assert_eq!(future.result(), Ok(1));
    /// ```
    pub fn run_with(mut self, before_complete: impl FnOnce()) {
        let mut hook = Some(before_complete);
        self.take().run(&mut || {
            if let Some(hook) = hook.take() {
                hook();
            }
        });
    }

    /// Cancels the future without running the task (a backend draining its queue on
    /// `shutdown(cancel_futures)`). Fails if the future is already done, as
    /// [`Promise::set_cancelled`](crate::backend::Promise::set_cancelled) does.
    pub fn cancel(mut self) -> Result<(), InvalidStateError> {
        self.take().cancel()
    }

    /// Completes the future with `error` without running the task (a broken backend failing
    /// what it had queued). As with [`Promise::set_outcome`](crate::backend::Promise::set_outcome),
    /// `TaskError::Cancelled` is stored as a finished future holding that error; use
    /// [`cancel`](Self::cancel) to cancel. Fails if the future is already done.
    ///
    /// ```
    /// use concurrent_futures::{BrokenExecutor, TaskError, backend::Job};
    ///
    /// let (job, future) = Job::new(|| 1);
    /// job.fail(TaskError::Broken(BrokenExecutor::new("gone"))).unwrap();
    /// assert!(matches!(future.result(), Err(TaskError::Broken(_))));
    /// ```
    pub fn fail(mut self, error: TaskError<Infallible>) -> Result<(), InvalidStateError> {
        self.take().fail(error)
    }

    /// The state of the job's future.
    pub fn state(&self) -> State {
        self.cell
            .as_ref()
            .map_or(State::Finished, |cell| cell.state())
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            // Already done (cancelled while queued) is the normal case here, not an error.
            let _ = cell.fail(TaskError::Abandoned);
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("state", &self.state()).finish()
    }
}

/// Drops `value` (a task that will not run), swallowing a panic from its `Drop`, so that it can
/// neither take a worker down nor escape from a backend's shutdown.
fn drop_quietly<V>(value: V) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

impl<T: Task> Inner<T::Output, T::Error, Option<T>> {
    /// Takes the task out; the job is unique and takes it once.
    fn take_task(&self) -> T {
        self.task
            .lock()
            .take()
            .expect("only the job takes its task, once")
    }
}

impl<T: Task> Run for Inner<T::Output, T::Error, Option<T>> {
    fn run(self: Arc<Self>, before_complete: &mut dyn FnMut()) {
        let task = self.take_task();
        let start = self.start();
        let cell: Arc<Inner<T::Output, T::Error>> = self;
        match start {
            Ok(Start::Run) => {
                let outcome = run_caught(task);
                let hook = catch_unwind(AssertUnwindSafe(before_complete));
                // Cannot fail: only this job completes a running future of its cell.
                let _ = cell.finish(outcome);
                if let Err(panic) = hook {
                    resume_unwind(panic);
                }
            }
            // Cancelled while queued: do not run it.
            Ok(Start::Cancelled) | Err(_) => drop_quietly(task),
        }
    }

    fn cancel(self: Arc<Self>) -> Result<(), InvalidStateError> {
        drop_quietly(self.take_task());
        let cell: Arc<Inner<T::Output, T::Error>> = self;
        cell.cancel_from_backend()
    }

    fn fail(self: Arc<Self>, error: TaskError<Infallible>) -> Result<(), InvalidStateError> {
        drop_quietly(self.take_task());
        let cell: Arc<Inner<T::Output, T::Error>> = self;
        cell.finish(Err(error.map_failure(|never| match never {})))
    }

    fn state(&self) -> State {
        Inner::state(self)
    }
}
