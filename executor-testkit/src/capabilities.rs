//! [`Capabilities`]: what a backend declares about itself, which decides the checks that apply.
//!
//! A check that a backend's capabilities exclude is reported as ignored, with the reason, never
//! silently passed; see [`Requirement`].

use std::fmt;

/// What a backend can do, as declared by its `tests/conformance.rs`.
///
/// Start from the preset closest to the backend and adjust with the `with_*` methods or struct
/// update syntax:
///
/// ```
/// use concurrent_futures_testkit::Capabilities;
///
/// let caps = Capabilities::THREADS.with_max_workers(2);
/// assert_eq!(caps.bounded_workers, Some(2));
/// let custom = Capabilities { interrupts_running: false, ..Capabilities::PROCESS };
/// assert!(custom.isolates_crashes);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// A task that crashes its worker (abort, exit, segfault) fails only that task, with
    /// [`TaskError::WorkerLost`](concurrent_futures_core::TaskError), and the executor keeps working.
    pub isolates_crashes: bool,
    /// At most this many tasks run at once (the factory's `max_workers`); the rest wait in a
    /// queue, where they can be cancelled. `None`: every task starts at once.
    pub bounded_workers: Option<usize>,
    /// Tasks run to completion inside `submit`, in the caller's thread.
    pub runs_inline: bool,
    /// [`Future::interrupt`](concurrent_futures_core::Future::interrupt) stops a running task (and its
    /// future ends cancelled).
    pub interrupts_running: bool,
    /// The backend can stop tasks at a time limit ([`TaskError::Expired`](concurrent_futures_core::TaskError)).
    /// Informational: the limit is configured per backend, so the suite has no check for it.
    pub task_timeouts: bool,
    /// Tasks run in the caller's process: panics keep their payload and location, and
    /// [`hooks`](crate::hooks) reach the worker.
    pub in_process: bool,
}

impl Capabilities {
    /// A thread pool of 4 workers (`max_workers(4)`): bounded, in-process, no crash isolation,
    /// running tasks cannot be interrupted.
    pub const THREADS: Capabilities = Capabilities {
        isolates_crashes: false,
        bounded_workers: Some(4),
        runs_inline: false,
        interrupts_running: false,
        task_timeouts: false,
        in_process: true,
    };

    /// A process pool of 4 workers (`max_workers(4)`): bounded, crash-isolating, interrupts a
    /// running task by killing its worker, enforces time limits.
    pub const PROCESS: Capabilities = Capabilities {
        isolates_crashes: true,
        bounded_workers: Some(4),
        runs_inline: false,
        interrupts_running: true,
        task_timeouts: true,
        in_process: false,
    };

    /// Every task on its own new thread: unbounded, in-process.
    pub const THREAD_PER_TASK: Capabilities = Capabilities {
        bounded_workers: None,
        ..Capabilities::THREADS
    };

    /// Every task runs inside `submit`, in the caller's thread.
    pub const INLINE: Capabilities = Capabilities {
        isolates_crashes: false,
        bounded_workers: None,
        runs_inline: true,
        interrupts_running: false,
        task_timeouts: false,
        in_process: true,
    };

    /// The same, with `n` workers.
    pub const fn with_max_workers(self, n: usize) -> Capabilities {
        Capabilities {
            bounded_workers: Some(n),
            ..self
        }
    }

    /// The same, with every task starting at once.
    pub const fn unbounded(self) -> Capabilities {
        Capabilities {
            bounded_workers: None,
            ..self
        }
    }

    /// The same, declaring whether running tasks can be interrupted.
    pub const fn with_interrupts(self, interrupts_running: bool) -> Capabilities {
        Capabilities {
            interrupts_running,
            ..self
        }
    }
}

/// What a check needs from a backend; unmet, the check is skipped with [`Requirement::unmet`]'s
/// reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// At least this many tasks can run at the same time, outside `submit` (so a task can
    /// block in a gate while the check goes on).
    Concurrent(usize),
    /// A task can be held in the queue behind running ones (bounded workers, not inline), to
    /// observe and cancel a pending future.
    Saturable,
    /// Tasks run in the caller's process.
    InProcess,
    /// Worker crashes are isolated.
    IsolatesCrashes,
    /// Running tasks can be interrupted.
    InterruptsRunning,
    /// Running tasks cannot be interrupted (checks that `interrupt` says so).
    CannotInterrupt,
    /// Tasks run inside `submit`.
    RunsInline,
}

impl Requirement {
    /// Why `caps` do not meet this requirement, or `None` if they do.
    ///
    /// ```
    /// use concurrent_futures_testkit::{Capabilities, Requirement};
    /// assert!(Requirement::Saturable.unmet(&Capabilities::THREADS).is_none());
    /// assert!(Requirement::Saturable.unmet(&Capabilities::THREAD_PER_TASK).is_some());
    /// ```
    pub fn unmet(self, caps: &Capabilities) -> Option<String> {
        match self {
            Requirement::Concurrent(_) if caps.runs_inline => {
                Some("tasks run inline in submit, so none can block while the check goes on".into())
            }
            Requirement::Concurrent(n) => match caps.bounded_workers {
                Some(workers) if workers < n => Some(format!(
                    "needs {n} tasks running at once, the backend has {workers} workers"
                )),
                _ => None,
            },
            Requirement::Saturable if caps.runs_inline => {
                Some("tasks run inline in submit, so none is ever queued".into())
            }
            Requirement::Saturable if caps.bounded_workers.is_none() => {
                Some("unbounded workers start every task at once, so none is ever queued".into())
            }
            Requirement::Saturable => None,
            Requirement::InProcess if !caps.in_process => {
                Some("tasks run in another process".into())
            }
            Requirement::IsolatesCrashes if !caps.isolates_crashes => {
                Some("a crashing task would take the test process down".into())
            }
            Requirement::InterruptsRunning if !caps.interrupts_running => {
                Some("running tasks cannot be interrupted".into())
            }
            Requirement::CannotInterrupt if caps.interrupts_running => {
                Some("running tasks can be interrupted".into())
            }
            Requirement::RunsInline if !caps.runs_inline => {
                Some("tasks do not run inline in submit".into())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Concurrent(n) => write!(f, "{n} concurrent tasks"),
            Requirement::Saturable => f.write_str("a queue behind bounded workers"),
            Requirement::InProcess => f.write_str("in-process tasks"),
            Requirement::IsolatesCrashes => f.write_str("crash isolation"),
            Requirement::InterruptsRunning => f.write_str("interruptible tasks"),
            Requirement::CannotInterrupt => f.write_str("uninterruptible tasks"),
            Requirement::RunsInline => f.write_str("inline tasks"),
        }
    }
}
