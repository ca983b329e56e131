//! [`Rings`]: the hot path of a worker's connection, two single-producer single-consumer byte
//! rings in one shared-memory region, one each way.
//!
//! A message that carries no descriptor and fits ([`MAX_RECORD`]) travels as a ring record: no
//! system call on either side while the receiver is polling. Everything else still travels on
//! the socket (`frame.rs`), announced by a [`Kind::Socket`] record at its place in the ring, so
//! the receiver takes messages in the order they were sent whichever way each went.
//!
//! # Records
//! Each record is an 8-byte header (length and kind, little-endian `u32`s) and its bytes,
//! padded to 8, written at `tail % capacity` and wrapping round the end. The producer writes
//! the bytes, then publishes the new `tail` (release); the consumer reads `tail` (acquire),
//! copies the record out, then publishes its new `head` (release), which gives the space back.
//! The producer reads `head` again only when the space it last knew to be free is too small:
//! the consumer writes it after every record, so each read is a cache miss on the sender's path.
//! Each side keeps its own position privately and only *reads* the other's from the region, so
//! a peer that scribbles on the control block can make the reader see garbage, never make it
//! read outside the ring: every `tail`, length and kind read from the region is checked
//! ([`Consumer::pop`]), and the bytes are copied out before anything decodes them.
//!
//! # Sleeping without a lost wake-up
//! A consumer that polled long enough announces that it sleeps (`sleeping` := 1, an atomic
//! swap), checks the ring once more, and only then blocks: a parent's connection thread on its
//! socket, a worker on a futex on `sleeping` itself ([`Consumer::sleep`]). A producer publishes
//! its record, then swaps `sleeping` to 0, and if it was 1 wakes the consumer the way it sleeps
//! (a one-byte frame on the socket, or [`Producer::wake`]).
//! Both sides use a read-modify-write on the same word, so they are ordered in its modification
//! order: if the producer's swap comes second it reads 1 and wakes the consumer; if it comes
//! first, the consumer's swap reads the producer's 0 and, acquiring it, sees the record the
//! producer published before. Every write of the word is a swap, even the consumer's
//! withdrawal of an announcement, so that no plain store can come between the two in that
//! order. `tests/loom_ring.rs` checks exactly this with loom. A stray wake-up (the consumer
//! found a record after announcing) is harmless: receivers ignore them.

// The model's API is `pub` so that `tests/loom_ring.rs` can reach it; the module itself is
// public only under `--cfg executor_loom`.
#![cfg_attr(not(executor_loom), allow(unreachable_pub))]

#[cfg(executor_loom)]
use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(executor_loom))]
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bytes of each ring's data area.
pub(crate) const RING_CAPACITY: usize = 256 * 1024;

/// The largest record a ring carries; larger messages go on the socket. Half the ring, so a
/// batch (bounded by `BATCH_INLINE_BYTES`) and an exit order always fit together.
pub(crate) const MAX_RECORD: usize = RING_CAPACITY / 2;

/// Bytes of a control block: the three words on cache lines of their own.
const CONTROL: usize = 192;

/// Bytes of the shared region that holds both rings.
pub(crate) const RINGS_REGION: usize = 2 * (CONTROL + RING_CAPACITY);

const HEADER: usize = 8;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A message's encoding.
    Data = 1,
    /// "The next message went on the socket": its place in the order.
    Socket = 2,
}

/// One ring's control words, each on its own cache line (the producer writes `tail`, the
/// consumer `head`, both swap `sleeping`).
#[derive(Debug)]
#[repr(C, align(64))]
struct Control {
    tail: AtomicU64,
    _tail_line: [u8; 56],
    head: AtomicU64,
    _head_line: [u8; 56],
    sleeping: AtomicU32,
    _sleeping_line: [u8; 60],
}

// The layout in shared memory (loom's atomics are larger, and never shared).
#[cfg(not(executor_loom))]
const _: () = assert!(size_of::<Control>() == CONTROL);

