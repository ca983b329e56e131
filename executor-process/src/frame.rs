//! Frames: the protocol's typed messages (`protocol.rs`) over a worker's [`Socket`], with the
//! shared-memory regions they carry.
//!
//! A frame is one sequenced packet: a kind byte, then the message in postcard. Its descriptors
//! travel beside it (`SCM_RIGHTS`) and the message names each by its index in the frame
//! ([`Attached::Slot`]). A message whose encoding exceeds [`MAX_FRAME`] (or the socket's
//! buffer) is spilled: the packet carries only the kind byte, and the encoding travels in a
//! write-sealed region attached last.
//!
//! What the receiver checks before it believes anything (the peer may be a worker whose memory
//! is corrupt): the packet fits the fixed receive buffer; the kind is known; the message decodes
//! and has no trailing bytes; every slot it names exists and is used once, and no descriptor is
//! left over; every region is sealed and of an allowed size before it is mapped (see
//! `sys::Region`). Anything else is [`WireError::Malformed`], with what was wrong.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sys::{self, Access, MAX_FRAME_DESCRIPTORS, Received, Region, Socket};

/// The largest frame sent as one packet; larger messages are spilled to shared memory.
pub(crate) const MAX_FRAME: usize = 256 * 1024;

/// The largest spilled message a receiver maps.
const MAX_SPILLED: usize = 1 << 30;

const KIND_INLINE: u8 = 1;
const KIND_SPILLED: u8 = 2;

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

/// Sends messages of type `T` on a socket.
#[derive(Debug)]
pub(crate) struct FrameSender<T> {
    socket: Arc<Socket>,
    message: PhantomData<fn(T)>,
}

impl<T: Message> FrameSender<T> {
    /// A sender on `socket`.
    pub(crate) fn new(socket: Arc<Socket>) -> Self {
        FrameSender {
            socket,
            message: PhantomData,
        }
    }

    /// Sends `message`.
    pub(crate) fn send(&self, mut message: T) -> Result<(), WireError> {
        let mut descriptors = Vec::new();
        message.detach(&mut descriptors)?;
        let frame = encode_inline(&message).map_err(WireError::Io)?;
        if frame.len() <= MAX_FRAME {
            match self.send_raw(&frame, &descriptors) {
                Err(WireError::Io(error)) if error.raw_os_error() == Some(libc::EMSGSIZE) => {}
                sent => return sent,
            }
        }
        // Spilled: the encoding in a sealed region, attached after the message's own.
        let region = Region::sealed_copy(&frame[1..]).map_err(WireError::Io)?;
        descriptors.push(region);
        self.send_raw(&[KIND_SPILLED], &descriptors)
    }

    /// Sends `bytes` as one packet with `descriptors`, as they are (the fault tests use this to
    /// send what the protocol forbids).
    pub(crate) fn send_raw(&self, bytes: &[u8], descriptors: &[OwnedFd]) -> Result<(), WireError> {
        let borrowed: Vec<_> = descriptors.iter().map(AsFd::as_fd).collect();
        self.socket.send(bytes, &borrowed).map_err(|error| {
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
}

/// `message` as an inline frame (its regions already detached).
pub(crate) fn encode_inline<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    postcard::to_extend(message, vec![KIND_INLINE])
        .map_err(|e| io::Error::other(format!("encoding a message failed: {e}")))
}

/// Receives messages of type `T` from a socket, into a buffer of its own.
pub(crate) struct FrameReceiver<T> {
    socket: Arc<Socket>,
    buffer: Box<[u8]>,
    message: PhantomData<fn() -> T>,
}

impl<T: Message> FrameReceiver<T> {
    /// A receiver on `socket`.
    pub(crate) fn new(socket: Arc<Socket>) -> Self {
        FrameReceiver {
            socket,
            buffer: vec![0; MAX_FRAME].into_boxed_slice(),
            message: PhantomData,
        }
    }

    /// The next message, waiting for it.
    pub(crate) fn recv(&mut self) -> Result<T, WireError> {
        self.next(false)?
            .ok_or_else(|| WireError::Io(io::Error::other("a blocking receive returned nothing")))
    }

    /// The next message, polling for up to `spin` before blocking: a message that arrives
    /// within that time is picked up without a wake-up.
    pub(crate) fn recv_spinning(&mut self, spin: Duration) -> Result<T, WireError> {
        if !spin.is_zero() {
            let start = Instant::now();
            loop {
                if let Some(message) = self.next(true)? {
                    return Ok(message);
                }
                if start.elapsed() >= spin {
                    break;
                }
                std::thread::yield_now();
            }
        }
        self.recv()
    }

    fn next(&mut self, nonblocking: bool) -> Result<Option<T>, WireError> {
        let received = self
            .socket
            .recv(&mut self.buffer, nonblocking)
            .map_err(WireError::Io)?;
        let (len, descriptors) = match received {
            Received::Packet { len, descriptors } => (len, descriptors),
            Received::Empty => return Ok(None),
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
        decode(&self.buffer[..len], descriptors)
            .map(Some)
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
        let frame = encode_inline(&named(0)).unwrap();
        sender.send_raw(&frame, &[]).unwrap();
        let error = receiver.recv().unwrap_err().to_string();
        assert!(
            error.contains("descriptor 0 named, but the frame carried 0"),
            "{error}"
        );
        // A descriptor no slot names.
        let frame = encode_inline(&FromWorker::Refused { reason: "x".into() }).unwrap();
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
        let frame = encode_inline(&twice).unwrap();
        let fd = Region::sealed_copy(b"twice").unwrap();
        sender.send_raw(&frame, &[fd]).unwrap();
        let error = receiver.recv().unwrap_err().to_string();
        assert!(error.contains("named twice"), "{error}");
    }
}
