//! Every error a caller of this crate can see, one type per operation.
//!
//! [`TaskError`] is what a future holds when it did not produce a value (and what waiting on it
//! can add: [`TaskError::Timeout`]). [`SubmitError`] hands a refused task back, so nothing is lost.
//! [`InvalidStateError`] is a backend's misuse of a [`Promise`](crate::Promise).

use std::any::Any;
use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::state::State;

/// Why a future did not produce a value.
///
/// The task's own error type `E` travels intact in [`TaskError::Failed`]; everything else is
/// something that happened *to* the task. Cloning is cheap: the variants that carry heavy or
/// non-`Clone` data share it.
///
/// ```
/// use executor_core::{Future, TaskError};
///
/// let (promise, future) = Future::<u32, String>::pending();
/// promise.set_error("disk full".to_string()).unwrap();
/// match future.result() {
///     Err(TaskError::Failed(message)) => assert_eq!(message, "disk full"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum TaskError<E = Infallible> {
    /// The task ran and returned its own error.
    Failed(E),
    /// The task panicked; the message and location are kept.
    Panicked(PanicInfo),
    /// The future was cancelled before it started.
    Cancelled,
    /// Waiting for the future timed out. The future itself is untouched and can be waited on again.
    Timeout,
    /// The task ran past its time limit and the backend stopped it.
    Expired {
        /// The limit it ran past.
        limit: Duration,
    },
    /// The worker running the task died (process backends).
    WorkerLost(WorkerExit),
    /// The executor is broken and will not run this task.
    Broken(BrokenExecutor),
    /// The executor refused to accept the task (from [`Map`](crate::Map), which has no task to hand back).
    Rejected(Rejected),
    /// An argument or result could not cross a process boundary.
    Codec(CodecError),
    /// The backend dropped the task's [`Promise`](crate::Promise) without completing it.
    Abandoned,
    /// The outcome was moved out by [`Future::into_result`](crate::Future::into_result) through
    /// another handle of the same future.
    Taken,
    /// A backend-specific failure.
    Backend(BackendError),
}

impl<E> TaskError<E> {
    /// `true` for [`TaskError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// `true` for [`TaskError::Timeout`]: the *wait* timed out, the task may still finish.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::Timeout)
    }

    /// `true` for [`TaskError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// The task's own error, if it returned one.
    pub fn failure(&self) -> Option<&E> {
        match self {
            TaskError::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The panic, if the task panicked.
    pub fn panic_info(&self) -> Option<&PanicInfo> {
        match self {
            TaskError::Panicked(p) => Some(p),
            _ => None,
        }
    }

    /// Turns the task's own error type into another, keeping every other variant.
    pub fn map_failure<F>(self, f: impl FnOnce(E) -> F) -> TaskError<F> {
        match self {
            TaskError::Failed(e) => TaskError::Failed(f(e)),
            TaskError::Panicked(p) => TaskError::Panicked(p),
            TaskError::Cancelled => TaskError::Cancelled,
            TaskError::Timeout => TaskError::Timeout,
            TaskError::Expired { limit } => TaskError::Expired { limit },
            TaskError::WorkerLost(w) => TaskError::WorkerLost(w),
            TaskError::Broken(b) => TaskError::Broken(b),
            TaskError::Rejected(r) => TaskError::Rejected(r),
            TaskError::Codec(c) => TaskError::Codec(c),
            TaskError::Abandoned => TaskError::Abandoned,
            TaskError::Taken => TaskError::Taken,
            TaskError::Backend(b) => TaskError::Backend(b),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(e) => write!(f, "task failed: {e}"),
            TaskError::Panicked(p) => write!(f, "task panicked: {p}"),
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Timeout => f.write_str("timed out waiting for the task"),
            TaskError::Expired { limit } => {
                write!(
                    f,
                    "task ran past its time limit of {limit:?} and was stopped"
                )
            }
            TaskError::WorkerLost(w) => write!(f, "{w}"),
            TaskError::Broken(b) => write!(f, "{b}"),
            TaskError::Rejected(r) => write!(f, "task was not submitted: {r}"),
            TaskError::Codec(c) => write!(f, "{c}"),
            TaskError::Abandoned => {
                f.write_str("the executor dropped the task without completing it")
            }
            TaskError::Taken => {
                f.write_str("the outcome was already moved out through another handle")
            }
            TaskError::Backend(b) => write!(f, "{b}"),
        }
    }
}

impl<E: Error + 'static> Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TaskError::Failed(e) => Some(e),
            TaskError::Broken(b) => Some(b),
            TaskError::WorkerLost(w) => Some(w),
            TaskError::Codec(c) => Some(c),
            TaskError::Backend(b) => Some(b),
            _ => None,
        }
    }
}

