//! [`wait`]: block until some or all of a set of futures are done; [`wait_async`]: await it.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::sync::Arc;
use crate::waiter::{Completions, Waitable, Waiter};

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
/// use concurrent_futures::{Future, ReturnWhen, wait};
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
///
/// `wait` blocks its thread. Async code awaits [`wait_async`] instead, which takes no timeout:
/// the runtime's own (`tokio::time::timeout`, for instance) bounds it.
pub fn wait<I>(futures: I, timeout: Option<Duration>, return_when: ReturnWhen) -> WaitSets<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
    let watched = Watched::new(futures, return_when);
    let mut completions = watched.waiter.lock();
    while !watched.satisfied(&completions) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        completions = watched.waiter.wait_until(completions, deadline);
    }
    drop(completions);
    watched.partition()
}

/// [`wait`] for async code: a future that resolves to the sets once `return_when` holds,
/// without blocking a thread while it waits.
///
/// It has no timeout; bound it with the runtime's, e.g. `tokio::time::timeout`. The futures are
/// watched from this call on; dropping the returned future unregisters them. It works on any
/// runtime (or none): it only needs its task's waker.
///
/// ```
/// use concurrent_futures::{Future, ReturnWhen, wait_async};
/// use std::time::Duration;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// runtime.block_on(async {
///     let (promise, slow) = Future::<i32>::pending();
///     let fast = Future::ready(1);
///     let sets = wait_async([&fast, &slow], ReturnWhen::FirstCompleted).await;
///     assert_eq!(sets.done.len(), 1);
///
///     let waiting = wait_async([&fast, &slow], ReturnWhen::AllCompleted);
///     let timed_out = tokio::time::timeout(Duration::ZERO, waiting).await;
///     assert!(timed_out.is_err(), "`slow` never finishes");
///
///     let worker = std::thread::spawn(move || promise.set_result(2).unwrap());
///     let sets = wait_async([&fast, &slow], ReturnWhen::AllCompleted).await;
///     assert_eq!(sets.done.len(), 2);
///     worker.join().unwrap();
/// });
/// ```
pub fn wait_async<I>(futures: I, return_when: ReturnWhen) -> WaitAsync<I::Item>
where
    I: IntoIterator,
    I::Item: Waitable,
{
    WaitAsync {
        watched: Some(Watched::new(futures, return_when)),
    }
}

/// The future returned by [`wait_async`]; its output is the same [`WaitSets`] as [`wait`]'s.
///
/// Like most futures, it panics if polled again after it resolved.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitAsync<F: Waitable> {
    /// `None` once it has resolved.
    watched: Option<Watched<F>>,
}

/// Nothing in it is pinned: the futures it holds are moved out by value when it resolves.
impl<F: Waitable> Unpin for WaitAsync<F> {}

impl<F: Waitable> std::future::Future for WaitAsync<F> {
    type Output = WaitSets<F>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WaitSets<F>> {
        let this = self.get_mut();
        let watched = this
            .watched
            .as_ref()
            .expect("`WaitAsync` polled after it resolved");
        let mut completions = watched.waiter.lock();
        if !watched.satisfied(&completions) {
            completions.wake_on_next(cx.waker());
            return Poll::Pending;
        }
        // `partition` takes the waiter's lock again.
        drop(completions);
        let watched = this.watched.take().expect("checked above");
        Poll::Ready(watched.partition())
    }
}

/// One waiter installed on each distinct future, and what was already done at installation.
struct Watched<F: Waitable> {
    items: Vec<F>,
    waiter: Arc<Waiter>,
    /// Done at installation (these have no waiter to remove).
    done: Vec<bool>,
    done_count: usize,
    any_failed: bool,
    return_when: ReturnWhen,
}

impl<F: Waitable> std::fmt::Debug for Watched<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("total", &self.items.len())
            .field("return_when", &self.return_when)
            .finish_non_exhaustive()
    }
}

impl<F: Waitable> Watched<F> {
    fn new<I: IntoIterator<Item = F>>(futures: I, return_when: ReturnWhen) -> Self {
        let items = distinct(futures);
        let waiter = Waiter::new();
        let mut done = vec![false; items.len()];
        let mut done_count = 0;
        let mut any_failed = false;
        for (index, item) in items.iter().enumerate() {
            if let Some(failed) = item.watch_handle().0.watch(&waiter, index) {
                done[index] = true;
                done_count += 1;
                any_failed |= failed;
            }
        }
        Watched {
            items,
            waiter,
            done,
            done_count,
            any_failed,
            return_when,
        }
    }

    /// Whether `return_when` holds, counting the completions notified so far.
    fn satisfied(&self, completions: &Completions) -> bool {
        let total = self.items.len();
        let count = self.done_count + completions.indices.len();
        let failed = self.any_failed || completions.any_failed;
        match self.return_when {
            ReturnWhen::FirstCompleted => count >= 1 || total == 0,
            ReturnWhen::FirstException => failed || count == total,
            ReturnWhen::AllCompleted => count == total,
        }
    }

    /// Unregisters from the futures and splits them into the two sets.
    fn partition(mut self) -> WaitSets<F> {
        self.unwatch();
        // Read after every unwatch: nothing can be added any more, and late completions count.
        for &index in &self.waiter.lock().indices {
            self.done[index] = true;
        }
        let mut sets = WaitSets {
            done: Vec::new(),
            not_done: Vec::new(),
        };
        let items = std::mem::take(&mut self.items);
        for (item, &is_done) in items.into_iter().zip(&self.done) {
            if is_done {
                sets.done.push(item)
            } else {
                sets.not_done.push(item)
            }
        }
        sets
    }

    fn unwatch(&self) {
        for (item, &done) in self.items.iter().zip(&self.done) {
            if !done {
                item.watch_handle().0.unwatch(&self.waiter);
            }
        }
    }
}

/// A dropped [`WaitAsync`] leaves no waiter behind (after `partition`, `items` is empty).
impl<F: Waitable> Drop for Watched<F> {
    fn drop(&mut self) {
        self.unwatch();
    }
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
