//! [`MpiPoolExecutor`] and its builder: the user's handle on rank 0, and how a task is accepted.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use concurrent_futures_core::{
    BrokenExecutor, CancelHandle, Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task,
};
use rustc_hash::FxHashMap;
use serde::Serialize;

use concurrent_futures_process::task_model::{Call, RemoteFn, prepare};

use crate::initializer::Initializer;
use crate::job::{self, Job, TypedPromise};
use crate::session::Link;

/// What a pool shares with the progress thread: which of its jobs have not ended.
pub(crate) struct PoolState {
    /// Unique within the session (workers remember which pools they initialised).
    id: u64,
    /// Run on each worker before the pool's first task reaches it.
    initializer: Option<Arc<Initializer>>,
    inner: Mutex<PoolInner>,
    /// Mirrors `inner.broken.is_some()`.
    is_broken: AtomicBool,
    ended: Condvar,
    /// The most tasks sent to a worker at once.
    tasks_per_worker: usize,
    /// A moving average of how long its tasks run, in nanoseconds; 0 while unmeasured.
    task_nanos: AtomicU64,
}

struct PoolInner {
    shutdown: bool,
    /// Set when its initializer failed: the pool refuses tasks.
    broken: Option<BrokenExecutor>,
    outstanding: FxHashMap<u64, CancelHandle>,
    /// Threads blocked on `ended`: a notify is a system call even with nobody waiting, and a
    /// round trip ends a job every few microseconds.
    waiting: usize,
}

impl PoolState {
    fn lock(&self) -> MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool's number.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The pool's initializer, if it has one.
    pub(crate) fn initializer(&self) -> Option<&Initializer> {
        self.initializer.as_deref()
    }

    /// Why the pool is broken (its initializer failed), if it is.
    pub(crate) fn broken(&self) -> Option<BrokenExecutor> {
        // Asked on every submit and dispatch: the flag spares the lock while not broken.
        if !self.is_broken.load(Ordering::Acquire) {
            return None;
        }
        self.lock().broken.clone()
    }

    /// Breaks the pool: it refuses tasks from now on.
    pub(crate) fn set_broken(&self, reason: BrokenExecutor) {
        self.lock().broken.get_or_insert(reason);
        self.is_broken.store(true, Ordering::Release);
    }

    /// The most tasks a worker gets at once.
    pub(crate) fn tasks_per_worker(&self) -> usize {
        self.tasks_per_worker
    }

    /// How long this pool's tasks run (a moving average), if any ran yet.
    pub(crate) fn task_nanos(&self) -> Option<u64> {
        match self.task_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(nanos),
        }
    }

    /// Adds a task's run time to the average (written under rank 0's state lock only).
    pub(crate) fn record_task_nanos(&self, nanos: u64) {
        let nanos = nanos.max(1);
        let average = match self.task_nanos() {
            None => nanos,
            Some(old) => (old.saturating_mul(7) / 8).saturating_add(nanos / 8).max(1),
        };
        self.task_nanos.store(average, Ordering::Relaxed);
    }

    /// Job `id` of this pool ended (its future is done).
    pub(crate) fn job_ended(&self, id: u64) {
        let mut inner = self.lock();
        if inner.outstanding.remove(&id).is_some()
            && inner.outstanding.is_empty()
            && inner.waiting > 0
        {
            self.ended.notify_all();
        }
    }
}

/// The default of [`MpiPoolBuilder::tasks_per_worker`].
const DEFAULT_TASKS_PER_WORKER: usize = 64;

/// Builds [`MpiPoolExecutor`]s: made by [`Session::builder`](crate::Session::builder).
///
/// ```no_run
/// let session = concurrent_futures_mpi::init().unwrap();
/// let pool = session.builder().tasks_per_worker(4).build();
/// # drop(pool);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct MpiPoolBuilder {
    link: Arc<Link>,
    tasks_per_worker: usize,
    /// The initializer, or why it cannot be sent.
    initializer: Option<Result<Arc<Initializer>, String>>,
}

