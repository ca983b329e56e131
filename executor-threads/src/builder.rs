//! [`ThreadPoolBuilder`]: how many threads, their names and stack, their initializer, their
//! keep-alive; and [`BuildError`].

use std::fmt;
use std::time::Duration;

use concurrent_futures_core::{BuildError, BuildErrorKind};

use crate::idle::MAX_THREADS;
use crate::pool::{Config, ThreadPool};

/// What an initializer returns: `()` (it can only fail by panicking) or `Result<(), E>` with a
/// displayable error. Implemented for those two; the error text becomes the broken-pool reason.
pub trait InitializerOutcome {
    /// `Err` with a description if the initializer failed.
    fn into_outcome(self) -> Result<(), String>;
}

impl InitializerOutcome for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> InitializerOutcome for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// The type-erased initializer.
pub(crate) type Initializer = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Configures and builds a [`ThreadPool`]. Get one from [`ThreadPool::builder`].
///
/// ```
/// use std::time::Duration;
/// use concurrent_futures::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .max_workers(4)
///     .thread_name_prefix("io")
///     .initializer(|| -> Result<(), String> { Ok(()) })
///     .keep_alive(Duration::from_secs(60))
///     .stack_size(1 << 20)
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 4);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Initializer>,
    keep_alive: Option<Duration>,
    stack_size: Option<usize>,
}

impl ThreadPoolBuilder {
    pub(crate) fn new() -> Self {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
            keep_alive: None,
            stack_size: None,
        }
    }

    /// The most threads the pool runs at once. Default: `min(32, available_parallelism + 4)`,
    /// as CPython 3.13+. Zero is refused by [`build`](Self::build).
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// Threads are named `{prefix}_{n}`, `n` in `0..max_workers`. Default prefix:
    /// `ThreadPool-{k}`, `k` counting the pools of this process.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs once at the start of every worker thread, before it takes any task.
    ///
    /// If it fails (returns `Err` or panics) the pool breaks: tasks still queued fail with
    /// [`TaskError::Broken`](concurrent_futures_core::TaskError::Broken) whose reason includes the
    /// initializer's error, later submits are refused with
    /// [`Rejected::Broken`](concurrent_futures_core::Rejected::Broken), tasks already running finish
    /// normally, and the threads exit.
    pub fn initializer<F, R>(mut self, initializer: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: InitializerOutcome,
    {
        self.initializer = Some(Box::new(move || initializer().into_outcome()));
        self
    }

    /// Idle threads exit after waiting this long for work, and are re-created on demand.
    /// Default: never (CPython's behaviour).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// The stack size of each worker thread, in bytes (default: the platform's, as
    /// `std::thread` chooses it).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Builds the pool. No thread starts until the first submit.
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let max_workers = match self.max_workers {
            None => default_max_workers(),
            Some(0) => {
                return Err(BuildError::new(
                    BuildErrorKind::InvalidConfig,
                    "max_workers must be greater than 0",
                ));
            }
            Some(n) if n > MAX_THREADS => {
                return Err(BuildError::new(
                    BuildErrorKind::InvalidConfig,
                    format!("max_workers is {n}, at most {MAX_THREADS} are supported"),
                ));
            }
            Some(n) => n,
        };
        Ok(ThreadPool::from_config(Config {
            max_workers,
            thread_name_prefix: self.thread_name_prefix,
            initializer: self.initializer,
            keep_alive: self.keep_alive,
            stack_size: self.stack_size,
        }))
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.is_some())
            .field("keep_alive", &self.keep_alive)
            .field("stack_size", &self.stack_size)
            .finish()
    }
}

/// CPython 3.13's default: `min(32, cpu_count + 4)`.
pub(crate) fn default_max_workers() -> usize {
    let cpus = crate::sync::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}
