//! The adaptive chunk size of [`Map`](super::Map): how many items the next chunk carries,
//! from the pace the executor has shown this map so far.
//!
//! The pace is measured where every backend can measure it: in the done-callback of each
//! chunk, on whatever thread completes it. A chunk's contribution is the time from the later of
//! its submission and the previous completion to its own completion, so with several chunks in
//! flight the sum is the wall time during which this map had work finishing, and the pace is
//! that time per finished item (per worker, divided by the workers that ran in parallel: the
//! chunks come out up to that many times longer than the target, which only matters for
//! cancellation latency). Queueing behind other work inflates the pace, which makes chunks
//! smaller, the safe direction.

use std::time::{Duration, Instant};

use crate::sync::Arc;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// How long one chunk should take to run. A thread-pool hand-off costs about 0.3 µs and a
/// process or MPI round trip 10-150 µs, so a millisecond keeps per-chunk overhead to a few per
/// cent at worst, and bounds what runs on after a map is dropped to about that per worker.
pub(crate) const TARGET: Duration = Duration::from_millis(1);

/// Chunks per worker the known rest of the input is split into at least, so that the last
/// chunks do not leave workers idle while one works through a long chunk.
const CHUNKS_PER_WORKER: usize = 4;

/// The largest adaptive chunk, whatever the pace.
pub(crate) const MAX_CHUNK: usize = 1 << 16;

/// The most bytes a chunk's tasks, or its values, take in memory. Buffers under glibc's mmap
/// threshold (128 KiB) are recycled by the allocator; larger ones are mapped and unmapped each
/// time, and their page faults cost more than the chunking saves. A process pool's message, and
/// its shared record area, stay small too.
const MAX_CHUNK_BYTES: usize = 64 << 10;

/// The largest adaptive chunk of tasks of `task_size` bytes producing values of `value_size`.
pub(crate) fn max_chunk(task_size: usize, value_size: usize) -> usize {
    (MAX_CHUNK_BYTES / task_size.max(value_size).max(1)).clamp(16, MAX_CHUNK)
}

/// What the done-callbacks of a map's chunks report, shared with the map.
#[derive(Debug)]
pub(crate) struct Pace {
    origin: Instant,
    /// Nanoseconds (since `origin`) of the latest completion.
    last_done: AtomicU64,
    /// Summed nanoseconds of the finished chunks (see the module docs).
    busy: AtomicU64,
    /// Items of the finished chunks.
    items: AtomicU64,
    /// The largest chunk that has finished.
    largest: AtomicUsize,
}

impl Pace {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Pace {
            origin: Instant::now(),
            last_done: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            items: AtomicU64::new(0),
            largest: AtomicUsize::new(0),
        })
    }

    /// Now, as nanoseconds since `origin` (saturating after 584 years).
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A chunk of `len` items, submitted at `submitted` (from [`now`](Self::now)), finished.
    pub(crate) fn finished(&self, submitted: u64, len: usize) {
        self.finished_at(submitted, self.now(), len);
    }

    fn finished_at(&self, submitted: u64, now: u64, len: usize) {
        // Relaxed is enough: these are statistics; a late or torn view only sizes one chunk
        // a little differently.
        let previous = self.last_done.fetch_max(now, Ordering::Relaxed);
        let began = submitted.max(previous);
        self.busy
            .fetch_add(now.saturating_sub(began), Ordering::Relaxed);
        self.items.fetch_add(len as u64, Ordering::Relaxed);
        self.largest.fetch_max(len, Ordering::Relaxed);
    }
}

/// Chooses each chunk's size from a [`Pace`].
#[derive(Debug)]
pub(crate) struct ChunkSizer {
    pub(crate) pace: Arc<Pace>,
    workers: usize,
    /// From [`max_chunk`].
    largest: usize,
}

impl ChunkSizer {
    pub(crate) fn new(workers: usize, largest: usize) -> Self {
        ChunkSizer {
            pace: Pace::new(),
            workers: workers.max(1),
            largest: largest.max(1),
        }
    }

