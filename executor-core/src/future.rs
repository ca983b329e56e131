//! [`Future`]: the caller's handle on one submitted task.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::promise::Promise;
use crate::state::{Inner, State};
use crate::sync::Arc;
use crate::waiter::{Waitable, Waiter, Watch, WatchHandle, sealed};

/// A handle on the eventual outcome of a task: a value `T` or a [`TaskError<E>`].
///
/// Cheap to clone; every clone refers to the same task. `Send + Sync` when `T` and `E` are.
/// Reading the outcome never consumes it: it can be read again, from any thread and any clone.
/// Blocked callers are woken directly on completion (no polling).
///
/// A `Future` is also a [`std::future::Future`]: `.await` it from any async runtime. Dropping the
/// awaiting task neither cancels the work nor loses the result.
///
/// ```
/// use executor_core::Future;
/// use std::time::Duration;
///
/// let (promise, future) = Future::<u64>::pending();
/// let reader = future.clone();
/// std::thread::spawn(move || {
///     assert_eq!(promise.start(), Ok(executor_core::Start::Run));
///     promise.set_result(42).unwrap();
/// });
/// assert_eq!(reader.result(), Ok(42));
/// assert_eq!(future.result_timeout(Duration::ZERO), Ok(42)); // read again: still there
/// ```
pub struct Future<T, E = Infallible> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for Future<T, E> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Future<T, E> {
    /// A new pending future and the [`Promise`] that completes it (for backends and tests).
    pub fn pending() -> (Promise<T, E>, Future<T, E>) {
        let inner: Arc<Inner<T, E>> = Arc::new(Inner::new(()));
        (Promise::from_inner(inner.clone()), Future { inner })
    }

    /// A future that is already finished with `value`.
    ///
    /// ```
    /// assert_eq!(executor_core::Future::<_>::ready(3).result(), Ok(3));
    /// ```
    pub fn ready(value: T) -> Self {
        let (promise, future) = Self::pending();
        let _ = promise.set_result(value);
        future
    }

    /// A future that is already finished with `error`.
    pub fn failed(error: TaskError<E>) -> Self {
        let (promise, future) = Self::pending();
        let _ = promise.set_outcome(Err(error));
        future
    }

    pub(crate) fn from_inner(inner: Arc<Inner<T, E>>) -> Self {
        Future { inner }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// Cancels the task if it has not started.
    ///
    /// Returns `true` if the future is now cancelled (including when it already was), `false` if
    /// it is running or finished. On success, blocked waiters, `wait`, `as_completed` and awaiting
    /// tasks are woken at once, and the done-callbacks run in this thread before `cancel` returns.
    ///
    /// ```
    /// let (promise, future) = executor_core::Future::<()>::pending();
    /// assert!(future.cancel());
    /// assert!(future.cancel());
    /// assert!(future.cancelled() && future.done());
    /// assert_eq!(promise.start(), Ok(executor_core::Start::Cancelled));
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Cancels the task if pending; if it is running, asks the backend to stop it.
    ///
    /// Backends that can stop a running task (the process pool kills its worker) register how
    /// with [`Promise::on_interrupt`]; the future then ends `Cancelled`. Returns whether the
    /// future was cancelled or a stop was requested. Others return `false` for running tasks.
    pub fn interrupt(&self) -> bool {
        self.inner.interrupt()
    }

    /// `true` if the future was cancelled.
    pub fn cancelled(&self) -> bool {
        self.state() == State::Cancelled
    }

    /// `true` while a worker runs the task.
    pub fn running(&self) -> bool {
        self.state() == State::Running
    }

    /// `true` once cancelled or finished.
    pub fn done(&self) -> bool {
        self.state().is_done()
    }

    /// Blocks until the future is done.
    pub fn wait(&self) {
        self.inner.wait_until(None);
    }

    /// Blocks until the future is done or `timeout` passes; returns whether it is done.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.wait_until(Some(deadline_after(timeout)))
    }