/// Where one ring lives: its control block and data area.
#[derive(Debug)]
struct RingPlace {
    control: *const Control,
    data: Data,
    capacity: usize,
    /// The mapping both pointers are into, kept as long as any producer or consumer lives.
    #[cfg(not(executor_loom))]
    _memory: std::sync::Arc<crate::sys::Region>,
}

// SAFETY: the pointers are into memory this place keeps alive (the mapping it holds or, under
// loom, boxes freed in its drop), so it outlives every producer and consumer made from it; the control
// words are only accessed atomically, and the data bytes by the protocol in the module docs.
unsafe impl Send for RingPlace {}
// SAFETY: as above.
unsafe impl Sync for RingPlace {}

impl RingPlace {
    fn control(&self) -> &Control {
        // SAFETY: `control` points to a live, aligned `Control` (see the `Send` impl).
        unsafe { &*self.control }
    }
}

/// Both rings of a connection, and the memory they live in.
pub struct Rings {
    /// Parent to worker.
    down: std::sync::Arc<RingPlace>,
    /// Worker to parent.
    up: std::sync::Arc<RingPlace>,
}

impl std::fmt::Debug for Rings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rings").finish_non_exhaustive()
    }
}

/// Which end of the connection this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Parent,
    Worker,
}

#[cfg(not(executor_loom))]
impl Rings {
    /// Lays both rings out in `memory` (a zeroed region of [`RINGS_REGION`] bytes made by the
    /// parent, or the worker's mapping of it). `None` if it has another size.
    pub(crate) fn from_region(memory: crate::sys::Region) -> Option<Rings> {
        if memory.len() != RINGS_REGION || (memory.as_ptr() as usize) % 64 != 0 {
            return None;
        }
        let memory = std::sync::Arc::new(memory);
        let base = memory.as_ptr();
        let place = |offset: usize| {
            // SAFETY: `offset` is 0 or `CONTROL + RING_CAPACITY`, within the region, whose
            // size was checked above; the base is 64-aligned, so the control block is aligned.
            let control = unsafe { base.add(offset) }.cast::<Control>();
            // SAFETY: the data area follows its control block and ends within the region.
            let data = unsafe { base.add(offset + CONTROL) };
            std::sync::Arc::new(RingPlace {
                control,
                data: Data { base: data },
                capacity: RING_CAPACITY,
                _memory: memory.clone(),
            })
        };
        Some(Rings {
            down: place(0),
            up: place(CONTROL + RING_CAPACITY),
        })
    }
}

#[cfg(executor_loom)]
impl Rings {
    /// Under loom the rings are never shared between processes: connections stay on the
    /// socket alone.
    pub(crate) fn from_region(_memory: crate::sys::Region) -> Option<Rings> {
        None
    }

    /// Two rings of `capacity` bytes each (a power of two, at least 16) in this process's
    /// memory, for loom models.
    pub fn for_model(capacity: usize) -> Rings {
        assert!(capacity.is_power_of_two() && capacity >= 16);
        let place = || {
            let control = Box::into_raw(Box::new(Control {
                tail: AtomicU64::new(0),
                _tail_line: [0; 56],
                head: AtomicU64::new(0),
                _head_line: [0; 56],
                sleeping: AtomicU32::new(0),
                _sleeping_line: [0; 60],
            }));
            std::sync::Arc::new(RingPlace {
                control,
                data: Data {
                    cells: (0..capacity)
                        .map(|_| loom::cell::UnsafeCell::new(0))
                        .collect(),
                },
                capacity,
            })
        };
        Rings {
            down: place(),
            up: place(),
        }
    }

    /// The model's producer and consumer of the parent-to-worker ring.
    pub fn model_ends(&self) -> (Producer, Consumer) {
        (
            Producer::new(self.down.clone()),
            Consumer::new(self.down.clone()),
        )
    }
}

