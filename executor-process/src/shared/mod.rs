//! [`Shared`]: the pool's state and every decision about it.
//!
//! The decisions live in one file per concern, each an `impl Shared` block over the one state:
//! `schedule.rs` (which worker gets which tasks, work stealing, breaking the pool), `events.rs`
//! (a worker spawned, ready, answering; timers; interrupts), `exit.rs` (a worker's death and
//! what becomes of its tasks) and `failure.rs` (failures on the pool's own side: see `guard`).
//! This file holds the state, admission (`submit`) and the user's operations.
//!
//! One mutex guards the queue and the worker table. Each operation (submit, a result arriving, a
//! worker exiting, a timer firing, shutdown) takes the lock, updates the state and records its
//! side effects in [`Effects`]; the effects run after the lock is released, in a fixed order:
//! messages to workers first (so they start on the next tasks at once), then signals, then
//! supervisor commands, and last the futures' completions (whose done-callbacks may call back
//! into the pool).
//!
//! Scheduling: workers are fed only when idle, so every send goes to a worker that has drained
//! its channel and a send never blocks. An idle worker gets a batch of queued tasks whose size
//! adapts to the measured task duration (about a millisecond of work, at most `max_batch`, at
//! most a fair share of the queue): no-op tasks travel many per message, long tasks one at a time.
//! A job's future becomes running when it is sent (as in CPython's call queue). The worker claims
//! each task of a batch on the progress page before starting it; when the queue runs dry, idle
//! workers take the unclaimed tasks back from busy ones (work stealing), so a long or blocked
//! task never holds the rest of its batch hostage.
//!
//! Worker death: the worker's progress page says which task it had started. If that task has no
//! result, it is the one that was running: it fails (`WorkerLost`, `Expired`, or cancelled after
//! an interrupt) and the rest of the batch goes back to the front of the queue. A chunk of `map`
//! fails only its running item: the chunk keeps its committed items' outcomes and goes back to
//! the front of the queue for its remaining items (`chunk.rs`). With
//! `broken_on_worker_death` an unexplained death breaks the pool instead, as in CPython.

mod events;
mod exit;
mod failure;
mod schedule;

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use concurrent_futures_core::backend::Drive;
use concurrent_futures_core::{BrokenExecutor, PanicInfo, Rejected, WorkerExit};
use smallvec::SmallVec;

use crate::builder::Config;
use crate::guard::{self, ConnectionFailure};
use crate::inbox::{Inbox, PoolDriver};
use crate::job::{Failure, Job, Outcome};
use crate::link::Link;
use crate::protocol::{
    BATCH_BYTES, BATCH_INLINE_BYTES, ChunkRun, MAX_BATCH, Progress, Reply, SHARED_MEMORY_THRESHOLD,
};
use crate::registry::ItemFailure;
use crate::supervisor::Command;
use crate::sys::{self, ExitStatus, ProcessHandle};

/// How many times a job may come back unstarted from a dying worker before it is blamed.
const MAX_RETURNS: u32 = 3;

/// How much work one batch should hold.
const TARGET_BATCH: Duration = Duration::from_millis(1);

/// The pool's state and the channel to its supervisor thread.
pub(crate) struct Shared {
    pub(crate) config: Config,
    me: Weak<Shared>,
    state: Mutex<State>,
    /// Notified whenever a worker is reaped or a spawn settles.
    changed: Condvar,
    supervisor: Mutex<Sender<Command>>,
    /// Every ready worker's inbox, for drivers (`inbox.rs`); apart from `state`, so that a
    /// driver never waits for the pool's lock to find them.
    inboxes: Mutex<Arc<[Arc<Inbox>]>>,
    /// What the pool's futures drive while a thread waits for one of them.
    driver: Arc<dyn Drive>,
}

struct State {
    queue: VecDeque<Job>,
    workers: Vec<Worker>,
    next_job_id: u64,
    next_worker_id: u64,
    shutdown: bool,
    broken: Option<BrokenExecutor>,
    /// The first spawn error, for `build` to report.
    spawn_error: Option<io::Error>,
    /// Moving average of one task's duration, in nanoseconds.
    task_nanos: Option<f64>,
    /// The pool's threads, joined by `shutdown(wait)`.
    threads: Vec<JoinHandle<()>>,
    supervisor_stopped: bool,
    /// Workers in a row that failed on the pool's side (see `guard`); reset by progress.
    failures: u32,
    /// Replacements start no earlier than this, after a resource failure (see `guard`).
    respawn_at: Option<Instant>,
}

