//! The one place this crate takes its synchronisation primitives and threads from.
//!
//! Under `--cfg executor_loom` every item here is loom's model-checked twin, so the pool's
//! queue, idle/wake and shutdown protocols are explored by `tests/loom_pool.rs` exactly as they
//! run in production. No other module may import `std::sync`, `std::thread` or
//! `crossbeam_deque` directly.
//!
//! Two substitutions are not one-to-one, on purpose:
//! - [`Injector`] is `crossbeam_deque::Injector` (a lock-free MPMC FIFO) in production and a
//!   `Mutex<VecDeque>` under loom, which cannot see inside crossbeam. The protocol only relies on
//!   what both give: FIFO `push`/`pop`, and an `is_empty` that sees every completed `push`
//!   ordered before it by a `SeqCst` fence.
//! - [`spin_hint`] is a CPU pause in production and a loom yield under loom, and the spin
//!   budgets in [`crate::idle`] shrink to one round, so the model stays small.
//!
//! The mutex wrapper drops poisoning: no critical section in this crate calls user code.

#[cfg(executor_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(executor_loom))]
pub(crate) use std::sync::atomic;

/// `std`'s `Arc` under loom too (as in concurrent-futures-core): `self: &Arc<Self>` receivers need it on
/// stable Rust, and loom's `Arc` would only add leak checks; every operation that can
/// interleave (mutexes, condvars, atomics, the queue) is still loom's.
pub(crate) use std::sync::Arc;

#[cfg(executor_loom)]
use loom::sync as imp;
#[cfg(not(executor_loom))]
use std::sync as imp;

/// Threads: `std::thread` or `loom::thread`.
pub(crate) mod thread {
    #[cfg(executor_loom)]
    pub(crate) use loom::thread::{Builder, JoinHandle, current, yield_now};
    /// Not modelled by loom: the host's parallelism, for the default `max_workers`.
    pub(crate) use std::thread::available_parallelism;
    #[cfg(not(executor_loom))]
    pub(crate) use std::thread::{Builder, JoinHandle, current, yield_now};

    /// `true` if the thread behind `handle` has finished (always `false` under loom, which has
    /// no such query; it is only used to prune handles early).
    pub(crate) fn is_finished<T>(handle: &JoinHandle<T>) -> bool {
        #[cfg(executor_loom)]
        {
            let _ = handle;
            false
        }
        #[cfg(not(executor_loom))]
        {
            handle.is_finished()
        }
    }
}

/// `thread_local!` that loom can see (loom runs its threads on one OS thread).
macro_rules! pool_thread_local {
    ($($tt:tt)*) => {
        #[cfg(executor_loom)]
        loom::thread_local!($($tt)*);
        #[cfg(not(executor_loom))]
        std::thread_local!($($tt)*);
    };
}
pub(crate) use pool_thread_local;

/// One round of busy waiting: a CPU pause hint, or a loom yield.
pub(crate) fn spin_hint() {
    #[cfg(executor_loom)]
    loom::thread::yield_now();
    #[cfg(not(executor_loom))]
    std::hint::spin_loop();
}

/// A mutex whose `lock` cannot fail.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

/// The guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

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

    /// Waits until notified or `timeout` passes (loom never times out); returns whether it
    /// timed out.
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        match self.0.wait_timeout(guard, timeout) {
            Ok((guard, result)) => (guard, result.timed_out()),
            Err(poisoned) => {
                let (guard, result) = poisoned.into_inner();
                (guard, result.timed_out())
            }
        }
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// An unbounded multi-producer multi-consumer FIFO queue.
///
/// Production: `crossbeam_deque::Injector` (lock-free push and steal). Under loom: a mutex
/// around a `VecDeque`.
pub(crate) struct Injector<T> {
    #[cfg(not(executor_loom))]
    inner: crossbeam_deque::Injector<T>,
    #[cfg(executor_loom)]
    inner: Mutex<std::collections::VecDeque<T>>,
}

impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Injector {
            #[cfg(not(executor_loom))]
            inner: crossbeam_deque::Injector::new(),
            #[cfg(executor_loom)]
            inner: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    pub(crate) fn push(&self, value: T) {
        #[cfg(not(executor_loom))]
        self.inner.push(value);
        #[cfg(executor_loom)]
        self.inner.lock().push_back(value);
    }

    /// Takes the oldest item, if any.
    pub(crate) fn pop(&self) -> Option<T> {
        #[cfg(not(executor_loom))]
        loop {
            match self.inner.steal() {
                crossbeam_deque::Steal::Success(value) => return Some(value),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => spin_hint(),
            }
        }
        #[cfg(executor_loom)]
        self.inner.lock().pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(executor_loom))]
        return self.inner.is_empty();
        #[cfg(executor_loom)]
        return self.inner.lock().is_empty();
    }
}

impl<T> std::fmt::Debug for Injector<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injector")
            .field("is_empty", &self.is_empty())
            .finish()
    }
}

/// Keeps a value on its own cache line (128 bytes: adjacent-line prefetch pairs lines), so
/// counters written on every submit do not slow down readers of unrelated state.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
