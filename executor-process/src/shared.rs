//! [`Shared`]: the pool's state and every decision about it.
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

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use concurrent_futures_core::{BrokenExecutor, PanicInfo, Rejected, WorkerExit};

use crate::builder::Config;
use crate::guard::{self, ConnectionFailure};
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
#[derive(Default)]
struct Effects {
    flush: Vec<Arc<Link>>,
    signals: Vec<(Arc<ProcessHandle>, i32)>,
    commands: Vec<Command>,
    finish: Vec<(Box<dyn crate::job::ErasedPromise>, Outcome)>,
}

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
        })
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

    // ---- scheduling -------------------------------------------------------------------------

    /// Feeds idle workers from the queue (taking unclaimed tasks back from busy workers' batches
    /// when the queue runs dry), retires and dismisses workers that are done.
    fn dispatch(&self, state: &mut State, effects: &mut Effects) {
        let mut fed = Vec::new();
        self.assign(state, effects, &mut fed);
        if state.queue.is_empty() && state.workers.iter().any(is_idle) {
            let stolen = steal(&mut state.workers, &fed);
            if !stolen.is_empty() {
                state.queue.extend(stolen);
                self.assign(state, effects, &mut fed);
            }
        }
        // Idle workers with nothing left to do: recycle or dismiss.
        let dismiss = state.shutdown && state.queue.is_empty();
        for worker in state.workers.iter_mut() {
            if !is_idle(worker) {
                continue;
            }
            let recycle = self
                .config
                .max_tasks_per_child
                .is_some_and(|max| worker.dispatched >= max);
            if dismiss || recycle {
                worker.phase = Phase::Exiting;
                if let Some(link) = worker.link.clone() {
                    link.queue_exit();
                    effects.flush.push(link);
                }
            }
        }
        self.maintain(state, effects);
    }

    /// Gives each idle worker a batch from the queue; records their ids in `fed`.
    fn assign(&self, state: &mut State, effects: &mut Effects, fed: &mut Vec<u64>) {
        let now = Instant::now();
        let State {
            queue,
            workers,
            task_nanos,
            ..
        } = state;
        let serving = workers.iter().filter(|w| is_serving(w)).count().max(1);
        let max_batch = self.config.max_batch.min(MAX_BATCH);
        for worker in workers.iter_mut() {
            if queue.is_empty() {
                break;
            }
            if !is_idle(worker) {
                continue;
            }
            let allowance = self
                .config
                .max_tasks_per_child
                .map_or(usize::MAX, |max| max.saturating_sub(worker.dispatched));
            if allowance == 0 {
                continue;
            }
            let Some(link) = worker.link.clone() else {
                continue;
            };
            let limit = batch_size(queue.len(), serving, *task_nanos, max_batch).min(allowance);
            let mut batch: Vec<Job> = Vec::new();
            let mut inline_bytes = 0;
            let mut total_bytes = 0;
            while batch.len() < limit {
                let Some(mut job) = queue.pop_front() else {
                    break;
                };
                if !job.started {
                    let Some(promise) = job.promise.as_ref() else {
                        continue;
                    };
                    if !promise.start() {
                        continue; // cancelled while queued
                    }
                    job.started = true;
                    let shared = self.me.clone();
                    let id = job.id;
                    promise.on_interrupt(Box::new(move || {
                        if let Some(shared) = shared.upgrade() {
                            shared.interrupt(id);
                        }
                    }));
                } else if job.promise.is_none() {
                    continue; // interrupted while waiting to be resent
                }
                let size = job.payload.len();
                let inline = size < SHARED_MEMORY_THRESHOLD;
                let full = if inline {
                    inline_bytes + size > BATCH_INLINE_BYTES
                } else {
                    total_bytes + size > BATCH_BYTES
                };
                if full && !batch.is_empty() {
                    queue.push_front(job);
                    break;
                }
                if inline {
                    inline_bytes += size;
                }
                total_bytes += size;
                job.position = batch.len() as u32;
                batch.push(job);
            }
            if batch.is_empty() {
                continue;
            }
            worker.dispatched += batch.len();
            worker.head_since = now;
            worker.generation = worker.generation.wrapping_add(1);
            if let Some(limit) = batch[0].timeout {
                effects.commands.push(Command::Expire {
                    worker: worker.id,
                    job: batch[0].id,
                    limit,
                    at: now + limit,
                });
            }
            let messages = batch
                .iter_mut()
                .map(|job| {
                    let timed = job.timeout.is_some();
                    let chunk = job.chunk.as_mut().map(|chunk| ChunkRun {
                        start: chunk.begin_run(),
                        timed,
                    });
                    (job.id, job.entry, chunk, job.payload.clone())
                })
                .collect();
            link.progress().begin_batch(worker.generation, batch.len());
            link.queue_run(worker.generation, messages);
            effects.flush.push(link);
            worker.inflight.extend(batch);
            fed.push(worker.id);
        }
    }

    /// Starts workers until `max_workers` serve (none if there is nothing left to do); stops
    /// the supervisor once the pool is shut down and every worker is gone.
    ///
    /// A replacement starts while the worker it replaces is still exiting, but at most
    /// `max_workers` workers may be on their way out at once: each holds descriptors until it
    /// is reaped, and with fast churn (`max_tasks_per_child(1)`) the exiting ones would pile up
    /// and the parent's descriptors grow with the churn rate instead of the pool's size.
    fn maintain(&self, state: &mut State, effects: &mut Effects) {
        if state.broken.is_none() && !(state.shutdown && state.queue.is_empty()) {
            let serving = state
                .workers
                .iter()
                .filter(|w| w.kill.is_none() && w.phase != Phase::Exiting)
                .count();
            let room = (2 * self.config.max_workers).saturating_sub(state.workers.len());
            let wanted = self.config.max_workers.saturating_sub(serving).min(room);
            for _ in 0..wanted {
                let id = state.next_worker_id;
                state.next_worker_id += 1;
                state.workers.push(Worker {
                    id,
                    phase: Phase::Spawning,
                    process: None,
                    link: None,
                    inflight: VecDeque::new(),
                    head_since: Instant::now(),
                    dispatched: 0,
                    generation: 0,
                    kill: None,
                });
                effects.commands.push(spawn_command(state.respawn_at, id));
            }
        }
        let finished = state.shutdown || state.broken.is_some();
        if finished && state.workers.is_empty() && !state.supervisor_stopped {
            state.supervisor_stopped = true;
            effects.commands.push(Command::Stop);
        }
    }

    /// Breaks the pool: every queued and running task fails with `reason`, workers are killed.
    fn break_pool(&self, state: &mut State, effects: &mut Effects, reason: String) {
        if state.broken.is_some() {
            return;
        }
        let broken = BrokenExecutor::new(reason);
        state.broken = Some(broken.clone());
        state.shutdown = true;
        for job in state.queue.drain(..) {
            effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
        }
        for worker in &mut state.workers {
            for job in worker.inflight.drain(..) {
                effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
            }
            worker.kill = Some(Kill::Broken);
            if let Some(process) = &worker.process {
                effects.signals.push((process.clone(), sys::SIGKILL));
            }
        }
        self.changed.notify_all();
    }

    // ---- events from the supervisor and the connection threads ------------------------------

    /// The supervisor is about to start worker `id`'s thread; `false` if it is no longer wanted.
    pub(crate) fn claim_spawn(&self, id: u64) -> bool {
        let mut state = self.lock();
        let unwanted = state.broken.is_some() || (state.shutdown && state.queue.is_empty()) || {
            let worker = state.workers.iter().find(|w| w.id == id);
            worker.is_none_or(|w| w.kill.is_some())
        };
        if unwanted {
            state.workers.retain(|w| w.id != id);
            let mut effects = Effects::default();
            self.maintain(&mut state, &mut effects);
            drop(state);
            self.changed.notify_all();
            self.apply(effects);
            return false;
        }
        true
    }

    /// Worker `id`'s process started (its connection thread starts next).
    pub(crate) fn on_spawned(&self, id: u64, process: Arc<ProcessHandle>) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            match state.workers.iter_mut().find(|w| w.id == id) {
                Some(worker) => {
                    worker.phase = Phase::Starting;
                    worker.process = Some(process.clone());
                    if worker.kill.is_some() {
                        effects.signals.push((process, sys::SIGKILL));
                    } else {
                        effects.commands.push(Command::StartDeadline {
                            worker: id,
                            at: Instant::now() + self.config.start_timeout,
                        });
                    }
                }
                None => effects.signals.push((process, sys::SIGKILL)),
            }
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Worker `id`'s process could not be started: the pool breaks.
    pub(crate) fn on_spawn_failed(&self, id: u64, error: io::Error) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            state.workers.retain(|w| w.id != id);
            if let Some(resource) = guard::resource_of_io(&error) {
                // Out of descriptors or memory: retried with a backoff, then broken (`guard`).
                let failure = ConnectionFailure {
                    what: format!("could not start a worker process: {error}"),
                    resource: Some(resource),
                };
                if self.after_failure(&mut state, &mut effects, &failure, false) {
                    self.maintain(&mut state, &mut effects);
                    drop(state);
                    self.changed.notify_all();
                    self.apply(effects);
                    return;
                }
            }
            let reason = format!(
                "could not start a worker process from {}: {error}",
                self.config.executable.display()
            );
            if state.spawn_error.is_none() {
                state.spawn_error = Some(error);
            }
            self.break_pool(&mut state, &mut effects, reason);
            self.maintain(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Worker `id` is still starting after `start_timeout`: kill it.
    pub(crate) fn on_start_deadline(&self, id: u64) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                if worker.phase == Phase::Starting && worker.kill.is_none() {
                    worker.kill = Some(Kill::StartTimeout);
                    if let Some(process) = &worker.process {
                        effects.signals.push((process.clone(), sys::SIGKILL));
                    }
                }
            }
        }
        self.apply(effects);
    }

    /// Worker `id` finished its handshake; `initializer` is what its initializer returned.
    pub(crate) fn on_ready(&self, id: u64, link: Link, initializer: Option<Reply>) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let verdict = match (&self.config.initializer, initializer) {
                (Some(init), Some(reply)) => (init.judge)(reply),
                (Some(_), None) => Err("the worker did not run the initializer".to_string()),
                (None, _) => Ok(()),
            };
            let pid = state
                .workers
                .iter()
                .find(|w| w.id == id)
                .and_then(|w| w.process.as_ref().map(|p| p.pid()));
            match verdict {
                Err(message) => {
                    let reason = format!(
                        "the initializer failed in worker process {}: {message}",
                        pid.unwrap_or(0)
                    );
                    self.break_pool(&mut state, &mut effects, reason);
                }
                Ok(()) => {
                    state.respawn_at = None;
                    if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                        worker.link = Some(Arc::new(link));
                        if matches!(worker.phase, Phase::Spawning | Phase::Starting) {
                            worker.phase = Phase::Ready;
                        }
                    }
                    self.dispatch(&mut state, &mut effects);
                }
            }
        }
        self.apply(effects);
    }

    /// Worker `id` answered task `job`; returns whether it still has work. `Err` says how the
    /// answer breaks the protocol: results come one per task, in the order sent, so `job` must
    /// be the head of what the worker was sent (anything else would hand one task's value to
    /// another's future).
    pub(crate) fn on_result(&self, id: u64, job: u64, reply: Reply) -> Result<bool, String> {
        let mut effects = Effects::default();
        let busy;
        {
            let mut state = self.lock();
            let now = Instant::now();
            let State {
                workers,
                task_nanos,
                failures,
                ..
            } = &mut *state;
            let Some(worker) = workers.iter_mut().find(|w| w.id == id) else {
                return Ok(false);
            };
            let finished = match worker.inflight.front() {
                Some(head) if head.id == job => worker.inflight.pop_front(),
                // Being stopped (the pool broke, a time limit, an interrupt): what it still
                // says no longer matters.
                _ if worker.kill.is_some() => return Ok(false),
                Some(head) => {
                    return Err(format!(
                        "it answered task {job} while task {} was the one it was running \
                         (results come one per task, in order)",
                        head.id
                    ));
                }
                None => {
                    return Err(format!(
                        "it answered task {job}, but it had no task to answer"
                    ));
                }
            };
            let sample = now.duration_since(worker.head_since).as_nanos() as f64;
            *task_nanos = Some(match *task_nanos {
                Some(average) => average * 0.8 + sample * 0.2,
                None => sample,
            });
            worker.head_since = now;
            // Progress: failures on the pool's side are counted anew (see `guard`).
            *failures = 0;
            if let Some(next) = worker.inflight.front() {
                if let Some(limit) = next.timeout {
                    effects.commands.push(Command::Expire {
                        worker: id,
                        job: next.id,
                        limit,
                        at: now + limit,
                    });
                }
            }
            if let Some(mut finished) = finished {
                let reply = match finished.chunk.take() {
                    Some(chunk) if chunk.has_outcomes() => chunk.stitch(reply),
                    _ => reply,
                };
                effects.finish(finished, Outcome::Reply(reply));
            }
            self.dispatch(&mut state, &mut effects);
            busy = state
                .workers
                .iter()
                .find(|w| w.id == id)
                .is_some_and(|w| !w.inflight.is_empty());
        }
        self.apply(effects);
        Ok(busy)
    }

    /// Worker `id` sent `count` early outcomes of the chunk `job` it is running. `Err` says how
    /// that breaks the protocol: `job` must be the chunk the worker runs (the head of what it
    /// was sent), and the count must fit what is left of it.
    pub(crate) fn on_items(
        &self,
        id: u64,
        job: u64,
        count: u32,
        records: &[u8],
    ) -> Result<(), String> {
        let mut state = self.lock();
        let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) else {
            return Ok(()); // already forgotten: its connection is closing
        };
        let chunk = worker
            .inflight
            .front_mut()
            .filter(|j| j.id == job)
            .and_then(|j| j.chunk.as_mut());
        match chunk.map(|chunk| chunk.on_items(count, records)) {
            Some(true) => Ok(()),
            Some(false) => Err(format!(
                "it sent {count} early outcomes for chunk {job}, more than the chunk has left"
            )),
            None => Err(format!(
                "it sent early outcomes for task {job}, which is not a chunk of `map` it runs"
            )),
        }
    }

    /// A task's time limit passed: if it is running, kill its worker. For a chunk of `map` the
    /// limit is per item: the timer is set for the chunk's start plus the limit, and re-armed
    /// here for the running item's start plus the limit until an item runs past it.
    pub(crate) fn on_expire(&self, id: u64, job: u64, limit: Duration) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) else {
                return;
            };
            let Some(target) = worker.inflight.iter().find(|j| j.id == job) else {
                return;
            };
            if worker.kill.is_some() {
                return;
            }
            let chunk = target.chunk.is_some();
            let progress = worker.link.as_ref().map(|l| l.progress());
            let running = progress.is_some_and(|p| p.started() == job);
            // For a chunk: when its running item expires (`None`: not stamped yet, so it
            // started just now at the earliest), and which item that is.
            let item = progress.filter(|_| chunk && running).map(|p| {
                let position = p.committed().0;
                let deadline = p
                    .item_start()
                    .map(|start| start.saturating_add(limit.as_micros() as u64));
                (position, deadline)
            });
            let rearm_at = match item {
                Some((_, None)) => Some(Instant::now() + limit),
                Some((_, Some(deadline))) => {
                    let now = sys::monotonic_micros();
                    (deadline > now).then(|| Instant::now() + Duration::from_micros(deadline - now))
                }
                None => None,
            };
            if running && rearm_at.is_none() {
                let item = item.map_or(0, |(position, _)| position);
                worker.kill = Some(Kill::Expired { job, limit, item });
                self.stop_worker(worker, &mut effects);
                self.maintain(&mut state, &mut effects);
            } else if let Some(at) = rearm_at {
                // The chunk's running item started later than the timer assumed.
                effects.commands.push(Command::Expire {
                    worker: id,
                    job,
                    limit,
                    at,
                });
            } else {
                // It has not started yet (the previous task's result was just in flight).
                effects.commands.push(Command::Expire {
                    worker: id,
                    job,
                    limit,
                    at: Instant::now() + limit,
                });
            }
        }
        self.apply(effects);
    }

    /// SIGTERM now, SIGKILL after the grace period.
    fn stop_worker(&self, worker: &Worker, effects: &mut Effects) {
        if let Some(process) = &worker.process {
            effects.signals.push((process.clone(), sys::SIGTERM));
            effects.commands.push(Command::Kill {
                process: process.clone(),
                at: Instant::now() + self.config.kill_grace,
            });
        }
    }

    /// `Future::interrupt` on a running job: if its worker has not claimed it yet, take it back
    /// and cancel it; if the worker runs it, kill the worker.
    fn interrupt(&self, job: u64) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(index) = state.queue.iter().position(|j| j.id == job) {
                if let Some(found) = state.queue.remove(index) {
                    effects.finish(found, Outcome::Cancelled);
                }
            } else if let Some(worker) = state
                .workers
                .iter_mut()
                .find(|w| w.inflight.iter().any(|j| j.id == job))
            {
                let position = worker
                    .inflight
                    .iter()
                    .find(|j| j.id == job)
                    .map_or(0, |j| j.position);
                let limit = worker
                    .link
                    .as_ref()
                    .and_then(|l| l.progress().take_back(worker.generation, position));
                let mut returned = Vec::new();
                let mut claimed = true;
                if let Some(limit) = limit {
                    let (kept, taken): (VecDeque<Job>, VecDeque<Job>) =
                        worker.inflight.drain(..).partition(|j| j.position < limit);
                    worker.inflight = kept;
                    for taken in taken {
                        if taken.id == job {
                            claimed = false;
                            effects.finish(taken, Outcome::Cancelled);
                        } else {
                            returned.push(taken);
                        }
                    }
                }
                if claimed {
                    if worker.kill.is_none() {
                        worker.kill = Some(Kill::Interrupted { job });
                        self.stop_worker(worker, &mut effects);
                    } else if let Some(target) = worker.inflight.iter_mut().find(|j| j.id == job) {
                        // Its worker is being stopped anyway: the future ends now.
                        if let Some(promise) = target.promise.take() {
                            effects.finish.push((promise, Outcome::Cancelled));
                        }
                    }
                }
                for job in returned.into_iter().rev() {
                    state.queue.push_front(job);
                }
                self.dispatch(&mut state, &mut effects);
            }
        }
        self.apply(effects);
    }

    /// Worker `id`'s process was reaped with `status`.
    pub(crate) fn on_worker_exit(&self, id: u64, status: ExitStatus, startup: StartupError) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let Some(index) = state.workers.iter().position(|w| w.id == id) else {
                return;
            };
            let worker = state.workers.remove(index);
            let pid = worker.process.as_ref().map_or(0, |p| p.pid());
            let mut exit = WorkerExit::new(pid, status.code, status.signal);
            if let Some(Kill::Failed(failure)) = &worker.kill {
                exit = exit.with_reason(failure.reason());
            }
            let started = worker.link.as_ref().map_or(0, |l| l.progress().started());
            let mut inflight = worker.inflight;
            let running = inflight
                .iter()
                .position(|j| j.id == started)
                .and_then(|i| inflight.remove(i));
            // Why the rest of its batch fails, if it does not go back to the queue.
            let mut rest_broken = None;
            let failed_running = running.is_some();
            let progress = worker.link.as_ref().map(|l| l.progress());
            // The rest of a chunk of `map` whose running item failed.
            let mut remainder = None;
            match (&worker.kill, running) {
                (Some(Kill::Broken), running) => {
                    // Its tasks were failed when the pool broke.
                    debug_assert!(running.is_none() && inflight.is_empty());
                }
                (Some(Kill::Terminated { how }), running) => {
                    if let Some(job) = running {
                        let reason = format!("the worker running this task was stopped by {how}");
                        effects.finish(
                            job,
                            Outcome::Failure(Failure::Broken(BrokenExecutor::new(reason))),
                        );
                    }
                    // Sent to the worker, they were running as far as their futures go: they
                    // never end cancelled (`cancel()` on them was refused), as in CPython.
                    rest_broken = Some(format!(
                        "the worker this task was sent to was stopped by {how} before it ran it"
                    ));
                }
                (
                    Some(Kill::Expired {
                        job: expired,
                        limit,
                        item,
                    }),
                    Some(job),
                ) if job.id == *expired => {
                    // A chunk's item that finished just as the timer judged it is not the one
                    // that was killed: the next one was lost with the worker.
                    let moved_on =
                        job.chunk.is_some() && progress.is_some_and(|p| p.committed().0 != *item);
                    let failure = if moved_on {
                        Failure::WorkerLost(exit.clone())
                    } else {
                        Failure::Expired(*limit)
                    };
                    remainder = fail_running(job, failure, progress, &mut effects);
                }
                (Some(Kill::Interrupted { job: stopped }), running)
                    if running.as_ref().is_some_and(|j| j.id == *stopped)
                        || inflight.iter().any(|j| j.id == *stopped) =>
                {
                    // The interrupted task ends cancelled, whether it had started or was only
                    // claimed.
                    let target = match running {
                        Some(job) if job.id == *stopped => job,
                        other => {
                            if let Some(job) = other {
                                effects.finish(
                                    job,
                                    Outcome::Failure(Failure::WorkerLost(exit.clone())),
                                );
                            }
                            let index = inflight
                                .iter()
                                .position(|j| j.id == *stopped)
                                .expect("checked by the guard");
                            inflight.remove(index).expect("an index from position")
                        }
                    };
                    effects.finish(target, Outcome::Cancelled);
                }
                (_, Some(job)) => {
                    if self.config.broken_on_worker_death {
                        effects.finish(
                            job,
                            Outcome::Failure(Failure::Broken(BrokenExecutor::new(format!(
                                "a worker process died abruptly while running this task ({})",
                                describe_exit(&exit)
                            )))),
                        );
                    } else {
                        let failure = Failure::WorkerLost(exit.clone());
                        remainder = fail_running(job, failure, progress, &mut effects);
                    }
                }
                (kill, None) => {
                    let never_ready = matches!(worker.phase, Phase::Spawning | Phase::Starting);
                    let terminated = matches!(
                        kill,
                        Some(Kill::Terminated { .. } | Kill::Broken | Kill::Failed(_))
                    );
                    let idle_work = state.shutdown && state.queue.is_empty();
                    if never_ready && !terminated && !idle_work {
                        let detail = match (kill, startup) {
                            (Some(Kill::StartTimeout), Some(detail)) => format!(
                                "did not finish starting within {:?}: it {detail}",
                                self.config.start_timeout
                            ),
                            (Some(Kill::StartTimeout), None) => format!(
                                "did not finish starting within {:?}",
                                self.config.start_timeout
                            ),
                            (_, Some(detail)) => detail,
                            (_, None) => "exited during start-up".to_string(),
                        };
                        let reason =
                            format!("worker process {pid} {detail} ({})", describe_exit(&exit));
                        self.break_pool(&mut state, &mut effects, reason);
                    }
                }
            }
            // The rest of its batch never started: back to the front of the queue (unless
            // workers keep dying with it before it starts: then it is the culprit after all).
            let broken = state.broken.clone();
            // A death is unexplained when the pool did not cause it and no task was running:
            // only then may a task of the batch that never started be to blame (a batch whose
            // payloads kill the worker before any task starts). When a running task died with
            // the worker, the rest of its batch is innocent and goes back without a mark.
            let unexplained = worker.kill.is_none() && !failed_running;
            for mut job in inflight.into_iter().rev() {
                if let Some(broken) = &broken {
                    effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
                } else if let Some(reason) = &rest_broken {
                    let broken = BrokenExecutor::new(reason.clone());
                    effects.finish(job, Outcome::Failure(Failure::Broken(broken)));
                } else if unexplained && job.returns >= MAX_RETURNS {
                    effects.finish(job, Outcome::Failure(Failure::WorkerLost(exit.clone())));
                } else if job.promise.is_some() {
                    job.returns += u32::from(unexplained);
                    state.queue.push_front(job);
                }
            }
            if let Some(job) = remainder {
                match &broken {
                    Some(broken) => {
                        effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())))
                    }
                    None => state.queue.push_front(job),
                }
            }
            if let Some(Kill::Failed(failure)) = &worker.kill {
                self.after_failure(&mut state, &mut effects, failure, failed_running);
            }
            // CPython's semantics: any unplanned death breaks the pool.
            let unplanned = worker.kill.is_none() && worker.phase == Phase::Ready;
            if self.config.broken_on_worker_death && unplanned {
                let reason = format!(
                    "a worker process died abruptly ({}); the pool is not usable any more",
                    describe_exit(&exit)
                );
                self.break_pool(&mut state, &mut effects, reason);
            }
            self.dispatch(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
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

    // ---- failures on the pool's own side (see `guard`) --------------------------------------

    /// The parent's side of worker `id`'s connection failed: the worker is killed (its
    /// connection thread reaps it), and its exit will carry `failure` as the reason.
    pub(crate) fn on_connection_failed(&self, id: u64, failure: ConnectionFailure) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                // A kill already under way (a time limit, an interrupt) explains the exit better.
                if worker.kill.is_none() {
                    worker.kill = Some(Kill::Failed(failure));
                }
                if let Some(process) = &worker.process {
                    effects.signals.push((process.clone(), sys::SIGKILL));
                }
            }
        }
        self.apply(effects);
    }

    /// Counts one more worker failed on the pool's side; schedules replacements after a backoff
    /// when a resource ran out, and breaks the pool after `guard::MAX_FAILURES` in a row without
    /// progress. A failure that ended the worker's running task is progress (that future is
    /// done, so failures cannot repeat for ever on the same work), and so is a result.
    /// Returns `false` if the pool broke.
    fn after_failure(
        &self,
        state: &mut State,
        effects: &mut Effects,
        failure: &ConnectionFailure,
        failed_running: bool,
    ) -> bool {
        if failed_running {
            state.failures = 0;
        }
        state.failures += 1;
        if !failed_running && state.failures >= guard::MAX_FAILURES {
            let reason = guard::give_up_reason(state.failures, failure);
            self.break_pool(state, effects, reason);
            return false;
        }
        if failure.resource.is_some() {
            state.respawn_at = Some(Instant::now() + guard::backoff(state.failures));
        }
        true
    }

    /// A pool thread (`which`) failed where no worker can take the blame: the pool breaks, so
    /// every waiter wakes. `worker`, if given, is forgotten (its thread will not report it).
    /// When the supervisor failed, workers it would have started never will: they go too.
    pub(crate) fn on_pool_thread_failed(
        &self,
        worker: Option<u64>,
        which: &str,
        panic: &PanicInfo,
    ) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let supervisor = worker.is_none();
            state
                .workers
                .retain(|w| Some(w.id) != worker && !(supervisor && w.process.is_none()));
            if supervisor {
                // Its command channel is gone with it: nothing to stop.
                state.supervisor_stopped = true;
            }
            let reason = format!("{which} of the pool failed: {panic}");
            self.break_pool(&mut state, &mut effects, reason);
            self.maintain(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Sends what is queued on `link`. If that fails or panics, the worker it was for is
    /// stopped: it would otherwise wait for a batch that never comes, and so would its tasks'
    /// waiters.
    fn flush_guarded(&self, link: &Arc<Link>) {
        let failure = match concurrent_futures_core::backend::catch_panic(|| {
            crate::fault::point("flush");
            if crate::fault::fires("flush-error") {
                return Err(crate::frame::WireError::Io(io::Error::other(
                    "injected send error",
                )));
            }
            link.flush()
        }) {
            Ok(Ok(())) => return,
            Ok(Err(error)) => ConnectionFailure::wire("sending it a batch", &error),
            Err(panic) => ConnectionFailure::panicked("sending it a batch", &panic),
        };
        let id = {
            let state = self.lock();
            state
                .workers
                .iter()
                .find(|w| w.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)))
                .map(|w| w.id)
        };
        if let Some(id) = id {
            self.on_connection_failed(id, failure);
        }
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

