//! [`Initializer`]: a pool's initializer (mpi4py's `initializer`/`initargs`), a registered task
//! run once on each worker before that pool's first task reaches it, and how its outcome is
//! judged.

use std::fmt;

use concurrent_futures_core::{Task, TaskError};
use concurrent_futures_process::task_model::{self as codec, DecodeFn, Registry, not_registered};
use serde::Serialize;

use crate::protocol::RemoteFailure;

/// Turns an initializer's encoded outcome into success or the reason it failed.
type JudgeFn = fn(DecodeFn, &[u8]) -> Result<(), String>;

/// A pool's initializer, encoded once for every worker.
pub(crate) struct Initializer {
    /// Registry index of its type.
    pub(crate) entry: u32,
    /// The encoded task.
    pub(crate) payload: Vec<u8>,
    decode: DecodeFn,
    judge: JudgeFn,
}

impl Initializer {
    /// Encodes `task`; the reason if its type is not registered or it does not encode.
    pub(crate) fn new<T>(task: &T) -> Result<Initializer, String>
    where
        T: Task + Serialize,
        T::Error: fmt::Debug,
    {
        let registered = Registry::get()
            .lookup::<T>()
            .ok_or_else(|| not_registered(std::any::type_name::<T>()))?;
        let payload = codec::encode(task)?;
        Ok(Initializer {
            entry: registered.index,
            payload,
            decode: registered.decode,
            judge: judge::<T>,
        })
    }

    /// Whether it succeeded on a worker that answered `reply`; else why not.
    pub(crate) fn outcome(&self, reply: Result<Vec<u8>, RemoteFailure>) -> Result<(), String> {
        match reply {
            Ok(bytes) => (self.judge)(self.decode, &bytes),
            Err(RemoteFailure::Codec(codec)) => Err(format!("it did not travel: {codec}")),
            Err(RemoteFailure::UnknownTask { index }) => {
                Err(format!("the worker has no task at registry index {index}"))
            }
        }
    }
}

/// The judge of initializers of type `T`.
fn judge<T>(decode: DecodeFn, bytes: &[u8]) -> Result<(), String>
where
    T: Task,
    T::Error: fmt::Debug,
{
    let decoded =
        decode(bytes).map_err(|message| format!("its outcome did not decode: {message}"))?;
    match decoded.downcast::<Result<T::Output, TaskError<T::Error>>>() {
        Ok(outcome) => match *outcome {
            Ok(_) => Ok(()),
            Err(TaskError::Failed(error)) => Err(format!("it failed: {error:?}")),
            Err(TaskError::Panicked(panic)) => Err(format!("it panicked: {}", panic.message())),
            Err(other) => Err(format!("it did not complete: {other:?}")),
        },
        Err(_) => Err("the registry decoded an outcome of another type".into()),
    }
}
