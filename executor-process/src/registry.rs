//! The task registry: which task types and functions a worker can run, keyed by type.
//!
//! [`register_task!`](crate::register_task) and [`remote_fn!`](crate::remote_fn) each add entries
//! at link time (through `inventory`), so there is no hand-written dispatch table. Parent and
//! worker are the same binary and build the same registry: entries are sorted by name and type
//! so both sides agree on indexes, and a fingerprint of the whole list is checked in the
//! handshake. The parent finds an entry by `TypeId`; only its index crosses the wire.
//!
//! There is one registry per binary, whichever backend carries the tasks: the process pool and
//! `concurrent-futures-mpi` both read it (through [`task_model`](crate::task_model)).
//!
//! An entry carries two monomorphised functions: `run` (worker side: decode the task, run it
//! with panics caught, encode the outcome) and `decode` (parent side: decode the outcome into
//! the exact `Result<T::Output, TaskError<T::Error>>` the future holds, boxed as `Any`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use concurrent_futures_core::{
    CodecError, CodecStage, PanicInfo, Task, TaskError, WorkerExit,
    backend::{Chunk, ChunkOutput, Outcomes, catch_panic},
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec;

/// Bumped whenever the encoding of tasks or outcomes changes; part of the registry fingerprint.
/// (Each backend checks the version of its own messages separately.)
const TASK_MODEL_VERSION: u32 = 2;

/// A task's encoding as [`prepare`] makes it: one allocation, shared without copying by the
/// backend's record of the task (to send it again if its worker is lost) and the message that
/// carries it.
pub type EncodedTask = Arc<[u8]>;

/// Worker side of an entry: encoded task in, encoded outcome out.
pub type RunFn = fn(&[u8]) -> RunResult;

/// Parent side of an entry: encoded outcome in, the future's outcome out, boxed as `Any`.
///
/// For a task type `T` the box holds a `Result<T::Output, TaskError<T::Error>>` (for a function,
/// `TaskError<Infallible>`); `Err` is a message saying why the bytes did not decode.
pub type DecodeFn = fn(&[u8]) -> Result<Box<dyn Any + Send>, String>;

/// Worker side of a chunk entry, item by item: runs the items of the encoded chunk from position
/// `start` on, one after another, telling `sink` when each starts and handing it each encoded
/// outcome (a `WireOutcome`) as soon as the item finished. `Err` if the chunk did not decode.
///
/// The outcomes, one after another, prefixed with their count, are exactly the encoding of the
/// chunk's outcome (the `Vec` of per-item outcomes that the entry's [`DecodeFn`] decodes).
pub type RunItemsFn = fn(&[u8], usize, &mut dyn ItemSink) -> Result<(), CodecError>;

/// Where the worker side of a chunk entry reports each item ([`RunItemsFn`]). Not for direct
/// use.
#[doc(hidden)]
pub trait ItemSink {
    /// The next item starts now.
    fn begin(&mut self);
    /// Where to encode the outcome of the item that just ran, in place (it may be too small).
    fn room(&mut self) -> &mut [u8];
    /// That outcome is the first `len` bytes of [`room`](Self::room). `false`: stop (the
    /// parent is gone).
    fn commit_room(&mut self, len: usize) -> bool;
    /// That outcome, encoded elsewhere (it did not fit the room). `false`: stop.
    fn commit(&mut self, record: &[u8]) -> bool;
}

/// What an entry's worker side produced: the encoded outcome, to be sent back to the parent.
#[derive(Debug)]
pub struct RunResult(Result<Vec<u8>, CodecError>);

impl RunResult {
    /// The encoded outcome (a value, the task's error or its panic, for the parent's
    /// [`DecodeFn`]), or the codec error when the task did not decode or its outcome did not
    /// encode.
    pub fn into_result(self) -> Result<Vec<u8>, CodecError> {
        self.0
    }
}

/// One runnable task type. Created by the registration macros; not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct TaskEntry {
    name: fn() -> &'static str,
    type_id: fn() -> TypeId,
    run: RunFn,
    decode: DecodeFn,
    /// For chunk entries: the worker side item by item (the process pool's way to run them).
    run_items: Option<RunItemsFn>,
}

