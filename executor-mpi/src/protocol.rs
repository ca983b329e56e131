//! The messages between rank 0 and the worker ranks, and how they travel (postcard over
//! `MPI_Isend`: on [`TAG`] into the receive each side keeps posted, or, when larger than that
//! receive's buffer, on [`LARGE_TAG`] announced by an empty message on [`TAG`]; see
//! `transport`).
//!
//! Rank 0 sends [`ToWorker`]; workers answer with [`ToRoot`]. Every message is one byte vector;
//! the task and its outcome inside are already encoded by their registry entry (the task model
//! of `concurrent_futures_process::task_model`, shared with the process pool).

use std::borrow::Cow;

use concurrent_futures_core::CodecError;
use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes; checked in the handshake with the registry fingerprint.
pub(crate) const PROTOCOL_VERSION: u32 = 7;

/// The MPI tag of every message of this crate that fits the receive posted in advance, and of
/// the empty message announcing one that does not.
pub(crate) const TAG: mpi::Tag = 7;

/// The MPI tag of a message too large for the receive posted in advance.
pub(crate) const LARGE_TAG: mpi::Tag = 8;

/// One task as it travels to a worker. Rank 0 sends its payload borrowed from the queued job
/// (which keeps it, to send it again if the worker is lost); a worker receives it owned.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireJob<'a> {
    /// The job's number, echoed in its answer.
    pub(crate) id: u64,
    /// Registry index of the task type.
    pub(crate) entry: u32,
    /// The encoded task.
    pub(crate) payload: Cow<'a, [u8]>,
}

/// From rank 0 to a worker rank (`'static` as received: nothing borrowed).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker<'a> {
    /// Sent once, after every worker's hello checked out: how often to show signs of life and
    /// how long rank 0 may stay silent before the worker gives up on it.
    Welcome {
        /// Send something (a [`ToRoot::Heartbeat`] if nothing else) at least this often.
        heartbeat_nanos: u64,
        /// Rank 0 silent for this long means it is gone: the worker ends its process.
        timeout_nanos: u64,
    },
    /// A sign of life from rank 0 (sent when nothing else was sent for a heartbeat interval).
    Heartbeat,
    /// Kill process `pid` of this worker's host with SIGKILL: it is a worker that stopped
    /// answering, and rank 0 cannot reach it itself (fencing, so no stopped process of the
    /// job stays behind).
    Fence {
        /// The process to kill.
        pid: u32,
    },
    /// Run these tasks, in order (sent only to an idle worker).
    Run(Vec<WireJob<'a>>),
    /// Run pool `pool`'s initializer (sent only to an idle worker, before that pool's first
    /// task), and answer [`ToRoot::Initialized`].
    Initialize {
        /// The pool.
        pool: u64,
        /// Registry index of the initializer's type.
        entry: u32,
        /// The encoded initializer.
        payload: Vec<u8>,
    },
    /// Finish what was sent, answer [`ToRoot::Bye`], then wait for [`ToWorker::End`].
    Stop,
    /// Sent once every worker said `Bye` or died: leave.
    End {
        /// Whether to disconnect from rank 0 before finalising MPI: not when a worker died
        /// (the disconnect waits for every peer of the intercommunicator).
        disconnect: bool,
    },
}

/// From a worker rank to rank 0.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToRoot {
    /// Sent once on start-up: what rank 0 checks before sending any task.
    Hello {
        /// The worker's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The worker's task-registry fingerprint (`concurrent_futures_process::task_model`).
        registry: u64,
        /// The worker's process id (rank 0 checks it is alive when on the same host).
        pid: u32,
        /// The worker's host name.
        host: String,
    },
    /// Job `id` ended.
    Done {
        /// The job.
        id: u64,
        /// How long it ran, in nanoseconds (sizes later batches).
        nanos: u64,
        /// Its encoded outcome, or why the worker could not run it.
        reply: Result<Vec<u8>, RemoteFailure>,
    },
    /// Pool `pool`'s initializer ended.
    Initialized {
        /// The pool.
        pool: u64,
        /// Its encoded outcome, or why the worker could not run it.
        reply: Result<Vec<u8>, RemoteFailure>,
    },
    /// The worker stopped: nothing more will come from it.
    Bye,
    /// A sign of life (sent when nothing else was sent for a heartbeat interval).
    Heartbeat,
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
