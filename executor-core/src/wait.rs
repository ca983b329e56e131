//! [`wait`]: block until some or all of a set of futures are done.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::waiter::{Waitable, Waiter};

/// When [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a cancellation is not an error), or all
    /// are done.
    FirstException,
    /// When all futures are done.
    #[default]
    AllCompleted,
}

/// The two sets [`wait`] returns, each in input order, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSets<F> {
    /// Futures that were done (finished or cancelled) when `wait` returned.
    pub done: Vec<F>,
    /// The others.
    pub not_done: Vec<F>,
}

/// Waits for the futures until `return_when` holds or `timeout` passes, and partitions them.
///
/// Never fails: on timeout it returns the partial sets. Duplicates (clones of the same future)
/// collapse to the first. Futures of any executors mix freely, and futures with different value
/// types mix through `&dyn Waitable`. A cancelled future counts as done at once.
///
/// ```
/// use concurrent_futures_core::{Future, ReturnWhen, wait};
/// use std::time::Duration;
///
/// let (promise, slow) = Future::<i32>::pending();
/// let fast = Future::ready(1);
/// let sets = wait([&fast, &slow, &fast], Some(Duration::ZERO), ReturnWhen::AllCompleted);
/// assert_eq!(sets.done.len(), 1);
/// assert_eq!(sets.not_done.len(), 1);
///
/// let sets = wait([&fast, &slow], None, ReturnWhen::FirstCompleted);
/// assert_eq!(sets.done.len(), 1);
/// # drop(promise);
/// ```
pub fn wait<I>(futures: I, timeout: Option<Duration>, return_when: ReturnWhen) -> WaitSets<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
    let items = distinct(futures);
    let total = items.len();
    let waiter = Waiter::new();
    let mut done = vec![false; total];
    let mut done_count = 0;
    let mut any_failed = false;
    for (index, item) in items.iter().enumerate() {
        if let Some(failed) = item.watch_handle().0.watch(&waiter, index) {
            done[index] = true;
            done_count += 1;
            any_failed |= failed;
        }
    }
    let satisfied = |count: usize, failed: bool| match return_when {
        ReturnWhen::FirstCompleted => count >= 1 || total == 0,
        ReturnWhen::FirstException => failed || count == total,
        ReturnWhen::AllCompleted => count == total,
    };
    if !satisfied(done_count, any_failed) {
        let mut completions = waiter.lock();
        loop {
            let count = done_count + completions.indices.len();
            if satisfied(count, any_failed || completions.any_failed) {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            completions = waiter.wait_until(completions, deadline);
        }
    }
    for (index, item) in items.iter().enumerate() {
        if !done[index] {
            item.watch_handle().0.unwatch(&waiter);
        }
    }
    // Read after every unwatch: nothing can be added any more, and late completions count.
    for &index in &waiter.lock().indices {
        done[index] = true;
    }
    let mut sets = WaitSets {
        done: Vec::new(),
        not_done: Vec::new(),
    };
    for (item, is_done) in items.into_iter().zip(done) {
        if is_done {
            sets.done.push(item)
        } else {
            sets.not_done.push(item)
        }
    }
    sets
}

/// The distinct futures of `futures`, first occurrence kept, in input order.
pub(crate) fn distinct<I>(futures: I) -> Vec<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let mut seen = HashSet::new();
    futures
        .into_iter()
        .filter(|f| seen.insert(f.watch_handle().0.key()))
        .collect()
}

pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 100)
}