#[cfg(executor_loom)]
impl Drop for RingPlace {
    fn drop(&mut self) {
        // SAFETY: under loom the control block was boxed in `for_model` and is freed only
        // here, when the last producer or consumer of this ring is gone.
        drop(unsafe { Box::from_raw(self.control.cast_mut()) });
    }
}

impl Rings {
    /// This end's producer (what it sends) and consumer (what it receives).
    pub(crate) fn split(&self, end: End) -> (Producer, Consumer) {
        let (send, receive) = match end {
            End::Parent => (&self.down, &self.up),
            End::Worker => (&self.up, &self.down),
        };
        (Producer::new(send.clone()), Consumer::new(receive.clone()))
    }
}

/// The sending end of one ring.
#[derive(Debug)]
pub struct Producer {
    place: std::sync::Arc<RingPlace>,
    /// Where the next record goes; the consumer's `head` is read, never trusted further than
    /// `tail - capacity ..= tail`.
    tail: u64,
    /// The consumer's `head` as last read. The consumer writes `head` after every record, so
    /// reading it costs a cache miss each time; the producer reads it again only when the
    /// space it knows to be free is too small, which in a ring mostly empty is almost never.
    /// Heads only advance, so this is never more space than there really is.
    head: u64,
}

/// Why a record was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Not enough free space now (the consumer has not caught up).
    Full,
    /// The consumer's `head` is impossible: it claims to have read what was never written.
    Corrupt,
}

/// A record was written; `true` if the consumer announced it sleeps, so the caller must wake it.
pub type MustWake = bool;

impl Producer {
    fn new(place: std::sync::Arc<RingPlace>) -> Producer {
        Producer {
            place,
            tail: 0,
            head: 0,
        }
    }

    /// Writes a record of `kind` holding `bytes` (at most [`MAX_RECORD`] and half the ring).
    pub fn push(&mut self, kind: Kind, bytes: &[u8]) -> Result<MustWake, PushError> {
        let capacity = self.place.capacity as u64;
        debug_assert!(bytes.len() <= MAX_RECORD.min(self.place.capacity / 2));
        let needed = record_size(bytes.len());
        if capacity - self.tail.wrapping_sub(self.head) < needed {
            let head = self.place.control().head.load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(head);
            if used > capacity {
                return Err(PushError::Corrupt);
            }
            self.head = head;
            if capacity - used < needed {
                return Err(PushError::Full);
            }
        }
        // SAFETY: the record's bytes from `tail` (wrapping) are free: the consumer gave them
        // back (its `head` is at most `capacity - record_size` behind `tail`), and it reads no
        // byte past `tail` until we publish it.
        unsafe { self.write(bytes.len() as u32, kind as u32, bytes) };
        Ok(self.publish(self.tail.wrapping_add(record_size(bytes.len()))))
    }

    /// Writes a header (`len`, `kind`) and `bytes` at `tail`, without publishing them.
    ///
    /// # Safety
    /// The consumer must not be reading those bytes (they are beyond what was published, and
    /// free).
    unsafe fn write(&mut self, len: u32, kind: u32, bytes: &[u8]) {
        let capacity = self.place.capacity;
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..].copy_from_slice(&kind.to_le_bytes());
        let at = (self.tail % capacity as u64) as usize;
        // SAFETY: by the caller's contract nobody reads these bytes meanwhile.
        unsafe {
            self.place.data.write(at, &header, capacity);
            self.place
                .data
                .write((at + HEADER) % capacity, bytes, capacity);
        }
    }

    /// Publishes `tail` as the write position (release); `true` if the consumer announced it
    /// sleeps and must be woken.
    fn publish(&mut self, tail: u64) -> MustWake {
        self.tail = tail;
        let control = self.place.control();
        control.tail.store(tail, Ordering::Release);
        control.sleeping.swap(0, Ordering::AcqRel) == 1
    }
}

/// The bytes a record of `len` bytes takes in the ring, header and padding included.
fn record_size(len: usize) -> u64 {
    (HEADER + len).next_multiple_of(HEADER) as u64
}