/// The parent's view of one worker process.
struct Worker {
    id: u64,
    phase: Phase,
    process: Option<Arc<ProcessHandle>>,
    link: Option<Arc<Link>>,
    /// Sent and not yet answered, in order.
    inflight: VecDeque<Job>,
    /// When the head of `inflight` (presumably) started.
    head_since: Instant,
    /// Tasks sent to it, for `max_tasks_per_child`.
    dispatched: usize,
    /// The generation of its current batch on the progress page.
    generation: u32,
    /// Why the pool is killing it, if it is.
    kill: Option<Kill>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for its connection thread to start the process.
    Spawning,
    /// Process started, handshake under way.
    Starting,
    /// Serving.
    Ready,
    /// Told to exit (recycled, or the pool shut down).
    Exiting,
}

#[derive(Debug, Clone)]
enum Kill {
    /// Its running task `job` passed its time limit (for a chunk of `map`: its item at
    /// position `item` of the run).
    Expired {
        job: u64,
        limit: Duration,
        item: u32,
    },
    /// Its running task `job` was interrupted.
    Interrupted { job: u64 },
    /// `terminate_workers` or `kill_workers`.
    Terminated { how: &'static str },
    /// It did not finish starting in time.
    StartTimeout,
    /// The pool broke; its tasks were already failed.
    Broken,
    /// The pool's side of its connection failed (see `guard`).
    Failed(ConnectionFailure),
}

/// Side effects of one state change, applied after unlocking (see the module docs). Messages
/// are already queued on their links, in decision order; `flush` names the links to send on.
///
/// A submit flushes one link and a result completes one future, nearly always: those lists
/// keep that much inline, so neither costs the pool an allocation per task.
#[derive(Default)]
struct Effects {
    flush: SmallVec<[Arc<Link>; 2]>,
    signals: Vec<(Arc<ProcessHandle>, i32)>,
    commands: Vec<Command>,
    finish: SmallVec<[(Box<dyn crate::job::ErasedPromise>, Outcome); 1]>,
}

/// Effects a caller runs later, with [`Shared::apply_deferred`], once it holds no lock.
#[derive(Default)]
#[must_use = "the effects must be applied"]
pub(crate) struct Deferred(Effects);

impl Effects {
    fn finish(&mut self, job: Job, outcome: Outcome) {
        if let Some(promise) = job.promise {
            self.finish.push((promise, outcome));
        }
    }
}

/// How `on_worker_exit` learns what went wrong during start-up.
pub(crate) type StartupError = Option<String>;

impl Shared {
    /// A pool state with no workers yet, and the supervisor's command channel.
    pub(crate) fn new(config: Config, supervisor: Sender<Command>) -> Arc<Shared> {
        Arc::new_cyclic(|me| Shared {
            config,
            me: me.clone(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                workers: Vec::new(),
                next_job_id: 1,
                next_worker_id: 1,
                shutdown: false,
                broken: None,
                spawn_error: None,
                task_nanos: None,
                threads: Vec::new(),
                supervisor_stopped: false,
                failures: 0,
                respawn_at: None,
            }),
            changed: Condvar::new(),
            supervisor: Mutex::new(supervisor),
            inboxes: Mutex::new(Arc::new([])),
            driver: Arc::new(PoolDriver { shared: me.clone() }),
        })
    }

    /// The driver for this pool's futures.
    pub(crate) fn driver(&self) -> Arc<dyn Drive> {
        self.driver.clone()
    }

    /// The ready workers' inboxes (a snapshot: one reference count, no copy).
    pub(crate) fn inboxes(&self) -> Arc<[Arc<Inbox>]> {
        self.inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `inbox` visible to drivers (its worker is ready), until [`Shared::remove_inbox`].
    pub(crate) fn add_inbox(&self, inbox: Arc<Inbox>) {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|p| p.into_inner());
        *inboxes = inboxes.iter().cloned().chain([inbox]).collect();
    }

