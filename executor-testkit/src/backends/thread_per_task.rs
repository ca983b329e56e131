//! [`ThreadPerTask`]: the documented example of a backend written against the public traits
//! alone. Each task gets a new thread; there is no queue, so nothing is ever pending.

use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use concurrent_futures_core::{
    Executor, Future, Rejected, Shutdown, Submit, SubmitError, Task,
    backend::{Start, run_caught},
};

/// Runs every task on a thread of its own, started by `submit`.
///
/// How to write a backend, in three steps:
/// 1. `submit` makes a [`Future::pending`] pair, hands the [`Promise`](concurrent_futures_core::backend::Promise)
///    and the task to a worker, and returns the future (or hands the task back with a
///    [`SubmitError`] after shutdown);
/// 2. the worker calls `promise.start()`, and only if it says [`Start::Run`] runs the task with
///    [`run_caught`] (errors and panics become [`TaskError`](concurrent_futures_core::TaskError)s) and
///    completes the promise with `set_outcome`;
/// 3. `shutdown` refuses new tasks, cancels what has not started if asked, and with `wait`
///    waits for the running tasks, except the one calling it (no self-join).
///
/// Here the task is started in `submit` itself, so it is never pending and
/// `shutdown(cancel_futures)` has nothing to cancel. `Submit::map`, `wait`, `as_completed` and
/// `.await` come for free.
///
/// ```
/// use concurrent_futures_core::{Executor, Shutdown, Submit};
/// use concurrent_futures_testkit::backends::ThreadPerTask;
///
/// let ex = ThreadPerTask::new();
/// assert_eq!(ex.submit(|| 6 * 7).unwrap().result(), Ok(42));
/// let squares: Vec<_> = ex.map((0..4).map(|i| move || i * i), Default::default())
///     .map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ex.shutdown(Shutdown::default());
/// assert!(ex.submit(|| 1).is_err());
/// ```
///
/// Dropping it is `shutdown(Shutdown::default())`: it waits for the running tasks.
#[derive(Debug, Default)]
pub struct ThreadPerTask {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a task thread finishes.
    finished: Condvar,
}

#[derive(Debug, Default)]
struct State {
    shut_down: bool,
    running: usize,
}

thread_local! {
    /// The executor (its `Shared`'s address) whose task this thread runs, if any.
    static RUNNING_FOR: Cell<usize> = const { Cell::new(0) };
}

impl ThreadPerTask {
    /// A new executor.
    pub fn new() -> Self {
        Self::default()
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

impl Executor for ThreadPerTask {
    fn shutdown(&self, how: Shutdown) {
        let mut state = self.shared.lock();
        state.shut_down = true;
        if how.wait {
            // Called from one of our own tasks (or its callbacks): do not wait for ourselves.
            let own = usize::from(RUNNING_FOR.get() == self.shared.id());
            while state.running > own {
                state = self
                    .shared
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shared.lock().shut_down
    }
}

impl<T: Task> Submit<T> for ThreadPerTask {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        }
        let (promise, future) = Future::pending();
        // A fresh future cannot be cancelled yet: start it now, so it is never pending.
        if promise.start() != Ok(Start::Run) {
            unreachable!("a new future starts");
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("thread-per-task".into())
            .spawn(move || {
                RUNNING_FOR.set(shared.id());
                // Completing runs the done-callbacks here, while we still count as running.
                let _ = promise.set_outcome(run_caught(task));
                shared.lock().running -= 1;
                shared.finished.notify_all();
            });
        // If no thread could be spawned, the closure and with it the promise are dropped, and
        // the future fails with `TaskError::Abandoned`: visible, never hanging.
        if spawned.is_ok() {
            state.running += 1;
        }
        Ok(future)
    }
}

impl Drop for ThreadPerTask {
    fn drop(&mut self) {
        self.shutdown(Shutdown::default());
    }
}