inventory::collect!(TaskEntry);

impl TaskEntry {
    /// An entry from its parts (used by `remote_fn!`).
    pub const fn from_parts(
        name: fn() -> &'static str,
        type_id: fn() -> TypeId,
        run: RunFn,
        decode: DecodeFn,
    ) -> TaskEntry {
        TaskEntry {
            name,
            type_id,
            run,
            decode,
            run_items: None,
        }
    }

    /// The entry with `run_items` as its item-by-item worker side (for chunk entries).
    pub const fn with_items(self, run_items: RunItemsFn) -> TaskEntry {
        TaskEntry {
            run_items: Some(run_items),
            ..self
        }
    }

    /// The entry for the task type `T`.
    pub const fn task<T>() -> TaskEntry
    where
        T: Task + Serialize + DeserializeOwned,
        T::Output: Serialize + DeserializeOwned,
        T::Error: Serialize + DeserializeOwned,
    {
        TaskEntry {
            name: std::any::type_name::<T>,
            type_id: TypeId::of::<T>,
            run: run_task::<T>,
            decode: decode_task::<T>,
            run_items: None,
        }
    }

    /// The entry for `Chunk<T>` (what `map` with a `chunksize` sends).
    pub const fn chunk<T>() -> TaskEntry
    where
        T: Task + Serialize + DeserializeOwned,
        T::Output: Serialize + DeserializeOwned,
        T::Error: Serialize + DeserializeOwned,
    {
        TaskEntry {
            name: std::any::type_name::<Chunk<T>>,
            type_id: TypeId::of::<Chunk<T>>,
            run: run_chunk::<T>,
            decode: decode_chunk::<T>,
            run_items: Some(run_chunk_items::<T>),
        }
    }
}

/// A task's outcome as the worker encodes it. `E` is the task's own error, or [`Never`].
#[derive(Serialize, Deserialize)]
pub(crate) enum WireOutcome<O, E> {
    /// It returned a value.
    Value(O),
    /// It returned its own error.
    Failed(E),
    /// It panicked.
    Panicked(PanicInfo),
    /// An item of a chunk failed outside the task: recorded by the pool, not by the task.
    Pool(ItemFailure),
}

/// How an item of a chunk failed outside its task. Encoded by itself as
/// `WireOutcome::<Never, Never>::Pool(failure)`, it is a valid record for a chunk of any task
/// type (the variant does not depend on the outcome's types), which is how the parent fills in
/// the item a worker died running.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ItemFailure {
    /// Its worker died while running it.
    WorkerLost(WorkerExit),
    /// It ran past its time limit and its worker was killed.
    Expired(Duration),
    /// Its outcome did not encode.
    Codec(CodecError),
}

impl ItemFailure {
    /// The item's record: its encoded outcome.
    pub(crate) fn record(&self) -> Vec<u8> {
        codec::encode(&WireOutcome::<Never, Never>::Pool(self.clone()))
            .expect("a pool failure always encodes")
    }
}

/// The error type of tasks that cannot fail (`Infallible` has no serde implementation).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Never {}

impl<O, E> WireOutcome<O, E> {
    /// From what `run_caught` returned.
    pub(crate) fn from_result(result: Result<O, TaskError<E>>) -> Self {
        match result {
            Ok(value) => WireOutcome::Value(value),
            Err(TaskError::Failed(error)) => WireOutcome::Failed(error),
            Err(TaskError::Panicked(panic)) => WireOutcome::Panicked(panic),
            Err(other) => WireOutcome::Panicked(PanicInfo::new(
                format!(
                    "unexpected outcome: {}",
                    other.map_failure(|_| "task error")
                ),
                None,
            )),
        }
    }

    /// Back to the future's outcome.
    pub(crate) fn into_result(self) -> Result<O, TaskError<E>> {
        match self {
            WireOutcome::Value(value) => Ok(value),
            WireOutcome::Failed(error) => Err(TaskError::Failed(error)),
            WireOutcome::Panicked(panic) => Err(TaskError::Panicked(panic)),
            WireOutcome::Pool(ItemFailure::WorkerLost(exit)) => Err(TaskError::WorkerLost(exit)),
            WireOutcome::Pool(ItemFailure::Expired(limit)) => Err(TaskError::Expired { limit }),
            WireOutcome::Pool(ItemFailure::Codec(codec)) => Err(TaskError::Codec(codec)),
        }
    }
}

