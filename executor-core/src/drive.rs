//! [`Drive`]: how a backend whose progress is made by polling (MPI) lets a thread that is about
//! to block on one of its futures make that progress itself, instead of sleeping until another
//! thread makes it and wakes it up.
//!
//! Two thread hand-offs (to the backend's progress thread and back) cost more than a whole MPI
//! round trip: a waiting caller that polls for its own answer saves both.

use std::time::Instant;

/// Progress a backend can make on the thread of a caller waiting for one of its futures.
///
/// A future made with [`Future::pending_driven`](crate::Future::pending_driven) calls
/// [`drive`](Self::drive) when a thread is about to block on it alone (`result`, `join`,
/// `wait`, `wait_timeout` and the like; not `wait` or `as_completed` over many futures, which
/// block as usual). When `drive` returns, the wait goes on as for any future: it spins briefly,
/// then blocks until the future is completed by whichever thread completes it.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::{Arc, Mutex};
/// use std::time::Instant;
/// use concurrent_futures::{Future, backend::{Drive, Promise}};
///
/// /// Completes the promise it holds when a waiter drives it: a backend with no thread at all.
/// struct CompletesOnDrive(Mutex<Option<Promise<u32, Infallible>>>);
///
/// impl Drive for CompletesOnDrive {
///     fn drive(&self, done: &dyn Fn() -> bool, _deadline: Option<Instant>) {
///         // Out of the lock first: completing runs the future's callbacks.
///         let promise = self.0.lock().unwrap().take();
///         if let Some(promise) = promise {
///             promise.set_result(42).unwrap();
///         }
///         assert!(done());
///     }
/// }
///
/// let driver = Arc::new(CompletesOnDrive(Mutex::new(None)));
/// let (promise, future) = Future::<u32>::pending_driven(driver.clone());
/// *driver.0.lock().unwrap() = Some(promise);
/// assert_eq!(future.join(), Ok(42), "completed by the waiting thread itself");
/// ```
pub trait Drive: Send + Sync {
    /// Makes progress for the calling thread until `done()` says the awaited future is done, or
    /// `deadline` passes, or there is nothing more this thread can usefully do (another thread
    /// is making the progress, or a bounded spin found nothing). It must return promptly in the
    /// last case: the caller then blocks as usual, and the backend must still complete the
    /// future without this thread.
    ///
    /// It runs on the waiting thread, with no lock of the future held; it may complete any
    /// futures (and so run their done-callbacks), but must not hold its own locks while it does.
    fn drive(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>);
}
