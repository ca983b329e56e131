//! [`Map`]: the ordered, bounded, cancel-on-drop iterator behind [`Submit::map`].
//!
//! Differences from CPython, on purpose: a failing item yields its own error and iteration goes
//! on (gh-108518); the task's own errors can never be confused with the map deadline
//! (gh-155852); with `buffersize`, a refused refill yields a typed error instead of losing the
//! buffered results (gh-146392).

mod adaptive;
mod options;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::num::NonZeroUsize;
use std::time::Instant;

use crate::chunk::{Chunk, ChunkOutput, OutcomesIter};
use crate::error::{Rejected, TaskError};
use crate::executor::Submit;
use crate::future::Future;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::task::Task;
use crate::wait::far_future;

use self::adaptive::ChunkSizer;
pub use self::options::MapOptions;

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

/// How [`Map`] sizes its chunks.
#[derive(Debug)]
enum Chunking {
    Fixed(usize),
    Adaptive(ChunkSizer),
}

/// The iterator returned by [`Submit::map`]: one outcome per task, in input order.
#[must_use = "a map cancels the tasks it has not started when dropped; iterate it to get the results"]
pub struct Map<'a, X: ?Sized, T: Task, I> {
    executor: &'a X,
    tasks: Option<I>,
    chunking: Chunking,
    /// Set when the map ends early (dropped, or past its deadline): the chunks it submitted
    /// skip their items that have not started, where the chunk runs in this process.
    stop: Arc<AtomicBool>,
    buffersize: Option<usize>,
    deadline: Option<Instant>,
    slots: VecDeque<Slot<T>>,
    current: OutcomesIter<T::Output, T::Error>,
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
        let buffersize = options.buffersize.map(NonZeroUsize::get);
        let chunking = match (options.chunksize, buffersize) {
            (Some(n), _) => Chunking::Fixed(n.get()),
            // A bound in chunks of changing size would not be a bound in items.
            (None, Some(_)) => Chunking::Fixed(1),
            (None, None) => {
                let workers = executor
                    .parallelism()
                    .or_else(|| std::thread::available_parallelism().ok())
                    .map_or(1, NonZeroUsize::get);
                let largest = adaptive::max_chunk(size_of::<T>(), size_of::<T::Output>());
                Chunking::Adaptive(ChunkSizer::new(workers, largest))
            }
        };
        // The chunks that will be in flight at once, as far as the input tells: at least its
        // lower bound (capped against a size hint that lies), at most `buffersize`. Reserving
        // them saves the buffer's regrowth while 100,000s of tasks are submitted. Adaptive
        // chunks are few: the buffer grows as needed.
        let in_flight = match chunking {
            Chunking::Fixed(chunksize) => tasks
                .size_hint()
                .0
                .div_ceil(chunksize)
                .min(buffersize.unwrap_or(usize::MAX))
                .min(MAX_RESERVED_SLOTS),
            Chunking::Adaptive(_) => 0,
        };
        let mut map = Map {
            executor,
            tasks: Some(tasks),
            chunking,
            stop: Arc::new(AtomicBool::new(false)),
            buffersize,
            deadline,
            slots: VecDeque::with_capacity(in_flight),
            current: OutcomesIter::default(),
            failing: None,
            finished: false,
        };
        let initial = map.buffersize.unwrap_or(usize::MAX);
        while map.slots.len() < initial && map.submit_next_chunk() {}
        map
    }

    /// Submits the next chunk of input; returns `false` when the input is exhausted or refused.
    fn submit_next_chunk(&mut self) -> bool {
        let submitted_at = self.now();
        let Some(tasks) = self.tasks.as_mut() else {
            return false;
        };
        let chunksize = match &self.chunking {
            Chunking::Fixed(n) => *n,
            Chunking::Adaptive(sizer) => sizer.next_len(tasks.size_hint().0),
        };
        // A chunk of one task goes as itself: no `Vec` is collected.
        let mut chunk = Vec::new();
        let single = if chunksize == 1 {
            tasks.next()
        } else {
            chunk.extend(tasks.by_ref().take(chunksize));
            if chunk.len() == 1 { chunk.pop() } else { None }
        };
        let submitted = match single {
            Some(task) => Submit::<T>::submit(self.executor, task)
                .map(|future| {
                    self.measure(&future, submitted_at, 1);
                    Slot::Single(future)
                })
                .map_err(|refused| (refused.into_parts().0, 1)),
            None if chunk.is_empty() => {
                self.tasks = None;
                return false;
            }
            None => {
                let len = chunk.len();
                let chunk = Chunk::stoppable(chunk, self.stop.clone());
                Submit::<Chunk<T>>::submit(self.executor, chunk)
                    .map(|future| {
                        self.measure(&future, submitted_at, len);
                        Slot::Submitted { future, len }
                    })
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

    /// The adaptive sizer's clock (0 with a fixed chunk size).
    fn now(&self) -> u64 {
        match &self.chunking {
            Chunking::Adaptive(sizer) => sizer.pace.now(),
            Chunking::Fixed(_) => 0,
        }
    }

    /// With an adaptive chunk size, reports the chunk's completion to the sizer.
    fn measure<A: Send + 'static, B: Send + 'static>(
        &self,
        future: &Future<A, B>,
        submitted: u64,
        len: usize,
    ) {
        if let Chunking::Adaptive(sizer) = &self.chunking {
            let pace = sizer.pace.clone();
            future.add_done_callback(move |done| {
                if !done.cancelled() {
                    pace.finished(submitted, len);
                }
            });
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
        self.stop.store(true, Ordering::Relaxed);
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
        self.stop.store(true, Ordering::Relaxed);
        for slot in self.slots.drain(..) {
            slot.cancel();
        }
    }
}

impl<X: ?Sized, T: Task, I> fmt::Debug for Map<'_, X, T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunks_in_flight", &self.slots.len())
            .field("chunking", &self.chunking)
            .field("buffersize", &self.buffersize)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