impl MpiPoolBuilder {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        MpiPoolBuilder {
            link,
            tasks_per_worker: DEFAULT_TASKS_PER_WORKER,
            initializer: None,
        }
    }

    /// A task run once on each worker rank before this pool's first task reaches that worker
    /// (mpi4py's `initializer` and `initargs`): a registered task type, or a registered
    /// function with its arguments as [`Call::new`]`(f, args)`. Workers are shared by a
    /// session's pools; each pool built runs its own initializer, once per worker it uses.
    ///
    /// If it fails or panics on a worker (or its type is not registered), the pool is
    /// broken, as in CPython: its tasks not yet sent fail with `TaskError::Broken` naming the
    /// initializer's failure, and later submits are refused with `Rejected::Broken`. Other
    /// pools keep working.
    ///
    /// ```no_run
    /// use concurrent_futures_core::Submit;
    /// use concurrent_futures_mpi::Call;
    ///
    /// fn set_up(level: u32) { /* open files, load data, seed a cache... */ let _ = level; }
    /// fn work(x: u64) -> u64 { x + 1 }
    /// concurrent_futures_mpi::remote_fn!(set_up, work);
    ///
    /// fn main() {
    ///     let session = concurrent_futures_mpi::init().unwrap();
    ///     let pool = session.builder().initializer(Call::new(set_up, 3)).build();
    ///     assert_eq!(pool.call(work, 1).unwrap().result(), Ok(2));
    /// }
    /// ```
    pub fn initializer<T>(mut self, task: T) -> Self
    where
        T: Task + Serialize,
        T::Error: fmt::Debug,
    {
        self.initializer = Some(Initializer::new(&task).map(Arc::new));
        self
    }

    /// The most of this pool's tasks a worker rank gets at once (default 64, at least 1).
    ///
    /// Only idle workers are fed, each with a batch sized to about a millisecond of work by
    /// the pool's measured task duration (one task until a task has finished), at most a fair
    /// share of the queue and at most this. A worker runs its batch one task at a time, and
    /// every task of a batch is `Running` from the moment it is sent (as in CPython's call
    /// queue): it can no longer be cancelled. 1 sends one task at a time.
    pub fn tasks_per_worker(mut self, tasks: usize) -> Self {
        self.tasks_per_worker = tasks.max(1);
        self
    }

    /// A new pool; can be called again for more.
    pub fn build(&self) -> MpiPoolExecutor {
        let (initializer, broken) = match &self.initializer {
            None => (None, None),
            Some(Ok(initializer)) => (Some(initializer.clone()), None),
            Some(Err(reason)) => (
                None,
                Some(BrokenExecutor::new(format!(
                    "the pool's initializer cannot be sent: {reason}"
                ))),
            ),
        };
        MpiPoolExecutor::new(
            self.link.clone(),
            Arc::new(PoolState {
                id: self.link.next_id(),
                initializer,
                is_broken: AtomicBool::new(broken.is_some()),
                inner: Mutex::new(PoolInner {
                    shutdown: false,
                    broken,
                    outstanding: FxHashMap::default(),
                    waiting: 0,
                }),
                ended: Condvar::new(),
                tasks_per_worker: self.tasks_per_worker,
                task_nanos: AtomicU64::new(0),
            }),
        )
    }
}

impl fmt::Debug for MpiPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolBuilder")
            .field("tasks_per_worker", &self.tasks_per_worker)
            .field("initializer", &self.initializer.is_some())
            .finish_non_exhaustive()
    }
}

/// An executor whose tasks run on the worker ranks of an MPI job: Python's
/// `mpi4py.futures.MPIPoolExecutor`.
///
/// Tasks are registered types ([`register_task!`](crate::register_task)) or functions
/// ([`remote_fn!`](crate::remote_fn)), encoded with postcard. Every pool of a session shares
/// the worker ranks (queued first come, first served); each pool has its own shutdown.
///
/// A task's panic is caught and fails only its own future. In plain MPI a rank that dies
/// (abort, segfault, `exit`) takes the whole job down, rank 0 included; under `mpirun
/// --enable-recovery` a lost worker (dead, stopped or cut off, on any host) fails only the task
/// it ran, with `TaskError::WorkerLost`, and the session goes on without it (see the crate's
/// fault model and [`LostWorker`](crate::LostWorker)).
///
/// ```no_run
/// use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
///
/// fn cube(x: u64) -> u64 { x * x * x }
/// concurrent_futures_mpi::remote_fn!(cube);
///
/// fn main() {
///     let session = concurrent_futures_mpi::init().expect("launched with mpirun -n 2 or more");
///     let pool = session.pool();
///     assert_eq!(pool.call(cube, 3).unwrap().result(), Ok(27));
///     pool.shutdown(Shutdown::wait());
/// }
/// ```
///
/// Cheap to clone: clones share one pool. Dropping the last clone behaves as
/// `shutdown(Shutdown::wait())`: it waits for every task this pool accepted and did not cancel,
/// even after `shutdown(Shutdown::no_wait())`, except on the progress thread (a done-callback
/// owned it), where it does not wait. See
/// [Dropping the last handle](concurrent_futures_core::Executor#dropping-the-last-handle). The worker
/// ranks are the [`Session`](crate::Session)'s: its drop, after the pools', ends the job.
#[derive(Clone)]
pub struct MpiPoolExecutor {
    link: Arc<Link>,
    state: Arc<PoolState>,
    /// Shared by the clones; its drop is the last handle's drop.
    _last: Arc<LastHandle>,
}

/// Dropped with the last [`MpiPoolExecutor`] handle.
struct LastHandle {
    link: Arc<Link>,
    state: Arc<PoolState>,
}

