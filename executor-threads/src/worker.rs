//! The life of one worker thread: initializer, the run loop, the idle loop, exit.
//!
//! ```text
//! start ── initializer ok ──> busy ── pop a job ──> run it ──> busy ...
//!   │                          │  queue empty                 (queue empty when the task
//!   │ initializer failed:      v                               returned: idle before its
//!   │ break the pool ──────> idle <──────────────────────────  future completes)
//!   │                          │ claim / job seen ──> busy
//!   └─ (broken pools fail      │ closing or keep-alive expired, queue empty ──> exit
//!       jobs, never run them)
//! ```

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use concurrent_futures_core::backend::{Job, catch_panic};

use crate::idle::Next;
use crate::job::{Abort, abort};
use crate::pool::{Shared, Started};
use crate::sync::Arc;
use crate::sync::pool_thread_local;

pool_thread_local! {
    /// The pool (by [`Shared::id`]) this thread works for; 0 on other threads.
    static CURRENT_POOL: Cell<usize> = Cell::new(0);
    /// Set while this worker completes a future after declaring itself idle early: a submit
    /// from a done-callback in that window must take the worker's idle token back.
    static FINISHING: Cell<usize> = Cell::new(0);
}

/// `true` if the calling thread is one of `shared`'s workers.
pub(crate) fn is_pool_thread(shared: &Shared) -> bool {
    CURRENT_POOL.with(|pool| pool.get()) == shared.id()
}

/// If the calling thread is a worker of `shared` completing a future after declaring itself
/// idle, ends that state and returns `true`: the caller takes the worker's token back.
pub(crate) fn take_finishing(shared: &Shared) -> bool {
    FINISHING.with(|finishing| {
        if finishing.get() == shared.id() {
            finishing.set(0);
            true
        } else {
            false
        }
    })
}

/// The body of a worker thread.
pub(crate) fn run(shared: &Arc<Shared>, slot: usize, started: Started) {
    CURRENT_POOL.with(|pool| pool.set(shared.id()));
    initialize(shared);
    let mut broken = None;
    // A new thread starts busy: it was spawned for a job.
    let mut idle = false;
    let mut chain = started == Started::ByChain;
    loop {
        if !idle {
            idle = match shared.queue.pop() {
                Some(job) => {
                    if std::mem::take(&mut chain) {
                        shared.dispatch_queued();
                    }
                    run_job(shared, job, &mut broken)
                }
                None => {
                    // Idle now: it looks at the queue like any idle worker, which continues the
                    // chain if a job turns up.
                    chain = false;
                    shared.idle.become_idle();
                    true
                }
            };
            continue;
        }
        let next = shared.idle.wait_for_work(
            &|| shared.queue.pop(),
            &|| !shared.queue.is_empty(),
            &|| shared.lifecycle.is_closing(),
        );
        idle = match next {
            Next::Work(Some(job)) => {
                // Left the idle state: submits may have counted on this worker for other jobs.
                shared.dispatch_queued();
                run_job(shared, job, &mut broken)
            }
            Next::Work(None) => false,
            Next::MayExit => {
                let mut threads = shared.registry.lock();
                if shared
                    .idle
                    .try_exit(shared.max_workers, &|| !shared.queue.is_empty())
                {
                    threads.release(slot);
                    break;
                }
                false
            }
        };
    }
    CURRENT_POOL.with(|pool| pool.set(0));
}

/// Runs the initializer, unless the pool is already broken; breaks the pool if it fails.
fn initialize(shared: &Shared) {
    let Some(initializer) = &shared.initializer else {
        return;
    };
    if shared.lifecycle.broken_reason().is_some() {
        return;
    }
    let failure = match catch_panic(initializer) {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error,
        Err(panic) => format!("it panicked: {panic}"),
    };
    shared.break_pool(format!(
        "a thread initializer failed, the thread pool is not usable anymore: {failure}"
    ));
}

/// Runs (or, in a broken pool, fails) one job; returns whether the worker is idle afterwards.
fn run_job(shared: &Shared, job: Job, broken: &mut Option<Abort>) -> bool {
    if broken.is_none() {
        *broken = shared.lifecycle.broken_for_worker().map(Abort::Broken);
    }
    if let Some(why) = broken {
        let _ = catch_unwind(AssertUnwindSafe(|| abort(job, why)));
        return false;
    }
    let mut early_idle = false;
    let before_complete = || {
        if shared.queue.is_empty() {
            shared.idle.become_idle();
            FINISHING.with(|finishing| finishing.set(shared.id()));
            early_idle = true;
        }
    };
    // Tasks and callbacks are caught by concurrent-futures-core; this only guards against a panicking
    // `Drop` of a result nobody holds, which must not take the worker (and its idle token) down.
    let _ = catch_unwind(AssertUnwindSafe(|| job.run_with(before_complete)));
    // Still idle unless a done-callback submitted work and took the token back.
    early_idle && take_finishing(shared)
}
