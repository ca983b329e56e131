//! [`Job`]: one submitted task as the pool holds it, with its promise's type erased.
//!
//! The pool's queues and worker tables hold jobs of every task type at once, so the typed
//! [`Promise`] is hidden behind [`ErasedPromise`], which knows how to decode the task's outcome
//! (through its registry entry) and complete the future with the right types.

use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::Duration;

use concurrent_futures_core::{
    BackendError, BrokenExecutor, CodecError, CodecStage, TaskError, WorkerExit,
    backend::{Promise, Start},
};

use crate::chunk::ChunkState;
use crate::protocol::{RemoteFailure, Reply};
use crate::registry::{DecodeFn, Registry};
use crate::shared::Shared;

/// One task: its encoded form, where it goes, and who waits for it.
pub(crate) struct Job {
    /// Unique within the pool, from 1 (0 means "none" on the progress page).
    pub(crate) id: u64,
    /// Registry index of its type.
    pub(crate) entry: u32,
    /// The encoded task; shared so a batch can be resent after a worker dies.
    pub(crate) payload: Arc<[u8]>,
    /// Its time limit once running.
    pub(crate) timeout: Option<Duration>,
    /// Completes its future; `None` once completed (for example interrupted before it started).
    pub(crate) promise: Option<Box<dyn ErasedPromise>>,
    /// Whether the future was already moved to running.
    pub(crate) started: bool,
    /// How many times a dying worker handed it back unstarted (a livelock guard).
    pub(crate) returns: u32,
    /// Its position in the batch it was last sent in.
    pub(crate) position: u32,
    /// For a chunk of `map` (a registry entry that runs item by item): its items' outcomes so
    /// far. `None` for other tasks.
    pub(crate) chunk: Option<Box<ChunkState>>,
}

impl Job {
    /// A job not yet numbered (the pool assigns `id` when it accepts it).
    pub(crate) fn new(
        entry: u32,
        payload: Arc<[u8]>,
        timeout: Option<Duration>,
        promise: Box<dyn ErasedPromise>,
    ) -> Job {
        let chunk = Registry::get()
            .items_runner(entry)
            .and_then(|_| ChunkState::new(&payload))
            .map(Box::new);
        Job {
            id: 0,
            entry,
            chunk,
            payload,
            timeout,
            promise: Some(promise),
            started: false,
            returns: 0,
            position: 0,
        }
    }
}

/// How a job ended, as the pool knows it before decoding.
pub(crate) enum Outcome {
    /// The worker's reply.
    Reply(Reply),
    /// Something happened to the task (its worker died, it expired, the pool broke, ...).
    Failure(Failure),
    /// It was stopped on request (interrupt, `cancel_futures`, `terminate_workers`).
    Cancelled,
}

/// Failures that are not the task's own.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The worker died while running it.
    WorkerLost(WorkerExit),
    /// It ran past its limit and its worker was killed.
    Expired(Duration),
    /// The pool broke.
    Broken(BrokenExecutor),
}

impl Failure {
    fn into_task_error<E>(self) -> TaskError<E> {
        match self {
            Failure::WorkerLost(exit) => TaskError::WorkerLost(exit),
            Failure::Expired(limit) => TaskError::Expired { limit },
            Failure::Broken(broken) => TaskError::Broken(broken),
        }
    }
}

/// A [`Promise`] with its types erased.
pub(crate) trait ErasedPromise: Send {
    /// Moves the future to running; `false` if it was cancelled and must not run.
    fn start(&self) -> bool;
    /// Registers how to stop it while it runs: `shared.interrupt(id)`, if the pool still exists.
    /// (The hook is built here, in the typed promise, so that it is boxed once.)
    fn on_interrupt(&self, shared: Weak<Shared>, id: u64);
    /// Completes the future. Runs its done-callbacks: call with no pool lock held.
    fn finish(self: Box<Self>, outcome: Outcome);
}

/// The typed promise of a task whose outcome is `Result<O, TaskError<E>>`.
pub(crate) struct TypedPromise<O: Send + 'static, E: Send + 'static> {
    promise: Promise<O, E>,
    decode: DecodeFn,
}

impl<O: Send + 'static, E: Send + 'static> TypedPromise<O, E> {
    /// Wraps `promise`; `decode` is its task type's registry decoder.
    pub(crate) fn new(promise: Promise<O, E>, decode: DecodeFn) -> Self {
        TypedPromise { promise, decode }
    }

    fn decode(&self, reply: Reply) -> Result<O, TaskError<E>> {
        match reply {
            Reply::Value(payload) => match payload.bytes(None).and_then(self.decode) {
                Ok(any) => match any.downcast::<Result<O, TaskError<E>>>() {
                    Ok(outcome) => *outcome,
                    Err(_) => Err(TaskError::Backend(BackendError::new(
                        "the registry decoded an outcome of another type",
                    ))),
                },
                Err(message) => Err(TaskError::Codec(CodecError {
                    stage: CodecStage::DecodeResult,
                    message,
                })),
            },
            Reply::Failed(failure) => Err(remote_failure(failure)),
        }
    }
}

/// The task error for a failure the worker reported.
pub(crate) fn remote_failure<E>(failure: RemoteFailure) -> TaskError<E> {
    match failure {
        RemoteFailure::Codec(codec) => TaskError::Codec(codec),
        RemoteFailure::UnknownTask { index } => TaskError::Backend(BackendError::new(format!(
            "the worker has no task at registry index {index}"
        ))),
    }
}

/// A description of a reply's failure for messages (initializer errors).
pub(crate) fn describe_failure(failure: RemoteFailure) -> String {
    remote_failure::<Infallible>(failure).to_string()
}

impl<O: Send + 'static, E: Send + 'static> ErasedPromise for TypedPromise<O, E> {
    fn start(&self) -> bool {
        matches!(self.promise.start(), Ok(Start::Run))
    }

    fn on_interrupt(&self, shared: Weak<Shared>, id: u64) {
        self.promise.on_interrupt(move || {
            if let Some(shared) = shared.upgrade() {
                shared.interrupt(id);
            }
        });
    }

    fn finish(self: Box<Self>, outcome: Outcome) {
        let result = match outcome {
            Outcome::Reply(reply) => self.decode(reply),
            Outcome::Failure(failure) => Err(failure.into_task_error()),
            Outcome::Cancelled => {
                // Fails only if the future is already done, which needs no action.
                let _ = self.promise.set_cancelled();
                return;
            }
        };
        // Fails only if the future is already done (cancelled meanwhile): nobody can see it.
        let _ = self.promise.set_outcome(result);
    }
}
