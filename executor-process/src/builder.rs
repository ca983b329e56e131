//! [`ProcessPoolBuilder`]: every setting of a [`ProcessPool`], checked when it is built.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{BuildError, BuildErrorKind, Task, TaskError};
use serde::Serialize;

use crate::codec;
use crate::job::describe_failure;
use crate::pool::ProcessPool;
use crate::protocol::Reply;
use crate::registry::{Registry, not_registered};
use crate::shared::Shared;
use crate::spawn::WORKER_ENV;
use crate::supervisor;

/// The longest [`ProcessPoolBuilder::spin`] may be (the worker also caps what it is told).
pub(crate) const MAX_SPIN: Duration = Duration::from_millis(1);

/// The test name [`libtest_worker!`](crate::libtest_worker) defines.
pub(crate) const LIBTEST_WORKER_TEST: &str = "executor_process_worker";

/// The settings a pool runs with.
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) executable: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) initializer: Option<Initializer>,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) kill_grace: Duration,
    pub(crate) start_timeout: Duration,
    pub(crate) broken_on_worker_death: bool,
    pub(crate) spin: Duration,
    pub(crate) max_batch: usize,
}

/// The initializer: an encoded task and how to judge its outcome.
pub(crate) struct Initializer {
    pub(crate) entry: u32,
    pub(crate) payload: Vec<u8>,
    pub(crate) judge: Box<dyn Fn(Reply) -> Result<(), String> + Send + Sync>,
}

/// Configures and builds a [`ProcessPool`].
///
/// ```no_run
/// use std::time::Duration;
/// use concurrent_futures::ProcessPool;
///
/// concurrent_futures::process::init();
/// let pool = ProcessPool::builder()
///     .max_workers(4)
///     .max_tasks_per_child(1000)
///     .task_timeout(Duration::from_secs(30))
///     .build()
///     .expect("worker processes start");
/// # drop(pool);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    executable: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    initializer: Option<Result<Initializer, BuildError>>,
    max_tasks_per_child: Option<usize>,
    task_timeout: Option<Duration>,
    kill_grace: Duration,
    start_timeout: Duration,
    broken_on_worker_death: bool,
    spin: Duration,
    max_batch: usize,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            executable: None,
            args: Vec::new(),
            env: Vec::new(),
            initializer: None,
            max_tasks_per_child: None,
            task_timeout: None,
            kill_grace: Duration::from_secs(1),
            start_timeout: Duration::from_secs(60),
            broken_on_worker_death: false,
            spin: Duration::from_micros(50),
            max_batch: 64,
        }
    }
}