/// What is known of a panic: its message and where it happened.
///
/// In-process backends also keep the payload, which [`PanicInfo::take_payload`] hands out once
/// (for `std::panic::resume_unwind`). Payloads do not cross process boundaries.
#[derive(Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PanicInfo {
    message: String,
    /// Boxed: it is rare, and inline it would make every `TaskError` (and so every future's
    /// cell) 24 bytes larger.
    location: Option<Box<PanicLocation>>,
    #[cfg_attr(feature = "serde", serde(skip))]
    payload: Option<Arc<PanicPayload>>,
}

/// The source location of a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PanicLocation {
    /// Source file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

struct PanicPayload(Mutex<Option<Box<dyn Any + Send>>>);

impl PanicInfo {
    /// Builds a panic description from its parts (for backends that receive panics from elsewhere).
    pub fn new(message: impl Into<String>, location: Option<PanicLocation>) -> Self {
        Self {
            message: message.into(),
            location: location.map(Box::new),
            payload: None,
        }
    }

    pub(crate) fn with_payload(mut self, payload: Box<dyn Any + Send>) -> Self {
        self.payload = Some(Arc::new(PanicPayload(Mutex::new(Some(payload)))));
        self
    }

    /// The panic message (`"Box<dyn Any>"` when the payload was neither `&str` nor `String`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the panic happened, when a panic hook could record it.
    pub fn location(&self) -> Option<&PanicLocation> {
        self.location.as_deref()
    }

    /// Takes the original payload out, once; later calls (and clones) get `None`.
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send>> {
        let payload = self.payload.as_ref()?;
        payload.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl PartialEq for PanicInfo {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.location == other.location
    }
}

impl fmt::Debug for PanicInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicInfo")
            .field("message", &self.message)
            .field("location", &self.location)
            .field("has_payload", &self.payload.is_some())
            .finish()
    }
}

impl fmt::Display for PanicInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(
                f,
                "'{}' at {}:{}:{}",
                self.message, l.file, l.line, l.column
            ),
            None => write!(f, "'{}'", self.message),
        }
    }
}

/// How a worker process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WorkerExit {
    /// The worker's process id.
    pub pid: u32,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Why the backend stopped the worker, when the backend did (for example, the worker sent a
    /// message that did not decode): the exit status then only reflects the backend's own kill.
    #[cfg_attr(feature = "serde", serde(default))]
    pub reason: Option<String>,
}

impl WorkerExit {
    /// The exit of worker `pid`, as its exit status tells it.
    pub fn new(pid: u32, code: Option<i32>, signal: Option<i32>) -> Self {
        Self {
            pid,
            code,
            signal,
            reason: None,
        }
    }

