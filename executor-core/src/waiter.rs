//! The waiter protocol behind [`wait`](crate::wait()) and [`as_completed`](crate::as_completed()).
//!
//! A [`Waiter`] is installed on each watched future, one future at a time: under that future's
//! lock it either learns the future is already done or is appended to its waiter list, so a
//! completion can never slip between the check and the installation. On its terminal transition a
//! future takes its waiter list out and calls [`Waiter::notify`] with no future lock held. Because
//! each installation is atomic on its own, no global lock order over many futures is needed
//! (CPython takes all their locks at once, sorted by address).

use std::time::Instant;

use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Collects completions of the futures it watches, in completion order.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    state: Mutex<Completions>,
    cond: Condvar,
}

/// The completions seen so far, by index into the watcher's own list of futures.
#[derive(Debug, Default)]
pub(crate) struct Completions {
    pub(crate) indices: Vec<usize>,
    pub(crate) any_failed: bool,
}

impl Waiter {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Waiter {
            state: Mutex::new(Completions::default()),
            cond: Condvar::new(),
        })
    }

    /// Called by a future when it becomes done.
    pub(crate) fn notify(&self, index: usize, failed: bool) {
        let mut state = self.state.lock();
        state.indices.push(index);
        state.any_failed |= failed;
        drop(state);
        self.cond.notify_all();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Completions> {
        self.state.lock()
    }

    /// Waits for the next notification (or a spurious wake-up) until `deadline`.
    pub(crate) fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, Completions>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, Completions> {
        self.cond.wait_until(guard, deadline)
    }
}

/// The type-erased view of a future that the waiter protocol needs.
pub(crate) trait Watch {
    /// Installs `waiter` under `index`, or returns `Some(failed)` if the future is already done.
    fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool>;
    /// Removes `waiter` if it is still installed.
    fn unwatch(&self, waiter: &Arc<Waiter>);
    /// Identity of the future, shared by all its clones.
    fn key(&self) -> usize;
}

/// Anything [`wait`](crate::wait()) and [`as_completed`](crate::as_completed()) can watch:
/// a [`Future`](crate::Future) of any type, or a reference to one.
///
/// This trait is sealed; futures of different value types can be mixed through
/// `&dyn Waitable`.
///
/// ```
/// use concurrent_futures_core::{Future, Waitable, wait, ReturnWhen};
///
/// let (p1, a) = Future::<i32>::pending();
/// let (p2, b) = Future::<String>::pending();
/// p1.set_result(1).unwrap();
/// p2.set_result("two".into()).unwrap();
/// let both: [&dyn Waitable; 2] = [&a, &b];
/// let sets = wait(both, None, ReturnWhen::AllCompleted);
/// assert_eq!(sets.done.len(), 2);
/// ```
pub trait Waitable: sealed::Sealed {
    #[doc(hidden)]
    fn watch_handle(&self) -> WatchHandle<'_>;
}

/// Opaque access to a future's waiter list; see [`Waitable`].
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct WatchHandle<'a>(pub(crate) &'a dyn Watch);

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A `(label, future)` pair is watched through its future, so a label can travel with it through
/// [`wait`](crate::wait()) and [`as_completed`](crate::as_completed()): CPython's
/// `{future: url}` dictionary idiom.
///
/// ```
/// use concurrent_futures_core::{Future, as_completed};
///
/// let jobs = vec![("a", Future::<u8>::ready(1)), ("b", Future::ready(2))];
/// for (label, future) in as_completed(jobs) {
///     println!("{label}: {:?}", future.join());
/// }
/// ```
impl<K, W: Waitable> Waitable for (K, W) {
    fn watch_handle(&self) -> WatchHandle<'_> {
        self.1.watch_handle()
    }
}
impl<K, W: Waitable> sealed::Sealed for (K, W) {}

impl<W: Waitable + ?Sized> sealed::Sealed for &W {}
impl<W: Waitable + ?Sized> Waitable for &W {
    fn watch_handle(&self) -> WatchHandle<'_> {
        (**self).watch_handle()
    }
}
