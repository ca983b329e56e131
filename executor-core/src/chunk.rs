//! [`Chunk`]: several tasks travelling as one, and [`ChunkOutput`], their outcomes, kept
//! compact because `map` moves one per item between threads.

use std::collections::VecDeque;
use std::fmt;

use crate::error::TaskError;
use crate::panic::catch_panic;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::task::Task;

/// Several tasks run one after another as one unit: how [`Map`](crate::Map) batches items
/// (one queue item, or one message, per chunk).
///
/// Each item keeps its own outcome: a panicking or failing item does not affect the others.
/// A backend with per-task time limits or crash isolation must keep them per item too (see
/// [`MapOptions::chunksize`](crate::MapOptions::chunksize)): `concurrent-futures-process` runs a chunk
/// item by item in its worker instead of calling [`run`](Task::run) on the whole.
///
/// A chunk made by `map` carries the map's stop flag: when the map is dropped or passes its
/// deadline, [`run`](Task::run) skips the items that have not started, which yield
/// [`TaskError::Cancelled`]. The flag stays in this process: a chunk encoded for another
/// process (serde encodes a chunk as its `Vec` of tasks) runs to its end.
///
/// ```
/// use concurrent_futures::{Task, backend::Chunk};
///
/// let outcomes = Chunk::new(vec![|| 1, || 2]).run().unwrap();
/// assert_eq!(outcomes.into_iter().collect::<Vec<_>>(), vec![Ok(1), Ok(2)]);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Chunk<T> {
    tasks: Vec<T>,
    #[cfg_attr(feature = "serde", serde(skip))]
    stop: Option<Arc<AtomicBool>>,
}

impl<T> Chunk<T> {
    /// A chunk of `tasks`, run in order.
    pub fn new(tasks: Vec<T>) -> Self {
        Chunk { tasks, stop: None }
    }

    /// A chunk whose items after `stop` is set are skipped.
    pub(crate) fn stoppable(tasks: Vec<T>, stop: Arc<AtomicBool>) -> Self {
        Chunk {
            tasks,
            stop: Some(stop),
        }
    }

    /// Its tasks, in order.
    pub fn tasks(&self) -> &[T] {
        &self.tasks
    }

    /// Its tasks, in order, by value (the stop flag, if any, is dropped).
    pub fn into_tasks(self) -> Vec<T> {
        self.tasks
    }
}

impl<T: Clone> Clone for Chunk<T> {
    fn clone(&self) -> Self {
        Chunk {
            tasks: self.tasks.clone(),
            stop: self.stop.clone(),
        }
    }
}

/// Chunks are equal when their tasks are (the stop flag is not part of the work).
impl<T: PartialEq> PartialEq for Chunk<T> {
    fn eq(&self, other: &Self) -> bool {
        self.tasks == other.tasks
    }
}

impl<T: fmt::Debug> fmt::Debug for Chunk<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Chunk").field(&self.tasks).finish()
    }
}

/// What a [`Chunk`] of `T` produces: one outcome per item, in order.
pub type ChunkOutput<T> = Outcomes<<T as Task>::Output, <T as Task>::Error>;

impl<T: Task> Task for Chunk<T> {
    type Output = ChunkOutput<T>;
    type Error = std::convert::Infallible;

    fn run(self) -> Result<Self::Output, Self::Error> {
        let mut outcomes = Outcomes::with_capacity(self.tasks.len());
        let stop = self.stop;
        let mut tasks = self.tasks.into_iter();
        // One unwind guard for the whole run rather than one per item (a per-item guard cost
        // about a tenth of a trivial map's time); after a panic the run resumes with the next
        // item under a new guard.
        loop {
            let run = catch_panic(|| {
                for task in tasks.by_ref() {
                    if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                        outcomes.push(Err(TaskError::Cancelled));
                        continue;
                    }
                    outcomes.push(task.run().map_err(TaskError::Failed));
                }
            });
            match run {
                Ok(()) => return Ok(outcomes),
                Err(panic) => outcomes.push(Err(TaskError::Panicked(panic))),
            }
        }
    }
}

/// One outcome per item, in order, stored as the values of the items that succeeded plus the
/// errors of those that did not, with their positions: a successful item costs the size of its
/// value, not of a whole `Result` with a `TaskError` (48 bytes for a `u64` result), which is
/// what `map` moves between threads per item.
///
/// Build it with [`push`](Self::push) or `collect()`; read it with `into_iter()`.
///
/// ```
/// use concurrent_futures::{TaskError, backend::Outcomes};
///
/// let outcomes: Outcomes<u32, String> =
///     [Ok(1), Err(TaskError::Failed("no".to_string())), Ok(3)].into_iter().collect();
/// assert_eq!(outcomes.len(), 3);
/// let back: Vec<_> = outcomes.into_iter().collect();
/// assert_eq!(back, [Ok(1), Err(TaskError::Failed("no".to_string())), Ok(3)]);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Outcomes<O, E> {
    values: Vec<O>,
    /// `(position, error)`, positions increasing.
    errors: Vec<(usize, TaskError<E>)>,
}