impl<O> WireOutcome<O, Never> {
    /// For tasks whose error is `Infallible`.
    pub(crate) fn from_infallible(result: Result<O, TaskError<Infallible>>) -> Self {
        WireOutcome::from_result(result.map_err(|e| e.map_failure(|never| match never {})))
    }

    /// Back to an outcome with `Infallible` errors.
    pub(crate) fn into_infallible(self) -> Result<O, TaskError<Infallible>> {
        self.into_result()
            .map_err(|e| e.map_failure(|never| match never {}))
    }
}

fn decode_failure(message: String) -> CodecError {
    CodecError {
        stage: CodecStage::DecodeTask,
        message,
    }
}

fn encode_failure(message: String) -> CodecError {
    CodecError {
        stage: CodecStage::EncodeResult,
        message,
    }
}

fn run_task<T>(bytes: &[u8]) -> RunResult
where
    T: Task + DeserializeOwned,
    T::Output: Serialize,
    T::Error: Serialize,
{
    RunResult(
        codec::decode::<T>(bytes)
            .map_err(decode_failure)
            .and_then(|task| {
                let outcome =
                    WireOutcome::from_result(concurrent_futures_core::backend::run_caught(task));
                codec::encode(&outcome).map_err(encode_failure)
            }),
    )
}

fn decode_task<T>(bytes: &[u8]) -> Result<Box<dyn Any + Send>, String>
where
    T: Task,
    T::Output: DeserializeOwned,
    T::Error: DeserializeOwned,
{
    let outcome: WireOutcome<T::Output, T::Error> = codec::decode(bytes)?;
    Ok(Box::new(outcome.into_result()))
}

fn run_chunk<T>(bytes: &[u8]) -> RunResult
where
    T: Task + DeserializeOwned,
    T::Output: Serialize,
    T::Error: Serialize,
{
    RunResult(
        codec::decode::<Chunk<T>>(bytes)
            .map_err(decode_failure)
            .and_then(|chunk| {
                let outcomes: Vec<WireOutcome<T::Output, T::Error>> = chunk
                    .into_tasks()
                    .into_iter()
                    .map(|task| {
                        WireOutcome::from_result(concurrent_futures_core::backend::run_caught(task))
                    })
                    .collect();
                codec::encode(&outcomes).map_err(encode_failure)
            }),
    )
}

fn decode_chunk<T>(bytes: &[u8]) -> Result<Box<dyn Any + Send>, String>
where
    T: Task,
    T::Output: DeserializeOwned,
    T::Error: DeserializeOwned,
{
    let outcomes: Vec<WireOutcome<T::Output, T::Error>> = codec::decode(bytes)?;
    let results: ChunkOutput<T> = outcomes.into_iter().map(WireOutcome::into_result).collect();
    Ok(Box::new(Ok::<_, TaskError<Infallible>>(results)))
}

fn run_chunk_items<T>(bytes: &[u8], start: usize, sink: &mut dyn ItemSink) -> Result<(), CodecError>
where
    T: Task + DeserializeOwned,
    T::Output: Serialize,
    T::Error: Serialize,
{
    // `Chunk<T>` is a newtype: it encodes as its `Vec<T>`.
    run_items_with::<T, _, _>(
        bytes,
        start,
        sink,
        concurrent_futures_core::backend::run_caught,
    )
}

