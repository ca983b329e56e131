//! [`Future`]: the caller's unique handle on one submitted task, and [`SharedFuture`], the
//! cloneable one it turns into with [`Future::share`].
//!
//! The split follows tokio's `JoinHandle` and `futures::future::Shared`: the handle `submit`
//! gives back is unique, so taking the value out (`.await`, [`Future::join`]) needs no `Clone`
//! and cannot surprise another holder; sharing is asked for explicitly and then reads copies.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::drive::Drive;
use crate::error::TaskError;
use crate::promise::Promise;
use crate::state::{Driven, Inner, State};
use crate::sync::Arc;
use crate::waiter::{Waitable, Waiter, Watch, WatchHandle, sealed};

/// The unique handle on the eventual outcome of a task: a value `T` or a [`TaskError<E>`].
///
/// What `submit` returns. Like std's and tokio's `JoinHandle`, it is not `Clone`, and the ways to
/// get the value move it out, so `T` and `E` need not be `Clone`:
///
/// - `.await` it from any async runtime (it is a [`std::future::Future`]);
/// - [`join`](Self::join) blocks and returns the outcome by value;
/// - [`result`](Self::result) and its timed forms return a copy, for `Clone` outcomes.
///
/// Everything else (state, [`cancel`](Self::cancel), the timed [`wait`](Self::wait_timeout)s,
/// [`add_done_callback`](Self::add_done_callback), [`wait`](crate::wait())/
/// [`as_completed`](crate::as_completed())) works through `&self`. For several readers of one
/// outcome, turn it into a [`SharedFuture`] with [`share`](Self::share).
///
/// Dropping a `Future` detaches it: the task still runs and its outcome is discarded. Blocked
/// callers are woken directly on completion (no polling); `Send + Sync` when `T` and `E` are `Send`.
///
/// ```
/// use concurrent_futures::Future;
///
/// let (promise, future) = Future::<Vec<u8>, std::io::Error>::pending();
/// std::thread::spawn(move || {
///     assert_eq!(promise.start(), Ok(concurrent_futures::backend::Start::Run));
///     promise.set_result(vec![1, 2, 3]).unwrap();
/// });
/// let bytes: Vec<u8> = future.join().unwrap(); // neither Vec<u8> nor io::Error needs Clone
/// assert_eq!(bytes, [1, 2, 3]);
/// ```
pub struct Future<T, E = Infallible> {
    inner: Arc<Inner<T, E>>,
}