/// The fault tests' ways to write what the protocol forbids. Each assumes an empty ring.
#[cfg(feature = "fault-injection")]
impl Producer {
    /// Writes a record with any `kind` (even one the protocol does not have), publishing it or
    /// not (a worker dying halfway through a record).
    pub(crate) fn push_raw(&mut self, kind: u32, bytes: &[u8], publish: bool) -> MustWake {
        // SAFETY: as in `push`: the fault tests write into an empty ring.
        unsafe { self.write(bytes.len() as u32, kind, bytes) };
        publish && self.publish(self.tail.wrapping_add(record_size(bytes.len())))
    }

    /// Writes and publishes a record header claiming `len` bytes of `kind`, and nothing else
    /// (a record longer than what is published).
    pub(crate) fn push_header(&mut self, len: u32, kind: u32) -> MustWake {
        // SAFETY: as in `push`: the fault tests write into an empty ring.
        unsafe { self.write(len, kind, &[]) };
        self.publish(self.tail.wrapping_add(HEADER as u64))
    }

    /// Publishes `tail` as the write position, whatever was written.
    pub(crate) fn publish_tail(&mut self, tail: u64) -> MustWake {
        self.publish(tail)
    }
}

/// The receiving end of one ring.
#[derive(Debug)]
pub struct Consumer {
    place: std::sync::Arc<RingPlace>,
    /// Where the next record starts.
    head: u64,
}

impl Consumer {
    fn new(place: std::sync::Arc<RingPlace>) -> Consumer {
        Consumer { place, head: 0 }
    }

    /// The next record's kind, its bytes copied into `out` (replacing what was there); `None`
    /// if the ring is empty; `Err` says what is impossible about what the producer published.
    pub fn pop(&mut self, out: &mut Vec<u8>) -> Result<Option<Kind>, String> {
        let capacity = self.place.capacity;
        let control = self.place.control();
        let tail = control.tail.load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available == 0 {
            return Ok(None);
        }
        if available > capacity as u64 || available % HEADER as u64 != 0 {
            return Err(format!(
                "its ring's write position claims {available} unread bytes (the ring holds \
                 {capacity})"
            ));
        }
        let at = (self.head % capacity as u64) as usize;
        let mut header = [0u8; HEADER];
        // SAFETY: `available` bytes from `head` were published by the producer (release, read
        // with acquire above), and it does not write them again until we publish a new head.
        unsafe { self.place.data.read(at, &mut header, capacity) };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let kind = match u32::from_le_bytes(header[4..].try_into().expect("4 bytes")) {
            1 => Kind::Data,
            2 => Kind::Socket,
            other => return Err(format!("a ring record of unknown kind {other}")),
        };
        let needed = record_size(len);
        if len > MAX_RECORD || needed > available {
            return Err(format!(
                "a ring record of {len} bytes, with {available} bytes published"
            ));
        }
        if kind == Kind::Socket && len != 0 {
            return Err("a socket marker with bytes".to_string());
        }
        out.clear();
        out.resize(len, 0);
        // SAFETY: as for the header: published bytes, not rewritten until the new head below.
        unsafe {
            self.place
                .data
                .read((at + HEADER) % capacity, out, capacity)
        };
        self.head = self.head.wrapping_add(needed);
        control.head.store(self.head, Ordering::Release);
        Ok(Some(kind))
    }

    /// Announces that this consumer is about to sleep, then checks the ring again: `true` if it
    /// is still empty (sleep: the producer's next record wakes it), `false` if a record came
    /// (the announcement is withdrawn; a wake-up may still arrive and is harmless).
    pub fn announce_sleep(&self) -> bool {
        let control = self.place.control();
        control.sleeping.swap(1, Ordering::AcqRel);
        if control.tail.load(Ordering::Acquire) == self.head {
            true
        } else {
            // A swap, not a store: a plain store could land after the producer's swap in the
            // word's modification order, and the next announcement would then read this
            // store instead of the producer's, see nothing the producer published, and sleep
            // through its record (loom found this, `tests/loom_ring.rs`).
            control.sleeping.swap(0, Ordering::AcqRel);
            false
        }
    }
}

