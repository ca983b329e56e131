//! Frames: the protocol's typed messages (`protocol.rs`) over a worker's [`Socket`], with the
//! shared-memory regions they carry.
//!
//! A frame is one sequenced packet: a kind byte, then the message in postcard. Its descriptors
//! travel beside it (`SCM_RIGHTS`) and the message names each by its index in the frame
//! ([`Attached::Slot`]). A message whose encoding exceeds [`MAX_FRAME`] (or the socket's
//! buffer) is spilled: the packet carries only the kind byte, and the encoding travels in a
//! write-sealed region attached last.
//!
//! Once the handshake is done, each side also has a ring each way in shared memory
//! (`ring.rs`): a message without descriptors that fits a ring record goes there instead, with
//! no system call while the receiver polls; any other message still goes on the socket, with a
//! record in the ring marking its place in the order. A receiver that stopped polling sleeps:
//! a parent's connection thread on the socket, which then carries a one-byte wake-up frame
//! too and still reads end-of-file when the worker dies; a worker on a futex in its ring,
//! looking at its socket now and then (see [`Wake`]).
//!
//! What the receiver checks before it believes anything (the peer may be a worker whose memory
//! is corrupt): the packet fits the fixed receive buffer; the kind is known; the message decodes
//! and has no trailing bytes; every slot it names exists and is used once, and no descriptor is
//! left over; every region is sealed and of an allowed size before it is mapped (see
//! `sys::Region`). Anything else is [`WireError::Malformed`], with what was wrong.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ring::{Consumer, Kind, MAX_RECORD, Producer, PushError};
use crate::sys::{self, Access, MAX_FRAME_DESCRIPTORS, Received, Region, Socket};

/// The largest frame sent as one packet; larger messages are spilled to shared memory.
pub(crate) const MAX_FRAME: usize = 256 * 1024;

/// The largest spilled message a receiver maps.
const MAX_SPILLED: usize = 1 << 30;

const KIND_INLINE: u8 = 1;
const KIND_SPILLED: u8 = 2;
/// A ring producer's wake-up for a receiver that announced it sleeps (see `ring.rs`).
const KIND_WAKE: u8 = 3;

/// How long a receiver sleeping on its ring's futex goes without looking at its socket.
const FUTEX_LOOK_AT_SOCKET: Duration = Duration::from_millis(100);

/// Why a frame could not be sent or received.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The peer closed its end: it exited or died.
    Closed,
    /// A system call failed (for example for lack of descriptors or memory).
    Io(io::Error),
    /// The peer sent something the protocol does not allow; the text says what.
    Malformed(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Closed => f.write_str("the other process closed its end"),
            WireError::Io(error) => error.fmt(f),
            WireError::Malformed(what) => write!(f, "a malformed message: {what}"),
        }
    }
}

/// A descriptor a message carries: a shared-memory region.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Attached {
    /// On the wire: the descriptor's index in its frame.
    Slot(u8),
    /// About to be sent.
    #[serde(skip)]
    Outgoing(OwnedFd),
    /// Received, checked and mapped.
    #[serde(skip)]
    Mapped(Region),
}

impl Attached {
    /// Moves the descriptor to `out`, leaving its slot.
    pub(crate) fn detach(&mut self, out: &mut Vec<OwnedFd>) -> Result<(), WireError> {
        let slot = u8::try_from(out.len())
            .ok()
            .filter(|&slot| usize::from(slot) < MAX_FRAME_DESCRIPTORS)
            .ok_or_else(|| WireError::Io(io::Error::other("too many regions in one message")))?;
        match std::mem::replace(self, Attached::Slot(slot)) {
            Attached::Outgoing(fd) => out.push(fd),
            Attached::Mapped(region) => out.push(region.share().map_err(WireError::Io)?),
            Attached::Slot(_) => {
                return Err(WireError::Io(io::Error::other("a region was sent twice")));
            }
        }
        Ok(())
    }

