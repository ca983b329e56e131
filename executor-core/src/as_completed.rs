//! [`as_completed`]: iterate over futures in the order they complete.

use std::collections::VecDeque;
use std::iter::FusedIterator;
use std::time::{Duration, Instant};

use crate::error::AsCompletedTimeout;
use crate::sync::Arc;
use crate::wait::{distinct, far_future};
use crate::waiter::{Waitable, Waiter};

/// Yields each distinct future once: those already done first, then the rest as they complete.
///
/// Cancelled futures count as completed at once. The iterator knows its length, so it composes
/// with progress bars (`indicatif`'s `ProgressIterator`, for instance). Dropping it early
/// unregisters it from the futures it had not yielded.
///
/// ```
/// use concurrent_futures_core::{Future, as_completed};
///
/// let (p1, a) = Future::<i32>::pending();
/// let (p2, b) = Future::<i32>::pending();
/// let c = Future::ready(3);
/// let order = std::thread::scope(|s| {
///     let iter = as_completed([&a, &b, &c]);
///     assert_eq!(iter.len(), 3);
///     s.spawn(move || { p2.set_result(2).unwrap(); p1.set_result(1).unwrap(); });
///     iter.map(|f| f.result().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(order[0], 3); // already done: first
/// assert_eq!(order.len(), 3);
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    AsCompleted {
        engine: Completions::new(futures, None),
    }
}

/// Like [`as_completed`], but gives up when `timeout` (counted from this call) passes: the next
/// item is then an [`AsCompletedTimeout`] saying how many of how many are unfinished, and the
/// iteration ends.
///
/// ```
/// use concurrent_futures_core::{Future, as_completed_within};
/// use std::time::Duration;
///
/// let (_p, pending) = Future::<i32>::pending();
/// let done = Future::ready(1);
/// let mut iter = as_completed_within([&done, &pending], Duration::ZERO);
/// assert!(iter.next().unwrap().is_ok());
/// let err = iter.next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1 (of 2) futures unfinished");
/// assert!(iter.next().is_none());
/// ```
pub fn as_completed_within<I>(futures: I, timeout: Duration) -> AsCompletedWithin<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(far_future);
    AsCompletedWithin {
        engine: Completions::new(futures, Some(deadline)),
        timed_out: false,
    }
}

/// The iterator returned by [`as_completed`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct AsCompleted<F: Waitable> {
    engine: Completions<F>,
}

/// The iterator returned by [`as_completed_within`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct AsCompletedWithin<F: Waitable> {
    engine: Completions<F>,
    timed_out: bool,
}

impl<F: Waitable> Iterator for AsCompleted<F> {
    type Item = F;

    fn next(&mut self) -> Option<F> {
        match self.engine.next() {
            Ok(item) => item,
            Err(_) => unreachable!("no deadline, no timeout"),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.engine.left();
        (left, Some(left))
    }
}

impl<F: Waitable> ExactSizeIterator for AsCompleted<F> {}
impl<F: Waitable> FusedIterator for AsCompleted<F> {}

impl<F: Waitable> Iterator for AsCompletedWithin<F> {
    type Item = Result<F, AsCompletedTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.timed_out {
            return None;
        }
        match self.engine.next() {
            Ok(item) => item.map(Ok),
            Err(timeout) => {
                self.timed_out = true;
                Some(Err(timeout))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.timed_out {
            return (0, Some(0));
        }
        let left = self.engine.left();
        (left.min(1), Some(left))
    }
}

impl<F: Waitable> FusedIterator for AsCompletedWithin<F> {}

/// The shared engine: one waiter on every future not yet yielded.
struct Completions<F: Waitable> {
    items: Vec<Option<F>>,
    waiter: Arc<Waiter>,
    /// Indices known to be done and not yet yielded, in completion order.
    ready: VecDeque<usize>,
    /// How many completions of the waiter have been moved to `ready`.
    consumed: usize,
    yielded: usize,
    deadline: Option<Instant>,
}

impl<F: Waitable> std::fmt::Debug for Completions<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completions")
            .field("total", &self.items.len())
            .field("yielded", &self.yielded)
            .finish_non_exhaustive()
    }
}

impl<F: Waitable> Completions<F> {
    fn new<I: IntoIterator<Item = F>>(futures: I, deadline: Option<Instant>) -> Self {
        let items = distinct(futures);
        let waiter = Waiter::new();
        let mut ready = VecDeque::new();
        for (index, item) in items.iter().enumerate() {
            if item.watch_handle().0.watch(&waiter, index).is_some() {
                ready.push_back(index);
            }
        }
        let items = items.into_iter().map(Some).collect();
        Completions {
            items,
            waiter,
            ready,
            consumed: 0,
            yielded: 0,
            deadline,
        }
    }

    fn left(&self) -> usize {
        self.items.len() - self.yielded
    }

    fn next(&mut self) -> Result<Option<F>, AsCompletedTimeout> {
        if self.ready.is_empty() && self.left() > 0 {
            let mut completions = self.waiter.lock();
            while completions.indices.len() == self.consumed {
                if self.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(AsCompletedTimeout {
                        unfinished: self.left(),
                        total: self.items.len(),
                    });
                }
                completions = self.waiter.wait_until(completions, self.deadline);
            }
            self.ready.extend(&completions.indices[self.consumed..]);
            self.consumed = completions.indices.len();
        }
        let Some(index) = self.ready.pop_front() else {
            return Ok(None);
        };
        self.yielded += 1;
        Ok(self.items[index].take())
    }
}

impl<F: Waitable> Drop for Completions<F> {
    fn drop(&mut self) {
        for item in self.items.iter().flatten() {
            item.watch_handle().0.unwatch(&self.waiter);
        }
    }
}