impl Producer {
    /// Wakes a consumer sleeping in [`Consumer::sleep`] (after [`Producer::push`] said it must
    /// be woken). Under loom rings are never shared, and the model wakes its own way.
    pub(crate) fn wake(&self) {
        #[cfg(not(executor_loom))]
        crate::sys::futex_wake(&self.place.control().sleeping);
    }
}

impl Consumer {
    /// After [`Consumer::announce_sleep`] said to sleep: sleeps until the producer wakes it (a
    /// futex on the `sleeping` word, which the producer's swap clears first, so a wake-up that
    /// comes before the sleep is not lost), or `timeout` passes.
    pub(crate) fn sleep(&self, timeout: std::time::Duration) {
        #[cfg(not(executor_loom))]
        crate::sys::futex_wait(&self.place.control().sleeping, 1, timeout);
        #[cfg(executor_loom)]
        let _ = timeout;
    }
}

/// A ring's data area.
#[derive(Debug)]
struct Data {
    #[cfg(not(executor_loom))]
    base: *mut u8,
    #[cfg(executor_loom)]
    cells: Box<[loom::cell::UnsafeCell<u8>]>,
}

impl Data {
    /// Copies `bytes` in from `at`, wrapping at `capacity`.
    ///
    /// # Safety
    /// Nobody may read or write those bytes meanwhile.
    unsafe fn write(&self, at: usize, bytes: &[u8], capacity: usize) {
        let first = bytes.len().min(capacity - at);
        #[cfg(not(executor_loom))]
        // SAFETY: `at < capacity` and both pieces stay within the `capacity` bytes of the data
        // area; by the caller's contract nobody else touches them, and `bytes` is our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(at), first);
            std::ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.base, bytes.len() - first);
        }
        #[cfg(executor_loom)]
        for (i, &byte) in bytes.iter().enumerate() {
            let _ = first;
            // SAFETY: loom checks the caller's contract: it reports any concurrent access.
            self.cells[(at + i) % capacity].with_mut(|cell| unsafe { *cell = byte });
        }
    }

    /// Copies `out.len()` bytes out from `at`, wrapping at `capacity`.
    ///
    /// # Safety
    /// Nobody may write those bytes meanwhile.
    unsafe fn read(&self, at: usize, out: &mut [u8], capacity: usize) {
        let first = out.len().min(capacity - at);
        #[cfg(not(executor_loom))]
        // SAFETY: as in `write`, with `out` our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.add(at), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(self.base, out[first..].as_mut_ptr(), out.len() - first);
        }
        #[cfg(executor_loom)]
        for (i, byte) in out.iter_mut().enumerate() {
            let _ = first;
            // SAFETY: loom checks the caller's contract: it reports any concurrent access.
            *byte = self.cells[(at + i) % capacity].with(|cell| unsafe { *cell });
        }
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;
    use crate::sys::Region;

    fn rings() -> Rings {
        Rings::from_region(Region::new(RINGS_REGION).unwrap()).unwrap()
    }

    #[test]
    fn records_keep_their_bytes_and_order_across_the_wrap() {
        let rings = rings();
        let (mut producer, _) = rings.split(End::Parent);
        let (_, mut consumer) = rings.split(End::Worker);
        let mut out = Vec::new();
        // Sizes that are not multiples of 8, so records straddle the end of the ring.
        for round in 0..40u32 {
            let len = 10_000 + round as usize * 997;
            let record: Vec<u8> = (0..len).map(|i| (i as u32 ^ round) as u8).collect();
            producer.push(Kind::Data, &record).unwrap();
            producer.push(Kind::Socket, &[]).unwrap();
            assert_eq!(consumer.pop(&mut out), Ok(Some(Kind::Data)));
            assert_eq!(out, record);
            assert_eq!(consumer.pop(&mut out), Ok(Some(Kind::Socket)));
            assert!(out.is_empty());
            assert_eq!(consumer.pop(&mut out), Ok(None));
        }
    }

    #[test]
    fn a_full_ring_refuses_until_the_consumer_reads() {
        let rings = rings();
        let (mut producer, _) = rings.split(End::Worker);
        let (_, mut consumer) = rings.split(End::Parent);
        let record = vec![7u8; MAX_RECORD - HEADER];
        producer.push(Kind::Data, &record).unwrap();
        producer.push(Kind::Data, &record).unwrap();
        assert_eq!(producer.push(Kind::Socket, &[]), Err(PushError::Full));
        let mut out = Vec::new();
        assert_eq!(consumer.pop(&mut out), Ok(Some(Kind::Data)));
        assert_eq!(producer.push(Kind::Socket, &[]), Ok(false));
    }

    #[test]
    fn the_producer_says_when_the_consumer_sleeps() {
        let rings = rings();
        let (mut producer, _) = rings.split(End::Parent);
        let (_, mut consumer) = rings.split(End::Worker);
        assert!(consumer.announce_sleep());
        assert_eq!(producer.push(Kind::Data, b"a"), Ok(true));
        // Told once: the next record finds nobody announced.
        assert_eq!(producer.push(Kind::Data, b"b"), Ok(false));
        let mut out = Vec::new();
        assert_eq!(consumer.pop(&mut out), Ok(Some(Kind::Data)));
        assert!(!consumer.announce_sleep(), "a record is still there");
        assert_eq!(producer.push(Kind::Data, b"c"), Ok(false), "withdrawn");
    }

    /// What a hostile peer can write into the control block or the records is refused with a
    /// reason, never read past the ring.
    #[test]
    fn impossible_positions_and_records_are_refused() {
        // A test stands in for the peer, which may write any word.
        fn control(rings: &Rings) -> &Control {
            rings.up.control()
        }
        // A tail that claims more than the ring holds.
        let rings = rings();
        let (_, mut consumer) = rings.split(End::Parent);
        control(&rings)
            .tail
            .store(RING_CAPACITY as u64 + 8, Ordering::Release);
        let error = consumer.pop(&mut Vec::new()).unwrap_err();
        assert!(error.contains("unread bytes"), "{error}");
        // A tail that is not on a record boundary.
        let rings = self::rings();
        let (_, mut consumer) = rings.split(End::Parent);
        control(&rings).tail.store(3, Ordering::Release);
        assert!(consumer.pop(&mut Vec::new()).is_err());
        // A record longer than what is published, and one of an unknown kind.
        for (len, kind, expected) in [(64u32, 1u32, "bytes published"), (0, 9, "unknown kind")] {
            let rings = self::rings();
            let (_, mut consumer) = rings.split(End::Parent);
            let mut header = [0u8; HEADER];
            header[..4].copy_from_slice(&len.to_le_bytes());
            header[4..].copy_from_slice(&kind.to_le_bytes());
            // SAFETY: as above; nothing else uses this ring.
            unsafe { rings.up.data.write(0, &header, RING_CAPACITY) };
            control(&rings).tail.store(8, Ordering::Release);
            let error = consumer.pop(&mut Vec::new()).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        // A head that claims the consumer read what was never written: the producer reads the
        // head again only when the space it knew to be free runs short, and refuses it then.
        let rings = self::rings();
        let (mut producer, _) = rings.split(End::Worker);
        control(&rings).head.store(1 << 40, Ordering::Release);
        let half = vec![0u8; MAX_RECORD];
        assert_eq!(producer.push(Kind::Data, &half), Ok(false));
        assert_eq!(producer.push(Kind::Data, &half), Err(PushError::Corrupt));
    }
}
