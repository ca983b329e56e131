//! [`MapOptions`]: how [`Submit::map`](crate::Submit::map) batches, bounds and times its work.

use std::num::NonZeroUsize;
use std::time::Duration;

/// Options of [`Submit::map`](crate::Submit::map).
///
/// By default the chunk size adapts to the work (see [`chunksize`](Self::chunksize)); pass a
/// fixed one to choose it yourself.
///
/// ```
/// use concurrent_futures::MapOptions;
/// use std::time::Duration;
///
/// assert_eq!(MapOptions::new().get_chunksize(), None, "adaptive by default");
/// let options = MapOptions::new().chunksize(64).buffersize(4).timeout(Duration::from_secs(5));
/// assert_eq!(options.get_chunksize(), Some(64));
/// ```
#[must_use = "options do nothing until passed to `map`"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapOptions {
    pub(super) timeout: Option<Duration>,
    /// `None`: adaptive.
    pub(super) chunksize: Option<NonZeroUsize>,
    pub(super) buffersize: Option<NonZeroUsize>,
}

impl MapOptions {
    /// No deadline, an adaptive chunk size, everything submitted at once.
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
    /// Without this option the size adapts, as joblib's `batch_size="auto"` does: items go one
    /// by one until the first of them finishes, then each chunk is sized from the pace measured
    /// so far to take about a millisecond, never more than twice the largest chunk that has
    /// finished, and small enough that the known rest of the input still makes four chunks
    /// per worker ([`Executor::parallelism`](crate::Executor::parallelism)). Slow items (a
    /// millisecond or more) therefore always go one by one, and trivial ones in chunks of
    /// thousands. With a [`buffersize`](Self::buffersize) and no chunk size, items go one by
    /// one (Python's rule), so the bound stays in items.
    ///
    /// The chunk size changes how tasks travel, not what happens to each of them: every task
    /// yields its own outcome, in input order, and a failing or panicking task does not affect
    /// the others. Backends with per-task time limits or crash isolation keep them per item
    /// too: on the process pool a time limit applies to each item, and a crash or an expiry
    /// fails only the item that was running (`WorkerLost`, `Expired`), while the chunk's
    /// finished items keep their results and its remaining items still run. On the MPI pool a
    /// chunk is one message, so a lost worker fails the items of its chunk.
    ///
    /// # Panics
    /// If `chunksize` is zero.
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = Some(NonZeroUsize::new(chunksize).expect("chunksize must be at least 1"));
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

    /// The fixed chunk size, or `None` when it adapts to the work.
    pub fn get_chunksize(&self) -> Option<usize> {
        self.chunksize.map(NonZeroUsize::get)
    }
}
