//! A chunk of `map` as the parent tracks it: which items already have outcomes, so that a worker
//! dying in the middle of a chunk fails only the item it was running.
//!
//! A chunk travels as one job (one message, one payload: the encoded `Vec` of its tasks). The
//! worker runs its items one by one and commits each encoded outcome to the progress page's
//! record area (see `protocol.rs`); normally the chunk's `Done` then carries every outcome at
//! once. When the worker dies (crash, expiry) during the chunk, the parent:
//!
//! 1. adopts the records the page says are committed: never more than the committed count and
//!    byte length, bounds-checked against the area and the chunk, read only after the worker
//!    was reaped (so nothing writes them any more);
//! 2. records the running item's failure (`WorkerLost`, `Expired`) as that item's outcome;
//! 3. re-queues the same job with the next item as its `start`: the remaining items run on
//!    another worker, and their outcomes are stitched after the ones already held.
//!
//! The chunk's future completes once, with every item's outcome in order. Outcomes are kept
//! encoded throughout: `varint(count)` followed by the per-item records is exactly the encoding
//! of the chunk's `Vec` of outcomes, which the chunk's registry entry decodes as before.

use crate::protocol::{Payload, Progress, Reply};
use crate::registry::ItemFailure;

/// What the parent holds of a chunk in flight.
#[derive(Debug)]
pub(crate) struct ChunkState {
    /// How many items the chunk holds.
    len: usize,
    /// Items `0..done` have their outcomes in `records`.
    done: usize,
    /// The `start` of the chunk's current (or last) run.
    run_start: usize,
    /// The outcomes of items `0..done`, encoded one after another.
    records: Vec<u8>,
}

impl ChunkState {
    /// The state of a chunk whose encoded tasks are `payload` (a `Vec`: its length first);
    /// `None` if the payload does not start with a length.
    pub(crate) fn new(payload: &[u8]) -> Option<ChunkState> {
        let (len, _) = read_varint(payload)?;
        Some(ChunkState {
            len: usize::try_from(len).ok()?,
            done: 0,
            run_start: 0,
            records: Vec::new(),
        })
    }

    /// A run of the chunk is sent: the position of its first item, for the worker.
    pub(crate) fn begin_run(&mut self) -> u32 {
        self.run_start = self.done;
        u32::try_from(self.done).unwrap_or(u32::MAX)
    }

    /// `count` outcomes the worker sent early (`FromWorker::Items`); ignored if there cannot be
    /// that many items left.
    pub(crate) fn on_items(&mut self, count: u32, records: &[u8]) -> bool {
        let count = count as usize;
        if count > self.len - self.done {
            return false;
        }
        self.done += count;
        self.records.extend_from_slice(records);
        true
    }

    /// The worker died running this chunk: adopts the outcomes its progress page says it
    /// committed beyond those already held, then records `failure` for the item it was running.
    ///
    /// Only what the committed pair covers is read, and only if it is consistent: at most the
    /// chunk's remaining items, at most the record area. Anything else (a corrupt worker) adopts
    /// nothing; the items then run again.
    pub(crate) fn on_worker_death(&mut self, progress: &Progress, failure: ItemFailure) {
        let (items, bytes) = progress.committed();
        let committed = self.run_start.saturating_add(items as usize);
        if committed > self.done && committed <= self.len {
            // SAFETY: the worker was reaped (this runs in `on_worker_exit`), so nothing writes
            // the record area while the slice lives.
            if let Some(records) = unsafe { progress.records(bytes) } {
                self.records.extend_from_slice(records);
                self.done = committed;
            }
        }
        if self.done < self.len {
            self.records.extend_from_slice(&failure.record());
            self.done += 1;
        }
    }

    /// Whether every item has its outcome.
    pub(crate) fn is_complete(&self) -> bool {
        self.done >= self.len
    }

    /// Whether some items already have their outcomes (a reply must then be stitched on).
    pub(crate) fn has_outcomes(&self) -> bool {
        self.done > 0
    }

    /// The chunk's outcome, once complete: every item's outcome, encoded as the chunk's `Vec`.
    pub(crate) fn into_reply(self) -> Reply {
        let mut bytes = Vec::with_capacity(self.records.len() + 10);
        write_varint(&mut bytes, self.done as u64);
        bytes.extend_from_slice(&self.records);
        Reply::Value(Payload::Inline(crate::bytes::Bytes(bytes)))
    }

    /// The chunk's outcome from the worker's reply to its last run (the outcomes of items
    /// `start..`) and the outcomes held of the items before.
    pub(crate) fn stitch(self, reply: Reply) -> Reply {
        if self.done == 0 {
            return reply;
        }
        let Reply::Value(payload) = reply else {
            return reply; // the run failed as a whole (it did not decode): so does the chunk
        };
        let Ok(bytes) = payload.bytes(None) else {
            return Reply::Value(payload);
        };
        let Some((count, prefix)) = read_varint(bytes) else {
            return Reply::Value(payload); // decoding it reports the corruption
        };
        let mut stitched = Vec::with_capacity(self.records.len() + bytes.len() + 10);
        write_varint(&mut stitched, self.done as u64 + count);
        stitched.extend_from_slice(&self.records);
        stitched.extend_from_slice(&bytes[prefix..]);
        // Decoded here, never sent: no need for shared memory however large.
        Reply::Value(Payload::Inline(crate::bytes::Bytes(stitched)))
    }
}

/// Appends `value` as postcard's varint (LEB128), how a `Vec`'s length is encoded.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint at the start of `bytes`, and how many bytes it takes.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_postcard() {
        for n in [0usize, 1, 127, 128, 300, 1 << 20] {
            let vec = vec![7u8; n];
            let encoded = postcard::to_allocvec(&vec).unwrap();
            let mut ours = Vec::new();
            write_varint(&mut ours, n as u64);
            assert_eq!(encoded[..ours.len()], ours[..], "{n}");
            assert_eq!(read_varint(&encoded), Some((n as u64, ours.len())));
        }
    }

    #[test]
    fn outcomes_stitch_into_the_chunks_encoding() {
        // Items 0 and 1 held (one of them recorded by the parent), items 2.. from the reply.
        let payload = postcard::to_allocvec(&vec![10u64, 11, 12, 13]).unwrap();
        let mut state = ChunkState::new(&payload).unwrap();
        assert_eq!(state.begin_run(), 0);
        state.on_items(1, &postcard::to_allocvec(&5u64).unwrap());
        let failure = ItemFailure::Expired(std::time::Duration::from_secs(1));
        state.records.extend_from_slice(&failure.record());
        state.done += 1;
        assert_eq!(state.begin_run(), 2);
        let rest = postcard::to_allocvec(&vec![7u64, 8]).unwrap();
        let Reply::Value(stitched) =
            state.stitch(Reply::Value(Payload::Inline(crate::bytes::Bytes(rest))))
        else {
            panic!("a value");
        };
        let bytes = stitched.bytes(None).unwrap();
        assert_eq!(read_varint(bytes), Some((4, 1)));
    }
}