/// Runs items `start..` of an encoded `Vec<A>` with `call`, reporting each to `sink`.
pub(crate) fn run_items_with<A, R, E>(
    bytes: &[u8],
    start: usize,
    sink: &mut dyn ItemSink,
    mut call: impl FnMut(A) -> Result<R, TaskError<E>>,
) -> Result<(), CodecError>
where
    A: DeserializeOwned,
    R: Serialize,
    E: Serialize,
{
    let items = codec::decode::<Vec<A>>(bytes).map_err(decode_failure)?;
    let mut items = items.into_iter().skip(start);
    let mut record = Vec::new();
    loop {
        // The tasks' panics are caught by `call`; what can still panic is an outcome's
        // `Serialize`. One guard for the whole loop (re-entered after such a panic, which
        // fails only that item) instead of one per item.
        let ran = catch_panic(|| {
            for item in items.by_ref() {
                sink.begin();
                let outcome = WireOutcome::from_result(call(item));
                let encoded = match codec::encode_in_place_unguarded(&outcome, sink.room()) {
                    Ok(Some(len)) => Ok(Some(len)),
                    Ok(None) => codec::encode_into(&outcome, &mut record).map(|()| None),
                    Err(message) => Err(message),
                };
                let go_on = match encoded {
                    Ok(Some(len)) => sink.commit_room(len),
                    Ok(None) => sink.commit(&record),
                    Err(message) => {
                        sink.commit(&ItemFailure::Codec(encode_failure(message)).record())
                    }
                };
                if !go_on {
                    return;
                }
            }
        });
        match ran {
            Ok(()) => return Ok(()),
            Err(panic) => {
                let failure = ItemFailure::Codec(encode_failure(codec::panicked::<
                    WireOutcome<R, E>,
                >(&panic)));
                if !sink.commit(&failure.record()) {
                    return Ok(());
                }
            }
        }
    }
}

/// Runs the worker side of a function entry (for `remote_fn!` expansions).
pub(crate) fn run_with<A, R>(bytes: &[u8], call: impl FnOnce(A) -> R) -> RunResult
where
    A: DeserializeOwned,
    R: Serialize,
{
    RunResult(
        codec::decode::<A>(bytes)
            .map_err(decode_failure)
            .and_then(|args| {
                let result = concurrent_futures_core::backend::catch_panic(move || call(args))
                    .map_err(TaskError::<Infallible>::Panicked);
                codec::encode(&WireOutcome::from_infallible(result)).map_err(encode_failure)
            }),
    )
}

/// Runs the worker side of a chunk of function calls.
pub(crate) fn run_chunk_with<A, R>(bytes: &[u8], call: impl Fn(A) -> R) -> RunResult
where
    A: DeserializeOwned,
    R: Serialize,
{
    RunResult(
        codec::decode::<Vec<A>>(bytes)
            .map_err(decode_failure)
            .and_then(|args| {
                let outcomes: Vec<WireOutcome<R, Never>> = args
                    .into_iter()
                    .map(|a| {
                        let result = concurrent_futures_core::backend::catch_panic(|| call(a))
                            .map_err(TaskError::<Infallible>::Panicked);
                        WireOutcome::from_infallible(result)
                    })
                    .collect();
                codec::encode(&outcomes).map_err(encode_failure)
            }),
    )
}

/// Decodes the outcome of a function entry.
pub(crate) fn decode_with<R>(bytes: &[u8]) -> Result<Box<dyn Any + Send>, String>
where
    R: DeserializeOwned + Send + 'static,
{
    let outcome: WireOutcome<R, Never> = codec::decode(bytes)?;
    Ok(Box::new(outcome.into_infallible()))
}

/// Decodes the outcome of a chunk of function calls.
pub(crate) fn decode_chunk_with<R>(bytes: &[u8]) -> Result<Box<dyn Any + Send>, String>
where
    R: DeserializeOwned + Send + 'static,
{
    let outcomes: Vec<WireOutcome<R, Never>> = codec::decode(bytes)?;
    let results: Outcomes<R, Infallible> = outcomes
        .into_iter()
        .map(WireOutcome::into_infallible)
        .collect();
    Ok(Box::new(Ok::<_, TaskError<Infallible>>(results)))
}

/// The environment variable that perturbs the registry fingerprint: a worker started with it
/// set takes itself for another build, so tests can check that a mismatch is refused.
pub const REGISTRY_SALT_ENV: &str = "EXECUTOR_REGISTRY_SALT";

/// The registry of this binary, built on first use: every entry of
/// [`register_task!`](crate::register_task) and [`remote_fn!`](crate::remote_fn), whichever
/// backend will carry the tasks.
#[derive(Debug)]
pub struct Registry {
    entries: Vec<&'static TaskEntry>,
    by_type: HashMap<TypeId, u32>,
    fingerprint: u64,
}