/// A cloneable handle on a task's outcome, from [`Future::share`]: every clone can wait on it and
/// read a copy of it.
///
/// Like `futures::future::Shared`, reading needs `T: Clone` and `E: Clone`. It offers the same
/// `&self` operations as [`Future`] (state, cancellation, waits, callbacks, `wait` and
/// `as_completed`) and `.await`s to a copy of the outcome.
///
/// ```
/// use concurrent_futures::Future;
/// use std::time::Duration;
///
/// let (promise, future) = Future::<u64>::pending();
/// let shared = future.share();
/// let reader = shared.clone();
/// std::thread::spawn(move || promise.set_result(42).unwrap());
/// assert_eq!(reader.result(), Ok(42));
/// assert_eq!(shared.result_timeout(Duration::ZERO), Ok(42)); // read again: still there
/// ```
pub struct SharedFuture<T, E = Infallible> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for SharedFuture<T, E> {
    fn clone(&self) -> Self {
        SharedFuture {
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

    /// A new pending future whose blocking waits let `driver` make the backend's progress on
    /// the waiting thread first (see [`Drive`](crate::backend::Drive)).
    pub fn pending_driven(driver: Arc<dyn Drive>) -> (Promise<T, E>, Future<T, E>) {
        let inner: Arc<Inner<T, E>> = Arc::new(Inner::new(Driven(driver)));
        (Promise::from_inner(inner.clone()), Future { inner })
    }

    /// A future that is already finished with `value`.
    ///
    /// ```
    /// assert_eq!(concurrent_futures::Future::<_>::ready(3).join(), Ok(3));
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

    /// Blocks until done and moves the outcome out, as `std::thread::JoinHandle::join` does.
    ///
    /// The by-value counterpart of [`result`](Self::result), for values that are not `Clone`.
    /// For a bounded by-value wait, [`wait_timeout`](Self::wait_timeout) first:
    ///
    /// ```
    /// use concurrent_futures::Future;
    /// use std::time::Duration;
    ///
    /// struct NotClone(u8);
    /// let future = Future::<_>::ready(NotClone(7));
    /// if future.wait_timeout(Duration::from_secs(1)) {
    ///     assert_eq!(future.join().ok().map(|v| v.0), Some(7));
    /// }
    /// ```
    pub fn join(self) -> Result<T, TaskError<E>> {
        self.inner.wait_until(None);
        self.take_outcome()
    }

    /// Turns this handle into a cloneable [`SharedFuture`] whose clones all read copies.
    pub fn share(self) -> SharedFuture<T, E> {
        SharedFuture { inner: self.inner }
    }

    fn take_outcome(&self) -> Result<T, TaskError<E>> {
        self.inner
            .take_outcome()
            .expect("a done future has an outcome")
    }
}

impl<T: Send + 'static, E: Send + 'static> From<Future<T, E>> for SharedFuture<T, E> {
    fn from(future: Future<T, E>) -> Self {
        future.share()
    }
}

/// The operations both handles offer through `&self`.
macro_rules! handle_methods {
    ($Handle:ident) => {
        impl<T: Send + 'static, E: Send + 'static> $Handle<T, E> {
            /// The current state.
            pub fn state(&self) -> State {
                self.inner.state()
            }

            /// Cancels the task if it has not started.
            ///
            /// Returns `true` if the future is now cancelled (including when it already was),
            /// `false` if it is running or finished. On success, blocked waiters, `wait`,
            /// `as_completed` and awaiting tasks are woken at once, and the done-callbacks run in
            /// this thread before `cancel` returns.
            ///
            /// ```
            /// let (promise, future) = concurrent_futures::Future::<()>::pending();
            /// assert!(future.cancel());
            /// assert!(future.cancel());
            /// assert!(future.cancelled() && future.done());
            /// assert_eq!(promise.start(), Ok(concurrent_futures::backend::Start::Cancelled));
            /// ```
            pub fn cancel(&self) -> bool {
                self.inner.cancel()
            }

            /// Cancels the task if pending; if it is running, asks the backend to stop it.
            ///
            /// Backends that can stop a running task (the process pool kills its worker) register
            /// how with [`Promise::on_interrupt`]; the future then ends `Cancelled`. Returns
            /// whether the future was cancelled or a stop was requested. Others return `false`
            /// for running tasks.
            pub fn interrupt(&self) -> bool {
                self.inner.interrupt()
            }

            /// A cloneable, type-erased handle that can cancel or interrupt this task and read its
            /// state, but not its outcome (tokio's `AbortHandle`): for a canceller that outlives
            /// or travels apart from the handle that reads the value.
            ///
            /// ```
            /// let (_promise, future) = concurrent_futures::Future::<Vec<u8>>::pending();
            /// let canceller = future.cancel_handle();
            /// std::thread::spawn(move || assert!(canceller.cancel())).join().unwrap();
            /// assert!(future.cancelled());
            /// ```
            pub fn cancel_handle(&self) -> CancelHandle {
                CancelHandle {
                    cell: Arc::new(Future::from_inner(self.inner.clone())),
                }
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

            /// Registers `callback` to run once when the future is done.
            ///
            /// Callbacks run in registration order, in the thread that completes the future, or
            /// at once in this thread if it is already done. They see the future through a
            /// borrowed [`Future`], so they can read its state and, for `Clone` outcomes, a copy
            /// of it. No lock is held while they run, so a callback may submit work, cancel
            /// futures or shut an executor down. A panicking callback is caught and reported (see
            /// [`set_callback_panic_hook`](crate::set_callback_panic_hook)); the rest run.
            ///
            /// ```
            /// use std::sync::mpsc;
            /// let (promise, future) = concurrent_futures::Future::<i32>::pending();
            /// let (tx, rx) = mpsc::channel();
            /// future.add_done_callback(move |f| tx.send(f.result()).unwrap());
            /// promise.set_result(5).unwrap();
            /// assert_eq!(rx.recv().unwrap(), Ok(5));
            /// ```
            pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T, E>) + Send + 'static) {
                self.inner.add_callback(Box::new(callback));
            }
        }

        impl<T: Clone + Send + 'static, E: Clone + Send + 'static> $Handle<T, E> {
            /// Blocks until done and returns a copy of the value, or the error.
            ///
            /// For outcomes that are not `Clone`, [`Future::join`] (blocking) and `.await` move
            /// the outcome out instead.
            pub fn result(&self) -> Result<T, TaskError<E>> {
                self.wait();
                self.cloned_outcome()
            }

            /// Like [`result`](Self::result), but gives up after `timeout` with
            /// [`TaskError::Timeout`], leaving the future untouched. `Duration::ZERO` never
            /// blocks.
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

        impl<T, E> sealed::Sealed for $Handle<T, E> {}

        impl<T: Send + 'static, E: Send + 'static> Waitable for $Handle<T, E> {
            fn watch_handle(&self) -> WatchHandle<'_> {
                WatchHandle(self)
            }
        }

        impl<T: Send + 'static, E: Send + 'static> Watch for $Handle<T, E> {
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

        impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for $Handle<T, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let state = self.inner.state();
                let mut d = f.debug_struct(stringify!($Handle));
                d.field("state", &state);
                self.inner.inspect(|outcome| {
                    if let Some(outcome) = outcome {
                        d.field("outcome", outcome);
                    }
                });
                d.finish()
            }
        }
    };
}

