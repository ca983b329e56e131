//! The future state machine: the shared cell behind a [`Future`] and its [`Promise`].
//!
//! ```text
//! Pending --cancel()------------> Cancelled   (waiters, wakers and callbacks notified at once)
//! Pending --Promise::start()----> Running
//! Pending|Running --set_*()-----> Finished    (value or error)
//! Pending|Running --set_cancelled()--> Cancelled (backend stopped a running task on request)
//! ```
//!
//! Nothing leaves `Cancelled` or `Finished`. Unlike CPython there is no separate
//! "cancelled and notified" state: cancellation notifies `wait`/`as_completed` waiters immediately,
//! which is what keeps them from hanging on futures cancelled by `shutdown(cancel_futures)`.
//!
//! The cell of a future made by [`Job::new`](crate::backend::Job::new) also holds the job's task, in the
//! same allocation, until the job runs (or is dropped) and takes it out: the cell is generic
//! over what it carries (`S`), and futures and promises see it type-erased (`dyn TaskSlot`).
//!
//! Invariants, all under `guarded`'s lock:
//! - `outcome` is set exactly once, in the same critical section that moves the state to a
//!   terminal one; `phase` mirrors the state for lock-free `done()` checks. The outcome can later
//!   be moved out only by an explicit take (`Future::join`, or `.await`), after which reads see
//!   [`TaskError::Taken`].
//! - On the terminal transition the listener list (callbacks, waiters, wakers and the interrupt
//!   hook, in one `Vec` so that a future nobody listens to carries one empty `Vec`) is taken out;
//!   the listeners are notified after the lock is released, so a callback may touch this future,
//!   other futures, or an executor without deadlock.

use std::fmt;
use std::task::Waker;

use crate::callback;
use crate::drive::Drive;
use crate::error::{InvalidStateError, TaskError};
use crate::future::Future;
use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};
use crate::waiter::Waiter;

/// Where a future is in its life.
///
/// ```
/// use concurrent_futures::{Future, State};
///
/// let (promise, future) = Future::<i32>::pending();
/// assert_eq!(future.state(), State::Pending);
/// promise.set_result(1).unwrap();
/// assert_eq!(future.state(), State::Finished);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Submitted, not started; can still be cancelled.
    Pending = 0,
    /// A worker is running it.
    Running = 1,
    /// Cancelled; it will never run (or was stopped while running, on request).
    Cancelled = 2,
    /// It ran to completion, with a value or an error.
    Finished = 3,
}

impl State {
    /// `true` for the terminal states, `Cancelled` and `Finished`.
    pub fn is_done(self) -> bool {
        matches!(self, State::Cancelled | State::Finished)
    }

    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Pending,
            1 => State::Running,
            2 => State::Cancelled,
            _ => State::Finished,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Cancelled => "cancelled",
            State::Finished => "finished",
        })
    }
}

pub(crate) type Callback<T, E> = Box<dyn FnOnce(&Future<T, E>) + Send>;
pub(crate) type Interrupt = Box<dyn FnOnce() + Send>;

/// Who is told when the future is done (and how to stop it while it runs).
enum Listener<T, E> {
    /// A done-callback; callbacks run in registration order, after waiters and wakers.
    Callback(Callback<T, E>),
    /// A `wait`/`as_completed` waiter and this future's index in its list.
    Waiter(Arc<Waiter>, usize),
    /// An awaiting task.
    Waker(Waker),
    /// The backend's way to stop the running task (at most one); dropped on completion.
    Interrupt(Interrupt),
}

/// What the future's lock protects.
struct Guarded<T, E> {
    state: State,
    /// Rarely used, so one `Vec` for all kinds: an empty one costs 24 bytes and no allocation.
    listeners: Vec<Listener<T, E>>,
    outcome: Outcome<T, E>,
    /// Whether the outcome is an error other than a cancellation (kept after a take).
    failed: bool,
    /// Threads blocked on `done` in [`Inner::wait_until`]: the terminal transition signals the
    /// condvar only if there are any (a signal is a system call even with nobody waiting).
    blocked: u32,
}

enum Outcome<T, E> {
    Unset,
    Set(Result<T, TaskError<E>>),
    Taken,
}

