//! The unit of work in the queue: one task and the promise of its future, type-erased.
//!
//! One `Box<dyn Job>` per submitted task (the task's captures and an 8-byte promise), plus the
//! future's shared cell allocated by `executor_core::Future::pending`: two allocations per task.

use std::panic::{AssertUnwindSafe, catch_unwind};

use executor_core::{BrokenExecutor, Promise, Start, Task, TaskError, run_caught};

/// A queued job.
pub(crate) type JobBox = Box<dyn Job>;

/// Why a job is completed without running.
#[derive(Debug)]
pub(crate) enum Abort {
    /// `shutdown(cancel_futures = true)` drained it: its future becomes cancelled.
    Cancel,
    /// The pool broke before the job started: its future fails with this.
    Broken(BrokenExecutor),
}

/// A task with its promise, runnable once.
pub(crate) trait Job: Send {
    /// Runs the task unless its future was cancelled, then completes the future.
    ///
    /// `before_complete` is called after the task returned and before its future is completed
    /// (so before any waiter can see the outcome); it is not called for a cancelled future.
    fn run(self: Box<Self>, before_complete: &mut dyn FnMut());

    /// Completes the future without running the task (skipped if it was cancelled meanwhile).
    fn abort(self: Box<Self>, why: &Abort);
}

/// The one implementation of [`Job`].
pub(crate) struct TaskJob<T: Task> {
    task: T,
    promise: Promise<T::Output, T::Error>,
}

impl<T: Task> TaskJob<T> {
    pub(crate) fn boxed(task: T, promise: Promise<T::Output, T::Error>) -> JobBox {
        Box::new(TaskJob { task, promise })
    }
}

/// Drops `value` (a task's captures), swallowing a panic from its `Drop` so that it can neither
/// kill a worker nor escape from `shutdown`.
fn drop_quietly<V>(value: V) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

impl<T: Task> Job for TaskJob<T> {
    fn run(self: Box<Self>, before_complete: &mut dyn FnMut()) {
        let TaskJob { task, promise } = *self;
        match promise.start() {
            Ok(Start::Run) => {
                let outcome = run_caught(task);
                before_complete();
                // Cannot fail: nothing else completes a running future of this pool.
                let _ = promise.set_outcome(outcome);
            }
            // Cancelled while queued (or completed by someone else): do not run it.
            Ok(Start::Cancelled) | Err(_) => drop_quietly(task),
        }
    }

    fn abort(self: Box<Self>, why: &Abort) {
        let TaskJob { task, promise } = *self;
        drop_quietly(task);
        // An error means the future was already cancelled by its owner: nothing to do.
        let _ = match why {
            Abort::Cancel => promise.set_cancelled(),
            Abort::Broken(broken) => promise.set_outcome(Err(TaskError::Broken(broken.clone()))),
        };
    }
}
