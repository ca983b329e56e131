//! The messages between the parent and a worker, and how their byte payloads travel.
//!
//! One socket pair per worker, made by the parent before it starts the worker, whose end is
//! the worker's standard input: nothing to connect to, so no other process can join (see
//! `spawn.rs`), and no descriptor per task. Messages travel as frames (`frame.rs`):
//!
//! ```text
//! parent                                   worker
//!   |  Setup{progress page, rings, init} ->|  (sent at once; read when `init()` runs)
//!   |  <---------------- Ready{pid, init}    |  (the last message on the socket alone)
//!   |  Run[job, job, ...] ------------------>|  (a batch when the queue is deep)
//!   |  <-------------------- Done{id, reply} |  (one per task, in batch order)
//!   |  Exit -------------------------------->|
//! ```
//!
//! Payloads are opaque bytes (encoded by `codec.rs`); small ones ride inline in the message, large
//! ones go through shared memory (each direction keeps a reusable [`Arena`]; its region is
//! attached to the message that first uses it), so a large argument never fills the socket and
//! never blocks a send. A payload too large for the arena travels in a region of its own, sealed
//! against writes.
//!
//! The progress page is a small shared-memory region where the worker records the id of the task
//! it starts. When a worker dies, the parent reads it to know exactly which task was running:
//! that one fails, the others of its batch go back to the queue. For a chunk of `map` it also
//! holds each finished item's encoded outcome, how many items are committed and when the
//! running item started (see [`Progress`]): a crash or an expiry fails only that item.
//!
//! ```text
//!   |  Run[chunk job (start)] ------------->|  items run one by one, each outcome committed
//!   |  <------ Items{id, count, records}    |  (only when the page's record area is full)
//!   |  <--------------- Done{id, records}   |  one message for the rest of the chunk
//! ```
//!
//! What the parent trusts a worker with, and what it checks, is in ARCHITECTURE.md ("The
//! transport, and what the parent trusts"): every frame, descriptor, region, id and count is
//! checked (`frame.rs`, `shared/events.rs`); the bytes of a task's own outcome are the worker's word.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use concurrent_futures_core::CodecError;
use serde::ser::{SerializeStruct, SerializeStructVariant};
use serde::{Deserialize, Serialize, Serializer};

use crate::arena::{Arena, MAX_ARENA};
use crate::bytes::Bytes;
use crate::frame::{self, Attached, Descriptors, Message, WireError};
use crate::link::SentJob;
use crate::sys::{self, Access, Region};

/// Bumped whenever a message changes shape; checked in the handshake.
pub(crate) const PROTOCOL_VERSION: u32 = 4;

/// Payloads at least this large travel in shared memory instead of inline.
pub(crate) const SHARED_MEMORY_THRESHOLD: usize = 32 * 1024;

/// A batch stops growing once its inline payloads reach this many bytes, which keeps every
/// message well below the socket buffer: a send to an idle worker never blocks.
pub(crate) const BATCH_INLINE_BYTES: usize = 96 * 1024;

/// A batch stops growing once all its payloads reach this many bytes (which bounds the arena).
pub(crate) const BATCH_BYTES: usize = 16 << 20;

/// Parent to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The first message: the shared state, and what to run first.
    Setup(Setup),
    /// Tasks to run in order, reporting each result as soon as it is ready.
    Run {
        /// The batch's generation on the progress page: the worker claims each task there
        /// before starting it.
        generation: u32,
        /// A new arena for [`Payload::Arena`] payloads, replacing the previous one.
        arena: Option<Attached>,
        /// The tasks.
        jobs: Vec<JobMessage>,
    },
    /// Finish: exit once this message is read.
    Exit,
}

