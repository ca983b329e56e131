//! [`Job`]: one submitted task as rank 0's progress thread holds it, with its promise's type
//! erased behind [`ErasedPromise`] (which decodes the outcome through the registry entry).

use std::cell::Cell;
use std::sync::Arc;

use concurrent_futures_core::{
    BackendError, BrokenExecutor, CodecError, CodecStage, TaskError, WorkerExit,
    backend::{Promise, Start},
};

use concurrent_futures_process::task_model::DecodeFn;

use crate::pool::PoolState;
use crate::protocol::RemoteFailure;

/// One task: its encoded form, its pool, and who waits for it.
pub(crate) struct Job {
    /// Unique within the session.
    pub(crate) id: u64,
    /// Registry index of its type.
    pub(crate) entry: u32,
    /// The encoded task (kept after it is sent: a lost worker's unstarted jobs are sent again).
    pub(crate) payload: std::sync::Arc<[u8]>,
    /// Its future was moved to running (it was sent once already).
    pub(crate) started: bool,
    /// The pool that accepted it (told when it ends; sizes batches).
    pub(crate) pool: Arc<PoolState>,
    /// Completes its future.
    pub(crate) promise: Box<dyn ErasedPromise>,
}

/// How a job ended.
pub(crate) enum Outcome {
    /// The worker's answer.
    Reply(Result<Vec<u8>, RemoteFailure>),
    /// It was cancelled before it ran.
    Cancelled,
    /// The session ended before it could finish.
    Broken(BrokenExecutor),
    /// The worker running it was lost.
    WorkerLost(WorkerExit),
}

thread_local! {
    /// How many [`Job::finish`]es this thread is inside (callbacks can finish other jobs).
    static FINISHING: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is running a job's done-callbacks: a pool's `shutdown(wait)` from there
/// must not wait, since the job ends only after its callbacks.
pub(crate) fn finishing() -> bool {
    FINISHING.with(Cell::get) > 0
}

impl Job {
    /// Completes the future with `outcome`, then tells the pool. Runs done-callbacks: call
    /// with no lock held.
    pub(crate) fn finish(self, outcome: Outcome) {
        /// Leaves the finishing state however `finish` leaves.
        struct Finishing;
        impl Drop for Finishing {
            fn drop(&mut self) {
                FINISHING.with(|depth| depth.set(depth.get() - 1));
            }
        }
        FINISHING.with(|depth| depth.set(depth.get() + 1));
        let finishing = Finishing;
        self.promise.finish(outcome);
        drop(finishing);
        self.pool.job_ended(self.id);
    }
}

/// A [`Promise`] with its types erased.
pub(crate) trait ErasedPromise: Send {
    /// Moves the future to running; `false` if it was cancelled and must not run.
    fn start(&self) -> bool;
    /// Completes the future.
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

    fn decode(&self, reply: Result<Vec<u8>, RemoteFailure>) -> Result<O, TaskError<E>> {
        match reply {
            Ok(bytes) => match (self.decode)(&bytes) {
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
            Err(RemoteFailure::Codec(codec)) => Err(TaskError::Codec(codec)),
            Err(RemoteFailure::UnknownTask { index }) => Err(TaskError::Backend(
                BackendError::new(format!("the worker has no task at registry index {index}")),
            )),
        }
    }
}

impl<O: Send + 'static, E: Send + 'static> ErasedPromise for TypedPromise<O, E> {
    fn start(&self) -> bool {
        matches!(self.promise.start(), Ok(Start::Run))
    }

    fn finish(self: Box<Self>, outcome: Outcome) {
        let result = match outcome {
            Outcome::Reply(reply) => self.decode(reply),
            Outcome::Broken(broken) => Err(TaskError::Broken(broken)),
            Outcome::WorkerLost(exit) => Err(TaskError::WorkerLost(exit)),
            Outcome::Cancelled => {
                // Fails only if the future is already done, which needs no action.
                let _ = self.promise.set_cancelled();
                return;
            }
        };
        // Fails only if the future is already done (cancelled meanwhile): nobody sees it.
        let _ = self.promise.set_outcome(result);
    }
}
