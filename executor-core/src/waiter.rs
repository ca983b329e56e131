//! The waiter protocol behind [`wait`](crate::wait()) and [`as_completed`](crate::as_completed()).
//!
//! A [`Waiter`] is installed on each watched future, one future at a time: under that future's
//! lock it either learns the future is already done or is appended to its waiter list, so a
//! completion can never slip between the check and the installation. On its terminal transition a
//! future takes its waiter list out and calls [`Waiter::notify`] with no future lock held. Because
//! each installation is atomic on its own, no global lock order over many futures is needed
//! (CPython takes all their locks at once, sorted by address).
//!
//! The same waiter serves async consumers (the `Stream` of `as_completed`, `wait_async`): instead
//! of blocking on the condvar, a poll that finds no new completion leaves its task's [`Waker`] in
//! the waiter, and the next notification takes it out and wakes it. The waiter stays installed
//! once per future and only the waker in it changes, so a poll costs O(1), not one registration
//! per unfinished future.

use std::task::Waker;
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
    /// The task of the last poll that found nothing new; taken by the next notification.
    waker: Option<Waker>,
}

impl Completions {
    /// Leaves `waker` to be woken by the next notification. Called with the lock held, after
    /// finding nothing new, so no notification can fall between that check and this.
    pub(crate) fn wake_on_next(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(current) if current.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }
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
        let waker = state.waker.take();
        drop(state);
        self.cond.notify_all();
        // Outside the lock: a waker runs the runtime's code, which may poll the stream at once.
        if let Some(waker) = waker {
            waker.wake();
        }
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
/// use concurrent_futures::{Future, Waitable, wait, ReturnWhen};
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
/// use concurrent_futures::{Future, as_completed};
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
