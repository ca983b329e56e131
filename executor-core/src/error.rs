//! Every error a caller of this crate can see, one type per operation.
//!
//! [`TaskError`] is what a future holds when it did not produce a value (and what waiting on it
//! can add: [`TaskError::Timeout`]). [`SubmitError`] hands a refused task back, so nothing is lost.
//! [`InvalidStateError`] is a backend's misuse of a [`Promise`](crate::backend::Promise). [`BuildError`] is
//! why a pool could not be built, the same type for every backend.
//!
//! Every type here follows one rule for its [`source`](Error::source) chain: a layer's `Display`
//! either includes the inner error's message (and then its `source` is the inner error's own
//! source) or leaves it out (and then its `source` is the inner error), never both, so a report
//! that prints the chain (`anyhow`'s `{:#}`, for one) shows each message once.

use std::any::Any;
use std::borrow::Cow;
use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sync_wrapper::SyncWrapper;

use crate::state::State;

/// Why a future did not produce a value.
///
/// The task's own error type `E` travels intact in [`TaskError::Failed`]; everything else is
/// something that happened *to* the task. Cloning is cheap: the variants that carry heavy or
/// non-`Clone` data share it.
///
/// ```
/// use concurrent_futures::{Future, TaskError};
///
/// let (promise, future) = Future::<u32, String>::pending();
/// promise.set_error("disk full".to_string()).unwrap();
/// match future.result() {
///     Err(TaskError::Failed(message)) => assert_eq!(message, "disk full"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
///
/// # Error chains
///
/// `TaskError<E>` is an [`Error`] for every `E: Debug + Display`, so `?` converts it into
/// `anyhow::Error` or `Box<dyn Error + Send + Sync>` whatever the task's error type
/// (`String`, `anyhow::Error`, `io::Error`, ...). [`TaskError::Failed`] prints
/// `task failed: {e}` and has no [`source`](Error::source): a generic `E` cannot be asked
/// whether it is an `Error` itself, so including its message is the only way not to lose it.
/// That also ends the chain there; when `E` is an `Error` whose own sources matter, convert with
/// [`TaskError::chained`]: the [`ChainedTaskError`] prints `task failed` and returns `e` as its
/// source, so `e`'s chain follows, each message once. The variants that wrap another error
/// ([`WorkerLost`](TaskError::WorkerLost), [`Broken`](TaskError::Broken),
/// [`Codec`](TaskError::Codec), [`Backend`](TaskError::Backend)) print it and forward its source;
/// [`Rejected`](TaskError::Rejected) adds its own words in front, and forwards the same way.
///
/// ```
/// use std::error::Error;
/// use std::io;
///
/// use concurrent_futures::TaskError;
///
/// // Each layer's message, joined as anyhow's `{:#}` does.
/// fn report(error: &dyn Error) -> String {
///     let mut layers = vec![error.to_string()];
///     let mut next = error.source();
///     while let Some(layer) = next {
///         layers.push(layer.to_string());
///         next = layer.source();
///     }
///     layers.join(": ")
/// }
///
/// // An error with a cause, as a task may fail with.
/// #[derive(Debug)]
/// struct BadConfig(std::num::ParseIntError);
/// impl std::fmt::Display for BadConfig {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("bad config value on line 3")
///     }
/// }
/// impl Error for BadConfig {
///     fn source(&self) -> Option<&(dyn Error + 'static)> {
///         Some(&self.0)
///     }
/// }
/// let failure = || {
///     let cause = "x".parse::<u32>().unwrap_err();
///     io::Error::new(io::ErrorKind::InvalidData, BadConfig(cause))
/// };
///
/// // As it is: the failure's message, and the chain ends there.
/// let plain: TaskError<io::Error> = TaskError::Failed(failure());
/// assert_eq!(report(&plain), "task failed: bad config value on line 3");
///
/// // Chained: the failure is the source, and its own sources follow.
/// let chained = TaskError::Failed(failure()).chained();
/// assert_eq!(
///     report(&chained),
///     "task failed: bad config value on line 3: invalid digit found in string"
/// );
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
    /// The backend dropped the task's [`Promise`](crate::backend::Promise) without completing it.
    Abandoned,
    /// The outcome was already moved out of this [`Future`](crate::Future) (by `.await` through
    /// `&mut`), so it can no longer be read.
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

    /// This error as one whose [`source`](Error::source) is the task's own error, so the chain
    /// of an `E: Error` survives (see [`TaskError`'s docs](TaskError#error-chains)).
    ///
    /// ```
    /// use std::error::Error;
    /// use std::io;
    ///
    /// use concurrent_futures::TaskError;
    ///
    /// let error = TaskError::Failed(io::Error::other("disk full")).chained();
    /// assert_eq!(error.to_string(), "task failed");
    /// assert_eq!(error.source().unwrap().to_string(), "disk full");
    /// ```
    pub fn chained(self) -> ChainedTaskError<E> {
        ChainedTaskError(self)
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `Failed` has no `source()` (a generic `E` may not be an `Error`), so the task's
            // error prints its whole message here: `{:#}` asks error types that keep a chain in
            // their `Display` (anyhow, eyre) for all of it, and is plain `{}` for the rest.
            TaskError::Failed(e) => write!(f, "task failed: {e:#}"),
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

impl<E: fmt::Debug + fmt::Display> Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // `Display` already printed the wrapped error, so the chain goes on below it.
        // `Failed` ends it: a generic `E` may not be an `Error` (see `chained`).
        match self {
            TaskError::WorkerLost(w) => w.source(),
            TaskError::Broken(b) => b.source(),
            TaskError::Rejected(r) => r.source(),
            TaskError::Codec(c) => c.source(),
            TaskError::Backend(b) => b.source(),
            _ => None,
        }
    }
}

