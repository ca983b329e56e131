//! [`ProcessPool`]: the user's handle, and how a task is accepted.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use concurrent_futures_core::{
    Executor, Future, Map, MapOptions, Shutdown, Submit, SubmitError, Task,
};
use serde::Serialize;

use crate::builder::ProcessPoolBuilder;
use crate::connection::on_pool_thread;
use crate::job::{Job, TypedPromise};
use crate::registry::prepare;
use crate::remote_fn::{Call, RemoteFn};
use crate::shared::Shared;
use crate::sys;

/// A pool of worker processes that run registered tasks in isolation.
///
/// A task that panics, aborts, segfaults, exits or is killed fails only its own future; the pool
/// replaces the worker and carries on (unless built with
/// [`broken_on_worker_death`](ProcessPoolBuilder::broken_on_worker_death)). Tasks can be given a
/// time limit, and [`Future::interrupt`] stops a running task by killing its worker.
///
/// Every binary that builds a pool must call [`init`](crate::init) first in `main`, and register
/// the task types it submits ([`register_task!`](crate::register_task),
/// [`remote_fn!`](crate::remote_fn)).
///
/// ```no_run
/// use concurrent_futures::{Executor, Shutdown, Submit};
/// use concurrent_futures::ProcessPool;
///
/// fn collatz_steps(mut n: u64) -> u32 {
///     let mut steps = 0;
///     while n > 1 { n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 }; steps += 1; }
///     steps
/// }
/// concurrent_futures::remote_fn!(collatz_steps);
///
/// fn main() {
///     concurrent_futures::process::init();
///     let pool = ProcessPool::builder().max_workers(2).build().unwrap();
///     let future = pool.call(collatz_steps, 27).unwrap();
///     assert_eq!(future.result(), Ok(111));
///     pool.shutdown(Shutdown::wait());
/// }
/// ```
///
/// # `map` and chunks
///
/// [`map`](Submit::map) (and [`map_fn`](ProcessPool::map_fn)) keeps per-item semantics whatever
/// the `chunksize`, at the cost of a chunk rather than of its items: a chunk travels as one
/// message and comes back as one, but its worker runs the items one by one and commits each
/// outcome to shared memory as it finishes. So:
///
/// - the pool's time limit ([`task_timeout`](ProcessPoolBuilder::task_timeout)) applies to each
///   item, not to the chunk: an item that runs past it fails with `TaskError::Expired`;
/// - a crash or an expiry fails only the item that was running (`WorkerLost`, `Expired`): the
///   chunk's finished items keep the results the dead worker computed (they do not run again),
///   and its remaining items run on another worker; the chunk's results come back together,
///   in order;
/// - [`Future::interrupt`] and `terminate_workers` still act on whole chunks (a chunk is one
///   future), and with [`broken_on_worker_death`](ProcessPoolBuilder::broken_on_worker_death)
///   a crash breaks the pool as for any task.
///
/// # Clones and dropping the last handle
///
/// Cheap to clone: clones share one pool. Dropping the last clone shuts the pool down and waits
/// until every accepted task that was not cancelled has finished and every worker was reaped,
/// even after an earlier `shutdown(Shutdown::no_wait())`; on one of the pool's own threads (a
/// done-callback owned the last clone) it does not wait. The rule is the same for every pool:
/// see [Dropping the last handle](concurrent_futures_core::Executor#dropping-the-last-handle).
///
/// ```no_run
/// use concurrent_futures::Submit;
/// use concurrent_futures::ProcessPool;
///
/// fn double(x: u64) -> u64 { x * 2 }
/// concurrent_futures::remote_fn!(double);
///
/// fn main() {
///     concurrent_futures::process::init();
///     let pool = ProcessPool::builder().max_workers(1).build().unwrap();
///     let other = pool.clone();
///     drop(pool); // not the last handle: the pool stays open
///     let future = other.call(double, 21).unwrap();
///     drop(other); // the last one: waits for the task and the worker
///     assert_eq!(future.result(), Ok(42));
/// }
/// ```
#[derive(Clone)]
pub struct ProcessPool {
    shared: Arc<Shared>,
    /// Shared by the clones; its drop is the last handle's drop. A separate field (rather than
    /// reaching `shared` through it) because the pool's own threads hold `shared` too, and only
    /// user handles decide when the pool ends.
    _last: Arc<LastHandle>,
}

/// Dropped with the last [`ProcessPool`] handle.
struct LastHandle {
    shared: Arc<Shared>,
}

impl Drop for LastHandle {
    fn drop(&mut self) {
        // Without waiting, `main` returning would end the process and its workers with it
        // (they die with their parent), losing every queued task.
        self.shared.shutdown(false);
        if !on_pool_thread(&self.shared) {
            self.shared.wait_until_stopped();
        }
    }
}

/// Per-task settings for [`ProcessPool::submit_with`].
///
/// ```
/// use std::time::Duration;
/// let options = concurrent_futures::SubmitOptions::new().timeout(Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    timeout: Option<Duration>,
}

impl SubmitOptions {
    /// The pool's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// A time limit for this task once it runs, instead of the pool's
    /// [`task_timeout`](ProcessPoolBuilder::task_timeout).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }
}

