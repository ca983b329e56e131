//! [`BrokenCancel`]: a deliberately broken backend, kept as a test fixture to prove that the
//! conformance suite can fail. It forgets the one rule of [`Start`](concurrent_futures_core::backend::Start): it runs
//! a task even after its future was cancelled.

use concurrent_futures_core::{
    Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task, backend::run_caught,
};

use crate::backends::FixedPool;

/// A [`FixedPool`] that ignores cancellation: `cancel()` on a queued future returns `true`, yet
/// the task still runs when a worker reaches it, and `shutdown(cancel_futures)` leaves the
/// futures of the tasks it drops failed with `Abandoned` instead of cancelled.
///
/// **Do not use.** `tests/broken_backend.rs` runs the suite against it and asserts that the
/// cancellation checks fail.
#[derive(Debug)]
pub struct BrokenCancel {
    inner: FixedPool,
}

impl BrokenCancel {
    /// A broken pool of `workers` threads.
    pub fn new(workers: usize) -> BrokenCancel {
        BrokenCancel {
            inner: FixedPool::new(workers),
        }
    }
}

impl Executor for BrokenCancel {
    fn shutdown(&self, how: Shutdown) {
        self.inner.shutdown(how);
    }

    fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown()
    }
}

impl<T: Task> Submit<T> for BrokenCancel {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        if self.inner.is_shutdown() {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        }
        // The user's future is not the one the pool manages, so cancelling it never reaches
        // the pool. The bug: `start()`'s answer is ignored.
        let (promise, future) = Future::pending();
        let job = move || {
            let _ = promise.start();
            let _ = promise.set_outcome(run_caught(task));
        };
        // Refused only by a shutdown racing this call: the job and its promise are dropped,
        // so the future fails with `Abandoned`.
        let _ = Submit::submit(&self.inner, job);
        Ok(future)
    }
}