impl<O, E> Outcomes<O, E> {
    /// Room for `capacity` successful items.
    pub fn with_capacity(capacity: usize) -> Self {
        Outcomes {
            values: Vec::with_capacity(capacity),
            errors: Vec::new(),
        }
    }

    /// Appends the next item's outcome.
    pub fn push(&mut self, outcome: Result<O, TaskError<E>>) {
        match outcome {
            Ok(value) => self.values.push(value),
            Err(error) => {
                let position = self.len();
                self.errors.push((position, error));
            }
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.values.len() + self.errors.len()
    }

    /// `true` if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<O, E> Default for Outcomes<O, E> {
    fn default() -> Self {
        Outcomes::with_capacity(0)
    }
}

impl<O, E> FromIterator<Result<O, TaskError<E>>> for Outcomes<O, E> {
    fn from_iter<I: IntoIterator<Item = Result<O, TaskError<E>>>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut outcomes = Outcomes::with_capacity(iter.size_hint().0);
        for outcome in iter {
            outcomes.push(outcome);
        }
        outcomes
    }
}

impl<O, E> IntoIterator for Outcomes<O, E> {
    type Item = Result<O, TaskError<E>>;
    type IntoIter = OutcomesIter<O, E>;

    fn into_iter(self) -> OutcomesIter<O, E> {
        OutcomesIter {
            position: 0,
            values: self.values.into_iter(),
            errors: self.errors.into(),
        }
    }
}

/// The iterator of [`Outcomes`]: each item's outcome, in order.
#[derive(Debug)]
pub struct OutcomesIter<O, E> {
    position: usize,
    values: std::vec::IntoIter<O>,
    errors: VecDeque<(usize, TaskError<E>)>,
}

impl<O, E> Iterator for OutcomesIter<O, E> {
    type Item = Result<O, TaskError<E>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let position = self.position;
        self.position += 1;
        if self.errors.front().is_some_and(|(at, _)| *at == position) {
            return self.errors.pop_front().map(|(_, error)| Err(error));
        }
        self.values.next().map(Ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.values.len() + self.errors.len();
        (left, Some(left))
    }
}

impl<O, E> ExactSizeIterator for OutcomesIter<O, E> {}

impl<O, E> Default for OutcomesIter<O, E> {
    fn default() -> Self {
        Outcomes::default().into_iter()
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_positions_of_errors_anywhere() {
        let all: Vec<Result<u8, TaskError<&str>>> = vec![
            Err(TaskError::Failed("first")),
            Ok(1),
            Ok(2),
            Err(TaskError::Cancelled),
            Err(TaskError::Failed("adjacent")),
            Ok(5),
            Err(TaskError::Failed("last")),
        ];
        let outcomes: Outcomes<u8, &str> = all.clone().into_iter().collect();
        assert_eq!(outcomes.len(), 7);
        let iter = outcomes.into_iter();
        assert_eq!(iter.len(), 7);
        assert_eq!(iter.collect::<Vec<_>>(), all);
    }

    #[test]
    fn a_panicking_item_does_not_stop_the_rest_of_the_chunk() {
        let tasks: Vec<Box<dyn FnOnce() -> u8 + Send>> = vec![
            Box::new(|| 1),
            Box::new(|| panic!("deliberate panic in a chunk item (unit test)")),
            Box::new(|| panic!("a second deliberate panic (unit test)")),
            Box::new(|| 4),
        ];
        let outcomes: Vec<_> = Chunk::new(tasks).run().unwrap().into_iter().collect();
        assert_eq!(outcomes.len(), 4);
        assert_eq!(outcomes[0], Ok(1));
        assert!(outcomes[1].as_ref().is_err_and(TaskError::is_panic));
        assert!(outcomes[2].as_ref().is_err_and(TaskError::is_panic));
        assert_eq!(outcomes[3], Ok(4));
    }

    #[test]
    fn a_stopped_chunk_skips_its_items() {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let tasks: Vec<Box<dyn FnOnce() -> u8 + Send>> = vec![
            Box::new(move || {
                flag.store(true, Ordering::Relaxed);
                1
            }),
            Box::new(|| 2),
        ];
        let outcomes: Vec<_> = Chunk::stoppable(tasks, stop)
            .run()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(outcomes, [Ok(1), Err(TaskError::Cancelled)]);
    }
}
