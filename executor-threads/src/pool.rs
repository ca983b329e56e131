//! [`ThreadPool`]: the handle users hold, and [`Shared`], the state its threads share.
//!
//! `ThreadPool` is an `Arc` of a [`Handle`] whose `Drop` shuts the pool down; the workers hold
//! the [`Shared`] state directly, so the last *user* handle going away is what ends the pool.

use std::fmt;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

use concurrent_futures_core::{
    BrokenExecutor, Executor, Future, Shutdown, Submit, SubmitError, Task, backend::Job,
};

use crate::builder::{Initializer, ThreadPoolBuilder};
use crate::idle::{Dispatch, Idle};
use crate::job::{Abort, abort};
use crate::lifecycle::Lifecycle;
use crate::registry::Registry;
use crate::sync::atomic::{Ordering::SeqCst, fence};
use crate::sync::thread::Builder;
use crate::sync::{Arc, CachePadded, Injector};
use crate::worker;

/// Who started a worker thread, which decides what its first job owes the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Started {
    /// A submit, for its own job: other queued jobs have their own submits' dispatches.
    BySubmit,
    /// A worker dispatching for jobs left to idle workers ([`Shared::dispatch_queued`]): the
    /// thread's first job may be one of several such, so it dispatches once more itself.
    ByChain,
}

/// What the builder decided.
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) thread_name_prefix: Option<String>,
    pub(crate) initializer: Option<Initializer>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) stack_size: Option<usize>,
}

/// The state shared by the handles and the worker threads of one pool.
pub(crate) struct Shared {
    /// Jobs not started yet, oldest first.
    pub(crate) queue: Injector<Job>,
    /// Threads, idle tokens, claims and sleepers.
    pub(crate) idle: CachePadded<Idle>,
    /// Open, shut down or broken, and the submits in flight.
    pub(crate) lifecycle: Lifecycle,
    /// Name slots and join handles.
    pub(crate) registry: Registry,
    pub(crate) max_workers: usize,
    pub(crate) thread_name_prefix: String,
    pub(crate) initializer: Option<Initializer>,
    pub(crate) stack_size: Option<usize>,
}

/// Numbers the pools of this process, for the default thread name prefix.
static POOLS: StdAtomicUsize = StdAtomicUsize::new(0);

impl Shared {
    fn new(config: Config) -> Self {
        let thread_name_prefix = config
            .thread_name_prefix
            .unwrap_or_else(|| format!("ThreadPool-{}", POOLS.fetch_add(1, StdOrdering::Relaxed)));
        Shared {
            queue: Injector::new(),
            idle: CachePadded(Idle::new(config.keep_alive)),
            lifecycle: Lifecycle::new(),
            registry: Registry::new(config.max_workers),
            max_workers: config.max_workers,
            thread_name_prefix,
            initializer: config.initializer,
            stack_size: config.stack_size,
        }
    }

    /// An identity for thread-locals that remember which pool a thread serves.
    pub(crate) fn id(&self) -> usize {
        self as *const Shared as usize
    }