    /// Maps the slot's region from `received`, checked for `access` and `max_len`.
    pub(crate) fn attach(
        &mut self,
        received: &mut Descriptors,
        access: Access,
        max_len: usize,
    ) -> Result<(), String> {
        let Attached::Slot(slot) = *self else {
            return Err("a region outside any slot".to_string());
        };
        let fd = received.take(slot)?;
        *self = Attached::Mapped(Region::adopt(fd, access, max_len)?);
        Ok(())
    }

    /// The mapped region, once received.
    pub(crate) fn into_region(self) -> Option<Region> {
        match self {
            Attached::Mapped(region) => Some(region),
            _ => None,
        }
    }

    /// The mapped region, once received.
    pub(crate) fn region(&self) -> Option<&Region> {
        match self {
            Attached::Mapped(region) => Some(region),
            _ => None,
        }
    }
}

/// The descriptors of a received frame, each taken at most once.
pub(crate) struct Descriptors {
    slots: Vec<Option<OwnedFd>>,
}

impl Descriptors {
    /// The descriptor in `slot`.
    pub(crate) fn take(&mut self, slot: u8) -> Result<OwnedFd, String> {
        match self.slots.get_mut(usize::from(slot)) {
            Some(fd) => fd
                .take()
                .ok_or_else(|| format!("descriptor {slot} named twice")),
            None => Err(format!(
                "descriptor {slot} named, but the frame carried {}",
                self.slots.len()
            )),
        }
    }

    fn left_over(&self) -> usize {
        self.slots.iter().filter(|fd| fd.is_some()).count()
    }
}

/// A protocol message: what its regions are, each way.
pub(crate) trait Message: Serialize + DeserializeOwned {
    /// Moves every region's descriptor to `out`, leaving slots.
    fn detach(&mut self, out: &mut Vec<OwnedFd>) -> Result<(), WireError>;
    /// Maps every slot's region from `received`, each checked for its use.
    fn attach(&mut self, received: &mut Descriptors) -> Result<(), String>;
}

/// Sends messages of type `T` on a socket, and once the connection has rings (`ring.rs`), on
/// its outgoing ring.
#[derive(Debug)]
pub(crate) struct FrameSender<T> {
    socket: Arc<Socket>,
    ring: Option<Mutex<RingSender>>,
    message: PhantomData<fn(T)>,
}

/// What a sender does when its ring has no room for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Fail the send: the peer is not reading (the parent only ever sends to a worker that read
    /// everything it was sent before, so a full ring is a protocol violation).
    Fail,
    /// Wait for room, as a blocking socket send would (a worker whose parent is slow to read
    /// its results).
    Wait,
}

struct RingSender {
    producer: Producer,
    when_full: WhenFull,
    wake: Wake,
    /// The last frame's encoding, its buffer reused by the next (see [`MAX_KEPT_FRAME`]).
    frame: Vec<u8>,
}

/// A frame buffer up to this size is kept for the next message; a larger one (a batch of
/// large tasks on its way to the socket) is freed.
const MAX_KEPT_FRAME: usize = 64 * 1024;

/// How a ring's sleeping consumer waits, and so how its producer wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// On the socket, woken by a one-byte frame: the parent's connection threads, which must
    /// also see the socket's end when their worker dies.
    Socket,
    /// On a futex in the ring's control block: workers. A futex wake-up, unlike a socket's,
    /// does not hint the scheduler to run the woken worker beside its waker, which would put
    /// a busy parent thread and its worker on one CPU while the other idles.
    Futex,
}

impl std::fmt::Debug for RingSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSender")
            .field("when_full", &self.when_full)
            .field("wake", &self.wake)
            .finish_non_exhaustive()
    }
}

impl<T: Message> FrameSender<T> {
    /// A sender on `socket`.
    pub(crate) fn new(socket: Arc<Socket>) -> Self {
        FrameSender {
            socket,
            ring: None,
            message: PhantomData,
        }
    }

    /// From now on, sends on `producer` what fits a ring record (see `ring.rs`), waking its
    /// consumer the way it sleeps.
    pub(crate) fn use_ring(&mut self, producer: Producer, when_full: WhenFull, wake: Wake) {
        self.ring = Some(Mutex::new(RingSender {
            producer,
            when_full,
            wake,
            frame: Vec::new(),
        }));
    }