/// [`ToWorker::Run`] as the parent sends a batch whose tasks all travel inline: it borrows each
/// encoded task where the pool keeps it instead of copying it into a [`JobMessage`] first, and
/// encodes exactly as the owned message (`tests::an_inline_run_encodes_as_the_owned_message`),
/// so the worker decodes a `ToWorker`.
pub(crate) struct InlineRun<'a> {
    /// As in [`ToWorker::Run`].
    pub(crate) generation: u32,
    /// The tasks, each payload below [`SHARED_MEMORY_THRESHOLD`].
    pub(crate) jobs: &'a [SentJob],
}

/// `ToWorker::Run`'s variant index: postcard numbers variants in declaration order.
const RUN_VARIANT: u32 = 1;

impl Serialize for InlineRun<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Jobs<'a>(&'a [SentJob]);
        struct Job<'a>(&'a SentJob);
        struct Inline<'a>(&'a [u8]);
        struct ByteString<'a>(&'a [u8]);
        impl Serialize for Jobs<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(Job))
            }
        }
        impl Serialize for Job<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let (id, entry, chunk, payload) = self.0;
                let mut job = serializer.serialize_struct("JobMessage", 4)?;
                job.serialize_field("id", id)?;
                job.serialize_field("entry", entry)?;
                job.serialize_field("chunk", chunk)?;
                job.serialize_field("payload", &Inline(payload))?;
                job.end()
            }
        }
        impl Serialize for Inline<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // `Payload::Inline(Bytes)`: variant 0, a byte string.
                serializer.serialize_newtype_variant("Payload", 0, "Inline", &ByteString(self.0))
            }
        }
        impl Serialize for ByteString<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }
        let mut run = serializer.serialize_struct_variant("ToWorker", RUN_VARIANT, "Run", 3)?;
        run.serialize_field("generation", &self.generation)?;
        run.serialize_field("arena", &None::<Attached>)?;
        run.serialize_field("jobs", &Jobs(self.jobs))?;
        run.end()
    }
}

/// What a worker needs to start.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// [`PROTOCOL_VERSION`] of the parent.
    pub(crate) protocol: u32,
    /// The parent's task-registry fingerprint; the worker refuses to run on a mismatch.
    pub(crate) fingerprint: u64,
    /// The progress page (see the module docs).
    pub(crate) progress: Attached,
    /// The region of the connection's two rings (`ring.rs`), used once the worker is ready.
    pub(crate) rings: Attached,
    /// A task to run once before anything else.
    pub(crate) initializer: Option<JobMessage>,
    /// How long to poll for the next message before blocking, in microseconds.
    pub(crate) spin_micros: u64,
}

/// One task on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JobMessage {
    /// The parent's id for it.
    pub(crate) id: u64,
    /// Its index in the task registry (identical in both processes: the fingerprint says so).
    pub(crate) entry: u32,
    /// For a chunk of `map`: how to run it. `None` for other tasks.
    pub(crate) chunk: Option<ChunkRun>,
    /// The encoded task.
    pub(crate) payload: Payload,
}

/// How a worker runs a chunk of `map`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ChunkRun {
    /// The first item to run (the items before it already have their outcomes in the parent).
    pub(crate) start: u32,
    /// Whether the chunk has a time limit: only then does the worker stamp each item's start
    /// (a clock reading per item is a cost worth paying only when someone looks at it).
    pub(crate) timed: bool,
}

/// Worker to parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// Set up; the initializer's outcome if there was one.
    Ready {
        /// The worker's pid, as it sees it.
        pid: u32,
        /// What the initializer returned.
        initializer: Option<Reply>,
    },
    /// The worker cannot serve this parent (protocol or registry mismatch); it exits.
    Refused {
        /// Why.
        reason: String,
    },
    /// A task's outcome.
    Done {
        /// The task's id.
        id: u64,
        /// Its outcome.
        reply: Reply,
        /// A new arena for results, replacing the previous one.
        arena: Option<Attached>,
    },
    /// The next `count` item outcomes of the chunk `id` is running, sent early because the
    /// progress page's record area is full (the chunk's `Done` carries the rest).
    Items {
        /// The chunk's task id.
        id: u64,
        /// How many items `records` holds.
        count: u32,
        /// Their encoded outcomes, one after another.
        records: Payload,
    },
}