handle_methods!(Future);
handle_methods!(SharedFuture);

/// Cancels or interrupts one task without access to its outcome; from
/// [`Future::cancel_handle`]. Cheap to clone, `Send + Sync`, and the same type for every task.
#[derive(Clone)]
pub struct CancelHandle {
    cell: Arc<dyn CancelCell>,
}

impl CancelHandle {
    /// [`Future::cancel`] on the task's future.
    pub fn cancel(&self) -> bool {
        self.cell.cancel()
    }

    /// [`Future::interrupt`] on the task's future.
    pub fn interrupt(&self) -> bool {
        self.cell.interrupt()
    }

    /// The task's current state.
    pub fn state(&self) -> State {
        self.cell.state()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("state", &self.state())
            .finish()
    }
}

/// The type-erased operations a [`CancelHandle`] needs of a future's cell.
trait CancelCell: Send + Sync {
    fn cancel(&self) -> bool;
    fn interrupt(&self) -> bool;
    fn state(&self) -> State;
}

impl<T: Send + 'static, E: Send + 'static> CancelCell for Future<T, E> {
    fn cancel(&self) -> bool {
        Future::cancel(self)
    }

    fn interrupt(&self) -> bool {
        Future::interrupt(self)
    }

    fn state(&self) -> State {
        Future::state(self)
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or(now + Duration::from_secs(86_400 * 365 * 100))
}

/// `.await` moves the outcome out, as tokio's `JoinHandle` does; polling again after that gives
/// [`TaskError::Taken`]. Dropping the awaiting task neither cancels the work nor loses anything
/// but this handle.
impl<T: Send + 'static, E: Send + 'static> std::future::Future for Future<T, E> {
    type Output = Result<T, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.inner.register_waker(cx.waker()) {
            Poll::Ready(self.take_outcome())
        } else {
            Poll::Pending
        }
    }
}

/// `.await` gives a copy of the outcome; every clone can await it.
impl<T: Clone + Send + 'static, E: Clone + Send + 'static> std::future::Future
    for SharedFuture<T, E>
{
    type Output = Result<T, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.inner.register_waker(cx.waker()) {
            Poll::Ready(self.cloned_outcome())
        } else {
            Poll::Pending
        }
    }
}
