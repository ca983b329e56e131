//! [`ThreadPool::scope`] and [`Scope`]: tasks that borrow from the caller's stack, as
//! `std::thread::scope` and `rayon::scope` allow, run on the pool's own threads.
//!
//! This module owns the lifetime erasure of scoped closures and the one thing that makes it
//! sound: a count of the scoped closures that still exist, which `scope` waits to reach zero
//! before it returns. The count is tied to the closure (a guard stored next to it inside the
//! task the pool owns), never to its future, so nothing the user holds, drops or forgets can
//! decrement it early.

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use concurrent_futures_core::{Future, SubmitError, Task};

use crate::job::{Abort, abort};
use crate::pool::{Shared, ThreadPool};
use crate::sync::atomic::{
    AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use crate::sync::{Arc, Condvar, Mutex};
use crate::worker;

/// A scope in which tasks may borrow anything that outlives the call to
/// [`ThreadPool::scope`] that made it.
///
/// Shaped like [`std::thread::Scope`]: `'scope` is the scope itself (tasks may capture
/// `&'scope Scope` and submit more), `'env` is what the tasks borrow from. Both are
/// invariant, so the compiler cannot shrink or stretch them to let a borrow escape.
///
/// ```
/// use concurrent_futures::ThreadPool;
///
/// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
/// let words = vec!["a", "bb", "ccc"];
/// let total = pool.scope(|s| {
///     let lengths: Vec<_> = words.iter().map(|w| s.submit(move || w.len()).unwrap()).collect();
///     lengths.iter().map(|f| f.result().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 6);
/// ```
///
/// What the lifetimes forbid (each of these fails to compile). A task cannot borrow what
/// lives only inside the scope body, since it may run until the scope ends:
///
/// ```compile_fail
/// # let pool = concurrent_futures::ThreadPool::new();
/// pool.scope(|s| {
///     let local = vec![1, 2, 3];
///     s.submit(|| local.len()).unwrap();
/// });
/// ```
///
/// The scope cannot leave the call that made it:
///
/// ```compile_fail
/// # let pool = concurrent_futures::ThreadPool::new();
/// let leaked = pool.scope(|s| s);
/// ```
///
/// A closure handed back by a refused submit keeps its borrows, checked as any closure's:
/// it can be returned from the scope, but not outlive what it borrows.
///
/// ```compile_fail
/// use concurrent_futures::{Executor, Shutdown};
/// # let pool = concurrent_futures::ThreadPool::new();
/// pool.shutdown(Shutdown::wait());
/// let data = vec![1, 2, 3];
/// let refused = pool.scope(|s| s.submit(|| data.len()).unwrap_err().into_task());
/// drop(data); // still borrowed by `refused`
/// refused();
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    live: Arc<Live>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl ThreadPool {
    /// Runs `f` with a [`Scope`] whose tasks may borrow from the caller's stack, and returns
    /// what `f` returns once every task submitted in the scope is gone.
    ///
    /// Inside the scope, [`Scope::submit`] and [`Scope::submit_fallible`] behave as the pool's
    /// own `submit` does: the same queue and threads, the same [`Future`]s (cancel, wait,
    /// callbacks, `as_completed`), refusal with the closure handed back once the pool is shut
    /// down or broken. A task that panics fails its own future with
    /// [`TaskError::Panicked`](concurrent_futures_core::TaskError::Panicked) and does not panic the
    /// scope. If `f` panics, `scope` still waits for every task, then resumes that panic.
    ///
    /// # When `scope` returns
    ///
    /// After every closure submitted in the scope, including those that tasks of the scope
    /// submitted, has been run to completion or dropped without running (its future cancelled
    /// while queued, drained by `shutdown(cancel_futures = true)`, failed by a broken pool),
    /// and its future is done: every future of the scope is finished or cancelled when
    /// `scope` returns. Done-callbacks the user added may still be running then; they are
    /// `'static` and borrow nothing from the scope.
    ///
    /// # Why it is sound
    ///
    /// A submitted closure has its lifetime erased so that the pool (whose jobs are `'static`)
    /// can carry it. That is sound because the erased closure cannot outlive the borrows it
    /// captures: it travels inside the job together with a counting guard, stored after it,
    /// so the guard's drop (which decrements the scope's count) runs only once the closure and
    /// its captures are dropped, whether the task ran, panicked, or never ran. `scope` does not
    /// return, not even by unwinding, before that count is zero, and the borrows it protects
    /// outlive the call to `scope`.
    ///
    /// Leaking cannot break this, unlike with a guard-returning API (the reason
    /// `std::thread::scoped` was removed): the user never holds the guard. What the user can
    /// get from a scope is a `&Scope` (forgetting a reference does nothing), [`Future`]s (they
    /// hold only the output, which is `'static`, so leaking one leaks memory, nothing more)
    /// and, on refusal, their own closure in a [`SubmitError`], whose type still carries
    /// `'scope`, so the borrow checker keeps it inside the scope like any other value. If the
    /// pool itself never ran nor dropped a job, `scope` would block forever: a hang, never a
    /// dangling borrow.
    ///
    /// # Outputs may outlive the scope
    ///
    /// Task outputs must be `'static` (a [`Future`] is a `'static` handle on a shared cell),
    /// so futures can be read after `scope` returned. The closures themselves borrow freely.
    ///
    /// # Calling `scope` from a task of the same pool
    ///
    /// A worker thread waiting for its scope runs queued jobs of its pool meanwhile, as a
    /// rayon worker steals while it waits. So a scope inside a task cannot deadlock just
    /// because every worker is busy waiting for a scope (with `max_workers = 1` too).
    /// Other threads only wait: running tasks on the caller's thread would skip the pool's
    /// initializer and thread names. The caveat is rayon's: while it waits, the worker may
    /// pick up an unrelated job of the pool; if that job blocks until the task that opened
    /// the scope goes on, it deadlocks (as a task waiting for another task of a full pool does).
    /// Only `scope`'s own wait helps: a task that waits on a scoped future inside the scope
    /// body is a task waiting for another task, and deadlocks when no other worker is free.
    /// Let `scope` do the waiting and read the futures after it returned.
    ///
    /// ```
    /// use concurrent_futures::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    /// let input: Vec<u64> = (1..=100).collect();
    /// let mut squares = vec![0u64; input.len()];
    /// pool.scope(|s| {
    ///     for (out, chunk) in squares.chunks_mut(25).zip(input.chunks(25)) {
    ///         s.submit(move || {
    ///             for (o, i) in out.iter_mut().zip(chunk) {
    ///                 *o = i * i;
    ///             }
    ///         })
    ///         .unwrap();
    ///     }
    /// });
    /// // Every task has finished: the mutable borrows are over.
    /// assert_eq!(squares[99], 10_000);
    /// ```
    pub fn scope<'env, F, T>(&self, f: F) -> T
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
    {
        let scope = Scope {
            shared: Arc::clone(self.shared()),
            live: Arc::new(Live::new()),
            scope: PhantomData,
            env: PhantomData,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        scope.live.wait_for_zero(&scope.shared);
        match outcome {
            Ok(value) => value,
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Queues `f`, which may borrow anything that outlives the scope, and returns its future.
    ///
    /// Refused with `f` handed back, as the pool's `submit` refuses, once the pool is shut
    /// down ([`Rejected::ShutDown`](concurrent_futures_core::Rejected::ShutDown)) or broken
    /// ([`Rejected::Broken`](concurrent_futures_core::Rejected::Broken)).
    ///
    /// ```
    /// use concurrent_futures::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    /// let data = vec![1, 2, 3];
    /// let sum = pool.scope(|s| s.submit(|| data.iter().sum::<i32>()).unwrap().result().unwrap());
    /// assert_eq!(sum, 6);
    /// ```
    pub fn submit<F, R>(&'scope self, f: F) -> Result<Future<R, Infallible>, SubmitError<F>>
    where
        F: FnOnce() -> R + Send + 'scope,
        R: Send + 'static,
    {
        self.submit_erased(Infallibly(f))
            .map_err(|(reason, Infallibly(f))| SubmitError::new(reason, f))
    }

    /// Queues `f`, whose `Err` becomes its future's
    /// [`TaskError::Failed`](concurrent_futures_core::TaskError::Failed): the scoped form of
    /// [`fallible`](concurrent_futures_core::fallible).
    ///
    /// ```
    /// use concurrent_futures::TaskError;
    /// use concurrent_futures::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    /// let text = String::from("x");
    /// let parsed = pool.scope(|s| s.submit_fallible(|| text.parse::<u8>()).unwrap().result());
    /// assert!(matches!(parsed, Err(TaskError::Failed(_))));
    /// ```
    pub fn submit_fallible<F, T, E>(&'scope self, f: F) -> Result<Future<T, E>, SubmitError<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'scope,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.submit_erased(Fallibly(f))
            .map_err(|(reason, Fallibly(f))| SubmitError::new(reason, f))
    }

    /// Erases `work`'s lifetime, counts it, and queues it; a refusal hands `work` back with
    /// its type (and so its lifetime) restored.
    fn submit_erased<W, R, E>(
        &'scope self,
        work: W,
    ) -> Result<Future<R, E>, (concurrent_futures_core::Rejected, W)>
    where
        W: Call<R, E> + Send + 'scope,
        R: Send + 'static,
        E: Send + 'static,
    {
        // Counted before it is erased: the count can never be lower than the number of
        // erased closures alive.
        let guard = Live::enter(&self.live);
        let work: Box<dyn Call<R, E> + Send + 'scope> = Box::new(work);
        // SAFETY: only the lifetime bound changes (same layout, same vtable). The erased box
        // goes into `Erased` next to `guard`, declared after it, so the box is dropped or
        // consumed before `guard` decrements the count, and `scope` does not return (nor
        // unwind) before the count is zero; everything the closure borrows outlives the call
        // to `scope`. So the closure never runs or drops after its borrows ended.
        let work: Box<dyn Call<R, E> + Send + 'static> = unsafe {
            std::mem::transmute::<
                Box<dyn Call<R, E> + Send + 'scope>,
                Box<dyn Call<R, E> + Send + 'static>,
            >(work)
        };
        // The closure being gone is what soundness needs; its future being done is what
        // callers expect once `scope` returned (a job drops its closure before it completes
        // the future), so that counts too, released by a done-callback.
        let done = Live::enter(&self.live);
        match self.shared.submit(Erased {
            work,
            _guard: guard,
        }) {
            Ok(future) => {
                future.add_done_callback(move |_| drop(done));
                self.live.submitted();
                Ok(future)
            }
            Err(refused) => {
                let reason = refused.reason().clone();
                // The guard drops here: this closure is the caller's again, not the pool's.
                let Erased { work, .. } = refused.into_task();
                let raw = Box::into_raw(work) as *mut W;
                // SAFETY: the pool hands back the very task it was given, so `raw` is the
                // pointer of the `Box<W>` made above: same allocation, same type. Its
                // lifetime is `'scope` again, so it cannot escape the scope.
                let work = unsafe { Box::from_raw(raw) };
                Err((reason, *work))
            }
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pool", &self.shared.thread_name_prefix)
            .finish_non_exhaustive()
    }
}

/// A scoped closure the pool can run, with its output already shaped as a task's.
trait Call<R, E> {
    fn call(self: Box<Self>) -> Result<R, E>;
}

/// A closure returning its value: `Scope::submit`.
struct Infallibly<F>(F);

impl<F: FnOnce() -> R, R> Call<R, Infallible> for Infallibly<F> {
    fn call(self: Box<Self>) -> Result<R, Infallible> {
        Ok((self.0)())
    }
}

/// A closure returning `Result`: `Scope::submit_fallible`.
struct Fallibly<F>(F);

impl<F: FnOnce() -> Result<T, E>, T, E> Call<T, E> for Fallibly<F> {
    fn call(self: Box<Self>) -> Result<T, E> {
        (self.0)()
    }
}

/// The task the pool queues: the lifetime-erased closure, then its guard.
struct Erased<R, E> {
    // Field order is the soundness argument: fields drop in declaration order, so a task
    // dropped unrun releases the closure's captures before the guard lets `scope` return.
    work: Box<dyn Call<R, E> + Send + 'static>,
    _guard: Guard,
}

impl<R: Send + 'static, E: Send + 'static> Task for Erased<R, E> {
    type Output = R;
    type Error = E;

    fn run(self) -> Result<R, E> {
        let Erased {
            work,
            _guard: guard,
        } = self;
        // `call` consumes the closure; on a panic its captures unwind first and `guard`
        // drops after them, in this frame.
        let outcome = work.call();
        drop(guard);
        outcome
    }
}

/// How many scoped closures of one scope exist, plus how many of their futures are not done
/// yet, and the waiting for zero.
struct Live {
    count: AtomicUsize,
    /// Submits seen and sleepers; the lock also orders a decrement to zero before the
    /// waiter's check, so the wake-up cannot be lost.
    gate: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Default)]
struct Gate {
    /// Bumped after every accepted submit: a worker helping while it waits must look at the
    /// queue again.
    submits: u64,
    sleepers: usize,
}

/// One scoped closure alive (dropped after the closure), or one future not done yet (dropped
/// by its done-callback).
struct Guard(Arc<Live>);

impl Drop for Guard {
    fn drop(&mut self) {
        // Release: the closure's accesses to borrowed data happen before `scope` sees zero.
        if self.0.count.fetch_sub(1, Release) == 1 {
            let gate = self.0.gate.lock();
            if gate.sleepers > 0 {
                self.0.changed.notify_all();
            }
        }
    }
}

impl Live {
    fn new() -> Self {
        Live {
            count: AtomicUsize::new(0),
            gate: Mutex::new(Gate::default()),
            changed: Condvar::new(),
        }
    }

    fn enter(this: &Arc<Live>) -> Guard {
        this.count.fetch_add(1, Relaxed);
        Guard(Arc::clone(this))
    }

    /// Wakes a worker that waits for this scope, so it can run the job just queued.
    fn submitted(&self) {
        let mut gate = self.gate.lock();
        gate.submits += 1;
        if gate.sleepers > 0 {
            self.changed.notify_all();
        }
    }

    /// Returns once the count is zero. On one of `shared`'s workers, runs queued jobs
    /// meanwhile (see "Calling `scope` from a task of the same pool" on [`ThreadPool::scope`]).
    fn wait_for_zero(&self, shared: &Shared) {
        let helping = worker::is_pool_thread(shared);
        loop {
            if self.count.load(Acquire) == 0 {
                return;
            }
            // Read before looking at the queue: a job queued after an empty look bumps it, so
            // the sleep below cannot miss it.
            let seen = self.gate.lock().submits;
            if helping {
                if let Some(job) = shared.queue.pop() {
                    run_while_waiting(shared, job);
                    continue;
                }
            }
            let mut gate = self.gate.lock();
            while self.count.load(Acquire) != 0 && (!helping || gate.submits == seen) {
                gate.sleepers += 1;
                gate = self.changed.wait(gate);
                gate.sleepers -= 1;
            }
        }
    }
}

/// Runs a job on a worker that waits for a scope, as the worker's loop would (a broken pool
/// fails it instead), but without the loop's idle bookkeeping: this worker stays busy.
fn run_while_waiting(shared: &Shared, job: concurrent_futures_core::backend::Job) {
    // Tasks and callbacks are caught by concurrent-futures-core; this guards against a panicking `Drop`
    // of an output nobody holds, which must not unwind out of `scope` while tasks still run.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        match shared.lifecycle.broken_for_worker() {
            Some(broken) => abort(job, &Abort::Broken(broken)),
            None => job.run(),
        }
    }));
}
