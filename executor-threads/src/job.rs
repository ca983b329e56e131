//! The unit of work in the queue: an [`concurrent_futures_core::backend::Job`], the task inside its future's cell
//! (one allocation per task), and how the pool completes one it will not run.

use concurrent_futures_core::{BrokenExecutor, TaskError, backend::Job};

/// Why a job is completed without running.
#[derive(Debug)]
pub(crate) enum Abort {
    /// `shutdown(cancel_futures = true)` drained it: its future becomes cancelled.
    Cancel,
    /// The pool broke before the job started: its future fails with this.
    Broken(BrokenExecutor),
}

/// Completes `job`'s future without running its task (skipped if it was cancelled meanwhile).
pub(crate) fn abort(job: Job, why: &Abort) {
    // An error means the future was already cancelled by its owner: nothing to do.
    let _ = match why {
        Abort::Cancel => job.cancel(),
        Abort::Broken(broken) => job.fail(TaskError::Broken(broken.clone())),
    };
}
