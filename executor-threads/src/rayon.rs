//! [`RayonExecutor`]: `concurrent-futures-core` futures on top of a `rayon::ThreadPool`.
//!
//! Each submit queues its job in this executor's own FIFO and spawns one rayon job that pops
//! one job from it and runs it. So tasks start in submission order whatever rayon's deques do,
//! `shutdown(cancel_futures)` cancels what is queued by draining that FIFO (the matching rayon
//! jobs then find nothing and return), and `shutdown(wait)` waits for a count of accepted tasks
//! not yet finished. Submits in flight are tracked as in the thread pool (`lifecycle.rs`).

use std::cell::RefCell;
use std::fmt;

use concurrent_futures_core::{
    BuildError, BuildErrorKind, Executor, Future, Shutdown, Submit, SubmitError, Task, backend::Job,
};

use crate::job::{Abort, abort};
use crate::lifecycle::Lifecycle;
use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::sync::{Arc, Condvar, Injector, Mutex, pool_thread_local};

pool_thread_local! {
    /// The executors (by [`Shared::id`]) whose tasks are running on this thread, innermost
    /// last: rayon may run a task while another one waits in `join` on the same thread.
    static RUNNING_HERE: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// The state the handles and the rayon jobs share.
struct Shared {
    /// `None`: rayon's global pool.
    pool: Option<Arc<rayon::ThreadPool>>,
    queue: Injector<Job>,
    lifecycle: Lifecycle,
    /// Accepted tasks not yet run to completion or cancelled.
    outstanding: AtomicUsize,
    idle_lock: Mutex<()>,
    /// Signalled when `outstanding` drops after shutdown.
    idle: Condvar,
}

impl Shared {
    fn id(&self) -> usize {
        self as *const Shared as usize
    }

    /// How many of this executor's tasks run on the calling thread.
    fn running_here(&self) -> usize {
        let id = self.id();
        RUNNING_HERE.with(|running| running.borrow().iter().filter(|&&r| r == id).count())
    }

    fn submit<T: Task>(
        self: &Arc<Self>,
        task: T,
    ) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        if let Err(reason) = self.lifecycle.begin_submit() {
            return Err(SubmitError::new(reason, task));
        }
        self.outstanding.fetch_add(1, SeqCst);
        let (job, future) = Job::new(task);
        self.queue.push(job);
        let shared = Arc::clone(self);
        let run = move || shared.run_one();
        match &self.pool {
            Some(pool) => pool.spawn(run),
            None => rayon::spawn(run),
        }
        self.lifecycle.end_submit();
        Ok(future)
    }

    /// The body of every rayon job: runs the oldest queued task, if a cancel left one.
    fn run_one(&self) {
        let Some(job) = self.queue.pop() else {
            return;
        };
        let id = self.id();
        RUNNING_HERE.with(|running| running.borrow_mut().push(id));
        // Tasks and callbacks are caught by concurrent-futures-core; this guards the bookkeeping below
        // against a panicking `Drop` of a result nobody holds.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
        RUNNING_HERE.with(|running| running.borrow_mut().pop());
        self.finished_one();
    }

    fn finished_one(&self) {
        self.outstanding.fetch_sub(1, SeqCst);
        if self.lifecycle.is_closing() {
            let _guard = self.idle_lock.lock();
            self.idle.notify_all();
        }
    }

    fn shutdown(&self, how: Shutdown) {
        self.lifecycle.shut_down();
        if how.cancel_futures {
            while let Some(job) = self.queue.pop() {
                abort(job, &Abort::Cancel);
                self.finished_one();
            }
        }
        if how.wait {
            self.lifecycle.wait_for_submits();
            let here = self.running_here();
            let mut guard = self.idle_lock.lock();
            while self.outstanding.load(SeqCst) > here {
                guard = self.idle.wait(guard);
            }
        }
    }
}

/// The user-side owner: dropping the last one shuts the executor down.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let wait = self.shared.running_here() == 0;
        self.shared.shutdown(if wait {
            Shutdown::wait()
        } else {
            Shutdown::no_wait()
        });
    }
}