/// What the parent needs to submit a task type: found by [`Registry::lookup`].
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// The index sent on the wire; the worker finds the entry with [`Registry::runner`].
    pub index: u32,
    /// Decodes the outcome the worker sent back.
    pub decode: DecodeFn,
}

impl Registry {
    /// This binary's registry.
    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    fn build() -> Registry {
        let mut entries: Vec<&'static TaskEntry> = inventory::iter::<TaskEntry>().collect();
        entries.sort_by(|a, b| ((a.name)(), (a.type_id)()).cmp(&((b.name)(), (b.type_id)())));
        // The same type registered twice gets one entry.
        entries.dedup_by(|a, b| (a.type_id)() == (b.type_id)());
        let mut hasher = DefaultHasher::new();
        TASK_MODEL_VERSION.hash(&mut hasher);
        // A testing hook: a worker started with this variable takes itself for another build.
        std::env::var_os(REGISTRY_SALT_ENV).hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        let mut by_type = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            (entry.name)().hash(&mut hasher);
            (entry.type_id)().hash(&mut hasher);
            by_type.insert((entry.type_id)(), index as u32);
        }
        Registry {
            entries,
            by_type,
            fingerprint: hasher.finish(),
        }
    }

    /// Identifies this registry and the task encoding: equal in every process of the same
    /// binary, so parent and workers compare it before any task is sent.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The entry for the task type `T`, if it was registered.
    pub fn lookup<T: 'static>(&self) -> Option<Registered> {
        let index = *self.by_type.get(&TypeId::of::<T>())?;
        Some(Registered {
            index,
            decode: self.entries[index as usize].decode,
        })
    }

    /// The worker side of entry `index`, if there is one.
    pub fn runner(&self, index: u32) -> Option<RunFn> {
        self.entries.get(index as usize).map(|entry| entry.run)
    }

    /// The item-by-item worker side of entry `index`, if it is a chunk entry.
    pub(crate) fn items_runner(&self, index: u32) -> Option<RunItemsFn> {
        self.entries.get(index as usize)?.run_items
    }
}

/// What a backend does first with a task it carries to another process: finds its registry
/// entry and encodes it. The error is what the task's future should fail with: an
/// unregistered type ([`TaskError::Backend`], with [`not_registered`]'s message) or a task that
/// does not encode ([`TaskError::Codec`] at [`CodecStage::EncodeTask`]).
///
/// ```
/// use concurrent_futures::{Task, TaskError};
/// use concurrent_futures::process::task_model::prepare;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Triple(u64);
/// impl Task for Triple {
///     type Output = u64;
///     type Error = String;
///     fn run(self) -> Result<u64, String> { Ok(self.0 * 3) }
/// }
/// concurrent_futures::register_task!(Triple);
///
/// #[derive(Serialize)]
/// struct NeverRegistered;
/// impl Task for NeverRegistered {
///     type Output = ();
///     type Error = String;
///     fn run(self) -> Result<(), String> { Ok(()) }
/// }
///
/// fn main() {
///     let (entry, payload) = prepare(&Triple(7)).ok().expect("registered, and it encodes");
///     assert!(!payload.is_empty());
///     # let _ = entry.index;
///     let error = prepare(&NeverRegistered).err().expect("never registered");
///     assert!(matches!(error, TaskError::Backend(_)));
/// }
/// ```
pub fn prepare<T: Task + Serialize>(
    task: &T,
) -> Result<(Registered, EncodedTask), TaskError<T::Error>> {
    let registered = Registry::get().lookup::<T>().ok_or_else(|| {
        TaskError::Backend(concurrent_futures_core::BackendError::new(not_registered(
            std::any::type_name::<T>(),
        )))
    })?;
    let payload = codec::encode_shared(task).map_err(|message| {
        TaskError::Codec(CodecError {
            stage: CodecStage::EncodeTask,
            message,
        })
    })?;
    Ok((registered, payload))
}

/// The message for a task type that was never registered.
pub fn not_registered(type_name: &str) -> String {
    format!(
        "task type `{type_name}` is not registered: add `register_task!(...)` (from concurrent_futures_process \
         or concurrent_futures_mpi: one registration serves both) for it, or `remote_fn!` for a function"
    )
}