    /// The same exit, explained by the backend that stopped the worker. The message then
    /// gives the reason rather than the backend's own kill signal.
    ///
    /// ```
    /// use executor_core::WorkerExit;
    ///
    /// let exit = WorkerExit::new(42, None, Some(9));
    /// assert!(exit.to_string().ends_with("(killed by signal 9)"));
    /// let explained = exit.with_reason("it sent a message that did not decode");
    /// assert_eq!(
    ///     explained.to_string(),
    ///     "worker process 42 was lost while running the task: it sent a message that did not decode"
    /// );
    /// ```
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = &self.reason {
            // The status is only the backend's own kill: the reason is the news.
            return write!(
                f,
                "worker process {} was lost while running the task: {reason}",
                self.pid
            );
        }
        write!(f, "worker process {} died while running the task", self.pid)?;
        match (self.code, self.signal) {
            (_, Some(sig)) => write!(f, " (killed by signal {sig})"),
            (Some(code), None) => write!(f, " (exit code {code})"),
            (None, None) => Ok(()),
        }
    }
}

impl Error for WorkerExit {}

/// The executor can no longer run tasks; `reason` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BrokenExecutor {
    /// What broke it, for example the initializer's error.
    pub reason: String,
}

impl BrokenExecutor {
    /// A broken-executor error with the given reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BrokenExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the executor is broken: {}", self.reason)
    }
}

impl Error for BrokenExecutor {}

/// Where a value failed to cross a process boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CodecStage {
    /// Encoding the task in the caller.
    EncodeTask,
    /// Decoding the task in the worker.
    DecodeTask,
    /// Encoding the result in the worker.
    EncodeResult,
    /// Decoding the result in the caller.
    DecodeResult,
}

/// A task or its result could not be (de)serialised; only that task is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CodecError {
    /// Where it failed.
    pub stage: CodecStage,
    /// The serialiser's message.
    pub message: String,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            CodecStage::EncodeTask => "encode the task",
            CodecStage::DecodeTask => "decode the task in the worker",
            CodecStage::EncodeResult => "encode the result in the worker",
            CodecStage::DecodeResult => "decode the result",
        };
        write!(f, "failed to {stage}: {}", self.message)
    }
}

impl Error for CodecError {}

/// A failure specific to one backend, described by a message (and, in process, its source).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BackendError {
    message: String,
    #[cfg_attr(feature = "serde", serde(skip))]
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl BackendError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for BackendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Why an executor refused a task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Rejected {
    /// `shutdown` was called.
    ShutDown,
    /// The executor is broken.
    Broken(BrokenExecutor),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::ShutDown => f.write_str("cannot schedule new tasks after shutdown"),
            Rejected::Broken(b) => write!(f, "{b}"),
        }
    }
}

impl Error for Rejected {}

/// `submit` refused the task; the task is handed back untouched.
///
/// ```
/// use executor_core::{Rejected, SubmitError};
///
/// let err = SubmitError::new(Rejected::ShutDown, "my task");
/// assert_eq!(err.into_task(), "my task");
/// ```
pub struct SubmitError<T> {
    reason: Rejected,
    task: T,
}

impl<T> SubmitError<T> {
    /// A refusal of `task` for `reason` (for backends).
    pub fn new(reason: Rejected, task: T) -> Self {
        Self { reason, task }
    }

    /// Why it was refused.
    pub fn reason(&self) -> &Rejected {
        &self.reason
    }

    /// Takes the task back.
    pub fn into_task(self) -> T {
        self.task
    }

    /// Splits into the reason and the task.
    pub fn into_parts(self) -> (Rejected, T) {
        (self.reason, self.task)
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task refused: {}", self.reason)
    }
}

impl<T> Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.reason)
    }
}

/// A [`Promise`](crate::Promise) was used in a state that does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError {
    /// The state the future was in.
    pub state: State,
    /// What was attempted.
    pub operation: &'static str,
}

impl fmt::Display for InvalidStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} a future that is {}",
            self.operation, self.state
        )
    }
}

impl Error for InvalidStateError {}

/// `as_completed` reached its deadline with futures still unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsCompletedTimeout {
    /// How many futures had not completed.
    pub unfinished: usize,
    /// How many distinct futures were given.
    pub total: usize,
}

impl fmt::Display for AsCompletedTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) futures unfinished",
            self.unfinished, self.total
        )
    }
}

impl Error for AsCompletedTimeout {}
