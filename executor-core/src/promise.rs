//! [`Promise`]: the backend's side of a future, the only way to complete it.
//!
//! Splitting the write side from the [`Future`](crate::Future) handle keeps misuse hard: users
//! cannot complete a future, a backend completes it at most once (the completing methods consume
//! the promise), and a promise dropped without completing fails its future with
//! [`TaskError::Abandoned`] instead of leaving waiters hanging.

use std::fmt;

use crate::error::{InvalidStateError, TaskError};
use crate::state::{Inner, Start};
use crate::sync::Arc;

/// Completes one [`Future`](crate::Future). Backends get one per task from
/// [`Future::pending`](crate::Future::pending).
///
/// The protocol for a backend: call [`start`](Self::start) when a worker picks the task up; if it
/// says [`Start::Cancelled`], drop the task; otherwise run it and call one of the `set_*` methods.
/// A backend may also complete a future that is still pending (for example with a
/// [`TaskError::Broken`] error) without starting it.
///
/// ```
/// use concurrent_futures::{Future, TaskError, backend::Start};
///
/// let (promise, future) = Future::<u8, String>::pending();
/// match promise.start() {
///     Ok(Start::Run) => promise.set_error("no".to_string()).unwrap(),
///     _ => unreachable!(),
/// }
/// assert_eq!(future.result(), Err(TaskError::Failed("no".to_string())));
/// ```
pub struct Promise<T: Send + 'static, E: Send + 'static> {
    inner: Option<Arc<Inner<T, E>>>,
}

impl<T: Send + 'static, E: Send + 'static> Promise<T, E> {
    pub(crate) fn from_inner(inner: Arc<Inner<T, E>>) -> Self {
        Promise { inner: Some(inner) }
    }

    fn inner(&self) -> &Arc<Inner<T, E>> {
        self.inner
            .as_ref()
            .expect("a promise is only emptied by a consuming method")
    }

    fn take(mut self) -> Arc<Inner<T, E>> {
        self.inner
            .take()
            .expect("a promise is only emptied by a consuming method")
    }

    /// Marks the future running, or reports that it was cancelled and must not run.
    ///
    /// Errors with [`InvalidStateError`] if it was already started or completed.
    pub fn start(&self) -> Result<Start, InvalidStateError> {
        self.inner().start()
    }

    /// `true` if the future was cancelled (so the task need not run).
    pub fn is_cancelled(&self) -> bool {
        self.inner().state() == crate::State::Cancelled
    }

    /// Finishes the future with a value.
    pub fn set_result(self, value: T) -> Result<(), InvalidStateError> {
        self.set_outcome(Ok(value))
    }

    /// Finishes the future with the task's own error.
    pub fn set_error(self, error: E) -> Result<(), InvalidStateError> {
        self.set_outcome(Err(TaskError::Failed(error)))
    }

    /// Finishes the future with any outcome. `Err(TaskError::Cancelled)` is stored as a finished
    /// future holding that error; use [`set_cancelled`](Self::set_cancelled) to cancel.
    ///
    /// Fails if the future is already done (for example cancelled by the user meanwhile); the
    /// outcome is dropped then, as nobody can observe it any more.
    pub fn set_outcome(self, outcome: Result<T, TaskError<E>>) -> Result<(), InvalidStateError> {
        self.take().finish(outcome)
    }

    /// Cancels the future from the backend's side, also while it runs: for a backend that
    /// stopped a running task because [`Future::interrupt`](crate::Future::interrupt) asked it to.
    pub fn set_cancelled(self) -> Result<(), InvalidStateError> {
        self.take().cancel_from_backend()
    }

    /// Registers how to stop the task while it runs; called by
    /// [`Future::interrupt`](crate::Future::interrupt), at most once, with no lock held.
    pub fn on_interrupt(&self, interrupt: impl FnOnce() + Send + 'static) {
        self.inner().set_interrupt(Box::new(interrupt));
    }
}

impl<T: Send + 'static, E: Send + 'static> Drop for Promise<T, E> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Already done (e.g. cancelled while queued) is the normal case here, not an error.
            let _ = inner.finish(Err(TaskError::Abandoned));
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.as_ref().map(|i| i.state());
        f.debug_struct("Promise").field("state", &state).finish()
    }
}