    /// Hides `inbox` from drivers (its connection ended).
    pub(crate) fn remove_inbox(&self, inbox: &Arc<Inbox>) {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|p| p.into_inner());
        *inboxes = inboxes
            .iter()
            .filter(|other| !Arc::ptr_eq(other, inbox))
            .cloned()
            .collect();
    }

    /// An identity for the thread-local that remembers which pool a thread serves (never 0;
    /// unique while the pool lives, and its threads keep it alive).
    pub(crate) fn id(&self) -> usize {
        self as *const Shared as usize
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in this module; the state stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs effects deferred by the caller (see [`Deferred`]).
    pub(crate) fn apply_deferred(&self, deferred: Deferred) {
        self.apply(deferred.0);
    }

    fn apply(&self, effects: Effects) {
        for link in effects.flush {
            self.flush_guarded(&link);
        }
        for (process, signal) in effects.signals {
            process.signal(signal);
        }
        if !effects.commands.is_empty() {
            let supervisor = self.supervisor.lock().unwrap_or_else(|p| p.into_inner());
            for command in effects.commands {
                // Fails only once the supervisor stopped, when nothing is left to do.
                let _ = supervisor.send(command);
            }
        }
        for (promise, outcome) in effects.finish {
            promise.finish(outcome);
        }
    }

    /// Starts the initial workers.
    pub(crate) fn start(&self) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            self.maintain(&mut state, &mut effects);
        }
        self.apply(effects);
    }

    /// Waits until no worker is waiting to be spawned; returns the first spawn error, if any.
    pub(crate) fn wait_for_spawns(&self) -> Option<io::Error> {
        let mut state = self.lock();
        while state.spawn_error.is_none()
            && state.broken.is_none()
            && state.workers.iter().any(|w| w.phase == Phase::Spawning)
        {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.spawn_error.take()
    }

    /// Why a submit would be refused now, if it would.
    pub(crate) fn refusal(&self) -> Option<Rejected> {
        let state = self.lock();
        refusal(&state)
    }

    /// `true` once shut down or broken.
    pub(crate) fn is_shutdown(&self) -> bool {
        let state = self.lock();
        state.shutdown || state.broken.is_some()
    }

    /// Queues `job`, or hands it back with the reason for refusing it.
    pub(crate) fn submit(&self, mut job: Job) -> Result<(), (Rejected, Job)> {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(reason) = refusal(&state) {
                return Err((reason, job));
            }
            job.id = state.next_job_id;
            state.next_job_id += 1;
            state.queue.push_back(job);
            self.dispatch(&mut state, &mut effects);
        }
        self.apply(effects);
        Ok(())
    }

    /// The pids of the live worker processes.
    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        let state = self.lock();
        state
            .workers
            .iter()
            .filter(|w| w.phase == Phase::Ready && w.kill.is_none())
            .filter_map(|w| w.process.as_ref().map(|p| p.pid()))
            .collect()
    }

    // ---- user operations --------------------------------------------------------------------

    /// Stops accepting tasks; optionally cancels the queued ones.
    pub(crate) fn shutdown(&self, cancel_futures: bool) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            state.shutdown = true;
            if cancel_futures {
                for job in state.queue.drain(..) {
                    effects.finish(job, Outcome::Cancelled);
                }
            }
            self.dispatch(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Shuts down with `cancel_futures` and sends `signal` to every worker.
    pub(crate) fn terminate(&self, signal: i32, how: &'static str) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            state.shutdown = true;
            for job in state.queue.drain(..) {
                effects.finish(job, Outcome::Cancelled);
            }
            for worker in &mut state.workers {
                if worker.kill.is_some() {
                    continue;
                }
                worker.kill = Some(Kill::Terminated { how });
                if let Some(process) = &worker.process {
                    effects.signals.push((process.clone(), signal));
                    if signal != sys::SIGKILL {
                        effects.commands.push(Command::Kill {
                            process: process.clone(),
                            at: Instant::now() + self.config.kill_grace,
                        });
                    }
                }
            }
            self.maintain(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Blocks until every worker was reaped, then joins the pool's threads.
    pub(crate) fn wait_until_stopped(&self) {
        let threads = {
            let mut state = self.lock();
            while !state.workers.is_empty() {
                state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            std::mem::take(&mut state.threads)
        };
        for thread in threads {
            if thread.thread().id() != std::thread::current().id() {
                // A panic in a pool thread was already reported by its hook.
                let _ = thread.join();
            }
        }
    }

    /// Registers a pool thread to be joined at shutdown (forgetting finished ones, so a pool
    /// that recycles workers for ever does not accumulate handles).
    pub(crate) fn adopt_thread(&self, thread: JoinHandle<()>) {
        let mut state = self.lock();
        state.threads.retain(|t| !t.is_finished());
        state.threads.push(thread);
    }

    /// Sends a command to the supervisor (for the connection threads).
    pub(crate) fn command(&self, command: Command) {
        let supervisor = self.supervisor.lock().unwrap_or_else(|p| p.into_inner());
        let _ = supervisor.send(command);
    }
}

/// The command that starts worker `id`: at once, or at `respawn_at` while a resource backoff
/// is in force.
fn spawn_command(respawn_at: Option<Instant>, id: u64) -> Command {
    match respawn_at {
        Some(at) if at > Instant::now() => Command::SpawnAt { id, at },
        _ => Command::Spawn(id),
    }
}

fn refusal(state: &State) -> Option<Rejected> {
    if let Some(broken) = &state.broken {
        Some(Rejected::Broken(broken.clone()))
    } else if state.shutdown {
        Some(Rejected::ShutDown)
    } else {
        None
    }
}