    /// The size of the next chunk, with at least `remaining` items of input left (0 when the
    /// input does not say).
    pub(crate) fn next_len(&self, remaining: usize) -> usize {
        let pace = &self.pace;
        let items = pace.items.load(Ordering::Relaxed);
        if items == 0 {
            // Nothing measured yet: one by one, so slow items are never batched blind.
            return 1;
        }
        let busy = pace.busy.load(Ordering::Relaxed).max(1);
        let by_time = u128::from(items) * TARGET.as_nanos() / u128::from(busy);
        let by_time = usize::try_from(by_time).unwrap_or(usize::MAX);
        let by_growth = pace.largest.load(Ordering::Relaxed).saturating_mul(2);
        let by_balance = match remaining {
            0 => usize::MAX,
            n => n / (CHUNKS_PER_WORKER * self.workers),
        };
        by_time
            .min(by_growth)
            .min(by_balance)
            .clamp(1, self.largest)
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;

    /// A sizer whose pace says `items` finished in `busy`, the largest chunk being `largest`.
    fn measured(items: u64, busy: Duration, largest: usize) -> ChunkSizer {
        let sizer = ChunkSizer::new(2, MAX_CHUNK);
        sizer.pace.items.store(items, Ordering::Relaxed);
        sizer
            .pace
            .busy
            .store(busy.as_nanos() as u64, Ordering::Relaxed);
        sizer.pace.largest.store(largest, Ordering::Relaxed);
        sizer
    }

    #[test]
    fn one_by_one_until_something_finished() {
        let sizer = ChunkSizer::new(2, MAX_CHUNK);
        assert_eq!(sizer.next_len(1_000_000), 1);
    }

    #[test]
    fn slow_items_stay_single() {
        // 10 items took 50 ms: 5 ms each, longer than the target.
        let sizer = measured(10, Duration::from_millis(50), 1);
        assert_eq!(sizer.next_len(1_000_000), 1);
    }

    #[test]
    fn fast_items_grow_at_most_twice_the_largest_finished_chunk() {
        // 1,000 items in 10 µs: 10 ns each, the target would take 100,000.
        let sizer = measured(1000, Duration::from_micros(10), 64);
        assert_eq!(sizer.next_len(0), 128);
    }

    #[test]
    fn the_target_duration_sizes_medium_items() {
        // 100 items in 1 ms: 10 µs each, so a 1 ms chunk holds 100.
        let sizer = measured(100, Duration::from_millis(1), 10_000);
        assert_eq!(sizer.next_len(0), 100);
    }

    #[test]
    fn the_rest_of_the_input_is_split_four_ways_per_worker() {
        let sizer = measured(1_000_000, Duration::from_micros(1), 1 << 20);
        assert_eq!(sizer.next_len(8_000), 1_000, "8,000 left, 2 workers");
        assert_eq!(sizer.next_len(5), 1, "never below one");
        assert_eq!(sizer.next_len(0), MAX_CHUNK, "unknown rest: the cap");
    }

    #[test]
    fn chunks_hold_at_most_64_kib_of_tasks_or_values() {
        assert_eq!(max_chunk(8, 8), 8192);
        assert_eq!(max_chunk(16, 48), 1365);
        assert_eq!(max_chunk(0, 0), MAX_CHUNK, "zero-sized: the count cap");
        assert_eq!(
            max_chunk(1 << 20, 8),
            16,
            "huge tasks: still a few per chunk"
        );
    }

    #[test]
    fn finished_chunks_in_flight_together_count_wall_time_once() {
        let pace = Pace::new();
        // Two chunks submitted at 1,000 ns, finishing at 3,000 and 3,500 ns; then one
        // submitted after both finished, at 10,000 ns, finishing at 10,400 ns.
        pace.finished_at(1_000, 3_000, 10);
        pace.finished_at(1_000, 3_500, 10);
        pace.finished_at(10_000, 10_400, 5);
        // The second chunk counts from the first one's completion, the third from its own
        // submission (the pool was idle between).
        assert_eq!(pace.busy.load(Ordering::Relaxed), 2_000 + 500 + 400);
        assert_eq!(pace.items.load(Ordering::Relaxed), 25);
        assert_eq!(pace.largest.load(Ordering::Relaxed), 10);
    }
}