/// What became of one task in the worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// The encoded outcome (value, the task's own error, or its panic).
    Value(Payload),
    /// The task could not be run or its outcome could not be encoded.
    Failed(RemoteFailure),
}

/// A failure in the worker around the task rather than in it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RemoteFailure {
    /// The task did not decode, or its outcome did not encode.
    Codec(CodecError),
    /// The worker has no task at this registry index.
    UnknownTask {
        /// The index it was asked for.
        index: u32,
    },
}

/// Encoded bytes, inline or in shared memory.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Payload {
    /// Small: copied into the message.
    Inline(Bytes),
    /// Large: a region of its own, sealed against writes.
    Shared(Attached),
    /// Large: a range of the sender's current arena for this direction.
    Arena {
        /// Where it starts.
        offset: u64,
        /// How long it is.
        len: u64,
    },
}

impl Payload {
    /// Wraps `bytes`, moving them to shared memory if they are large.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> io::Result<Payload> {
        if bytes.len() >= SHARED_MEMORY_THRESHOLD {
            Payload::from_slice(&bytes)
        } else {
            Ok(Payload::Inline(Bytes(bytes)))
        }
    }

    /// Copies `bytes` into a payload.
    pub(crate) fn from_slice(bytes: &[u8]) -> io::Result<Payload> {
        if bytes.len() >= SHARED_MEMORY_THRESHOLD {
            Ok(Payload::Shared(Attached::Outgoing(Region::sealed_copy(
                bytes,
            )?)))
        } else {
            Ok(Payload::Inline(Bytes(bytes.to_vec())))
        }
    }

    /// The bytes of a received payload; `arena` is the receiver's copy of the sender's current
    /// arena.
    ///
    /// For [`Payload::Arena`] this relies on the arena protocol (see `arena.rs`): the sender
    /// does not write the range until the receiver has answered the message that carried it.
    pub(crate) fn bytes<'a>(&'a self, arena: Option<&'a Arena>) -> Result<&'a [u8], String> {
        match self {
            Payload::Inline(bytes) => Ok(bytes),
            Payload::Shared(attached) => match attached.region() {
                // SAFETY: payload regions are adopted as `Access::Frozen`: sealed against
                // writes, their bytes never change.
                Some(region) => Ok(unsafe { region.bytes() }),
                None => Err("a payload region that was not received".to_string()),
            },
            Payload::Arena { offset, len } => {
                let arena = arena.ok_or("a payload refers to an arena that was never sent")?;
                let (offset, len) = (*offset as usize, *len as usize);
                // SAFETY: the arena protocol (module docs of `arena.rs`) keeps the sender from
                // writing this range until this message is answered, after the slice is gone.
                unsafe { arena.read(offset, len) }
                    .ok_or_else(|| "a payload lies outside its arena".to_string())
            }
        }
    }

    fn detach(&mut self, out: &mut Vec<OwnedFd>) -> Result<(), WireError> {
        match self {
            Payload::Shared(attached) => attached.detach(out),
            Payload::Inline(_) | Payload::Arena { .. } => Ok(()),
        }
    }

    fn attach(&mut self, received: &mut Descriptors) -> Result<(), String> {
        match self {
            Payload::Shared(attached) => {
                attached.attach(received, Access::Frozen, frame::max_payload())
            }
            Payload::Inline(_) | Payload::Arena { .. } => Ok(()),
        }
    }
}

impl Reply {
    fn payload(&mut self) -> Option<&mut Payload> {
        match self {
            Reply::Value(payload) => Some(payload),
            Reply::Failed(_) => None,
        }
    }
}