    /// Blocks until the future is done or `deadline` passes; returns whether it is done.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.inner.wait_until(Some(deadline))
    }

    /// Blocks until done and moves the outcome out: for values that are not `Clone`.
    ///
    /// Reading the outcome through any other clone of this future afterwards gives
    /// [`TaskError::Taken`]; while you hold the only handle, nobody can observe the difference.
    ///
    /// ```
    /// use executor_core::Future;
    /// struct NotClone(u8);
    /// let future = Future::<_>::ready(NotClone(7));
    /// assert_eq!(future.into_result().ok().map(|v| v.0), Some(7));
    /// ```
    pub fn into_result(self) -> Result<T, TaskError<E>> {
        self.wait();
        self.inner
            .take_outcome()
            .expect("a done future has an outcome")
    }

    /// Registers `callback` to run once when the future is done.
    ///
    /// Callbacks run in registration order, in the thread that completes the future, or at once
    /// in this thread if it is already done. No lock is held while they run, so a callback may
    /// submit work, cancel futures or shut an executor down. A panicking callback is caught and
    /// reported (see [`set_callback_panic_hook`](crate::set_callback_panic_hook)); the rest run.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (promise, future) = executor_core::Future::<i32>::pending();
    /// let (tx, rx) = mpsc::channel();
    /// future.add_done_callback(move |f| tx.send(f.result()).unwrap());
    /// promise.set_result(5).unwrap();
    /// assert_eq!(rx.recv().unwrap(), Ok(5));
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T, E>) + Send + 'static) {
        self.inner.add_callback(Box::new(callback));
    }
}

impl<T: Clone + Send + 'static, E: Clone + Send + 'static> Future<T, E> {
    /// Blocks until done and returns a copy of the value, or the error.
    pub fn result(&self) -> Result<T, TaskError<E>> {
        self.wait();
        self.cloned_outcome()
    }

    /// Like [`result`](Self::result), but gives up after `timeout` with [`TaskError::Timeout`],
    /// leaving the future untouched. `Duration::ZERO` never blocks.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, TaskError<E>> {
        self.result_deadline(deadline_after(timeout))
    }

    /// Like [`result_timeout`](Self::result_timeout) with an absolute deadline.
    pub fn result_deadline(&self, deadline: Instant) -> Result<T, TaskError<E>> {
        if self.wait_deadline(deadline) {
            self.cloned_outcome()
        } else {
            Err(TaskError::Timeout)
        }
    }

    /// Blocks until done; the error if it did not produce a value, `None` if it did.
    /// (CPython's `exception()`; a cancelled future gives `Some(TaskError::Cancelled)`.)
    pub fn error(&self) -> Option<TaskError<E>> {
        self.result().err()
    }

    /// Like [`error`](Self::error), giving `Some(TaskError::Timeout)` after `timeout`.
    pub fn error_timeout(&self, timeout: Duration) -> Option<TaskError<E>> {
        self.result_timeout(timeout).err()
    }

    fn cloned_outcome(&self) -> Result<T, TaskError<E>> {
        self.inner
            .cloned_outcome()
            .expect("a done future has an outcome")
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365 * 100))
}

impl<T: Clone + Send + 'static, E: Clone + Send + 'static> std::future::Future for Future<T, E> {
    type Output = Result<T, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.inner.register_waker(cx.waker()) {
            Poll::Ready(self.cloned_outcome())
        } else {
            Poll::Pending
        }
    }
}

impl<T, E> sealed::Sealed for Future<T, E> {}

impl<T: Send + 'static, E: Send + 'static> Waitable for Future<T, E> {
    fn watch_handle(&self) -> WatchHandle<'_> {
        WatchHandle(self)
    }
}

impl<T: Send + 'static, E: Send + 'static> Watch for Future<T, E> {
    fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool> {
        self.inner.watch(waiter, index)
    }

    fn unwatch(&self, waiter: &Arc<Waiter>) {
        self.inner.unwatch(waiter);
    }

    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for Future<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state();
        let mut d = f.debug_struct("Future");
        d.field("state", &state);
        self.inner.inspect(|outcome| {
            if let Some(outcome) = outcome {
                d.field("outcome", outcome);
            }
        });
        d.finish()
    }
}
