//! [`SessionBuilder`]: how a session watches its workers (the heartbeat timeout) and what it
//! does when it loses one ([`LostWorker`]).

use std::time::Duration;

use concurrent_futures_core::{BuildError, BuildErrorKind};

use crate::heartbeat::Heartbeats;
use crate::session::{Launch, Session, start};

/// What a session does when it loses a worker rank (its process died, it stopped answering, or
/// its host was cut off).
///
/// ```no_run
/// use concurrent_futures_mpi::LostWorker;
///
/// // mpi4py.futures' semantics: one lost worker breaks everything.
/// let session = concurrent_futures_mpi::builder()
///     .on_lost_worker(LostWorker::BreakSession)
///     .init()
///     .expect("launched with mpirun -n 2 or more");
/// # drop(session);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LostWorker {
    /// The default: the session goes on with the workers left, as the process pool does with a
    /// crashed worker. Only the task the lost worker was running (the oldest it had not
    /// answered) fails, with `TaskError::WorkerLost` naming the rank and host; the tasks it
    /// had been sent but not started run on the others. When no worker is left, the session
    /// breaks: queued tasks fail with `TaskError::Broken` saying so, and submits are refused.
    ///
    /// The default because a lost machine is the common failure of a long job on a cluster,
    /// and the rest of the work does not depend on it (Dask behaves the same way).
    #[default]
    Requeue,
    /// mpi4py.futures' semantics: the session breaks. The lost worker's tasks and every queued
    /// task fail with `TaskError::Broken` naming the rank, later submits are refused with
    /// `Rejected::Broken`; tasks running on live workers still finish.
    BreakSession,
}

/// The default of [`SessionBuilder::worker_timeout`].
pub const DEFAULT_WORKER_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings for a [`Session`], made by [`builder`]; [`init`](crate::init) and
/// [`spawn`](crate::spawn) use the defaults.
///
/// ```no_run
/// use std::time::Duration;
/// use concurrent_futures_mpi::LostWorker;
///
/// let session = concurrent_futures_mpi::builder()
///     .worker_timeout(Duration::from_secs(10))
///     .on_lost_worker(LostWorker::Requeue)
///     .spawn(4)
///     .expect("MPI spawns 4 workers");
/// # drop(session);
/// ```
#[must_use = "a builder does nothing until `init` or `spawn` is called"]
#[derive(Debug, Clone)]
pub struct SessionBuilder {
    worker_timeout: Duration,
    on_lost_worker: LostWorker,
}

/// A [`SessionBuilder`] with the default settings.
///
/// ```no_run
/// let session = concurrent_futures_mpi::builder().init().expect("launched with mpirun");
/// # drop(session);
/// ```
pub fn builder() -> SessionBuilder {
    SessionBuilder::default()
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            worker_timeout: DEFAULT_WORKER_TIMEOUT,
            on_lost_worker: LostWorker::default(),
        }
    }
}

impl SessionBuilder {
    /// How long a worker may stay silent before rank 0 counts it lost, and rank 0 before its
    /// workers give up on it (default [`DEFAULT_WORKER_TIMEOUT`], 3 s). Both sides send a
    /// heartbeat a quarter of it after they last sent anything, from threads that never run
    /// tasks, so a long task does not count as silence.
    ///
    /// This is how a worker on another host is found lost: killed, stopped (`SIGSTOP`, a
    /// debugger) or cut off. A worker on rank 0's own host that dies is noticed sooner, within
    /// milliseconds, by its process id. Rank 0's value applies to every worker (it is sent in
    /// the handshake). It must be greater than zero; too small a value on a loaded machine
    /// loses live workers.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let session = concurrent_futures_mpi::builder()
    ///     .worker_timeout(Duration::from_millis(1500))
    ///     .init()
    ///     .unwrap();
    /// # drop(session);
    /// ```
    pub fn worker_timeout(mut self, timeout: Duration) -> Self {
        self.worker_timeout = timeout;
        self
    }

    /// What the session does when it loses a worker (default [`LostWorker::Requeue`]).
    ///
    /// ```no_run
    /// use concurrent_futures_mpi::LostWorker;
    ///
    /// let session = concurrent_futures_mpi::builder()
    ///     .on_lost_worker(LostWorker::BreakSession)
    ///     .spawn(2)
    ///     .unwrap();
    /// # drop(session);
    /// ```
    pub fn on_lost_worker(mut self, policy: LostWorker) -> Self {
        self.on_lost_worker = policy;
        self
    }

    /// Pre-launched mode with these settings: see [`init`](crate::init).
    ///
    /// ```no_run
    /// let session = concurrent_futures_mpi::builder().init().unwrap();
    /// # drop(session);
    /// ```
    pub fn init(self) -> Result<Session, BuildError> {
        start(Launch::PreLaunched, self.settings()?)
    }

    /// Spawned mode with these settings: see [`spawn`](crate::spawn).
    ///
    /// ```no_run
    /// let session = concurrent_futures_mpi::builder().spawn(2).unwrap();
    /// # drop(session);
    /// ```
    pub fn spawn(self, max_workers: usize) -> Result<Session, BuildError> {
        start(Launch::Spawn(max_workers), self.settings()?)
    }

    fn settings(&self) -> Result<Settings, BuildError> {
        if self.worker_timeout.is_zero() {
            return Err(BuildError::new(
                BuildErrorKind::InvalidConfig,
                "worker_timeout must be greater than zero",
            ));
        }
        Ok(Settings {
            beats: Heartbeats::for_timeout(self.worker_timeout),
            on_lost_worker: self.on_lost_worker,
        })
    }
}

/// What rank 0's progress thread needs of the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) beats: Heartbeats,
    pub(crate) on_lost_worker: LostWorker,
}