    /// Sends `message`.
    pub(crate) fn send(&self, mut message: T) -> Result<(), WireError> {
        let mut descriptors = Vec::new();
        message.detach(&mut descriptors)?;
        self.send_encoding(&message, descriptors)
    }

    /// Sends `view`, which must encode exactly as some `T` without descriptors: a view of one
    /// that borrows what the owned message would copy (as `protocol::InlineRun`).
    pub(crate) fn send_view<V: Serialize>(&self, view: &V) -> Result<(), WireError> {
        self.send_encoding(view, Vec::new())
    }

    fn send_encoding<V: Serialize>(
        &self,
        message: &V,
        descriptors: Vec<OwnedFd>,
    ) -> Result<(), WireError> {
        let Some(ring) = &self.ring else {
            let frame = encode_inline(message, Vec::new()).map_err(WireError::Io)?;
            return self.send_on_socket(&frame, descriptors);
        };
        let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        let frame =
            encode_inline(message, std::mem::take(&mut ring.frame)).map_err(WireError::Io)?;
        let sent = if descriptors.is_empty() && frame.len() - 1 <= MAX_RECORD {
            ring.push(&self.socket, Kind::Data, &frame[1..])
        } else {
            // On the socket, then its place in the ring, both under the ring's lock, so the
            // receiver takes it in the order it was sent.
            self.send_on_socket(&frame, descriptors)
                .and_then(|()| ring.push(&self.socket, Kind::Socket, &[]))
        };
        if frame.capacity() <= MAX_KEPT_FRAME {
            ring.frame = frame;
        }
        sent
    }

    fn send_on_socket(&self, frame: &[u8], mut descriptors: Vec<OwnedFd>) -> Result<(), WireError> {
        if frame.len() <= MAX_FRAME {
            match self.send_packet(frame, &descriptors) {
                Err(WireError::Io(error)) if error.raw_os_error() == Some(libc::EMSGSIZE) => {}
                sent => return sent,
            }
        }
        // Spilled: the encoding in a sealed region, attached after the message's own.
        let region = Region::sealed_copy(&frame[1..]).map_err(WireError::Io)?;
        descriptors.push(region);
        self.send_packet(&[KIND_SPILLED], &descriptors)
    }

    /// Sends `bytes` as one packet with `descriptors`, as they are (the fault tests use this to
    /// send what the protocol forbids), with its place in the ring if there is one.
    pub(crate) fn send_raw(&self, bytes: &[u8], descriptors: &[OwnedFd]) -> Result<(), WireError> {
        let Some(ring) = &self.ring else {
            return self.send_packet(bytes, descriptors);
        };
        let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        self.send_packet(bytes, descriptors)?;
        ring.push(&self.socket, Kind::Socket, &[])
    }

    /// Lets a fault test write to the ring what the protocol forbids (see the fault-injection
    /// methods of [`Producer`]), waking the receiver if `write` says it sleeps; `false` if
    /// there is no ring yet.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn ring_for_tests(&self, write: impl FnOnce(&mut Producer) -> bool) -> bool {
        let Some(ring) = &self.ring else {
            return false;
        };
        let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        if write(&mut ring.producer) {
            let _ = ring.wake(&self.socket);
        }
        true
    }

    fn send_packet(&self, bytes: &[u8], descriptors: &[OwnedFd]) -> Result<(), WireError> {
        send_packet(&self.socket, bytes, descriptors)
    }
}

fn send_packet(socket: &Socket, bytes: &[u8], descriptors: &[OwnedFd]) -> Result<(), WireError> {
    let borrowed: Vec<_> = descriptors.iter().map(AsFd::as_fd).collect();
    socket.send(bytes, &borrowed).map_err(|error| {
        if matches!(
            error.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            WireError::Closed
        } else {
            WireError::Io(error)
        }
    })
}

impl RingSender {
    fn wake(&self, socket: &Socket) -> Result<(), WireError> {
        match self.wake {
            Wake::Socket => send_packet(socket, &[KIND_WAKE], &[]),
            Wake::Futex => {
                self.producer.wake();
                Ok(())
            }
        }
    }