/// A [`TaskError`] whose [`source`](Error::source) is the task's own error: made by
/// [`TaskError::chained`], for `E: Error` whose own chain should survive.
///
/// For [`TaskError::Failed`] it prints `task failed` and returns the task's error as its source;
/// every other variant prints and chains as the `TaskError` does.
///
/// ```
/// use std::io;
///
/// use concurrent_futures::TaskError;
///
/// fn load(outcome: Result<u32, TaskError<io::Error>>) -> anyhow::Result<u32> {
///     Ok(outcome.map_err(TaskError::chained)?)
/// }
///
/// let cause = "x".parse::<u32>().unwrap_err();
/// let failure = io::Error::new(io::ErrorKind::InvalidData, cause);
/// let error = load(Err(TaskError::Failed(failure))).unwrap_err();
/// assert_eq!(format!("{error:#}"), "task failed: invalid digit found in string");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedTaskError<E>(TaskError<E>);

impl<E> ChainedTaskError<E> {
    /// The task error inside.
    pub fn as_task_error(&self) -> &TaskError<E> {
        &self.0
    }

    /// Unwraps the task error.
    pub fn into_task_error(self) -> TaskError<E> {
        self.0
    }
}

impl<E> From<TaskError<E>> for ChainedTaskError<E> {
    fn from(error: TaskError<E>) -> Self {
        ChainedTaskError(error)
    }
}

impl<E: fmt::Display> fmt::Display for ChainedTaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            TaskError::Failed(_) => f.write_str("task failed"),
            other => other.fmt(f),
        }
    }
}

impl<E: Error + 'static> Error for ChainedTaskError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.0 {
            TaskError::Failed(e) => Some(e),
            other => other.source(),
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
#[non_exhaustive]
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
    /// use concurrent_futures::WorkerExit;
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

impl Error for Rejected {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // `Broken` printed the broken-executor error, so the chain goes on below it.
        match self {
            Rejected::ShutDown => None,
            Rejected::Broken(b) => b.source(),
        }
    }
}

/// `submit` refused the task; the task is handed back untouched.
///
/// It is `Send + Sync` for every `Send` task, even one that is not `Sync` (a closure capturing a
/// `Cell`): the task is only ever handed out by value ([`into_task`](Self::into_task),
/// [`into_parts`](Self::into_parts)), never by reference. So `pool.submit(task)?` works in a
/// function returning `anyhow::Result<_>` or `Result<_, Box<dyn Error + Send + Sync>>`.
///
/// ```
/// use concurrent_futures::{Rejected, SubmitError};
///
/// let err = SubmitError::new(Rejected::ShutDown, "my task");
/// assert_eq!(
///     err.to_string(),
///     "task refused: cannot schedule new tasks after shutdown"
/// );
/// assert_eq!(err.into_task(), "my task");
/// ```
pub struct SubmitError<T> {
    reason: Rejected,
    /// `SyncWrapper` is `Sync` whatever `T` is because it gives no `&T` out; `SubmitError`
    /// keeps to that by handing the task out only by value.
    task: SyncWrapper<T>,
}

impl<T> SubmitError<T> {
    /// A refusal of `task` for `reason` (for backends).
    pub fn new(reason: Rejected, task: T) -> Self {
        Self {
            reason,
            task: SyncWrapper::new(task),
        }
    }

    /// Why it was refused.
    pub fn reason(&self) -> &Rejected {
        &self.reason
    }

    /// Takes the task back.
    pub fn into_task(self) -> T {
        self.task.into_inner()
    }

    /// Splits into the reason and the task.
    pub fn into_parts(self) -> (Rejected, T) {
        (self.reason, self.task.into_inner())
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
        // `Display` printed the reason, so the chain goes on below it.
        self.reason.source()
    }
}

/// A [`Promise`](crate::backend::Promise) was used in a state that does not allow it.
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

/// Why a pool could not be built: one type for every backend's builder.
///
/// [`kind`](Self::kind) says what went wrong, `Display` says it in words (lowercase, without
/// trailing punctuation), and [`source`](Error::source) is the underlying error when there is
/// one, whose message `Display` then leaves out.
///
/// ```
/// use std::error::Error;
/// use std::io;
///
/// use concurrent_futures::{BuildError, BuildErrorKind};
///
/// let error = BuildError::with_source(
///     BuildErrorKind::Spawn,
///     "could not start a worker process",
///     io::Error::from(io::ErrorKind::NotFound),
/// );
/// assert_eq!(error.kind(), BuildErrorKind::Spawn);
/// assert_eq!(error.to_string(), "could not start a worker process");
/// assert_eq!(error.source().unwrap().to_string(), "entity not found");
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
    message: Cow<'static, str>,
    source: Option<Box<dyn Error + Send + Sync>>,
}

/// What kind of [`BuildError`] it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A setting is out of range, for example `max_workers(0)`.
    InvalidConfig,
    /// The initializer cannot be used, for example its task type is not registered.
    Initializer,
    /// A worker (process or thread) could not be started.
    Spawn,
    /// This process cannot build the pool, for example it is a worker that did not call the
    /// backend's `init()`, or the MPI job has no rank to spare for workers.
    Environment,
    /// The workers did not complete the start-up handshake: they run a different build, or did
    /// not answer in time.
    Handshake,
}

impl BuildError {
    /// A build error described by `message` (for backends).
    pub fn new(kind: BuildErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A build error described by `message` and caused by `source` (for backends); `message`
    /// should not repeat the source's.
    pub fn with_source(
        kind: BuildErrorKind,
        message: impl Into<Cow<'static, str>>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// What kind of error it is.
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
