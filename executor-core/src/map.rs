//! [`Map`]: the ordered, bounded, cancel-on-drop iterator behind [`Submit::map`].
//!
//! Differences from CPython, on purpose: a failing item yields its own error and iteration goes
//! on (gh-108518); the task's own errors can never be confused with the map deadline
//! (gh-155852); with `buffersize`, a refused refill yields a typed error instead of losing the
//! buffered results (gh-146392).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::error::{Rejected, TaskError};
use crate::executor::Submit;
use crate::future::Future;
use crate::task::{Chunk, ChunkOutput, Task};
use crate::wait::far_future;

/// Options of [`Submit::map`].
///
/// ```
/// use concurrent_futures::MapOptions;
/// use std::time::Duration;
///
/// let options = MapOptions::new().chunksize(64).buffersize(4).timeout(Duration::from_secs(5));
/// assert_eq!(options.get_chunksize(), 64);
/// ```
#[must_use = "options do nothing until passed to `map`"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    timeout: Option<Duration>,
    chunksize: NonZeroUsize,
    buffersize: Option<NonZeroUsize>,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            timeout: None,
            chunksize: NonZeroUsize::MIN,
            buffersize: None,
        }
    }
}

impl MapOptions {
    /// No deadline, one task per chunk, everything submitted at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// A deadline for the whole iteration, counted from the `map` call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many tasks travel together as one [`Chunk`](crate::backend::Chunk): one queue item
    /// or one message, and one future, per chunk, so per-task overhead is paid once per chunk.
    ///
    /// The chunk size changes how tasks travel, not what happens to each of them: every task
    /// yields its own outcome, in input order, and a failing or panicking task does not affect
    /// the others. Backends with per-task time limits or crash isolation keep them per item
    /// too: on the process pool a time limit applies to each item, and a crash or an expiry
    /// fails only the item that was running (`WorkerLost`, `Expired`), while the chunk's
    /// finished items keep their results and its remaining items still run. Backends without
    /// either (threads, rayon, MPI) have nothing more to say.
    ///
    /// # Panics
    /// If `chunksize` is zero.
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = NonZeroUsize::new(chunksize).expect("chunksize must be at least 1");
        self
    }

    /// At most this many chunks are submitted ahead of the consumer, so endless input runs in
    /// bounded memory.
    ///
    /// # Panics
    /// If `buffersize` is zero.
    pub fn buffersize(mut self, buffersize: usize) -> Self {
        self.buffersize =
            Some(NonZeroUsize::new(buffersize).expect("buffersize must be at least 1"));
        self
    }

    /// The chunk size.
    pub fn get_chunksize(&self) -> usize {
        self.chunksize.get()
    }
}

/// The most slots [`Map::new`] reserves up front from the input's size hint.
const MAX_RESERVED_SLOTS: usize = 1 << 20;

/// One chunk in flight, or one the executor refused.
enum Slot<T: Task> {
    /// A chunk of one task goes as itself: no `Chunk` and no output `Vec` to allocate (and with
    /// `chunksize` 1, no `Vec` for the chunk either).
    Single(Future<T::Output, T::Error>),
    Submitted {
        future: Future<ChunkOutput<T>>,
        len: usize,
    },
    Refused {
        reason: Rejected,
        len: usize,
    },
}

/// The iterator returned by [`Submit::map`]: one outcome per task, in input order.
#[must_use = "a map cancels the tasks it has not started when dropped; iterate it to get the results"]
pub struct Map<'a, X: ?Sized, T: Task, I> {
    executor: &'a X,
    tasks: Option<I>,
    chunksize: usize,
    buffersize: Option<usize>,
    deadline: Option<Instant>,
    slots: VecDeque<Slot<T>>,
    current: std::vec::IntoIter<Result<T::Output, TaskError<T::Error>>>,
    /// Items of a failed chunk still to report, with the chunk's error.
    failing: Option<(TaskError<T::Error>, usize)>,
    finished: bool,
}