/// An executor running tasks on a `rayon::ThreadPool` (its own, or rayon's global pool), with
/// `concurrent-futures-core` futures: cancellation of queued tasks, done-callbacks, `wait`,
/// `as_completed`, `map` and `.await`, on top of rayon.
///
/// Tasks start in submission order. `shutdown(wait = true)` returns once every accepted task
/// has finished (rayon's threads belong to rayon: they are not joined; an owned pool's threads
/// exit after the last handle is dropped). Cheap to clone: clones share one executor. Dropping
/// the last handle behaves as `shutdown(Shutdown::wait())`, except on a thread running one of
/// its tasks (then it does not wait): see
/// [Dropping the last handle](concurrent_futures_core::Executor#dropping-the-last-handle).
///
/// Tasks block rayon threads while they run: blocking tasks on the global pool slow every
/// other rayon user of the process, so prefer an own pool for them.
///
/// ```
/// use concurrent_futures::{Submit, as_completed};
/// use concurrent_futures::threads::RayonExecutor;
///
/// let ex = RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(2)).unwrap();
/// let futures: Vec<_> = (1..=3u32).map(|i| ex.submit(move || i * 10).unwrap()).collect();
/// let sum: u32 = as_completed(&futures).map(|f| f.result().unwrap()).sum();
/// assert_eq!(sum, 60);
/// ```
#[derive(Clone)]
pub struct RayonExecutor {
    handle: Arc<Handle>,
}

impl RayonExecutor {
    fn with(pool: Option<Arc<rayon::ThreadPool>>) -> Self {
        RayonExecutor {
            handle: Arc::new(Handle {
                shared: Arc::new(Shared {
                    pool,
                    queue: Injector::new(),
                    lifecycle: Lifecycle::new(),
                    outstanding: AtomicUsize::new(0),
                    idle_lock: Mutex::new(()),
                    idle: Condvar::new(),
                }),
            }),
        }
    }

    /// Runs tasks on `pool`.
    pub fn new(pool: rayon::ThreadPool) -> Self {
        Self::with(Some(Arc::new(pool)))
    }

    /// Runs tasks on a pool shared with other code.
    pub fn with_pool(pool: Arc<rayon::ThreadPool>) -> Self {
        Self::with(Some(pool))
    }

    /// Builds a pool from `builder` and runs tasks on it. rayon's own error is the
    /// [`BuildError`]'s source.
    ///
    /// ```
    /// use concurrent_futures::threads::RayonExecutor;
    ///
    /// let executor = RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(2))?;
    /// assert_eq!(executor.current_num_threads(), 2);
    /// # Ok::<(), concurrent_futures::BuildError>(())
    /// ```
    pub fn from_builder(builder: rayon::ThreadPoolBuilder) -> Result<Self, BuildError> {
        let pool = builder.build().map_err(|error| {
            BuildError::with_source(
                BuildErrorKind::Spawn,
                "could not build the rayon thread pool",
                error,
            )
        })?;
        Ok(Self::new(pool))
    }

    /// Runs tasks on rayon's global pool.
    pub fn global() -> Self {
        Self::with(None)
    }

    /// The pool tasks run on (`None`: rayon's global pool).
    pub fn pool(&self) -> Option<&rayon::ThreadPool> {
        self.handle.shared.pool.as_deref()
    }

    /// How many threads the pool has.
    pub fn current_num_threads(&self) -> usize {
        match self.pool() {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }
}

impl Executor for RayonExecutor {
    /// Stops accepting tasks; `cancel_futures` cancels the queued ones at once; `wait` returns
    /// once every accepted task has finished (except tasks running on the calling thread).
    fn shutdown(&self, how: Shutdown) {
        self.handle.shared.shutdown(how);
    }

    fn is_shutdown(&self) -> bool {
        self.handle.shared.lifecycle.is_closing()
    }

    fn parallelism(&self) -> Option<std::num::NonZeroUsize> {
        std::num::NonZeroUsize::new(self.current_num_threads())
    }
}

impl<T: Task> Submit<T> for RayonExecutor {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        self.handle.shared.submit(task)
    }
}

impl fmt::Debug for RayonExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("RayonExecutor")
            .field("global_pool", &shared.pool.is_none())
            .field("threads", &self.current_num_threads())
            .field("outstanding", &shared.outstanding.load(SeqCst))
            .field("shut_down", &shared.lifecycle.is_shut_down())
            .finish()
    }
}
