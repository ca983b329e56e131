//! The one place this crate takes its synchronisation primitives from.
//!
//! Under `--cfg executor_loom` the mutex, condvar and atomics here are loom's model-checked twins
//! (`Arc` stays `std`'s, see below), so the state machine and the waiter protocol in
//! [`crate::state`] and [`crate::waiter`] are explored by the loom suite in `concurrent-futures-testkit`
//! exactly as they run in production. Nothing else in the crate may
//! import `std::sync` or `std::thread` directly.
//!
//! The mutex wrapper drops poisoning: every critical section in this crate leaves its data
//! consistent before it calls anything that can panic, so a poisoned lock carries no information.

#[cfg(executor_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(executor_loom))]
pub(crate) use std::sync::atomic;

/// `std`'s `Arc` under loom too: `state.rs` takes `self: &Arc<Self>` receivers, which stable Rust
/// allows only for `std`'s `Arc`. Loom's `Arc` would add nothing to the models but leak checks:
/// every operation that can interleave (the mutexes, condvars and atomics) is still loom's.
pub(crate) use std::sync::Arc;

#[cfg(executor_loom)]
use loom::sync as imp;
#[cfg(not(executor_loom))]
use std::sync as imp;

use std::time::Instant;

/// A mutex whose `lock` cannot fail.
///
/// `T` may be unsized: a future's cell keeps the task of a [`Job`](crate::backend::Job), of any type,
/// behind one, as its last field.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(imp::Mutex<T>);

/// The guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A condition variable paired with [`Mutex`]; waits may wake spuriously, so callers loop.
#[derive(Debug, Default)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Self(imp::Condvar::new())
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until notified or until `deadline` passes (`None`: no deadline).
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, T> {
        match deadline {
            None => self.wait(guard),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.0.wait_timeout(guard, left) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                }
            }
        }
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}