    /// Writes one record, waking the receiver on the socket if it announced that it sleeps.
    fn push(&mut self, socket: &Socket, kind: Kind, bytes: &[u8]) -> Result<(), WireError> {
        let mut waiting = None;
        loop {
            match self.producer.push(kind, bytes) {
                Ok(true) => return self.wake(socket),
                Ok(false) => return Ok(()),
                Err(PushError::Corrupt) => {
                    return Err(WireError::Malformed(
                        "its ring's read position claims it read what was never written"
                            .to_string(),
                    ));
                }
                Err(PushError::Full) if self.when_full == WhenFull::Fail => {
                    return Err(WireError::Malformed(
                        "its ring is full: it does not read what it is sent".to_string(),
                    ));
                }
                Err(PushError::Full) => {
                    // The reader is busy elsewhere (a long done-callback, say): poll gently. The
                    // parent-death signal ends this wait if the reader is gone for good.
                    let since = *waiting.get_or_insert_with(Instant::now);
                    if since.elapsed() < Duration::from_micros(100) {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
        }
    }
}

/// `message` as an inline frame (its regions already detached), in `buffer`'s allocation.
pub(crate) fn encode_inline<T: Serialize + ?Sized>(
    message: &T,
    mut buffer: Vec<u8>,
) -> io::Result<Vec<u8>> {
    buffer.clear();
    buffer.push(KIND_INLINE);
    postcard::to_extend(message, buffer)
        .map_err(|e| io::Error::other(format!("encoding a message failed: {e}")))
}

/// Receives messages of type `T` from a socket, into a buffer of its own, and once the
/// connection has rings, from its incoming ring.
pub(crate) struct FrameReceiver<T> {
    socket: Arc<Socket>,
    buffer: Box<[u8]>,
    ring: Option<RingReceiver<T>>,
    /// A yield of its last spin ran another thread ([`yield_is_crowded`]): its next wait sleeps
    /// at once, and the wake-up may place it on another CPU. Cleared once it slept.
    crowded: bool,
    message: PhantomData<fn() -> T>,
}

struct RingReceiver<T> {
    consumer: Consumer,
    /// How it sleeps.
    sleep: Wake,
    /// The last record's bytes (reused).
    record: Vec<u8>,
    /// A message that came on the socket before the ring record that announces it was seen.
    early: Option<T>,
    /// The socket reached its end: once the ring is drained, the peer is gone.
    closed: bool,
}

/// What one read of the socket gave.
enum Event<T> {
    Message(T),
    /// A ring producer's wake-up.
    Wake,
    /// Nothing (only when not waiting).
    Nothing,
}

/// A yield that takes at least this long ran another thread on this CPU.
const CROWDED_YIELD: Duration = Duration::from_micros(3);

/// Yields the CPU; `true` if another thread ran meanwhile (the yield took [`CROWDED_YIELD`]).
///
/// A receiver spinning on a CPU it shares with a busy thread (the parent's thread waiting for
/// this very answer, say) keeps that thread from its work, and yielding to each other every
/// few microseconds keeps both on that CPU while the other is idle: the scheduler moves a
/// thread only once it has been off its CPU for a while. A crowded receiver's next wait sleeps
/// at once instead of spinning, and the wake-up that ends it places it on an idle CPU. Seen on
/// a 2-core VM: the parent's driver and the worker sharing one CPU for whole runs of P2, 17 µs
/// per round trip instead of 4.
fn yield_is_crowded() -> bool {
    let before = Instant::now();
    std::thread::yield_now();
    before.elapsed() >= CROWDED_YIELD
}

impl<T: Message> FrameReceiver<T> {
    /// A receiver on `socket`.
    pub(crate) fn new(socket: Arc<Socket>) -> Self {
        FrameReceiver {
            socket,
            buffer: vec![0; MAX_FRAME].into_boxed_slice(),
            ring: None,
            crowded: false,
            message: PhantomData,
        }
    }

    /// From now on, receives from `consumer` too (see `ring.rs`), sleeping as `sleep` says.
    pub(crate) fn use_ring(&mut self, consumer: Consumer, sleep: Wake) {
        self.ring = Some(RingReceiver {
            consumer,
            sleep,
            record: Vec::new(),
            early: None,
            closed: false,
        });
    }

    /// The next message, waiting for it.
    pub(crate) fn recv(&mut self) -> Result<T, WireError> {
        self.recv_spinning(Duration::ZERO)
    }

    /// The next message, polling for up to `spin` before blocking: a message that arrives
    /// within that time is picked up without a wake-up.
    pub(crate) fn recv_spinning(&mut self, spin: Duration) -> Result<T, WireError> {
        loop {
            if let Some(message) = self.recv_yielding(spin, &|| false, None)? {
                return Ok(message);
            }
        }
    }

    /// As [`recv_spinning`](Self::recv_spinning), but gives up (`None`) as soon as `yield_to()`
    /// says so while polling: another thread wants to read (see `inbox.rs`). Once blocked it
    /// waits for a message, a wake-up or the end; `asleep`, if given, is true meanwhile.
    pub(crate) fn recv_yielding(
        &mut self,
        spin: Duration,
        yield_to: &dyn Fn() -> bool,
        asleep: Option<&AtomicBool>,
    ) -> Result<Option<T>, WireError> {
        let sleeping = |now: bool| {
            if let Some(asleep) = asleep {
                asleep.store(now, Ordering::Relaxed);
            }
        };
        let start = Instant::now();
        let mut polls = 0u32;
        loop {
            if let Some(message) = self.try_recv()? {
                return Ok(Some(message));
            }
            if yield_to() {
                return Ok(None);
            }
            polls = polls.wrapping_add(1);
            // A system call per poll (a yield, a clock read) would be most of a round trip's
            // cost: pause the CPU instead, read the clock every 16 polls and let other threads
            // run every 256 (about every 10 µs).
            if !spin.is_zero() && !self.crowded && (polls % 16 != 0 || start.elapsed() < spin) {
                if polls % 256 == 0 {
                    self.crowded = yield_is_crowded();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            self.crowded = false;
            match &mut self.ring {
                None => {
                    sleeping(true);
                    let next = self.next(false);
                    sleeping(false);
                    if let Event::Message(message) = next? {
                        return Ok(Some(message));
                    }
                }
                Some(ring) => {
                    if !ring.consumer.announce_sleep() {
                        continue;
                    }
                    // On a futex, look at the socket now and then: its end says the parent
                    // is gone, and a message may have come before the record announcing it.
                    sleeping(true);
                    let blocking = match ring.sleep {
                        Wake::Socket => true,
                        Wake::Futex => {
                            ring.consumer.sleep(FUTEX_LOOK_AT_SOCKET);
                            false
                        }
                    };
                    let next = self.next(!blocking);
                    sleeping(false);
                    match next {
                        Ok(Event::Nothing | Event::Wake) => {}
                        Ok(Event::Message(message)) => self.arrived_early(message)?,
                        // Records published before the end still count: look once more.
                        Err(WireError::Closed) => self.ring.as_mut().expect("a ring").closed = true,
                        Err(error) => return Err(error),
                    }
                }
            }
        }
    }

    /// The next message if one is there, without blocking.
    pub(crate) fn try_recv(&mut self) -> Result<Option<T>, WireError> {
        let Some(ring) = &self.ring else {
            return match self.next(true)? {
                Event::Message(message) => Ok(Some(message)),
                Event::Nothing | Event::Wake => Ok(None),
            };
        };
        let closed = ring.closed;
        match self.poll_ring()? {
            Some(message) => Ok(Some(message)),
            None if closed => Err(WireError::Closed),
            None => Ok(None),
        }
    }

    /// The next message from the ring, if a record is there.
    fn poll_ring(&mut self) -> Result<Option<T>, WireError> {
        let ring = self.ring.as_mut().expect("a ring");
        match ring.consumer.pop(&mut ring.record) {
            Ok(None) => Ok(None),
            Ok(Some(Kind::Data)) => decode_body(&ring.record, Vec::new())
                .map(Some)
                .map_err(WireError::Malformed),
            Ok(Some(Kind::Socket)) => {
                if let Some(message) = ring.early.take() {
                    return Ok(Some(message));
                }
                // Sent (queued in our socket) before its record was written: it is there now,
                // behind at most some wake-ups. Not blocking here matters: a peer that writes a
                // marker and sends nothing would otherwise hold this thread for ever.
                loop {
                    match self.next(true) {
                        Ok(Event::Message(message)) => return Ok(Some(message)),
                        Ok(Event::Wake) => {}
                        Ok(Event::Nothing) => {
                            return Err(WireError::Malformed(
                                "its ring announced a message that is not on its socket"
                                    .to_string(),
                            ));
                        }
                        Err(WireError::Closed) => {
                            self.ring.as_mut().expect("a ring").closed = true;
                            return Err(WireError::Closed);
                        }
                        Err(error) => return Err(error),
                    }
                }
            }
            Err(what) => Err(WireError::Malformed(what)),
        }
    }

    /// Keeps a socket message that arrived before the ring record announcing it. An honest
    /// sender writes that record right after the message, so a second one cannot come first.
    fn arrived_early(&mut self, message: T) -> Result<(), WireError> {
        let ring = self.ring.as_mut().expect("a ring");
        if ring.early.is_some() {
            return Err(WireError::Malformed(
                "two messages on its socket that its ring did not announce".to_string(),
            ));
        }
        ring.early = Some(message);
        Ok(())
    }

    fn next(&mut self, nonblocking: bool) -> Result<Event<T>, WireError> {
        let received = self
            .socket
            .recv(&mut self.buffer, nonblocking)
            .map_err(WireError::Io)?;
        let (len, descriptors) = match received {
            Received::Packet { len, descriptors } => (len, descriptors),
            Received::Empty => return Ok(Event::Nothing),
            Received::Closed => return Err(WireError::Closed),
            Received::TooLong => {
                return Err(WireError::Malformed(format!(
                    "a frame longer than {MAX_FRAME} bytes"
                )));
            }
            Received::TooManyDescriptors => {
                return Err(WireError::Malformed(format!(
                    "a frame with more than {MAX_FRAME_DESCRIPTORS} descriptors"
                )));
            }
        };
        if self.buffer[..len] == [KIND_WAKE] && descriptors.is_empty() {
            return Ok(Event::Wake);
        }
        decode(&self.buffer[..len], descriptors)
            .map(Event::Message)
            .map_err(WireError::Malformed)
    }
}

/// Decodes one frame: its bytes and the descriptors that came with it.
fn decode<T: Message>(frame: &[u8], mut descriptors: Vec<OwnedFd>) -> Result<T, String> {
    let spilled;
    let body = match frame.split_first() {
        Some((&KIND_INLINE, body)) => body,
        Some((&KIND_SPILLED, [])) => {
            let fd = descriptors
                .pop()
                .ok_or("a spilled frame without its region")?;
            spilled = Region::adopt(fd, Access::Frozen, MAX_SPILLED)
                .map_err(|e| format!("a spilled frame's region: {e}"))?;
            // SAFETY: a frozen region is sealed against writes: nobody can change its bytes.
            unsafe { spilled.bytes() }
        }
        Some((kind, _)) => return Err(format!("a frame of unknown kind {kind}")),
        None => return Err("an empty frame".to_string()),
    };
    decode_body(body, descriptors)
}

/// Decodes a message's encoding (an inline frame's body, a spilled frame's region or a ring
/// record) with the descriptors that came with it.
fn decode_body<T: Message>(body: &[u8], descriptors: Vec<OwnedFd>) -> Result<T, String> {
    let (mut message, rest) = postcard::take_from_bytes::<T>(body)
        .map_err(|e| format!("it does not decode: {e} ({e:?})"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the message", rest.len()));
    }
    let mut received = Descriptors {
        slots: descriptors.into_iter().map(Some).collect(),
    };
    message.attach(&mut received)?;
    match received.left_over() {
        0 => Ok(message),
        n => Err(format!("{n} descriptors the message does not name")),
    }
}

/// The most bytes a received payload region may hold: what the system could still allocate
/// for its decoded value, so that a worker announcing a terabyte gets a typed error instead of
/// aborting the parent on allocation.
pub(crate) fn max_payload() -> usize {
    sys::available_memory().unwrap_or(usize::MAX).min(1 << 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{FromWorker, JobMessage, Payload, Reply, Setup, ToWorker};

    fn pair() -> (FrameSender<ToWorker>, FrameReceiver<ToWorker>, Arc<Socket>) {
        let (a, b) = Socket::pair(MAX_FRAME).unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        (FrameSender::new(a), FrameReceiver::new(b.clone()), b)
    }

    #[test]
    fn regions_travel_with_their_messages() {
        let (sender, mut receiver, _) = pair();
        let progress = Region::new(64 + crate::protocol::RECORD_AREA).unwrap();
        let big = vec![3u8; 100_000];
        let setup = Setup {
            protocol: 1,
            fingerprint: 2,
            progress: Attached::Outgoing(progress.share().unwrap()),
            rings: Attached::Outgoing(
                Region::new(crate::ring::RINGS_REGION)
                    .unwrap()
                    .share()
                    .unwrap(),
            ),
            initializer: Some(JobMessage {
                id: 0,
                entry: 0,
                chunk: None,
                payload: Payload::from_slice(&big).unwrap(),
            }),
            spin_micros: 0,
        };
        sender.send(ToWorker::Setup(setup)).unwrap();
        let ToWorker::Setup(received) = receiver.recv().unwrap() else {
            panic!("a set-up");
        };
        assert_eq!(received.progress.region().unwrap().len(), progress.len());
        let payload = &received.initializer.unwrap().payload;
        assert_eq!(payload.bytes(None).unwrap(), &big[..]);
    }

    #[test]
    fn a_message_larger_than_a_frame_is_spilled_and_arrives_whole() {
        let (sender, mut receiver, _) = pair();
        let jobs: Vec<JobMessage> = (0..20_000)
            .map(|id| JobMessage {
                id,
                entry: 1,
                chunk: None,
                payload: Payload::Inline(crate::Bytes(vec![1; 16])),
            })
            .collect();
        sender
            .send(ToWorker::Run {
                generation: 1,
                arena: None,
                jobs,
            })
            .unwrap();
        match receiver.recv().unwrap() {
            ToWorker::Run { jobs, .. } => assert_eq!(jobs.len(), 20_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slots_must_match_the_descriptors_exactly() {
        let (a, b) = Socket::pair(MAX_FRAME).unwrap();
        let sender = FrameSender::<FromWorker>::new(Arc::new(a));
        let mut receiver = FrameReceiver::<FromWorker>::new(Arc::new(b));
        let named = |slot| FromWorker::Done {
            id: 1,
            reply: Reply::Value(Payload::Shared(Attached::Slot(slot))),
            arena: None,
        };
        // A slot with no descriptor.
        let frame = encode_inline(&named(0), Vec::new()).unwrap();
        sender.send_raw(&frame, &[]).unwrap();
        let error = receiver.recv().unwrap_err().to_string();
        assert!(
            error.contains("descriptor 0 named, but the frame carried 0"),
            "{error}"
        );
        // A descriptor no slot names.
        let frame = encode_inline(&FromWorker::Refused { reason: "x".into() }, Vec::new()).unwrap();
        let fd = Region::sealed_copy(b"unused").unwrap();
        sender.send_raw(&frame, &[fd]).unwrap();
        let error = receiver.recv().unwrap_err().to_string();
        assert!(
            error.contains("1 descriptors the message does not name"),
            "{error}"
        );
        // The same slot twice.
        let twice = FromWorker::Done {
            id: 1,
            reply: Reply::Value(Payload::Shared(Attached::Slot(0))),
            arena: Some(Attached::Slot(0)),
        };
        let frame = encode_inline(&twice, Vec::new()).unwrap();
        let fd = Region::sealed_copy(b"twice").unwrap();
        sender.send_raw(&frame, &[fd]).unwrap();
        let error = receiver.recv().unwrap_err().to_string();
        assert!(error.contains("named twice"), "{error}");
    }
}
