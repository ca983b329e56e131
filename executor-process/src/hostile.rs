//! A worker that misbehaves on purpose, for the tests of "the parent survives anything a worker
//! sends" (issue #15). Compiled only with the `fault-injection` feature; not part of the API.
//!
//! A test binary calls [`HostileWorker::start`] first in `main` (before `init()`): in a process
//! the pool started as a worker it does the real start-up and handshake, then hands the test
//! the raw connection, to answer each task as it likes: honestly ([`HostileWorker::run`],
//! [`HostileWorker::send_done`]), or with any bytes and descriptors ([`HostileWorker::send_raw`],
//! [`done_frame`], [`region`]).

use std::os::fd::OwnedFd;

use crate::frame::Attached;
use crate::protocol::{FromWorker, Payload, Reply, ToWorker};
use crate::registry::Registry;
use crate::worker::{self, Connection};

/// The worker end of a connection, driven by a test.
pub struct HostileWorker {
    connection: Connection,
}

impl std::fmt::Debug for HostileWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileWorker").finish_non_exhaustive()
    }
}

/// One task the parent sent.
#[derive(Debug)]
pub struct HostileTask {
    /// The parent's id for it.
    pub id: u64,
    entry: u32,
    /// Its encoded form (for a registered task type `T`: `codec::decode::<T>` gives it back).
    pub payload: Vec<u8>,
}

/// How a [`done_frame`]'s reply carries its bytes.
#[derive(Debug, Clone, Copy)]
pub enum Placement {
    /// Inline in the frame.
    Inline,
    /// In the region attached in this slot.
    Shared(u8),
    /// At this range of the arena (attached in `arena_slot`, or announced before).
    Arena {
        /// Where.
        offset: u64,
        /// How long.
        len: u64,
    },
}

impl HostileWorker {
    /// In a process the pool started as a worker: connects and answers the set-up with `Ready`
    /// (running no initializer). `None` in any other process.
    pub fn start() -> Option<HostileWorker> {
        let parent = worker::take_worker_marker()?;
        let mut connection = match worker::connect(parent) {
            Ok(connection) => connection,
            Err(message) => {
                eprintln!("hostile worker: {message}");
                std::process::exit(70);
            }
        };
        let ready = FromWorker::Ready {
            pid: std::process::id(),
            initializer: None,
        };
        connection.ready(ready).ok()?;
        Some(HostileWorker { connection })
    }

    /// The next batch's tasks, each claimed on the progress page; `None` when told to exit or
    /// when the parent is gone.
    pub fn next_batch(&mut self) -> Option<Vec<HostileTask>> {
        let ToWorker::Run {
            generation, jobs, ..
        } = self.connection.tasks.recv().ok()?
        else {
            return None;
        };
        let mut tasks = Vec::new();
        for (position, job) in (0..).zip(jobs) {
            if position > 0 && !self.connection.progress.claim(generation, position) {
                break;
            }
            let payload = job.payload.bytes(None).ok()?.to_vec();
            tasks.push(HostileTask {
                id: job.id,
                entry: job.entry,
                payload,
            });
        }
        Some(tasks)
    }

    /// Marks `task` as the one running (what the parent reads after a crash).
    pub fn started(&self, task: &HostileTask) {
        self.connection.progress.set_started(task.id);
    }

    /// Runs `task` for real: its encoded outcome, as an honest worker would send it.
    pub fn run(&self, task: &HostileTask) -> Vec<u8> {
        let run = Registry::get()
            .runner(task.entry)
            .expect("a registered task");
        run(&task.payload).into_result().expect("the task encodes")
    }

    /// Sends an honest `Done` for task `id` with `outcome`.
    pub fn send_done(&self, id: u64, outcome: Vec<u8>) {
        let reply = Reply::Value(Payload::from_vec(outcome).expect("shared memory"));
        let done = FromWorker::Done {
            id,
            reply,
            arena: None,
        };
        let _ = self.connection.results.send(done);
    }

    /// Writes a ring record of `kind` (1 data, 2 socket marker, or any other number) holding
    /// `bytes`, unchecked; with `publish == false` the record is written but its write position
    /// never published, as by a worker that dies halfway through a message.
    pub fn ring_raw(&self, kind: u32, bytes: &[u8], publish: bool) {
        let written = self
            .connection
            .results
            .ring_for_tests(|ring| ring.push_raw(kind, bytes, publish));
        assert!(written, "no ring");
    }

    /// Writes and publishes only a ring record header claiming `len` bytes of `kind`.
    pub fn ring_header(&self, len: u32, kind: u32) {
        let written = self
            .connection
            .results
            .ring_for_tests(|ring| ring.push_header(len, kind));
        assert!(written, "no ring");
    }

    /// Publishes `tail` as the write position of the worker's ring, whatever was written.
    pub fn ring_tail(&self, tail: u64) {
        let written = self
            .connection
            .results
            .ring_for_tests(|ring| ring.publish_tail(tail));
        assert!(written, "no ring");
    }

    /// Sends `bytes` as one packet with `descriptors`, unchecked (its place in the order is
    /// marked in the ring, as for any message on the socket).
    pub fn send_raw(&self, bytes: &[u8], descriptors: &[OwnedFd]) {
        if let Err(error) = self.connection.results.send_raw(bytes, descriptors) {
            eprintln!("hostile worker: a send failed: {error}");
        }
    }
}

/// The frame of a `Done` for task `id` whose reply holds `outcome` (placed as `placement`) and
/// which names `arena_slot` as its new result arena, exactly as the transport would encode it.
pub fn done_frame(
    id: u64,
    outcome: &[u8],
    placement: Placement,
    arena_slot: Option<u8>,
) -> Vec<u8> {
    let payload = match placement {
        Placement::Inline => Payload::Inline(crate::Bytes(outcome.to_vec())),
        Placement::Shared(slot) => Payload::Shared(Attached::Slot(slot)),
        Placement::Arena { offset, len } => Payload::Arena { offset, len },
    };
    let done = FromWorker::Done {
        id,
        reply: Reply::Value(payload),
        arena: arena_slot.map(Attached::Slot),
    };
    crate::frame::encode_inline(&done, Vec::new()).expect("a Done encodes")
}

/// A shared-memory region holding `bytes`, sealed against shrinking and growing if
/// `seal_size`, and against writing too if `freeze`.
pub fn region(bytes: &[u8], seal_size: bool, freeze: bool) -> OwnedFd {
    crate::sys::Region::for_tests(bytes, seal_size, freeze).expect("a memfd")
}