    pub(crate) fn submit<T: Task>(
        self: &Arc<Self>,
        task: T,
    ) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        if let Err(reason) = self.lifecycle.begin_submit() {
            return Err(SubmitError::new(reason, task));
        }
        let (job, future) = Job::new(task);
        let mut spawn_error = None;
        if worker::take_finishing(self) {
            // A done-callback on one of our workers submits: that worker is busy after all.
            // Before the push, so that a job the revoke finds queued was left to that worker.
            if let Some(orphan) = self
                .idle
                .revoke(self.max_workers, &|| self.queue.is_empty())
            {
                self.act(orphan, Started::ByChain, &mut spawn_error);
            }
        }
        self.queue.push(job);
        fence(SeqCst);
        let dispatch = self
            .idle
            .dispatch(self.max_workers, &|| self.queue.is_empty());
        self.act(dispatch, Started::BySubmit, &mut spawn_error);
        self.lifecycle.end_submit();
        if let Some(error) = spawn_error {
            self.after_spawn_failure(error);
        }
        Ok(future)
    }

    /// Dispatches once more for what is still queued, as a submit would. Called by a worker
    /// that left the idle state with a job, and by the first job of a thread this started: a
    /// submit leaves its job unclaimed to an idle worker it sees awake, and several submits may
    /// count on the same worker, so each worker that takes one of those jobs finds the next a
    /// worker ("The chain" in `crate::idle`). This also serves a job whose claim an idle worker
    /// consumed for the job it had already popped. The fence pairs with the submit's.
    ///
    /// Once the pool is closing it only claims (wakes) idle workers: a thread started while
    /// `shutdown` joins could outlive it, and the threads already there run the queue before
    /// they exit. The shutdown flag is read only when jobs are queued: its cache line is
    /// written by every submit.
    pub(crate) fn dispatch_queued(self: &Arc<Self>) {
        fence(SeqCst);
        if self.queue.is_empty() {
            return;
        }
        let max_workers = if self.lifecycle.is_closing() {
            0
        } else {
            self.max_workers
        };
        let dispatch = self.idle.dispatch(max_workers, &|| self.queue.is_empty());
        let mut spawn_error = None;
        self.act(dispatch, Started::ByChain, &mut spawn_error);
        if let Some(error) = spawn_error {
            self.after_spawn_failure(error);
        }
    }

    fn act(
        self: &Arc<Self>,
        dispatch: Dispatch,
        started: Started,
        spawn_error: &mut Option<std::io::Error>,
    ) {
        if dispatch == Dispatch::Spawn {
            if let Err(error) = self.spawn_worker(started) {
                self.idle.spawn_failed();
                *spawn_error = Some(error);
            }
        }
    }

    /// Starts one worker thread (its place in the counts word is already reserved).
    fn spawn_worker(self: &Arc<Self>, started: Started) -> std::io::Result<()> {
        let slot = self.registry.reserve_slot();
        let mut builder = Builder::new().name(format!("{}_{slot}", self.thread_name_prefix));
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        let shared = Arc::clone(self);
        match builder.spawn(move || worker::run(&shared, slot, started)) {
            Ok(handle) => {
                self.registry.add(handle);
                Ok(())
            }
            Err(error) => {
                self.registry.lock().release(slot);
                Err(error)
            }
        }
    }

    /// A thread could not be spawned. If the pool has no thread left, nobody would ever run
    /// the queue: the pool breaks (and fails what is queued). Otherwise the queued job waits
    /// for a busy worker.
    fn after_spawn_failure(&self, error: std::io::Error) {
        if self.idle.threads() == 0 {
            self.break_pool(format!("could not start a worker thread: {error}"));
        }
    }

    /// Breaks the pool: refuses submits from now on and fails every queued job with `reason`.
    pub(crate) fn break_pool(&self, reason: String) {
        let broken = BrokenExecutor::new(reason);
        if self.lifecycle.break_with(broken.clone()) {
            self.idle.wake_all();
        }
        self.drain(&Abort::Broken(broken));
    }

    /// Completes every queued job without running it. No lock is held while its future's
    /// callbacks run.
    fn drain(&self, why: &Abort) {
        while let Some(job) = self.queue.pop() {
            abort(job, why);
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        self.lifecycle.shut_down();
        if how.cancel_futures {
            self.drain(&Abort::Cancel);
        }
        self.idle.wake_all();
        if how.wait {
            self.lifecycle.wait_for_submits();
            self.registry.join_all_but_current();
        }
    }
}

/// The user-side owner of a pool: dropping the last one shuts the pool down.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // On one of the pool's own threads (a task or callback held the last handle) waiting
        // would mean waiting for ourselves: let the workers finish the queue and exit.
        let wait = !worker::is_pool_thread(&self.shared);
        self.shared.shutdown(if wait {
            Shutdown::wait()
        } else {
            Shutdown::no_wait()
        });
    }
}