/// What a cell carries besides the future's state: the task of a [`Job`](crate::backend::Job) (an
/// `Option` of it, emptied when the job takes it), nothing (`()`) for [`Future::pending`], or
/// the backend's [`Drive`] for [`Future::pending_driven`].
pub(crate) trait TaskSlot: Send {
    /// What a thread about to block on this future may drive.
    fn driver(&self) -> Option<&Arc<dyn Drive>> {
        None
    }
}

impl TaskSlot for () {}

impl<T: Send> TaskSlot for Option<T> {}

/// The slot of a driven future.
pub(crate) struct Driven(pub(crate) Arc<dyn Drive>);

impl TaskSlot for Driven {
    fn driver(&self) -> Option<&Arc<dyn Drive>> {
        Some(&self.0)
    }
}

/// The shared cell behind one future. Futures and promises hold it as `Inner<T, E>`, with the
/// type of its task erased.
pub(crate) struct Inner<T, E, S: ?Sized = dyn TaskSlot> {
    guarded: Mutex<Guarded<T, E>>,
    /// Signalled on every terminal transition, for blocking `wait`s on this one future.
    done: Condvar,
    /// Mirror of `guarded.state` for lock-free reads.
    phase: AtomicU8,
    /// The task slot holds a [`Drive`]: only then does a blocking wait take the task's lock to
    /// find it (it sits in padding beside `phase`, so the cell does not grow).
    driven: bool,
    /// The task of a [`Job`](crate::backend::Job): only that job (which is unique) and the cell's drop
    /// touch it, so its lock is never contended; it is never taken with `guarded`'s held.
    pub(crate) task: Mutex<S>,
}

/// What a backend should do after [`Promise::start`](crate::backend::Promise::start).
#[must_use = "a cancelled task must not be run"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The future is now running: run the task and complete the promise.
    Run,
    /// The future was cancelled before it started: do not run the task.
    Cancelled,
}

/// The listeners taken out of the cell on its terminal transition, to be run with no lock held.
struct Notifications<T, E> {
    listeners: Vec<Listener<T, E>>,
    failed: bool,
}

impl<T, E, S: TaskSlot> Inner<T, E, S> {
    /// A pending cell carrying `task`.
    pub(crate) fn new(task: S) -> Self {
        Inner {
            driven: task.driver().is_some(),
            guarded: Mutex::new(Guarded {
                state: State::Pending,
                listeners: Vec::new(),
                outcome: Outcome::Unset,
                failed: false,
                blocked: 0,
            }),
            done: Condvar::new(),
            phase: AtomicU8::new(State::Pending as u8),
            task: Mutex::new(task),
        }
    }
}

impl<T, E, S: ?Sized> Inner<T, E, S> {
    pub(crate) fn state(&self) -> State {
        State::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// A copy of the outcome, once the future is done.
    pub(crate) fn cloned_outcome(&self) -> Option<Result<T, TaskError<E>>>
    where
        T: Clone,
        E: Clone,
    {
        match &self.guarded.lock().outcome {
            Outcome::Unset => None,
            Outcome::Set(outcome) => Some(outcome.clone()),
            Outcome::Taken => Some(Err(TaskError::Taken)),
        }
    }

    /// Moves the outcome out, once the future is done; later reads see `TaskError::Taken`.
    pub(crate) fn take_outcome(&self) -> Option<Result<T, TaskError<E>>> {
        let mut guard = self.guarded.lock();
        match std::mem::replace(&mut guard.outcome, Outcome::Unset) {
            Outcome::Unset => None,
            Outcome::Set(outcome) => {
                guard.outcome = Outcome::Taken;
                Some(outcome)
            }
            Outcome::Taken => {
                guard.outcome = Outcome::Taken;
                Some(Err(TaskError::Taken))
            }
        }
    }

    /// Inspects the outcome under the lock (for `Debug`).
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(Option<&Result<T, TaskError<E>>>) -> R) -> R {
        match &self.guarded.lock().outcome {
            Outcome::Set(outcome) => f(Some(outcome)),
            _ => f(None),
        }
    }

    fn set_state(&self, guard: &mut MutexGuard<'_, Guarded<T, E>>, state: State) {
        guard.state = state;
        self.phase.store(state as u8, Ordering::Release);
    }