impl ProcessPoolBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many worker processes run at once (default: `std::thread::available_parallelism`).
    pub fn max_workers(mut self, max_workers: usize) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// The program started as a worker (default: `std::env::current_exe()`). It must be this
    /// same binary (or one with the same registered tasks), calling [`init`](crate::init) first.
    pub fn worker_executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// Arguments passed to every worker (default: none).
    pub fn worker_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// An environment variable set in every worker.
    pub fn worker_env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// For pools built inside `#[test]` functions (the default libtest harness): re-executes the
    /// test binary so that it runs only the entry point that
    /// [`libtest_worker!`](crate::libtest_worker) defines.
    pub fn libtest_worker(self) -> Self {
        self.worker_args([
            LIBTEST_WORKER_TEST,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
    }

    /// A task every worker runs once before any other (a registered task type, or a
    /// [`Call`](crate::Call) of a registered function). If it fails or panics in any worker, the
    /// pool breaks: pending tasks fail with `TaskError::Broken` naming the cause.
    pub fn initializer<T>(mut self, task: T) -> Self
    where
        T: Task + Serialize,
        T::Error: fmt::Debug,
    {
        self.initializer = Some(make_initializer(task));
        self
    }

    /// Replace each worker after it ran this many tasks (default: never). The replacement is
    /// always started, whatever else happens.
    pub fn max_tasks_per_child(mut self, tasks: usize) -> Self {
        self.max_tasks_per_child = Some(tasks);
        self
    }

    /// A time limit for every task (default: none); override per task with
    /// [`ProcessPool::submit_with`]. A task past it has its worker killed and fails with
    /// `TaskError::Expired`.
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// How long a worker has to exit after SIGTERM before it gets SIGKILL (default: 1 s).
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// How long a worker may take to start, initializer included (default: 60 s). A worker that
    /// does not make it is killed and the pool breaks with a message saying so.
    pub fn start_timeout(mut self, limit: Duration) -> Self {
        self.start_timeout = limit;
        self
    }

    /// CPython's semantics (default: `false`): a worker that dies unexpectedly breaks the pool;
    /// every pending task fails with `TaskError::Broken` and later submits are refused. By
    /// default only the task it was running fails (`TaskError::WorkerLost`) and a replacement
    /// starts.
    pub fn broken_on_worker_death(mut self, broken: bool) -> Self {
        self.broken_on_worker_death = broken;
        self
    }

    /// How long both sides poll for the next message before sleeping (default: 50 µs). Polling
    /// saves a wake-up per round trip; zero disables it. Capped at 1 ms: beyond that an idle
    /// pool would burn cores for nothing.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin.min(MAX_SPIN);
        self
    }

    /// The most tasks sent to a worker in one message (default: 64).
    pub fn max_batch(mut self, tasks: usize) -> Self {
        self.max_batch = tasks;
        self
    }

    /// Starts the workers. Fails if a setting is invalid or the worker executable cannot be
    /// started; the handshake completes in the background (tasks wait for it).
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        if std::env::var_os(WORKER_ENV).is_some() {
            return Err(BuildError::new(
                BuildErrorKind::Environment,
                "this process was started as a worker, but concurrent_futures_process::init() was not \
                 called at the top of main (refusing to start workers recursively)",
            ));
        }
        let max_workers = match self.max_workers {
            Some(0) => {
                return Err(BuildError::new(
                    BuildErrorKind::InvalidConfig,
                    "max_workers must be greater than 0",
                ));
            }
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::new(
                BuildErrorKind::InvalidConfig,
                "max_tasks_per_child must be greater than 0",
            ));
        }
        let executable = match self.executable {
            Some(path) => path,
            None => std::env::current_exe().map_err(|e| {
                BuildError::with_source(
                    BuildErrorKind::Spawn,
                    "could not find the current executable to start as a worker",
                    e,
                )
            })?,
        };
        let initializer = self.initializer.transpose()?;
        let config = Config {
            max_workers,
            executable,
            args: self.args,
            env: self.env,
            initializer,
            max_tasks_per_child: self.max_tasks_per_child,
            task_timeout: self.task_timeout,
            kill_grace: self.kill_grace,
            start_timeout: self.start_timeout,
            broken_on_worker_death: self.broken_on_worker_death,
            spin: self.spin,
            max_batch: self.max_batch.max(1),
        };
        let (commands, receiver) = mpsc::channel();
        let shared = Shared::new(config, commands);
        let supervisor = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("executor-process-supervisor".to_string())
                .spawn(move || supervisor::run(shared, receiver))
                .map_err(|e| {
                    BuildError::with_source(
                        BuildErrorKind::Spawn,
                        "could not start the supervisor thread",
                        e,
                    )
                })?
        };
        shared.adopt_thread(supervisor);
        shared.start();
        if let Some(error) = shared.wait_for_spawns() {
            shared.shutdown(true);
            shared.wait_until_stopped();
            return Err(BuildError::with_source(
                BuildErrorKind::Spawn,
                "could not start a worker process",
                error,
            ));
        }
        Ok(ProcessPool::from_shared(shared))
    }
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("executable", &self.executable)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("task_timeout", &self.task_timeout)
            .field("broken_on_worker_death", &self.broken_on_worker_death)
            .finish_non_exhaustive()
    }
}

fn make_initializer<T>(task: T) -> Result<Initializer, BuildError>
where
    T: Task + Serialize,
    T::Error: fmt::Debug,
{
    let registered = Registry::get().lookup::<T>().ok_or_else(|| {
        BuildError::new(
            BuildErrorKind::Initializer,
            format!(
                "invalid initializer: {}",
                not_registered(std::any::type_name::<T>())
            ),
        )
    })?;
    let payload = codec::encode(&task).map_err(|e| {
        BuildError::new(
            BuildErrorKind::Initializer,
            format!("invalid initializer: {e}"),
        )
    })?;
    let decode = registered.decode;
    let judge = move |reply: Reply| -> Result<(), String> {
        match reply {
            Reply::Value(payload) => {
                let any = decode(payload.bytes(None)?)?;
                match any.downcast::<Result<T::Output, TaskError<T::Error>>>() {
                    Ok(outcome) => match *outcome {
                        Ok(_) => Ok(()),
                        Err(error) => Err(error.map_failure(|e| format!("{e:?}")).to_string()),
                    },
                    Err(_) => Err("the initializer's outcome has an unexpected type".to_string()),
                }
            }
            Reply::Failed(failure) => Err(describe_failure(failure)),
        }
    };
    Ok(Initializer {
        entry: registered.index,
        payload,
        judge: Box::new(judge),
    })
}