impl Drop for LastHandle {
    fn drop(&mut self) {
        // Without waiting, the session's drop (which usually follows at the end of `main`)
        // would fail the tasks still queued.
        shut_down(&self.link, &self.state, Shutdown::wait());
    }
}

impl MpiPoolExecutor {
    fn new(link: Arc<Link>, state: Arc<PoolState>) -> Self {
        let last = Arc::new(LastHandle {
            link: link.clone(),
            state: state.clone(),
        });
        MpiPoolExecutor {
            link,
            state,
            _last: last,
        }
    }

    /// Calls the registered function `function` with `args` on a worker rank (a tuple for
    /// functions of several arguments).
    #[allow(clippy::type_complexity)]
    pub fn call<F, Args, M>(
        &self,
        function: F,
        args: Args,
    ) -> Result<Future<F::Output>, SubmitError<Call<F, Args, M>>>
    where
        F: RemoteFn<Args, M>,
        Args: Serialize + Send + 'static,
        M: 'static,
    {
        self.submit(Call::new(function, args))
    }

    /// How many worker ranks serve this pool (shared with the session's other pools).
    pub fn max_workers(&self) -> usize {
        self.link.workers()
    }

    /// The most tasks a worker gets at once.
    pub fn tasks_per_worker(&self) -> usize {
        self.state.tasks_per_worker
    }
}

impl<T: Task + Serialize> Submit<T> for MpiPoolExecutor {
    /// Encodes the task and queues it for the progress thread. A task that cannot be encoded,
    /// or whose type is not registered, gives a future that has already failed.
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        {
            let inner = self.state.lock();
            if let Some(broken) = &inner.broken {
                return Err(SubmitError::new(Rejected::Broken(broken.clone()), task));
            }
            if inner.shutdown {
                return Err(SubmitError::new(Rejected::ShutDown, task));
            }
        }
        if self.link.is_finalized() {
            return Err(SubmitError::new(finalized(), task));
        }
        if let Some(broken) = self.link.broken() {
            return Err(SubmitError::new(Rejected::Broken(broken), task));
        }
        let (registered, payload) = match prepare(&task) {
            Ok(prepared) => prepared,
            Err(error) => return Ok(Future::failed(error)),
        };
        let (promise, future) = Future::pending_driven(self.link.driver());
        let id = self.link.next_id();
        let canceller = future.cancel_handle();
        {
            let mut inner = self.state.lock();
            if inner.shutdown {
                return Err(SubmitError::new(Rejected::ShutDown, task));
            }
            inner.outstanding.insert(id, canceller);
        }
        let job = Job {
            id,
            entry: registered.index,
            payload,
            started: false,
            pool: self.state.clone(),
            promise: Box::new(TypedPromise::new(promise, registered.decode)),
        };
        match self.link.submit(job) {
            Ok(()) => Ok(future),
            Err(job) => {
                // The session ended: the never-seen future goes with the job.
                drop(job);
                self.state.job_ended(id);
                Err(SubmitError::new(finalized(), task))
            }
        }
    }
}

fn finalized() -> Rejected {
    Rejected::Broken(BrokenExecutor::new("the MPI session was finalised"))
}

impl Executor for MpiPoolExecutor {
    /// Stops accepting tasks; with `cancel_futures`, cancels this pool's tasks that have not
    /// started. With `wait`, blocks until every task this pool accepted ended (not when called
    /// from a done-callback, which runs on the progress thread).
    fn shutdown(&self, how: Shutdown) {
        shut_down(&self.link, &self.state, how);
    }

    fn is_shutdown(&self) -> bool {
        self.state.lock().shutdown
    }

    fn parallelism(&self) -> Option<std::num::NonZeroUsize> {
        std::num::NonZeroUsize::new(self.max_workers())
    }
}

/// [`Executor::shutdown`] of a pool, also run by its last handle's drop.
fn shut_down(link: &Link, state: &PoolState, how: Shutdown) {
    let cancellers: Vec<(u64, CancelHandle)> = {
        let mut inner = state.lock();
        inner.shutdown = true;
        if how.cancel_futures {
            inner
                .outstanding
                .iter()
                .map(|(id, cancel)| (*id, cancel.clone()))
                .collect()
        } else {
            Vec::new()
        }
    };
    // No lock held: cancelling runs done-callbacks, which may call back into the pool.
    for (id, cancel) in cancellers {
        if cancel.cancel() {
            state.job_ended(id);
        }
    }
    // A done-callback (on the progress thread, or on any thread that finished a job) would
    // wait for its own job, which ends after it returns.
    if how.wait && !link.on_progress_thread() && !job::finishing() {
        let mut inner = state.lock();
        while !inner.outstanding.is_empty() {
            inner.waiting += 1;
            inner = state
                .ended
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            inner.waiting -= 1;
        }
    }
}

impl fmt::Debug for MpiPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiPoolExecutor")
            .field("workers", &self.link.workers())
            .field("tasks_per_worker", &self.state.tasks_per_worker)
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}