    /// Blocks until the future is done or `deadline` passes; returns whether it is done.
    ///
    /// It first spins briefly (see [`spin_until_done`]), since waking a blocked thread costs
    /// tens of microseconds and many tasks finish sooner than that.
    pub(crate) fn wait_until(&self, deadline: Option<std::time::Instant>) -> bool
    where
        S: TaskSlot,
    {
        if self.state().is_done() {
            return true;
        }
        // The task lock is never held long (see `task`), and never with `guarded`'s.
        let driver = if self.driven {
            self.task.lock().driver().cloned()
        } else {
            None
        };
        if let Some(driver) = driver {
            let phase = &self.phase;
            driver.drive(
                &|| State::from_u8(phase.load(Ordering::Acquire)).is_done(),
                deadline,
            );
        }
        if self.state().is_done() || spin_until_done(&self.phase, deadline) {
            return true;
        }
        let mut guard = self.guarded.lock();
        loop {
            if guard.state.is_done() {
                return true;
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return false;
            }
            guard.blocked += 1;
            guard = self.done.wait_until(guard, deadline);
            guard.blocked -= 1;
        }
    }

    /// `Promise::start`: Pending → Running, or report a cancellation.
    pub(crate) fn start(&self) -> Result<Start, InvalidStateError> {
        let mut guard = self.guarded.lock();
        match guard.state {
            State::Pending => {
                self.set_state(&mut guard, State::Running);
                Ok(Start::Run)
            }
            State::Cancelled => Ok(Start::Cancelled),
            state => Err(InvalidStateError {
                state,
                operation: "start",
            }),
        }
    }

    /// Moves to a terminal state with `outcome`, if the current state allows it.
    fn terminate(
        &self,
        to: State,
        outcome: Result<T, TaskError<E>>,
        allowed: impl Fn(State) -> bool,
        operation: &'static str,
    ) -> Result<Notifications<T, E>, InvalidStateError> {
        let mut guard = self.guarded.lock();
        if !allowed(guard.state) {
            return Err(InvalidStateError {
                state: guard.state,
                operation,
            });
        }
        let failed = matches!(&outcome, Err(e) if !e.is_cancelled());
        debug_assert!(
            matches!(guard.outcome, Outcome::Unset),
            "two terminal transitions"
        );
        guard.outcome = Outcome::Set(outcome);
        guard.failed = failed;
        self.set_state(&mut guard, to);
        let notifications = Notifications {
            listeners: std::mem::take(&mut guard.listeners),
            failed,
        };
        let blocked = guard.blocked > 0;
        drop(guard);
        if blocked {
            self.done.notify_all();
        }
        Ok(notifications)
    }
}

impl<T: Send + 'static, E: Send + 'static> Inner<T, E> {
    fn notify(self: &Arc<Self>, n: Notifications<T, E>) {
        if n.listeners.is_empty() {
            return;
        }
        let mut has_callbacks = false;
        for listener in &n.listeners {
            match listener {
                Listener::Waiter(waiter, index) => waiter.notify(*index, n.failed),
                Listener::Waker(waker) => waker.wake_by_ref(),
                Listener::Callback(_) => has_callbacks = true,
                Listener::Interrupt(_) => {}
            }
        }
        if has_callbacks {
            let handle = Future::from_inner(self.clone());
            for listener in n.listeners {
                if let Listener::Callback(callback) = listener {
                    callback::run(callback, &handle);
                }
            }
        }
    }

    /// `Future::cancel`: Pending → Cancelled.
    pub(crate) fn cancel(self: &Arc<Self>) -> bool {
        match self.terminate(
            State::Cancelled,
            Err(TaskError::Cancelled),
            |s| s == State::Pending,
            "cancel",
        ) {
            Ok(n) => {
                self.notify(n);
                true
            }
            Err(e) => e.state == State::Cancelled,
        }
    }

    /// `Promise::set_*`: Pending|Running → Finished.
    pub(crate) fn finish(
        self: &Arc<Self>,
        outcome: Result<T, TaskError<E>>,
    ) -> Result<(), InvalidStateError> {
        let n = self.terminate(
            State::Finished,
            outcome,
            |s| matches!(s, State::Pending | State::Running),
            "complete",
        )?;
        self.notify(n);
        Ok(())
    }

    /// `Promise::set_cancelled`: Pending|Running → Cancelled.
    pub(crate) fn cancel_from_backend(self: &Arc<Self>) -> Result<(), InvalidStateError> {
        let n = self.terminate(
            State::Cancelled,
            Err(TaskError::Cancelled),
            |s| matches!(s, State::Pending | State::Running),
            "cancel",
        )?;
        self.notify(n);
        Ok(())
    }