/// A pool of threads running [`Task`]s: Python's `ThreadPoolExecutor`.
///
/// Cheap to clone: clones share one pool. Threads start lazily, one per submit while no
/// idle thread is available, up to `max_workers`; idle threads are reused first, so
/// submit-then-wait in a loop uses one thread.
///
/// # Dropping the last handle
///
/// Dropping the last clone behaves as `shutdown(Shutdown::wait())` and joins the threads,
/// except on one of the pool's own threads, where it does not wait: the rule for every pool,
/// and why, is in [Dropping the last handle](Executor#dropping-the-last-handle).
///
/// # Deadlocks that stay possible
///
/// As in CPython: a task that waits for another task of the same pool deadlocks if every
/// worker is busy waiting (for example with `max_workers = 1`); a task that calls
/// `shutdown(wait = true)` waits for the *other* workers, so it deadlocks if one of them waits
/// for the calling task. A done-callback runs on the worker after the worker has declared
/// itself idle; if the callback blocks on a task submitted *by another thread* at that moment,
/// that task may wait for some worker to free up.
///
/// ```
/// use concurrent_futures::{Executor, Shutdown, Submit, as_completed};
/// use concurrent_futures::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
/// let futures: Vec<_> = (0..4u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let total: u64 = as_completed(&futures).map(|f| f.result().unwrap()).sum();
/// assert_eq!(total, 0 + 1 + 4 + 9);
/// pool.shutdown(Shutdown::wait());
/// assert_eq!(pool.thread_count(), 0);
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    handle: Arc<Handle>,
}

impl ThreadPool {
    /// A pool with the default configuration (`max_workers = min(32, cpus + 4)`).
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder to configure a pool.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        ThreadPool {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared::new(config)),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The most threads this pool runs at once.
    pub fn max_workers(&self) -> usize {
        self.shared().max_workers
    }

    /// How many worker threads are alive now (0 before the first submit and after
    /// `shutdown(wait = true)`).
    pub fn thread_count(&self) -> usize {
        self.shared().idle.threads()
    }

    /// The prefix of this pool's thread names (`{prefix}_{n}`).
    pub fn thread_name_prefix(&self) -> &str {
        &self.shared().thread_name_prefix
    }

    /// `true` if the calling thread is one of this pool's workers.
    pub fn is_worker_thread(&self) -> bool {
        worker::is_pool_thread(self.shared())
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor for ThreadPool {
    /// Stops accepting tasks. Queued tasks still run unless `cancel_futures`, which cancels
    /// them at once (their waiters wake and their callbacks run in this thread). With `wait`,
    /// returns once every worker thread has exited, except the calling thread if it is one of
    /// them. Idempotent; safe from tasks and callbacks.
    fn shutdown(&self, how: Shutdown) {
        self.shared().shutdown(how);
    }

    /// `true` once shut down or broken.
    fn is_shutdown(&self) -> bool {
        self.shared().lifecycle.is_closing()
    }

    fn parallelism(&self) -> Option<std::num::NonZeroUsize> {
        std::num::NonZeroUsize::new(self.max_workers())
    }
}

impl<T: Task> Submit<T> for ThreadPool {
    /// Queues `task`. Never blocks; refused with the task handed back once the pool is shut
    /// down ([`Rejected::ShutDown`](concurrent_futures_core::Rejected::ShutDown)) or broken
    /// ([`Rejected::Broken`](concurrent_futures_core::Rejected::Broken)).
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        self.shared().submit(task)
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("ThreadPool")
            .field("thread_name_prefix", &shared.thread_name_prefix)
            .field("max_workers", &shared.max_workers)
            .field("threads", &shared.idle.threads())
            .field("shut_down", &shared.lifecycle.is_shut_down())
            .field("broken", &shared.lifecycle.broken_reason())
            .finish()
    }
}
