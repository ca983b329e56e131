//! Open, shut down or broken, and the submits in flight: what makes shutdown race-free.
//!
//! One `AtomicUsize`: bit 0 `SHUTDOWN`, bit 1 `BROKEN`, the rest counts submits in flight. A
//! submit registers (`fetch_add`) *before* it checks the flags and deregisters after it queued
//! its job and secured a worker for it; `shutdown` sets its flag first, then waits for the
//! in-flight count to drain before it joins the threads. So every `submit` either sees the flag
//! and hands its task back, or is accepted and fully queued (with a thread to run it) before
//! `shutdown(wait = true)` starts joining: no task is lost and none runs after the join.
//! Nothing between register and deregister runs user code, so a shutdown waiting for the count
//! cannot wait on itself.

use concurrent_futures_core::{BrokenExecutor, Rejected};

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::sync::{CachePadded, Condvar, Mutex};

const SHUTDOWN: usize = 1;
const BROKEN: usize = 2;
const FLAGS: usize = SHUTDOWN | BROKEN;
const ONE_SUBMIT: usize = 4;

/// The lifecycle of one pool.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    /// Flags and in-flight submits: written by every submit.
    state: CachePadded<AtomicUsize>,
    /// Mirror of the `BROKEN` flag on its own cache line, read by workers before every job.
    broken_flag: CachePadded<AtomicBool>,
    /// Why the pool broke: written once, before `BROKEN` is set.
    broken: Mutex<Option<BrokenExecutor>>,
    /// Signalled when the last in-flight submit leaves after the pool closed.
    quiet_lock: Mutex<()>,
    quiet: Condvar,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Lifecycle {
            state: CachePadded(AtomicUsize::new(0)),
            broken_flag: CachePadded(AtomicBool::new(false)),
            broken: Mutex::new(None),
            quiet_lock: Mutex::new(()),
            quiet: Condvar::new(),
        }
    }

    /// Registers a submit; refuses it if the pool is shut down or broken. On `Ok` the caller
    /// must call [`end_submit`](Self::end_submit) once its job is queued and dispatched.
    pub(crate) fn begin_submit(&self) -> Result<(), Rejected> {
        let previous = self.state.fetch_add(ONE_SUBMIT, SeqCst);
        if previous & FLAGS == 0 {
            return Ok(());
        }
        self.end_submit();
        Err(self.rejection())
    }

    /// Deregisters a submit; the last one out after a shutdown wakes the shutdown waiters.
    pub(crate) fn end_submit(&self) {
        let previous = self.state.fetch_sub(ONE_SUBMIT, SeqCst);
        if previous & FLAGS != 0 && previous / ONE_SUBMIT == 1 {
            let _guard = self.quiet_lock.lock();
            self.quiet.notify_all();
        }
    }

    /// Why submits are refused now (the broken check comes first, as in CPython).
    fn rejection(&self) -> Rejected {
        match self.broken_reason() {
            Some(broken) => Rejected::Broken(broken),
            None => Rejected::ShutDown,
        }
    }

    /// Sets the shutdown flag.
    pub(crate) fn shut_down(&self) {
        self.state.fetch_or(SHUTDOWN, SeqCst);
    }

    /// Marks the pool broken with `reason`; `false` if it already was (the first reason wins).
    pub(crate) fn break_with(&self, reason: BrokenExecutor) -> bool {
        {
            let mut broken = self.broken.lock();
            if broken.is_some() {
                return false;
            }
            *broken = Some(reason);
        }
        self.state.fetch_or(BROKEN, SeqCst);
        self.broken_flag.store(true, SeqCst);
        true
    }

    /// `true` once shut down or broken: workers exit when the queue is empty.
    pub(crate) fn is_closing(&self) -> bool {
        self.state.load(SeqCst) & FLAGS != 0
    }

    /// `true` if `shutdown` was called (whether or not the pool is broken).
    pub(crate) fn is_shut_down(&self) -> bool {
        self.state.load(SeqCst) & SHUTDOWN != 0
    }

    /// The reason, once the pool is broken.
    pub(crate) fn broken_reason(&self) -> Option<BrokenExecutor> {
        if self.state.load(SeqCst) & BROKEN == 0 {
            return None;
        }
        self.broken.lock().clone()
    }

    /// The reason, if the pool is broken: the workers' per-job check, which does not touch the
    /// cache line every submit writes. A job queued after the pool broke may still read
    /// `None` here for a moment; it then runs, exactly as if it had been popped a moment earlier.
    pub(crate) fn broken_for_worker(&self) -> Option<BrokenExecutor> {
        if !self.broken_flag.load(SeqCst) {
            return None;
        }
        self.broken.lock().clone()
    }

    /// Blocks until no submit is in flight. Call only after the pool closed (no new ones start).
    pub(crate) fn wait_for_submits(&self) {
        let mut guard = self.quiet_lock.lock();
        while self.state.load(SeqCst) / ONE_SUBMIT != 0 {
            guard = self.quiet.wait(guard);
        }
    }
}