    /// Runs `callback` now if done, else queues it; never loses or repeats one.
    pub(crate) fn add_callback(self: &Arc<Self>, callback: Callback<T, E>) {
        let mut guard = self.guarded.lock();
        if guard.state.is_done() {
            drop(guard);
            callback::run(callback, &Future::from_inner(self.clone()));
        } else {
            guard.listeners.push(Listener::Callback(callback));
        }
    }

    /// Registers `waker` unless done; returns whether the future is done.
    pub(crate) fn register_waker(&self, waker: &Waker) -> bool {
        let mut guard = self.guarded.lock();
        if guard.state.is_done() {
            return true;
        }
        let known = guard
            .listeners
            .iter()
            .any(|l| matches!(l, Listener::Waker(w) if w.will_wake(waker)));
        if !known {
            guard.listeners.push(Listener::Waker(waker.clone()));
        }
        false
    }

    pub(crate) fn set_interrupt(&self, interrupt: Interrupt) {
        let mut guard = self.guarded.lock();
        if !guard.state.is_done() {
            let old = take_interrupt(&mut guard.listeners);
            guard.listeners.push(Listener::Interrupt(interrupt));
            drop(guard);
            drop(old);
        }
    }

    /// `Future::interrupt`: cancel if pending, ask the backend to stop it if running.
    pub(crate) fn interrupt(self: &Arc<Self>) -> bool {
        loop {
            let mut guard = self.guarded.lock();
            match guard.state {
                State::Pending => {
                    drop(guard);
                    if self.cancel() {
                        return true;
                    }
                    // It started between the two locks: go round and interrupt the running task.
                }
                State::Running => {
                    return match take_interrupt(&mut guard.listeners) {
                        Some(interrupt) => {
                            drop(guard);
                            interrupt();
                            true
                        }
                        None => false,
                    };
                }
                State::Cancelled => return true,
                State::Finished => return false,
            }
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Inner<T, E> {
    /// The waiter protocol's `watch` (see [`crate::waiter::Watch`]).
    pub(crate) fn watch(&self, waiter: &Arc<Waiter>, index: usize) -> Option<bool> {
        let mut guard = self.guarded.lock();
        match guard.outcome {
            Outcome::Set(_) | Outcome::Taken => return Some(guard.failed),
            Outcome::Unset => {}
        }
        guard
            .listeners
            .push(Listener::Waiter(waiter.clone(), index));
        None
    }

    /// The waiter protocol's `unwatch`.
    pub(crate) fn unwatch(&self, waiter: &Arc<Waiter>) {
        let mut guard = self.guarded.lock();
        guard
            .listeners
            .retain(|l| !matches!(l, Listener::Waiter(w, _) if Arc::ptr_eq(w, waiter)));
    }
}

/// Removes the interrupt hook from `listeners`, keeping the others in order.
fn take_interrupt<T, E>(listeners: &mut Vec<Listener<T, E>>) -> Option<Interrupt> {
    let at = listeners
        .iter()
        .position(|l| matches!(l, Listener::Interrupt(_)))?;
    match listeners.remove(at) {
        Listener::Interrupt(interrupt) => Some(interrupt),
        _ => unreachable!("the position of an interrupt"),
    }
}

/// How long [`Inner::wait_until`] spins before it blocks.
#[cfg(not(executor_loom))]
const SPIN_FOR: std::time::Duration = std::time::Duration::from_micros(20);

/// Spins (CPU pauses, then yields) for up to [`SPIN_FOR`], or until `deadline`, while the future
/// is not done; returns whether it became done. Under loom it does nothing: the model explores
/// the blocking path.
fn spin_until_done(phase: &AtomicU8, deadline: Option<std::time::Instant>) -> bool {
    #[cfg(executor_loom)]
    {
        let _ = (phase, deadline);
        false
    }
    #[cfg(not(executor_loom))]
    {
        let is_done = || State::from_u8(phase.load(Ordering::Acquire)).is_done();
        let start = std::time::Instant::now();
        let end = match deadline {
            Some(deadline) => deadline.min(start + SPIN_FOR),
            None => start + SPIN_FOR,
        };
        if end <= start {
            return false; // a zero timeout never waits
        }
        let mut round = 0u32;
        loop {
            if round < 7 {
                for _ in 0..1u32 << round {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            round += 1;
            if is_done() {
                return true;
            }
            if round >= 7 && std::time::Instant::now() >= end {
                return false;
            }
        }
    }
}