/// The worker died running `job`: fails it with `failure`; for a chunk of `map` (whose worker
/// kept its progress page), only its running item, and returns the chunk to run the rest of its
/// items, unless none is left.
fn fail_running(
    mut job: Job,
    failure: Failure,
    progress: Option<&Progress>,
    effects: &mut Effects,
) -> Option<Job> {
    let item = match &failure {
        Failure::WorkerLost(exit) => ItemFailure::WorkerLost(exit.clone()),
        Failure::Expired(limit) => ItemFailure::Expired(*limit),
        Failure::Broken(_) => {
            effects.finish(job, Outcome::Failure(failure));
            return None;
        }
    };
    let (Some(chunk), Some(progress)) = (job.chunk.as_mut(), progress) else {
        effects.finish(job, Outcome::Failure(failure));
        return None;
    };
    chunk.on_worker_death(progress, item);
    if !chunk.is_complete() {
        // It made progress: its items, not the job, are what may be to blame now.
        job.returns = 0;
        return Some(job);
    }
    let chunk = job.chunk.take().expect("checked above");
    effects.finish(job, Outcome::Reply(chunk.into_reply()));
    None
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

/// Workers that serve or soon will: batches are sized for a fair share among them.
fn is_serving(worker: &Worker) -> bool {
    worker.kill.is_none() && worker.phase != Phase::Exiting
}

/// Takes back the tasks that busy workers have not claimed yet (leaving each its next one, so
/// it does not go idle in turn), except from workers fed in this round (`fed`). The tasks come
/// back in order, still running as far as their futures know.
fn steal(workers: &mut [Worker], fed: &[u64]) -> Vec<Job> {
    let mut stolen = Vec::new();
    for worker in workers.iter_mut() {
        if worker.kill.is_some() || worker.inflight.len() < 2 || fed.contains(&worker.id) {
            continue;
        }
        let Some(link) = worker.link.as_ref() else {
            continue;
        };
        let Some(limit) = link.progress().take_back(worker.generation, 1) else {
            continue;
        };
        let (kept, taken): (VecDeque<Job>, VecDeque<Job>) = worker
            .inflight
            .drain(..)
            .partition(|job| job.position < limit);
        worker.inflight = kept;
        stolen.extend(taken);
    }
    stolen
}

fn is_idle(worker: &Worker) -> bool {
    worker.phase == Phase::Ready && worker.kill.is_none() && worker.inflight.is_empty()
}

/// How many queued tasks one idle worker takes.
fn batch_size(queued: usize, serving: usize, task_nanos: Option<f64>, max: usize) -> usize {
    let fair = queued.div_ceil(serving);
    let by_time = match task_nanos {
        None => 1,
        Some(nanos) => (TARGET_BATCH.as_nanos() as f64 / nanos.max(1.0)) as usize,
    };
    fair.min(by_time).clamp(1, max.max(1))
}

fn describe_exit(exit: &WorkerExit) -> String {
    if let Some(reason) = &exit.reason {
        return reason.clone();
    }
    match (exit.code, exit.signal) {
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => "exit status unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_task_duration_and_fair_share() {
        assert_eq!(batch_size(100, 2, None, 64), 1);
        assert_eq!(batch_size(100, 2, Some(10_000.0), 64), 50);
        assert_eq!(batch_size(1000, 2, Some(1_000.0), 64), 64);
        assert_eq!(batch_size(1000, 2, Some(50_000_000.0), 64), 1);
        assert_eq!(batch_size(3, 4, Some(1.0), 64), 1);
    }
}