/// The largest arena a peer may attach: [`Arena::with_room_for`] never makes a larger one.
const MAX_ATTACHED_ARENA: usize = MAX_ARENA.next_power_of_two();

impl Message for ToWorker {
    fn detach(&mut self, out: &mut Vec<OwnedFd>) -> Result<(), WireError> {
        match self {
            ToWorker::Setup(setup) => {
                setup.progress.detach(out)?;
                setup.rings.detach(out)?;
                if let Some(job) = &mut setup.initializer {
                    job.payload.detach(out)?;
                }
            }
            ToWorker::Run { arena, jobs, .. } => {
                if let Some(arena) = arena {
                    arena.detach(out)?;
                }
                for job in jobs {
                    job.payload.detach(out)?;
                }
            }
            ToWorker::Exit => {}
        }
        Ok(())
    }

    fn attach(&mut self, received: &mut Descriptors) -> Result<(), String> {
        match self {
            ToWorker::Setup(setup) => {
                setup
                    .progress
                    .attach(received, Access::ReadWrite, PROGRESS_PAGE)?;
                setup
                    .rings
                    .attach(received, Access::ReadWrite, crate::ring::RINGS_REGION)?;
                if let Some(job) = &mut setup.initializer {
                    job.payload.attach(received)?;
                }
            }
            ToWorker::Run { arena, jobs, .. } => {
                if let Some(arena) = arena {
                    arena.attach(received, Access::Read, MAX_ATTACHED_ARENA)?;
                }
                for job in jobs {
                    job.payload.attach(received)?;
                }
            }
            ToWorker::Exit => {}
        }
        Ok(())
    }
}

impl Message for FromWorker {
    fn detach(&mut self, out: &mut Vec<OwnedFd>) -> Result<(), WireError> {
        match self {
            FromWorker::Ready { initializer, .. } => {
                if let Some(payload) = initializer.as_mut().and_then(Reply::payload) {
                    payload.detach(out)?;
                }
            }
            FromWorker::Refused { .. } => {}
            FromWorker::Done { reply, arena, .. } => {
                if let Some(arena) = arena {
                    arena.detach(out)?;
                }
                if let Some(payload) = reply.payload() {
                    payload.detach(out)?;
                }
            }
            FromWorker::Items { records, .. } => records.detach(out)?,
        }
        Ok(())
    }

    fn attach(&mut self, received: &mut Descriptors) -> Result<(), String> {
        match self {
            FromWorker::Ready { initializer, .. } => {
                if let Some(payload) = initializer.as_mut().and_then(Reply::payload) {
                    payload.attach(received)?;
                }
            }
            FromWorker::Refused { .. } => {}
            FromWorker::Done { reply, arena, .. } => {
                if let Some(arena) = arena {
                    arena.attach(received, Access::Read, MAX_ATTACHED_ARENA)?;
                }
                if let Some(payload) = reply.payload() {
                    payload.attach(received)?;
                }
            }
            FromWorker::Items { records, .. } => records.attach(received)?,
        }
        Ok(())
    }
}

/// The progress page, shared by the parent and one worker, only accessed through atomics:
///
/// - `started`: the id of the task the worker started last (0: none yet). After a crash it
///   names the task that was running.
/// - `claims`: which tasks of the current batch the worker may still start. It packs the
///   batch's generation (32 bits), the next position the worker will claim (16 bits) and the
///   limit it may not claim (16 bits). The worker claims each position but the first before
///   starting it (the first is never taken back; see [`Progress::begin_batch`]); the
///   parent takes back unclaimed positions by lowering the limit (work stealing, interrupts of
///   tasks that are queued inside a batch). Both sides use compare-and-swap, so a position is
///   either run by the worker or taken back by the parent, never both.
/// - `committed` (chunks of `map` only, reset by the worker before it claims a chunk as
///   started): how many of the chunk's items finished in this run (high 32 bits) and how many
///   bytes of the record area their outcomes fill (low 32 bits). The worker writes an item's
///   encoded outcome after the previous ones, then publishes the new pair in one store.
/// - `running`: when the running item of the chunk started, in microseconds of the monotonic
///   clock (low 48 bits), tagged with its position in the run plus one (high 16 bits) so the
///   parent can tell a stamp of the running item from a stale one.
/// - the record area, from byte [`HEADER`] to the end: item outcomes, written only by the
///   worker. The parent reads it only after the worker is dead (reaped), never while it runs,
///   and only the `committed` bytes, bounds-checked.
#[derive(Debug)]
pub(crate) struct Progress {
    memory: Region,
    base: *const AtomicU64,
    /// The record area: `records_len` bytes after the header.
    records: *mut u8,
    records_len: usize,
}

