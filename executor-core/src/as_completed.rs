//! [`as_completed`]: iterate over futures in the order they complete.

use std::collections::VecDeque;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

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
/// use concurrent_futures::{Future, as_completed};
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
///
/// In async code, the same value is a [`Stream`]: see [`AsCompleted`] for how to drain it
/// without blocking a runtime thread.
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
/// use concurrent_futures::{Future, as_completed_within};
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
///
/// This one is not a [`Stream`]: honouring the deadline while no future completes needs a timer
/// to wake the task, and core depends on no runtime. Async code puts its runtime's timeout
/// around [`AsCompleted::next_async`] instead, which also leaves the unfinished count in
/// [`AsCompleted::len`]:
///
/// ```
/// use concurrent_futures::{Future, as_completed};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// runtime.block_on(async {
///     let (_p, pending) = Future::<i32>::pending();
///     let done = Future::ready(1);
///     let deadline = tokio::time::Instant::now(); // already passed: only done ones come
///     let mut completed = as_completed([&done, &pending]);
///     let mut yielded = 0;
///     while let Ok(Some(_future)) =
///         tokio::time::timeout_at(deadline, completed.next_async()).await
///     {
///         yielded += 1;
///     }
///     assert_eq!(yielded, 1);
///     assert_eq!(completed.len(), 1, "unfinished");
/// });
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

/// The iterator returned by [`as_completed`]; also a [`Stream`] for async code.
///
/// As a stream it never blocks: a poll that finds no new completion leaves the task's waker
/// with the futures, and the next completion (or cancellation) wakes it. Because it is both an
/// [`Iterator`] and a [`Stream`], `completed.next()` with `futures::StreamExt` in scope is
/// ambiguous; the inherent [`next_async`](AsCompleted::next_async) needs no import and reads
/// best:
///
/// ```
/// use concurrent_futures::{Future, as_completed};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(async {
///     let (promise, slow) = Future::<i32>::pending();
///     let fast = Future::ready(1);
///     let mut completed = as_completed([&slow, &fast]);
///     // Completed by a plain thread while the only runtime thread awaits.
///     let worker = std::thread::spawn(move || promise.set_result(2).unwrap());
///     let mut order = Vec::new();
///     while let Some(future) = completed.next_async().await {
///         order.push(future.result().unwrap());
///     }
///     assert_eq!(order, [1, 2]);
///     worker.join().unwrap();
/// });
/// ```
///
/// Stream combinators take it by a qualified path, which settles the ambiguity the same way:
///
/// ```
/// use concurrent_futures::{Future, as_completed};
/// use futures_util::StreamExt;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(async {
///     let futures = [Future::<i32>::ready(1), Future::ready(2)];
///     let mut completed = as_completed(&futures);
///     assert_eq!(StreamExt::next(&mut completed).await.unwrap().result(), Ok(1));
///     let rest: Vec<i32> =
///         StreamExt::map(completed, |future| future.result().unwrap()).collect().await;
///     assert_eq!(rest, [2]);
/// });
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct AsCompleted<F: Waitable> {
    engine: Completions<F>,
}

impl<F: Waitable> AsCompleted<F> {
    /// The next future to complete, awaited without blocking the thread: the async twin of
    /// [`Iterator::next`], callable without importing a stream trait.
    ///
    /// Cancel-safe: dropping the returned future before it is ready loses no completion (so it
    /// can sit in a `tokio::select!` branch).
    ///
    /// ```
    /// use concurrent_futures::{Future, as_completed};
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let (_p, pending) = Future::<i32>::pending();
    /// let cancelled = pending.cancel();
    /// let mut completed = as_completed([&pending]);
    /// let future = runtime.block_on(completed.next_async()).unwrap();
    /// assert!(cancelled && future.cancelled());
    /// assert!(runtime.block_on(completed.next_async()).is_none());
    /// ```
    pub fn next_async(&mut self) -> impl std::future::Future<Output = Option<F>> + '_ {
        std::future::poll_fn(|cx| self.engine.poll_next(cx))
    }
}

/// Nothing in it is pinned: the futures it holds are moved out by value when yielded. Without
/// this, a `(label, future)` item with a `!Unpin` label would make the stream unusable with
/// `StreamExt::next`.
impl<F: Waitable> Unpin for AsCompleted<F> {}

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

impl<F: Waitable> Stream for AsCompleted<F> {
    type Item = F;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F>> {
        self.get_mut().engine.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.engine.left();
        (left, Some(left))
    }
}

impl<F: Waitable> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.engine.left() == 0
    }
}

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
        Ok(self.pop())
    }

    /// [`next`](Self::next) without blocking (and without a deadline: only [`AsCompleted`]
    /// is a stream).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F>> {
        if self.ready.is_empty() && self.left() > 0 {
            let mut completions = self.waiter.lock();
            if completions.indices.len() == self.consumed {
                completions.wake_on_next(cx.waker());
                return Poll::Pending;
            }
            self.ready.extend(&completions.indices[self.consumed..]);
            self.consumed = completions.indices.len();
        }
        Poll::Ready(self.pop())
    }

    fn pop(&mut self) -> Option<F> {
        let index = self.ready.pop_front()?;
        self.yielded += 1;
        self.items[index].take()
    }
}

impl<F: Waitable> Drop for Completions<F> {
    fn drop(&mut self) {
        for item in self.items.iter().flatten() {
            item.watch_handle().0.unwatch(&self.waiter);
        }
    }
}
