//! The messages between the parent and a worker, and how their byte payloads travel.
//!
//! One long-lived channel each way per worker (no descriptor per task):
//!
//! ```text
//! parent                                   worker
//!   |  <- rendezvous name on the stdin pipe  |  (worker listens in a 0700 temp dir)
//!   |  Setup{results sender, progress page}->|
//!   |  <---------------- Ready{pid, init}    |
//!   |  Run[job, job, ...] ------------------>|  (a batch when the queue is deep)
//!   |  <-------------------- Done{id, reply} |  (one per task, in order)
//!   |  Exit -------------------------------->|
//! ```
//!
//! Payloads are opaque bytes (encoded by `codec.rs`); small ones ride inline in the message, large
//! ones go in a shared-memory region (a memfd whose descriptor is passed with the message), so a
//! large argument never fills the socket and never blocks a send.
//!
//! The progress page is a few bytes of shared memory where the worker records the id of the task
//! it starts. When a worker dies, the parent reads it to know exactly which task was running:
//! that one fails, the others of its batch go back to the queue.

use std::sync::atomic::{AtomicU64, Ordering};

use executor_core::CodecError;
use ipc_channel::ipc::{IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;

/// Bumped whenever a message changes shape; checked in the handshake.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// Payloads at least this large travel in shared memory instead of inline.
pub(crate) const SHARED_MEMORY_THRESHOLD: usize = 32 * 1024;

/// A batch stops growing once its inline payloads reach this many bytes, which keeps every
/// message well below the socket buffer: a send to an idle worker never blocks.
pub(crate) const BATCH_INLINE_BYTES: usize = 96 * 1024;

/// Parent to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The first message: where to send results, and what to run first.
    Setup(Setup),
    /// Tasks to run in order, reporting each result as soon as it is ready.
    Run(Vec<JobMessage>),
    /// Finish: exit once this message is read.
    Exit,
}

/// What a worker needs to start.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// [`PROTOCOL_VERSION`] of the parent.
    pub(crate) protocol: u32,
    /// The parent's task-registry fingerprint; the worker refuses to run on a mismatch.
    pub(crate) fingerprint: u64,
    /// Where results go. The worker holds the only copy, so it closes when the worker dies.
    pub(crate) results: IpcSender<FromWorker>,
    /// The progress page (see the module docs).
    pub(crate) progress: IpcSharedMemory,
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
    /// The encoded task.
    pub(crate) payload: Payload,
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
    /// Large: a shared-memory region passed by descriptor.
    Shared(IpcSharedMemory),
}

impl Payload {
    /// Wraps `bytes`, moving them to shared memory if they are large.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> Payload {
        if bytes.len() >= SHARED_MEMORY_THRESHOLD {
            Payload::Shared(IpcSharedMemory::from_bytes(&bytes))
        } else {
            Payload::Inline(Bytes(bytes))
        }
    }

    /// Copies `bytes` into a payload.
    pub(crate) fn from_slice(bytes: &[u8]) -> Payload {
        if bytes.len() >= SHARED_MEMORY_THRESHOLD {
            Payload::Shared(IpcSharedMemory::from_bytes(bytes))
        } else {
            Payload::Inline(Bytes(bytes.to_vec()))
        }
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Inline(bytes) => bytes,
            Payload::Shared(memory) => memory,
        }
    }
}

/// The progress page: the id of the task the worker started last (0: none yet).
///
/// Both processes map the same region; it is only ever accessed through atomics.
#[derive(Debug)]
pub(crate) struct Progress {
    memory: IpcSharedMemory,
    started: *const AtomicU64,
}

// SAFETY: `started` points into the mapping owned by `memory`, which lives as long as `self`;
// every access through it is atomic, so sharing across threads is sound.
unsafe impl Send for Progress {}
// SAFETY: as above.
unsafe impl Sync for Progress {}

impl Progress {
    /// A fresh page, for the parent to send in [`Setup`].
    pub(crate) fn new() -> Progress {
        Progress::from_memory(IpcSharedMemory::from_byte(0, 64))
            .expect("a 64-byte region holds the progress page")
    }

    /// Adopts a received page; `None` if it is too small to hold one.
    pub(crate) fn from_memory(mut memory: IpcSharedMemory) -> Option<Progress> {
        // SAFETY: we take a raw pointer only; the bytes are never read or written through a
        // reference afterwards, only through the atomic below.
        let bytes = unsafe { memory.deref_mut() };
        let pointer = bytes.as_mut_ptr();
        if bytes.len() < size_of::<AtomicU64>() || (pointer as usize) % align_of::<AtomicU64>() != 0
        {
            return None;
        }
        Some(Progress {
            memory,
            started: pointer.cast::<AtomicU64>(),
        })
    }

    /// The region, to send to the worker.
    pub(crate) fn share(&self) -> IpcSharedMemory {
        self.memory.clone()
    }

    /// Records that task `id` starts now.
    pub(crate) fn set_started(&self, id: u64) {
        // SAFETY: `started` is valid, aligned and only accessed atomically (see the type docs).
        unsafe { &*self.started }.store(id, Ordering::Release);
    }

    /// The id of the task started last.
    pub(crate) fn started(&self) -> u64 {
        // SAFETY: as in `set_started`.
        unsafe { &*self.started }.load(Ordering::Acquire)
    }
}
