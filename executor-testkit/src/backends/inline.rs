//! [`InlineExecutor`]: runs each task inside `submit`, in the caller's thread. The smallest
//! backend there is, and the one that shows which checks need real concurrency.

use std::sync::atomic::{AtomicBool, Ordering};

use concurrent_futures_core::{
    Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task,
    backend::{Start, run_caught},
};

/// Runs every task to completion inside `submit`; the returned future is already done.
///
/// ```
/// use concurrent_futures_core::Submit;
/// use concurrent_futures_testkit::backends::InlineExecutor;
///
/// let ex = InlineExecutor::new();
/// let future = ex.submit(|| 2 + 2).unwrap();
/// assert!(future.done());
/// assert_eq!(future.result(), Ok(4));
/// ```
///
/// Dropping it does nothing: no task outlives its `submit`.
#[derive(Debug, Default)]
pub struct InlineExecutor {
    shut_down: AtomicBool,
}

impl InlineExecutor {
    /// A new executor.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Executor for InlineExecutor {
    fn shutdown(&self, _how: Shutdown) {
        // Nothing is ever queued or running in another thread: there is nothing to wait for.
        self.shut_down.store(true, Ordering::SeqCst);
    }

    fn is_shutdown(&self) -> bool {
        self.shut_down.load(Ordering::SeqCst)
    }
}

impl<T: Task> Submit<T> for InlineExecutor {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        if self.is_shutdown() {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        }
        let (promise, future) = Future::pending();
        if promise.start() == Ok(Start::Run) {
            let _ = promise.set_outcome(run_caught(task));
        }
        Ok(future)
    }
}
