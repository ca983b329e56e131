//! [`FixedPool`]: a minimal bounded pool (a fixed number of threads and one FIFO queue), so the
//! suite's own tests cover the checks that need a queue: cancelling a pending task,
//! `shutdown(cancel_futures)`, `map`'s early drop. For real work use `concurrent-futures-threads`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use concurrent_futures_core::{
    Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task,
    backend::{Start, run_caught},
};

/// `n` worker threads taking tasks from one queue in submission order.
///
/// ```
/// use concurrent_futures_core::{Executor, Shutdown, Submit};
/// use concurrent_futures_testkit::backends::FixedPool;
///
/// let pool = FixedPool::new(2);
/// let futures: Vec<_> = (0..10).map(|i| pool.submit(move || i * 10).unwrap()).collect();
/// pool.shutdown(Shutdown::default());
/// assert!(futures.iter().all(|f| f.done())); // `wait` waited for the queue to drain
/// assert_eq!(futures[3].result(), Ok(30));
/// ```
///
/// Dropping it is `shutdown(Shutdown::default())`: queued tasks still run, and it waits.
#[derive(Debug)]
pub struct FixedPool {
    shared: Arc<Shared>,
}

/// A queued task, type-erased: `run(true)` runs it, `run(false)` cancels its future.
type Job = Box<dyn FnOnce(bool) + Send>;

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool shuts down.
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    shut_down: bool,
    live_workers: usize,
}

thread_local! {
    /// The pool (its `Shared`'s address) this thread works for, if any.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

impl FixedPool {
    /// A pool of `workers` threads, all started now.
    ///
    /// # Panics
    /// If `workers` is zero or a thread cannot be spawned.
    pub fn new(workers: usize) -> FixedPool {
        assert!(workers > 0, "a pool needs at least one worker");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                shut_down: false,
                live_workers: workers,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
        });
        for i in 0..workers {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("fixed-pool-{i}"))
                .spawn(move || work(&shared))
                .expect("spawn a pool worker");
        }
        FixedPool { shared }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("FixedPool")
            .field("queued", &state.queue.len())
            .field("shut_down", &state.shut_down)
            .field("live_workers", &state.live_workers)
            .finish()
    }
}

/// A worker: run queued jobs until the pool is shut down and the queue is empty.
fn work(shared: &Arc<Shared>) {
    WORKER_OF.set(shared.id());
    loop {
        let mut state = shared.lock();
        let job = loop {
            if let Some(job) = state.queue.pop_front() {
                break job;
            }
            if state.shut_down {
                state.live_workers -= 1;
                drop(state);
                shared.exited.notify_all();
                return;
            }
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        };
        drop(state);
        job(true);
    }
}

impl Executor for FixedPool {
    fn shutdown(&self, how: Shutdown) {
        let mut state = self.shared.lock();
        state.shut_down = true;
        let cancelled: Vec<Job> = if how.cancel_futures {
            state.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        drop(state);
        self.shared.work.notify_all();
        // Cancel with no lock held: the futures' callbacks may use this pool.
        for job in cancelled {
            job(false);
        }
        if how.wait {
            // From one of our own workers: wait for the others, not for ourselves.
            let own = usize::from(WORKER_OF.get() == self.shared.id());
            let mut state = self.shared.lock();
            while state.live_workers > own {
                state = self
                    .shared
                    .exited
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shared.lock().shut_down
    }
}

impl<T: Task> Submit<T> for FixedPool {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        }
        let (promise, future) = Future::pending();
        state.queue.push_back(Box::new(move |run| {
            if !run {
                let _ = promise.set_cancelled();
            } else if promise.start() == Ok(Start::Run) {
                let _ = promise.set_outcome(run_caught(task));
            }
        }));
        drop(state);
        self.shared.work.notify_one();
        Ok(future)
    }
}

impl Drop for FixedPool {
    fn drop(&mut self) {
        self.shutdown(Shutdown::default());
    }
}