impl ProcessPool {
    /// A builder with the defaults.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        let last = Arc::new(LastHandle {
            shared: shared.clone(),
        });
        ProcessPool {
            shared,
            _last: last,
        }
    }

    /// Submits `task` with per-task options.
    ///
    /// Like [`Submit::submit`], a task that cannot be encoded, or whose type is not registered,
    /// gives a future that has already failed (`TaskError::Codec` with
    /// `CodecStage::EncodeTask`, or `TaskError::Backend`); the pool is unaffected.
    pub fn submit_with<T>(
        &self,
        task: T,
        options: SubmitOptions,
    ) -> Result<Future<T::Output, T::Error>, SubmitError<T>>
    where
        T: Task + Serialize,
    {
        // The pool's lock is taken once, in `Shared::submit`, which refuses a shut-down pool's
        // task and hands it back; only a task that fails to encode asks first, so that it too
        // is refused rather than failed.
        let (registered, payload) = match prepare(&task) {
            Ok(prepared) => prepared,
            Err(error) => {
                return match self.shared.refusal() {
                    Some(reason) => Err(SubmitError::new(reason, task)),
                    None => Ok(Future::failed(error)),
                };
            }
        };
        let (promise, future) = Future::pending_driven(self.shared.driver());
        let timeout = options.timeout.or(self.shared.config.task_timeout);
        let promise = Box::new(TypedPromise::new(promise, registered.decode));
        let job = Job::new(registered.index, payload, timeout, promise);
        match self.shared.submit(job) {
            Ok(()) => Ok(future),
            Err((reason, job)) => {
                // The never-seen future is abandoned with the job; the task goes back.
                drop(job);
                Err(SubmitError::new(reason, task))
            }
        }
    }

    /// Calls the registered function `function` with `args` in a worker (a tuple for functions
    /// of several arguments).
    ///
    /// ```no_run
    /// # use concurrent_futures::ProcessPool;
    /// fn add(a: i64, b: i64) -> i64 { a + b }
    /// concurrent_futures::remote_fn!(add);
    /// # fn main() {
    /// # concurrent_futures::process::init();
    /// # let pool = ProcessPool::builder().build().unwrap();
    /// assert_eq!(pool.call(add, (2, 3)).unwrap().result(), Ok(5));
    /// # }
    /// ```
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
        self.submit_with(Call::new(function, args), SubmitOptions::new())
    }

    /// Python's `executor.map(function, iterable)`: calls the registered `function` with each
    /// item of `args` in a worker, and yields the results in input order.
    ///
    /// The same as [`map`](Submit::map) over [`Call::new`]`(function, item)` for each item, with
    /// the same [`MapOptions`] and per-item semantics: each call has the pool's time limit, and a
    /// crash or an expiry fails only that call. Items are tuples for functions of several
    /// arguments, as in [`call`](Self::call).
    ///
    /// ```no_run
    /// # use concurrent_futures::MapOptions;
    /// # use concurrent_futures::ProcessPool;
    /// fn is_prime(n: u64) -> bool {
    ///     n > 1 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0)
    /// }
    /// concurrent_futures::remote_fn!(is_prime);
    /// # fn main() {
    /// # concurrent_futures::process::init();
    /// # let pool = ProcessPool::builder().build().unwrap();
    /// let primes: Vec<u64> = (1..100u64)
    ///     .zip(pool.map_fn(is_prime, 1..100u64, MapOptions::new().chunksize(8)))
    ///     .filter_map(|(n, prime)| prime.unwrap().then_some(n))
    ///     .collect();
    /// assert_eq!(primes[..4], [2, 3, 5, 7]);
    /// # }
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn map_fn<F, Args, M, I>(
        &self,
        function: F,
        args: I,
        options: MapOptions,
    ) -> Map<'_, Self, Call<F, Args, M>, impl Iterator<Item = Call<F, Args, M>>>
    where
        F: RemoteFn<Args, M>,
        Args: Serialize + Send + 'static,
        M: 'static,
        I: IntoIterator<Item = Args>,
    {
        let calls = args.into_iter().map(move |args| Call::new(function, args));
        self.map(calls, options)
    }

    /// Python 3.14's `terminate_workers`: shuts down, cancels every task not yet sent to a
    /// worker, and sends SIGTERM to every worker (SIGKILL after the grace period). Tasks sent
    /// to a worker fail with `TaskError::Broken`, those of its batch it had not started too:
    /// their futures were running, so they never end cancelled. Does not wait.
    pub fn terminate_workers(&self) {
        self.shared.terminate(sys::SIGTERM, "terminate_workers()");
    }

    /// Python 3.14's `kill_workers`: like [`terminate_workers`](Self::terminate_workers) with
    /// SIGKILL.
    pub fn kill_workers(&self) {
        self.shared.terminate(sys::SIGKILL, "kill_workers()");
    }

    /// The process ids of the workers currently serving.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.worker_pids()
    }

    /// How many workers run at once.
    pub fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }
}

impl Executor for ProcessPool {
    /// Stops accepting tasks. With `wait`, blocks until every accepted task finished and every
    /// worker was reaped (not when called from a done-callback, which runs on a pool thread).
    fn shutdown(&self, how: Shutdown) {
        self.shared.shutdown(how.cancel_futures);
        if how.wait && !on_pool_thread(&self.shared) {
            self.shared.wait_until_stopped();
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    fn parallelism(&self) -> Option<std::num::NonZeroUsize> {
        std::num::NonZeroUsize::new(self.max_workers())
    }
}

impl<T: Task + Serialize> Submit<T> for ProcessPool {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        self.submit_with(task, SubmitOptions::new())
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.shared.config.max_workers)
            .field("shutdown", &self.shared.is_shutdown())
            .finish_non_exhaustive()
    }
}