// SAFETY: `base` and `records` point into the mapping owned by `memory`, which lives as long as
// `self`; every access to the header is atomic, and who writes or reads the record area when is
// the protocol in the type's docs (the worker writes, the parent reads only after its death).
unsafe impl Send for Progress {}
// SAFETY: as above.
unsafe impl Sync for Progress {}

/// The progress page's atomic words, before the record area.
const HEADER: usize = 64;

/// The record area's size: a chunk's outcomes beyond it travel in [`FromWorker::Items`].
pub(crate) const RECORD_AREA: usize = 256 * 1024;

/// The progress page's size.
const PROGRESS_PAGE: usize = HEADER + RECORD_AREA;

const WORDS: usize = 4;
const STARTED: usize = 0;
const CLAIMS: usize = 1;
const COMMITTED: usize = 2;
const RUNNING: usize = 3;
const MICROS_MASK: u64 = (1 << 48) - 1;

/// [`sys::coarse_resolution_micros`], asked once.
fn coarse_lag_micros() -> u64 {
    static LAG: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LAG.get_or_init(sys::coarse_resolution_micros)
}

/// The most tasks a batch may hold (positions are 16 bits).
pub(crate) const MAX_BATCH: usize = u16::MAX as usize;

fn pack(generation: u32, next: u32, limit: u32) -> u64 {
    (u64::from(generation) << 32) | (u64::from(next & 0xFFFF) << 16) | u64::from(limit & 0xFFFF)
}

fn unpack(word: u64) -> (u32, u32, u32) {
    (
        (word >> 32) as u32,
        ((word >> 16) & 0xFFFF) as u32,
        (word & 0xFFFF) as u32,
    )
}

impl Progress {
    /// A fresh page, for the parent to send in [`Setup`].
    pub(crate) fn new() -> io::Result<Progress> {
        let memory = Region::new(PROGRESS_PAGE)?;
        Ok(Progress::from_region(memory).expect("a new region holds the progress page"))
    }

    /// Adopts a received page; `None` if it is too small to hold one.
    pub(crate) fn from_region(memory: Region) -> Option<Progress> {
        // Only raw pointers are kept: the header is accessed through the atomics below, and the
        // record area only through `write_record` and `records`, whose callers uphold the
        // protocol.
        let pointer = memory.as_ptr();
        let len = memory.len();
        if len < HEADER || (pointer as usize) % align_of::<AtomicU64>() != 0 {
            return None;
        }
        Some(Progress {
            base: pointer.cast::<AtomicU64>(),
            // SAFETY: `HEADER <= len`, so this stays within (or one past the end of) the mapping.
            records: unsafe { pointer.add(HEADER) },
            records_len: len - HEADER,
            memory,
        })
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        const { assert!(WORDS * size_of::<AtomicU64>() <= HEADER) };
        debug_assert!(index < WORDS);
        // SAFETY: `base` is valid and aligned for two atomics (checked in `from_memory`), lives
        // as long as `self`, and is only accessed atomically.
        unsafe { &*self.base.add(index) }
    }

    /// The region, to send to the worker.
    pub(crate) fn share(&self) -> io::Result<Attached> {
        self.memory.share().map(Attached::Outgoing)
    }