impl<'a, X, T, I> Map<'a, X, T, I>
where
    X: Submit<T> + Submit<Chunk<T>> + ?Sized,
    T: Task,
    I: Iterator<Item = T>,
{
    pub(crate) fn new(executor: &'a X, tasks: I, options: MapOptions) -> Self {
        let deadline = options
            .timeout
            .map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        let chunksize = options.chunksize.get();
        let buffersize = options.buffersize.map(NonZeroUsize::get);
        // The chunks that will be in flight at once, as far as the input tells: at least its
        // lower bound (capped against a size hint that lies), at most `buffersize`. Reserving
        // them saves the buffer's regrowth while 100,000s of tasks are submitted.
        let in_flight = tasks
            .size_hint()
            .0
            .div_ceil(chunksize)
            .min(buffersize.unwrap_or(usize::MAX))
            .min(MAX_RESERVED_SLOTS);
        let mut map = Map {
            executor,
            tasks: Some(tasks),
            chunksize,
            buffersize,
            deadline,
            slots: VecDeque::with_capacity(in_flight),
            current: Vec::new().into_iter(),
            failing: None,
            finished: false,
        };
        let initial = map.buffersize.unwrap_or(usize::MAX);
        while map.slots.len() < initial && map.submit_next_chunk() {}
        map
    }

    /// Submits the next chunk of input; returns `false` when the input is exhausted or refused.
    fn submit_next_chunk(&mut self) -> bool {
        let Some(tasks) = self.tasks.as_mut() else {
            return false;
        };
        // With `chunksize` 1, no `Vec` is collected: the task is taken as itself.
        let mut chunk = Vec::new();
        let single = if self.chunksize == 1 {
            tasks.next()
        } else {
            chunk.extend(tasks.by_ref().take(self.chunksize));
            if chunk.len() == 1 { chunk.pop() } else { None }
        };
        let submitted = match single {
            Some(task) => Submit::<T>::submit(self.executor, task)
                .map(Slot::Single)
                .map_err(|refused| (refused.into_parts().0, 1)),
            None if chunk.is_empty() => {
                self.tasks = None;
                return false;
            }
            None => {
                let len = chunk.len();
                Submit::<Chunk<T>>::submit(self.executor, Chunk(chunk))
                    .map(|future| Slot::Submitted { future, len })
                    .map_err(|refused| (refused.into_parts().0, len))
            }
        };
        match submitted {
            Ok(slot) => {
                self.slots.push_back(slot);
                true
            }
            Err((reason, len)) => {
                // Nothing after a refusal can be submitted either: report it and stop reading.
                self.slots.push_back(Slot::Refused { reason, len });
                self.tasks = None;
                false
            }
        }
    }

    /// Waits for `future` until the map's deadline; on a miss, ends the map and cancels the rest.
    fn arrived<A: Send + 'static, B: Send + 'static>(&mut self, future: &Future<A, B>) -> bool {
        let in_time = match self.deadline {
            Some(deadline) => future.wait_deadline(deadline),
            None => {
                future.wait();
                true
            }
        };
        if !in_time {
            future.cancel();
            self.finished = true;
            self.cancel_all();
        }
        in_time
    }

    fn cancel_all(&mut self) {
        for slot in self.slots.drain(..) {
            slot.cancel();
        }
        self.tasks = None;
    }
}

impl<X, T, I> Iterator for Map<'_, X, T, I>
where
    X: Submit<T> + Submit<Chunk<T>> + ?Sized,
    T: Task,
    I: Iterator<Item = T>,
{
    type Item = Result<T::Output, TaskError<T::Error>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.current.next() {
            return Some(item);
        }
        if let Some((error, left)) = self.failing.take() {
            if left > 1 {
                self.failing = Some((error.clone_shallow(), left - 1));
            }
            return Some(Err(error));
        }
        if self.finished {
            return None;
        }
        if self.buffersize.is_some() {
            self.submit_next_chunk();
        }
        let slot = self.slots.pop_front()?;
        let (outcome, len) = match slot {
            Slot::Refused { reason, len } => (Err(TaskError::Rejected(reason)), len),
            Slot::Single(future) => {
                if !self.arrived(&future) {
                    return Some(Err(TaskError::Timeout));
                }
                return Some(future.join());
            }
            Slot::Submitted { future, len } => {
                if !self.arrived(&future) {
                    return Some(Err(TaskError::Timeout));
                }
                (future.join(), len)
            }
        };
        match outcome {
            Ok(results) => {
                self.current = results.into_iter();
                self.current.next()
            }
            Err(error) => {
                let error = error.map_failure(|never: Infallible| match never {});
                if len > 1 {
                    self.failing = Some((error.clone_shallow(), len - 1));
                }
                Some(Err(error))
            }
        }
    }
}

impl<T> TaskError<T> {
    /// A copy of an error that is not the task's own (`Failed` cannot occur for a whole chunk).
    fn clone_shallow(&self) -> TaskError<T> {
        match self {
            TaskError::Failed(_) => {
                unreachable!("a chunk as a whole never fails with a task error")
            }
            TaskError::Panicked(p) => TaskError::Panicked(p.clone()),
            TaskError::Cancelled => TaskError::Cancelled,
            TaskError::Timeout => TaskError::Timeout,
            TaskError::Expired { limit } => TaskError::Expired { limit: *limit },
            TaskError::WorkerLost(w) => TaskError::WorkerLost(w.clone()),
            TaskError::Broken(b) => TaskError::Broken(b.clone()),
            TaskError::Rejected(r) => TaskError::Rejected(r.clone()),
            TaskError::Codec(c) => TaskError::Codec(c.clone()),
            TaskError::Abandoned => TaskError::Abandoned,
            TaskError::Taken => TaskError::Taken,
            TaskError::Backend(b) => TaskError::Backend(b.clone()),
        }
    }
}

impl<T: Task> Slot<T> {
    fn cancel(self) {
        match self {
            Slot::Single(future) => {
                future.cancel();
            }
            Slot::Submitted { future, .. } => {
                future.cancel();
            }
            Slot::Refused { .. } => {}
        }
    }
}

impl<X: ?Sized, T: Task, I> Drop for Map<'_, X, T, I> {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            slot.cancel();
        }
    }
}

impl<X: ?Sized, T: Task, I> fmt::Debug for Map<'_, X, T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunks_in_flight", &self.slots.len())
            .field("chunksize", &self.chunksize)
            .field("buffersize", &self.buffersize)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