    /// Worker: records that task `id` starts now.
    pub(crate) fn set_started(&self, id: u64) {
        self.word(STARTED).store(id, Ordering::Release);
    }

    /// The id of the task started last.
    pub(crate) fn started(&self) -> u64 {
        self.word(STARTED).load(Ordering::Acquire)
    }

    /// Parent, worker idle: batch `generation` of `len` tasks is about to be sent.
    ///
    /// Position 0 is the worker's from the start: nothing takes it back (stealing takes from
    /// position 1 on, see `take_back`), so the worker starts it without a claim, and a batch of
    /// one task needs no call here at all. That keeps the page's cache line out of a single
    /// round trip's path: the parent does not write it, the worker does not swap it.
    pub(crate) fn begin_batch(&self, generation: u32, len: usize) {
        debug_assert!((2..=MAX_BATCH).contains(&len));
        self.word(CLAIMS)
            .store(pack(generation, 1, len as u32), Ordering::Release);
    }

    /// Worker: claims `position` of batch `generation`; `false` if the parent took it back
    /// (or a newer batch replaced this one): then the rest of the batch is not the worker's.
    pub(crate) fn claim(&self, generation: u32, position: u32) -> bool {
        let claims = self.word(CLAIMS);
        let mut word = claims.load(Ordering::Acquire);
        loop {
            let (g, next, limit) = unpack(word);
            if g != generation || next != position || position >= limit {
                return false;
            }
            match claims.compare_exchange_weak(
                word,
                pack(g, next + 1, limit),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Parent: the next position the worker will claim in batch `generation` (positions below
    /// it were claimed), or `None` if another batch is current.
    #[cfg(test)]
    pub(crate) fn next_claim(&self, generation: u32) -> Option<u32> {
        let (g, next, _) = unpack(self.word(CLAIMS).load(Ordering::Acquire));
        (g == generation).then_some(next)
    }

    /// Parent: takes back every unclaimed position of batch `generation` from `from` on.
    /// Returns the new limit: positions at or above it will not run in the worker. `None` if
    /// nothing was taken.
    pub(crate) fn take_back(&self, generation: u32, from: u32) -> Option<u32> {
        let claims = self.word(CLAIMS);
        let mut word = claims.load(Ordering::Acquire);
        loop {
            let (g, next, limit) = unpack(word);
            let new_limit = next.max(from);
            if g != generation || new_limit >= limit {
                return None;
            }
            match claims.compare_exchange_weak(
                word,
                pack(g, next, new_limit),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(new_limit),
                Err(actual) => word = actual,
            }
        }
    }

    // ---- chunks of `map` --------------------------------------------------------------------

    /// The record area's size.
    pub(crate) fn record_area(&self) -> usize {
        self.records_len
    }

    /// Worker, before claiming a chunk as started: nothing of it is committed yet.
    pub(crate) fn begin_items(&self) {
        self.word(COMMITTED).store(0, Ordering::Release);
        self.word(RUNNING).store(0, Ordering::Release);
    }

    /// Worker: the item at `position` of this run (0: the run's first) starts now.
    pub(crate) fn item_started(&self, position: u32) {
        let tag = u64::from(position.wrapping_add(1) & 0xFFFF) << 48;
        self.word(RUNNING).store(
            tag | (sys::coarse_micros() & MICROS_MASK),
            Ordering::Release,
        );
    }

    /// Worker: copies `record` to `offset` of the record area.
    ///
    /// # Safety
    /// Only the worker writes the record area, and the parent reads it only once the worker is
    /// dead, so nobody reads it meanwhile.
    ///
    /// # Panics
    /// If the range does not fit.
    pub(crate) unsafe fn write_record(&self, offset: usize, record: &[u8]) {
        let end = offset
            .checked_add(record.len())
            .expect("record range overflows");
        assert!(end <= self.records_len, "record write out of bounds");
        // SAFETY: the range is within the record area (checked above), which lives as long as
        // `self`; by the caller's contract nobody reads it meanwhile, and `record` is the
        // caller's own memory, outside the mapping's range we write.
        unsafe {
            std::ptr::copy_nonoverlapping(record.as_ptr(), self.records.add(offset), record.len());
        }
    }

    /// Worker: `items` items of this run are committed, their outcomes filling `bytes` bytes of
    /// the record area (after those sent in [`FromWorker::Items`]).
    pub(crate) fn commit(&self, items: u32, bytes: usize) {
        let word = (u64::from(items) << 32) | (bytes as u64 & 0xFFFF_FFFF);
        self.word(COMMITTED).store(word, Ordering::Release);
    }

    /// The committed pair: items of this run, and bytes of the record area.
    pub(crate) fn committed(&self) -> (u32, usize) {
        let word = self.word(COMMITTED).load(Ordering::Acquire);
        ((word >> 32) as u32, (word & 0xFFFF_FFFF) as usize)
    }

    /// Parent: when the running item of the chunk started at the latest, in microseconds of
    /// [`sys::monotonic_micros`], if the page has its stamp (`None`: it has not stamped it yet,
    /// so it started after this call). Reads `committed` first: a stamp whose tag is below the
    /// committed count is the previous item's, which is stale. The worker stamps with the
    /// coarse clock, which lags: its resolution is added, so a limit is never judged early.
    pub(crate) fn item_start(&self) -> Option<u64> {
        let (committed, _) = self.committed();
        let word = self.word(RUNNING).load(Ordering::Acquire);
        let tag = (word >> 48) as u32;
        let running = committed.wrapping_add(1) & 0xFFFF;
        // The running item's stamp, or a later item's (it moved on since `committed` was read).
        let ahead = tag.wrapping_sub(running) & 0xFFFF;
        (word != 0 && ahead < 0x8000)
            .then(|| (word & MICROS_MASK).saturating_add(coarse_lag_micros()))
    }

    /// Parent, once the worker is dead: the first `len` bytes of the record area, or `None` if
    /// the area is smaller (a corrupt count).
    ///
    /// # Safety
    /// The worker must be dead, so nothing writes the area while the slice lives.
    pub(crate) unsafe fn records(&self, len: usize) -> Option<&[u8]> {
        if len > self.records_len {
            return None;
        }
        // SAFETY: the range is within the record area, which lives as long as `self`; by the
        // caller's contract nobody writes it while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.records, len) })
    }

    /// Worker: the record area from `from` on, to encode the next record in place.
    ///
    /// # Safety
    /// Only the worker touches the area while it lives: no other slice of it may be alive
    /// while this one is.
    ///
    /// # Panics
    /// If `from` exceeds the area.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn room(&self, from: usize) -> &mut [u8] {
        assert!(from <= self.records_len, "record room out of bounds");
        // SAFETY: the range is within the record area, which lives as long as `self`; by the
        // caller's contract no other slice of it is alive, and the parent reads it only once
        // the worker is dead.
        unsafe { std::slice::from_raw_parts_mut(self.records.add(from), self.records_len - from) }
    }

    /// Worker: the first `len` bytes of the record area.
    ///
    /// # Safety
    /// Only the worker writes the area: the caller (the worker) must not call
    /// [`write_record`](Self::write_record) while the slice lives.
    ///
    /// # Panics
    /// If `len` exceeds the area.
    pub(crate) unsafe fn own_records(&self, len: usize) -> &[u8] {
        assert!(len <= self.records_len, "record read out of bounds");
        // SAFETY: the range is within the record area, which lives as long as `self`; by the
        // caller's contract nothing writes it while the slice lives.
        unsafe { std::slice::from_raw_parts(self.records, len) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn an_inline_run_encodes_as_the_owned_message() {
        let jobs: Vec<SentJob> = vec![
            (7, 3, None, Arc::from(vec![1, 2, 3])),
            (
                u64::MAX,
                u32::MAX,
                Some(ChunkRun {
                    start: 300,
                    timed: true,
                }),
                Arc::from(vec![]),
            ),
            (
                8,
                0,
                Some(ChunkRun {
                    start: 0,
                    timed: false,
                }),
                Arc::from(vec![9; 200]),
            ),
        ];
        let owned = ToWorker::Run {
            generation: 70_000,
            arena: None,
            jobs: jobs
                .iter()
                .map(|(id, entry, chunk, payload)| JobMessage {
                    id: *id,
                    entry: *entry,
                    chunk: *chunk,
                    payload: Payload::Inline(Bytes(payload.to_vec())),
                })
                .collect(),
        };
        let view = InlineRun {
            generation: 70_000,
            jobs: &jobs,
        };
        let encoded = postcard::to_allocvec(&view).unwrap();
        assert_eq!(encoded, postcard::to_allocvec(&owned).unwrap());
        // And it decodes as the worker reads it.
        match postcard::from_bytes::<ToWorker>(&encoded).unwrap() {
            ToWorker::Run {
                generation,
                arena,
                jobs: decoded,
            } => {
                assert_eq!(generation, 70_000);
                assert!(arena.is_none());
                let ids: Vec<u64> = decoded.iter().map(|job| job.id).collect();
                assert_eq!(ids, [7, u64::MAX, 8]);
                assert!(
                    matches!(&decoded[2].payload, Payload::Inline(bytes) if bytes.0 == [9; 200])
                );
            }
            other => panic!("decoded {other:?}"),
        }
    }

    /// The page as the worker maps it.
    fn mapped_again(page: &Progress) -> Progress {
        let fd = page.memory.share().unwrap();
        let region = Region::adopt(fd, Access::ReadWrite, PROGRESS_PAGE).unwrap();
        Progress::from_region(region).unwrap()
    }

    #[test]
    fn positions_are_claimed_or_taken_back_never_both() {
        let parent = Progress::new().unwrap();
        let worker = mapped_again(&parent);
        parent.begin_batch(7, 4);
        assert_eq!(parent.next_claim(7), Some(1), "position 0 needs no claim");
        assert!(!worker.claim(7, 0), "nor can it be claimed again");
        // Keep position 1 for the worker, take back 2 and 3.
        assert_eq!(parent.take_back(7, 2), Some(2));
        assert!(worker.claim(7, 1));
        assert!(!worker.claim(7, 2));
        assert_eq!(parent.take_back(7, 0), None, "nothing unclaimed is left");
        assert!(!worker.claim(6, 2), "an old batch claims nothing");
        parent.begin_batch(8, 2);
        assert!(worker.claim(8, 1));
        assert_eq!(parent.take_back(8, 1), None, "the whole batch is claimed");
    }

    #[test]
    fn item_stamps_are_told_from_stale_ones() {
        let parent = Progress::new().unwrap();
        let worker = mapped_again(&parent);
        worker.begin_items();
        assert_eq!(parent.item_start(), None, "nothing stamped yet");
        worker.item_started(0);
        assert!(parent.item_start().is_some(), "item 0 is stamped");
        worker.commit(1, 3);
        assert_eq!(parent.committed(), (1, 3));
        assert_eq!(
            parent.item_start(),
            None,
            "item 0's stamp is stale once it committed"
        );
        worker.item_started(1);
        assert!(parent.item_start().is_some());
        // SAFETY: single-threaded test; nothing writes the area meanwhile.
        unsafe { worker.write_record(0, b"abc") };
        // SAFETY: as above.
        assert_eq!(unsafe { parent.records(3) }, Some(&b"abc"[..]));
        // SAFETY: as above.
        assert_eq!(unsafe { parent.records(RECORD_AREA + 1) }, None);
    }
}
