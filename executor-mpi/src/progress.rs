//! Rank 0's state ([`RootCell`]) and its progress thread. Whoever holds the state queues jobs,
//! sends each to a worker rank with a free slot, and completes futures from the answers: a
//! submitter sends its own job when the state is free, and a thread waiting on a future polls
//! for the answers itself ([`Drive`]); the progress thread looks after the rest.
//!
//! With nothing in flight the progress thread parks on its command channel (no CPU burn),
//! waking every heartbeat interval; while threads drive it naps; while tasks run unwatched it
//! polls MPI with a short backoff, waking at once for new commands.
//!
//! It watches the workers (see `heartbeat`): one that dies on this host (by its process id) or
//! stays silent for the timeout (any host) is lost. Under [`LostWorker::Requeue`] only the task
//! it was running fails (`WorkerLost`) and the others it had go back to the front of the queue;
//! under [`LostWorker::BreakSession`], or when no worker is left, the session breaks.
//!
//! Scheduling: only idle workers are fed, each with a batch whose size adapts to the measured
//! task duration of the pool (about a millisecond of work, one task while unmeasured), at most a
//! fair share of the queue and at most the pool's `tasks_per_worker`: no-op tasks travel many
//! per message, long tasks one at a time.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use concurrent_futures_core::backend::Drive;
use concurrent_futures_core::{BrokenExecutor, WorkerExit};
use concurrent_futures_process::task_model::Registry;
use rustc_hash::FxHashMap;

use crate::builder::{LostWorker, Settings};
use crate::heartbeat::{self, Heartbeats, Pacer, StallGuard};
use crate::job::{Job, Outcome};
use crate::liveness::{self, CheckClock};
use crate::pool::PoolState;
use crate::protocol::{PROTOCOL_VERSION, ToRoot, ToWorker, WireJob};
use crate::transport::{Backoff, Ending, Transport};

/// What the rest of rank 0 asks of the progress thread.
pub(crate) enum Command {
    /// Run this job.
    Submit(Job),
    /// Stop the workers and finalise MPI.
    Finalize,
    /// Nothing: a job was dispatched directly while the progress thread was parked, and it
    /// must look after the answer.
    Wake,
}

/// Why the handshake with the workers failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// A worker (by number) runs another build (its registry differs).
    Mismatch(usize),
    /// Not every worker said hello in time.
    Timeout,
}

/// How long workers have to say hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

/// A worker process as its hello describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerProcess {
    /// Its process id.
    pub(crate) pid: u32,
    /// Its host name.
    pub(crate) host: String,
}

/// Waits for every worker's hello and checks it runs this binary's registry.
pub(crate) fn handshake(transport: &mut Transport) -> Result<Vec<WorkerProcess>, HandshakeError> {
    let expected = (PROTOCOL_VERSION, Registry::get().fingerprint());
    let mut processes: Vec<Option<WorkerProcess>> = vec![None; transport.workers()];
    let mut missing = processes.len();
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut backoff = Backoff::new();
    let mut mismatch = None;
    while missing > 0 {
        match transport.try_receive_from_worker::<ToRoot>() {
            Some((
                worker,
                ToRoot::Hello {
                    protocol,
                    registry,
                    pid,
                    host,
                },
            )) => {
                missing -= 1;
                if (protocol, registry) != expected {
                    mismatch.get_or_insert(worker);
                }
                processes[worker] = Some(WorkerProcess { pid, host });
                backoff.reset();
            }
            Some(_) => {}
            None if Instant::now() > deadline => return Err(HandshakeError::Timeout),
            None => std::thread::sleep(backoff.next_pause()),
        }
    }
    match mismatch {
        Some(worker) => Err(HandshakeError::Mismatch(worker)),
        None => Ok(processes
            .into_iter()
            .map(|process| process.expect("every worker said hello"))
            .collect()),
    }
}

/// Whether the session broke, and how many workers it lost: shared by the progress thread,
/// which sets them, and the pools and session, which read them.
#[derive(Debug, Default)]
pub(crate) struct Health {
    broken: Mutex<Option<BrokenExecutor>>,
    /// Mirrors `broken.is_some()`.
    is_broken: AtomicBool,
    lost: AtomicUsize,
}

impl Health {
    /// Why the session is broken, if it is.
    pub(crate) fn broken(&self) -> Option<BrokenExecutor> {
        // Asked on every submit: the flag spares the lock while the session is whole.
        if !self.is_broken.load(Ordering::Acquire) {
            return None;
        }
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many workers were lost.
    pub(crate) fn lost(&self) -> usize {
        self.lost.load(Ordering::Relaxed)
    }

    fn set_broken(&self, reason: BrokenExecutor) {
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
        self.is_broken.store(true, Ordering::Release);
    }
}

/// What rank 0 knows of one worker.
struct Worker {
    /// Jobs sent and not ended, oldest first: the front is the one it runs.
    sent: VecDeque<u64>,
    /// Its process, from its hello.
    process: WorkerProcess,
    /// On rank 0's host, so its liveness can be checked by process id.
    local: bool,
    /// It said `Bye`.
    said_bye: bool,
    /// It was lost: nothing more is sent to it, and what it sends is ignored.
    lost: bool,
    /// When anything last came from it.
    last_heard: Instant,
    /// The pools whose initializer it ran successfully.
    initialized: HashSet<u64>,
    /// The pool whose initializer it runs now (it gets nothing else meanwhile).
    initializing: Option<Arc<PoolState>>,
}

impl Worker {
    /// Can be given tasks (not lost, not stopping).
    fn serves(&self) -> bool {
        !self.lost && !self.said_bye
    }
}

/// How a worker was found lost.
enum Loss {
    /// Its process on this host is gone.
    Died,
    /// Nothing came from it for the timeout.
    Silent(Duration),
}

/// What rank 0's progress thread shares with its keeper thread, behind one mutex: the
/// transport, and whom to send heartbeats to.
struct RootLink {
    transport: Transport,
    /// Which workers were lost (they get nothing more): the keeper's copy of `Worker::lost`,
    /// set with it in `Root::lose` only (the progress thread reads its own without locking).
    lost: Vec<bool>,
    /// When heartbeats to the workers are due.
    pacer: Pacer,
    /// Set when the progress thread is done with MPI: the keeper must stop.
    closed: bool,
}

impl RootLink {
    /// A heartbeat to every worker not lost (also those that said goodbye: they wait for
    /// `End` and would give up on a silent rank 0), if one is due.
    fn heartbeat(&mut self, beats: &Heartbeats) {
        if !self.pacer.due(beats) {
            return;
        }
        for worker in 0..self.lost.len() {
            if !self.lost[worker] {
                self.transport.send_to_worker(worker, &ToWorker::Heartbeat);
            }
        }
        self.pacer.sent();
    }
}

fn lock(link: &Mutex<RootLink>) -> MutexGuard<'_, RootLink> {
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts rank 0's keeper thread: it sends the heartbeats due while the progress thread is
/// busy elsewhere (a done-callback runs on it, and may run long). `None` if it cannot start:
/// heartbeats then come from the progress thread alone.
fn start_keeper(link: Arc<Mutex<RootLink>>, beats: Heartbeats) -> Option<JoinHandle<()>> {
    let pause = heartbeat::keeper_pause(&beats);
    std::thread::Builder::new()
        .name("executor-mpi-keeper".into())
        .spawn(move || {
            loop {
                {
                    let mut link = lock(&link);
                    if link.closed {
                        return;
                    }
                    link.heartbeat(&beats);
                    link.transport.poll_sends();
                }
                std::thread::sleep(pause);
            }
        })
        .inspect_err(|error| {
            eprintln!(
                "concurrent_futures_mpi: rank 0 could not start its heartbeat thread ({error}); \
                 a long done-callback may make workers give up on it"
            );
        })
        .ok()
}

/// The state of rank 0's progress thread.
struct Root {
    /// Locked for each transport call only, so the keeper can send heartbeats in between and
    /// while done-callbacks run (they run with no lock held).
    link: Arc<Mutex<RootLink>>,
    queue: VecDeque<Job>,
    /// Jobs sent to a worker (which one: its `sent`), by id.
    in_flight: FxHashMap<u64, Job>,
    workers: Vec<Worker>,
    /// Set once `Finalize` arrived: workers were told to stop.
    stopping: bool,
    /// Set once the session broke; shared with the pools.
    health: Arc<Health>,
    settings: Settings,
    /// When workers' liveness is next checked.
    checks: CheckClock,
    stalls: StallGuard,
    /// Jobs ended under the lock, to finish (run their done-callbacks) once it is released.
    finished: Vec<(Job, Outcome)>,
}

/// Rank 0's state, shared by the progress thread and every thread that makes progress for
/// itself: a submitter dispatches its own job when the lock is free, and a thread waiting on a
/// future of the session polls for the answers ([`Drive`]), so a round trip needs no hand-off
/// to the progress thread and back. The progress thread then only looks after what nobody
/// waits for (callbacks, `wait` over many futures), heartbeats and liveness.
///
/// Lock order: `root`, then the link inside it. Jobs are finished (done-callbacks run) with
/// neither held.
pub(crate) struct RootCell {
    /// `None` before the progress thread starts serving and after it ends.
    root: Mutex<Option<Root>>,
    /// Threads inside [`Drive::drive`]: while there are any, the progress thread does not spin.
    drivers: AtomicUsize,
    /// The progress thread is parked with nothing in flight: a job dispatched directly must
    /// wake it.
    deep_parked: AtomicBool,
    /// The progress thread, once it serves.
    progress_thread: OnceLock<ThreadId>,
    /// Wakes the progress thread when a waiting thread gives up driving: its job still runs
    /// and the progress thread must look after the answer at once. Emptied when it ends.
    waker: Mutex<Option<Sender<Command>>>,
}

impl RootCell {
    /// `waker` reaches the progress thread's command channel.
    pub(crate) fn new(waker: Sender<Command>) -> Arc<RootCell> {
        Arc::new(RootCell {
            root: Mutex::new(None),
            drivers: AtomicUsize::new(0),
            deep_parked: AtomicBool::new(false),
            progress_thread: OnceLock::new(),
            waker: Mutex::new(Some(waker)),
        })
    }

    /// Drops the waker's sender: with the session's own gone too, the progress thread sees its
    /// command channel close and ends.
    pub(crate) fn drop_waker(&self) {
        self.waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Queues and dispatches `job` on this thread if rank 0's state is free, so it is sent
    /// at once; gives it back otherwise (the caller hands it to the progress thread). `Ok`
    /// says whether the progress thread is parked and must be woken, and holds the jobs that
    /// ended meanwhile (cancelled ones), for the caller to finish once it holds no lock.
    pub(crate) fn submit_here(&self, job: Job) -> Result<(bool, Ended), Job> {
        let Some(mut guard) = self.try_lock() else {
            return Err(job);
        };
        let Some(root) = guard.as_mut() else {
            return Err(job);
        };
        root.command(Command::Submit(job));
        root.dispatch();
        let ended = root.take_ended();
        drop(guard);
        Ok((self.deep_parked.load(Ordering::SeqCst), ended))
    }

    /// The state, unless another thread holds it.
    fn try_lock(&self) -> Option<MutexGuard<'_, Option<Root>>> {
        match self.root.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// One round of progress under the lock; `None` when the session is over.
    fn step_here(&self, commands: &mut dyn FnMut(&mut Root) -> bool) -> Option<Step> {
        let mut guard = self.root.lock().unwrap_or_else(PoisonError::into_inner);
        let root = guard.as_mut()?;
        let mut progressed = commands(root);
        progressed |= root.step();
        let step = Step {
            progressed,
            busy: root.busy(),
            over: root.over(),
            until_due: root.link().pacer.until_due(&root.settings.beats),
        };
        let ended = root.take_ended();
        drop(guard);
        ended.finish();
        Some(step)
    }
}

/// What one round of progress found.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Something happened: poll again at once.
    progressed: bool,
    /// Jobs are queued or in flight.
    busy: bool,
    /// Stopping, and every worker said goodbye or was lost.
    over: bool,
    /// When the next heartbeat is due.
    until_due: Duration,
}

/// Jobs that ended, to be finished (their done-callbacks run) by a thread holding no lock.
#[must_use = "the jobs' futures complete only when `finish` is called"]
pub(crate) struct Ended(Vec<(Job, Outcome)>);

impl Ended {
    pub(crate) fn finish(self) {
        for (job, outcome) in self.0 {
            job.finish(outcome);
        }
    }
}

/// A driving thread runs the full round ([`Root::step`]) once every this many polls, and only
/// [`Root::poll`] in between.
const FULL_ROUND_EVERY: u32 = 64;

/// A driving thread reads the clock (for its spin limit and deadline) once every this many
/// rounds.
const CLOCK_EVERY: u32 = 8;

/// How long a waiting thread keeps polling without progress before it blocks and leaves the
/// rest to the progress thread (a worker's answer to a short task takes a few microseconds).
const DRIVE_SPIN: Duration = Duration::from_micros(200);

/// How long the progress thread sleeps between rounds while other threads drive, or while it
/// has been idle for less than [`LIGHT_IDLE`]. A job dispatched directly by a submitter that
/// never waits for it (it uses callbacks, or `wait` over many futures) is looked after within
/// this time; a waiting thread that gives up wakes the progress thread at once. Rounds every
/// 50 µs instead cost a round trip about 1 µs of its 3-4 µs, in lock and core contention.
const LIGHT_SLEEP: Duration = Duration::from_micros(500);

/// How long after its last work the progress thread parks for good (until woken).
const LIGHT_IDLE: Duration = Duration::from_millis(2);

impl Drive for RootCell {
    fn drive(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>) {
        // On the progress thread (a done-callback waits for another task), nobody else would
        // make the progress: drive until done, pausing as the progress thread does.
        let alone = self.progress_thread.get() == Some(&std::thread::current().id());
        self.drivers.fetch_add(1, Ordering::SeqCst);
        let mut last_progress = Instant::now();
        let mut backoff = Backoff::new();
        let mut polls: u32 = 0;
        let mut spins: u32 = 0;
        while !done() {
            // The clock costs as much as a third of a poll: read it every few rounds only
            // (every round when alone, where rounds are paced by sleeps).
            spins = spins.wrapping_add(1);
            if alone || spins % CLOCK_EVERY == 0 {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d)
                    || (!alone && now - last_progress > DRIVE_SPIN)
                {
                    break;
                }
            }
            let Some(mut guard) = self.try_lock() else {
                std::hint::spin_loop();
                continue;
            };
            let Some(root) = guard.as_mut() else {
                break;
            };
            // The full round (heartbeats, liveness) every so often; in between, only what a
            // round trip needs, so the answer is seen as soon as it arrives.
            polls = polls.wrapping_add(1);
            // One answer at a time: the one awaited is finished (outside the lock) and seen
            // without another empty probe first.
            let progressed = if polls % FULL_ROUND_EVERY == 0 {
                root.step()
            } else {
                root.poll(1)
            };
            let ended = root.take_ended();
            drop(guard);
            ended.finish();
            if progressed {
                last_progress = Instant::now();
                backoff.reset();
            } else if alone {
                std::thread::sleep(backoff.next_pause());
            }
        }
        self.drivers.fetch_sub(1, Ordering::SeqCst);
        if !alone && !done() {
            // The task outlasted the spin: the progress thread, which sleeps while threads
            // drive, takes over now rather than at the end of its nap.
            if let Some(waker) = self
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
            {
                let _ = waker.send(Command::Wake);
            }
        }
    }
}

/// Runs rank 0's progress thread until `Finalize` (or until every sender is gone), then stops
/// the workers and returns once each said goodbye or was lost. The caller ends the connection
/// as the result says, and finalises MPI. With `keeper` (MPI allows two threads to take turns),
/// a keeper thread sends heartbeats while the progress thread runs done-callbacks.
pub(crate) fn run_root(
    cell: &RootCell,
    transport: Transport,
    processes: Vec<WorkerProcess>,
    settings: Settings,
    health: Arc<Health>,
    commands: Receiver<Command>,
    keeper: bool,
) -> (Transport, Ending) {
    let host = liveness::host_name();
    let now = Instant::now();
    let workers = processes
        .into_iter()
        .map(|process| Worker {
            sent: VecDeque::new(),
            local: process.host == host,
            process,
            said_bye: false,
            lost: false,
            last_heard: now,
            initialized: HashSet::new(),
            initializing: None,
        })
        .collect();
    let workers: Vec<Worker> = workers;
    let link = Arc::new(Mutex::new(RootLink {
        transport,
        lost: vec![false; workers.len()],
        pacer: Pacer::new(),
        closed: false,
    }));
    let keeper = if keeper && !workers.is_empty() {
        start_keeper(link.clone(), settings.beats)
    } else {
        None
    };
    let mut root = Root {
        link,
        queue: VecDeque::new(),
        in_flight: FxHashMap::default(),
        workers,
        stopping: false,
        health,
        settings,
        checks: CheckClock::new(),
        stalls: StallGuard::new(),
        finished: Vec::new(),
    };
    root.welcome();
    let _ = cell.progress_thread.set(std::thread::current().id());
    *cell.root.lock().unwrap_or_else(PoisonError::into_inner) = Some(root);
    let mut backoff = Backoff::new();
    let mut last_work = Instant::now();
    let mut disconnected = false;
    loop {
        let mut drain = |root: &mut Root| {
            let mut progressed = false;
            loop {
                match commands.try_recv() {
                    Ok(command) => {
                        progressed = true;
                        root.command(command);
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            if disconnected && !root.stopping {
                root.stop();
                progressed = true;
            }
            progressed
        };
        let step = cell
            .step_here(&mut drain)
            .expect("only the progress thread ends the session");
        if step.over {
            break;
        }
        if step.busy {
            last_work = Instant::now();
        }
        let driven = cell.drivers.load(Ordering::SeqCst) > 0;
        if step.progressed && !driven {
            backoff.reset();
            continue;
        }
        let until_due = step.until_due;
        let pause = if driven {
            // Waiting threads poll for their answers: leave them the cores (and the answers:
            // the one that finishes a job runs its callbacks, where it waits anyway).
            LIGHT_SLEEP
        } else if step.busy {
            backoff.next_pause()
        } else if last_work.elapsed() < LIGHT_IDLE {
            LIGHT_SLEEP
        } else {
            // Idle for a while: park until a command, a direct dispatch's wake-up, or the next
            // heartbeat. Announce it first, then look again: a submitter dispatches under the
            // lock and then reads the flag, so either it sees the flag or this sees its job.
            cell.deep_parked.store(true, Ordering::SeqCst);
            let busy = cell
                .root
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_some_and(Root::busy);
            if busy {
                cell.deep_parked.store(false, Ordering::SeqCst);
                continue;
            }
            until_due
        };
        let received = commands.recv_timeout(pause.min(until_due));
        cell.deep_parked.store(false, Ordering::SeqCst);
        match received {
            Ok(command) => {
                backoff.reset();
                if let Some(root) = cell
                    .root
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_mut()
                {
                    root.command(command);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => disconnected = true,
        }
    }
    cell.drop_waker();
    let mut root = cell
        .root
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .expect("the progress thread put it there");
    root.take_ended().finish();
    let broken = BrokenExecutor::new("the MPI session ended while the task ran");
    for (_, job) in root.in_flight.drain() {
        job.finish(Outcome::Broken(broken.clone()));
    }
    // After a loss the live workers must not disconnect either: the disconnect waits for
    // every peer of the intercommunicator, the lost one included.
    let ending = if root.workers.iter().any(|worker| worker.lost) {
        Ending::Abandon
    } else {
        Ending::Clean
    };
    let disconnect = ending == Ending::Clean;
    for worker in 0..root.workers.len() {
        if root.workers[worker].said_bye && !root.workers[worker].lost {
            root.link()
                .transport
                .send_to_worker(worker, &ToWorker::End { disconnect });
        }
    }
    let Root { link, .. } = root;
    {
        let mut link = lock(&link);
        link.transport.flush();
        link.closed = true;
    }
    (heartbeat::reclaim(link, keeper).transport, ending)
}

impl Root {
    /// Ends `job` with `outcome` once the lock is released (see [`RootCell`]).
    fn complete(&mut self, job: Job, outcome: Outcome) {
        self.finished.push((job, outcome));
    }

    /// The jobs ended so far, to finish once the lock is released.
    fn take_ended(&mut self) -> Ended {
        Ended(std::mem::take(&mut self.finished))
    }

    /// Jobs are queued or in flight.
    fn busy(&self) -> bool {
        !self.queue.is_empty() || !self.in_flight.is_empty() || self.link().transport.sending()
    }

    /// Stopping, and every worker said goodbye or was lost.
    fn over(&self) -> bool {
        self.stopping && self.workers.iter().all(|w| w.said_bye || w.lost)
    }

    /// What a round trip needs: dispatch what is queued, and receive the answers that
    /// arrived, at most `max_answers` of them, under one lock of the link. Returns whether
    /// anything happened.
    fn poll(&mut self, max_answers: usize) -> bool {
        if !self.queue.is_empty() {
            self.dispatch();
        }
        let mut progressed = false;
        for _ in 0..max_answers {
            let received = {
                let mut link = self.link();
                let received = link.transport.try_receive_from_worker::<ToRoot>();
                if received.is_none() {
                    link.transport.poll_sends();
                }
                received
            };
            let Some((worker, answer)) = received else {
                break;
            };
            progressed = true;
            self.answer(worker, answer);
        }
        if progressed && !self.queue.is_empty() {
            self.dispatch();
        }
        progressed
    }

    /// One round: dispatch, receive every answer that arrived, heartbeats and liveness.
    /// Returns whether anything happened.
    fn step(&mut self) -> bool {
        let beats = self.settings.beats;
        // Receive before judging silences: what arrived while nobody polled counts.
        let progressed = self.poll(usize::MAX);
        self.link().heartbeat(&beats);
        if self.stalls.stalled(&beats) {
            // Nobody listened for a while (a long done-callback, a stopped or starved
            // process): the workers' silence may be rank 0's own.
            self.forgive_silences();
        }
        // Rate-limited, and not only when idle, so a busy live worker cannot hide a lost one.
        if self.checks.due() {
            self.check_workers();
        }
        // A lost worker's jobs go back to the queue.
        if !self.queue.is_empty() {
            self.dispatch();
        }
        progressed
    }

    /// The link, locked for one transport call (never hold it across a job's `finish`: that
    /// runs done-callbacks).
    fn link(&self) -> MutexGuard<'_, RootLink> {
        lock(&self.link)
    }

    /// Tells every worker the heartbeat settings.
    fn welcome(&mut self) {
        let beats = self.settings.beats;
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let mut link = self.link();
        for worker in 0..self.workers.len() {
            link.transport.send_to_worker(
                worker,
                &ToWorker::Welcome {
                    heartbeat_nanos: nanos(beats.interval),
                    timeout_nanos: nanos(beats.timeout),
                },
            );
        }
        link.pacer.sent();
    }

    fn forgive_silences(&mut self) {
        let now = Instant::now();
        for worker in &mut self.workers {
            worker.last_heard = now;
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Submit(job) if self.stopping => self.complete(
                job,
                Outcome::Broken(BrokenExecutor::new("the MPI session was finalised")),
            ),
            Command::Submit(job) if self.health.broken().is_some() => {
                let broken = self.health.broken().expect("checked");
                self.complete(job, Outcome::Broken(broken));
            }
            Command::Submit(job) if job.pool.broken().is_some() => {
                let broken = job.pool.broken().expect("checked");
                self.complete(job, Outcome::Broken(broken));
            }
            Command::Submit(job) => self.queue.push_back(job),
            Command::Finalize => self.stop(),
            Command::Wake => {}
        }
    }

    /// Fails the queue and tells every worker to stop.
    fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        let broken = BrokenExecutor::new("the MPI session was finalised");
        for job in std::mem::take(&mut self.queue) {
            self.complete(job, Outcome::Broken(broken.clone()));
        }
        for worker in 0..self.workers.len() {
            if !self.workers[worker].lost {
                self.link()
                    .transport
                    .send_to_worker(worker, &ToWorker::Stop);
            }
        }
    }

    /// Gives each idle worker a batch from the front of the queue. Every job of a batch is
    /// running from now on (as in CPython's call queue); cancelled ones are dropped.
    fn dispatch(&mut self) {
        let workers = self.workers.iter().filter(|worker| worker.serves()).count();
        for worker in 0..self.workers.len() {
            if self.queue.is_empty() {
                return;
            }
            let state = &self.workers[worker];
            if !state.sent.is_empty() || !state.serves() || state.initializing.is_some() {
                continue;
            }
            let pool = self
                .queue
                .front()
                .expect("the queue is not empty")
                .pool
                .clone();
            if let Some(initializer) = pool.initializer()
                && !self.workers[worker].initialized.contains(&pool.id())
            {
                // Its first task of this pool: initialise first, send tasks once that worked.
                self.link().transport.send_to_worker(
                    worker,
                    &ToWorker::Initialize {
                        pool: pool.id(),
                        entry: initializer.entry,
                        payload: initializer.payload.clone(),
                    },
                );
                self.workers[worker].initializing = Some(pool);
                continue;
            }
            let limit = batch_size(
                self.queue.len(),
                workers,
                pool.task_nanos(),
                pool.tasks_per_worker(),
            );
            let mut jobs = Vec::with_capacity(limit);
            while jobs.len() < limit {
                let Some(front) = self.queue.front() else {
                    break;
                };
                if !Arc::ptr_eq(&front.pool, &pool) {
                    break;
                }
                let mut job = self.queue.pop_front().expect("the queue has a front");
                if !job.started {
                    if !job.promise.start() {
                        self.complete(job, Outcome::Cancelled);
                        continue;
                    }
                    job.started = true;
                }
                jobs.push(job);
            }
            if jobs.is_empty() {
                continue;
            }
            let batch = jobs
                .iter()
                .map(|job| WireJob {
                    id: job.id,
                    entry: job.entry,
                    payload: Cow::Borrowed(&job.payload),
                })
                .collect();
            self.link()
                .transport
                .send_to_worker(worker, &ToWorker::Run(batch));
            for job in jobs {
                self.workers[worker].sent.push_back(job.id);
                self.in_flight.insert(job.id, job);
            }
        }
    }

    fn answer(&mut self, worker: usize, answer: ToRoot) {
        if self.workers[worker].lost {
            // Given up on (its jobs went elsewhere): whatever it still says is ignored.
            return;
        }
        self.workers[worker].last_heard = Instant::now();
        match answer {
            ToRoot::Done { id, nanos, reply } => {
                if let Some(job) = self.end(worker, id) {
                    job.pool.record_task_nanos(nanos);
                    self.complete(job, Outcome::Reply(reply));
                }
            }
            ToRoot::Initialized { pool: id, reply } => {
                let Some(pool) = self.workers[worker].initializing.take() else {
                    return;
                };
                debug_assert_eq!(pool.id(), id, "the answer is for the pool sent");
                let outcome = match pool.initializer() {
                    Some(initializer) => initializer.outcome(reply),
                    None => Ok(()),
                };
                match outcome {
                    Ok(()) => {
                        self.workers[worker].initialized.insert(id);
                    }
                    Err(reason) => self.break_pool(&pool, worker, &reason),
                }
            }
            ToRoot::Bye => self.workers[worker].said_bye = true,
            ToRoot::Heartbeat => {}
            ToRoot::Hello { .. } => {
                debug_assert!(false, "worker {worker} said hello twice");
            }
        }
    }

    /// Job `id` ended on `worker`.
    fn end(&mut self, worker: usize, id: u64) -> Option<Job> {
        let sent = &mut self.workers[worker].sent;
        // Answers come in send order: the job is at the front.
        let position = sent.iter().position(|&sent_id| sent_id == id)?;
        sent.remove(position);
        self.in_flight.remove(&id)
    }

    /// `pool`'s initializer failed on `worker`: the pool is broken. Its queued jobs fail with
    /// `TaskError::Broken`, and it refuses new ones; its jobs already sent to other workers
    /// still run. Other pools are not affected.
    fn break_pool(&mut self, pool: &Arc<PoolState>, worker: usize, reason: &str) {
        let broken = BrokenExecutor::new(format!(
            "the pool's initializer failed on {}: {reason}",
            self.link().transport.worker_name(worker)
        ));
        pool.set_broken(broken.clone());
        let (failed, kept): (VecDeque<Job>, VecDeque<Job>) = self
            .queue
            .drain(..)
            .partition(|job| Arc::ptr_eq(&job.pool, pool));
        self.queue = kept;
        for job in failed {
            self.complete(job, Outcome::Broken(broken.clone()));
        }
    }

    /// Finds the workers lost since the last check: on this host, a process that is gone;
    /// anywhere, one silent for the timeout.
    fn check_workers(&mut self) {
        let timeout = self.settings.beats.timeout;
        for worker in 0..self.workers.len() {
            let state = &self.workers[worker];
            if state.lost {
                continue;
            }
            let silence = state.last_heard.elapsed();
            if state.local && !liveness::process_is_alive(state.process.pid) {
                self.lose(worker, Loss::Died);
            } else if silence > timeout {
                self.lose(worker, Loss::Silent(silence));
            }
        }
    }

    /// Worker `worker` is lost: nothing more is sent to it, and a silent one is killed where
    /// that can be done (fenced). Its jobs are dealt with as the session's [`LostWorker`]
    /// policy says.
    fn lose(&mut self, worker: usize, loss: Loss) {
        let name = self.link().transport.worker_name(worker);
        let process = self.workers[worker].process.clone();
        self.workers[worker].lost = true;
        self.workers[worker].initializing = None;
        self.health.lost.fetch_add(1, Ordering::Relaxed);
        {
            let mut link = self.link();
            link.lost[worker] = true;
            link.transport.abandon_sends_to_worker(worker);
        }
        let how = match loss {
            Loss::Died => "died".to_owned(),
            Loss::Silent(silence) => {
                let fenced = self.fence(worker);
                format!(
                    "stopped answering (nothing heard from it for {:.1}s{fenced})",
                    silence.as_secs_f64()
                )
            }
        };
        let who = format!("{name} (pid {} on {})", process.pid, process.host);
        eprintln!("concurrent_futures_mpi: {who} {how}");
        let sent: Vec<Job> = std::mem::take(&mut self.workers[worker].sent)
            .into_iter()
            .filter_map(|id| self.in_flight.remove(&id))
            .collect();
        let survivors = self.workers.iter().filter(|w| w.serves()).count();
        if self.settings.on_lost_worker == LostWorker::BreakSession {
            let broken = BrokenExecutor::new(format!("{who} {how}; the pool is broken"));
            self.break_session(broken, sent);
            return;
        }
        let mut sent = sent.into_iter();
        if let Some(running) = sent.next() {
            // The exit names the pid already.
            let exit = WorkerExit::new(process.pid, None, None).with_reason(format!(
                "{name} on {} {how} (while it ran the task, or with its answer)",
                process.host
            ));
            self.complete(running, Outcome::WorkerLost(exit));
        }
        if survivors == 0 {
            let broken = BrokenExecutor::new(format!(
                "every MPI worker was lost (the last: {who} {how}); the session is broken"
            ));
            self.break_session(broken, sent.collect());
        } else if self.stopping {
            // The others were told to stop: nothing can be sent to them any more.
            let broken = BrokenExecutor::new(format!(
                "the MPI session was finalised before the task could run again after {who} {how}"
            ));
            for job in sent {
                self.complete(job, Outcome::Broken(broken.clone()));
            }
        } else {
            // Not started: back to the front of the queue, in their order.
            for job in sent.rev() {
                self.queue.push_front(job);
            }
        }
    }

    /// The session is broken: `jobs` and every queued job fail with `broken`, later submits are
    /// refused. Jobs running on live workers still finish.
    fn break_session(&mut self, broken: BrokenExecutor, jobs: Vec<Job>) {
        self.health.set_broken(broken.clone());
        let queued = std::mem::take(&mut self.queue);
        for job in jobs.into_iter().chain(queued) {
            self.complete(job, Outcome::Broken(broken.clone()));
        }
    }

    /// Kills silent worker `worker` if anyone can: rank 0 itself on its own host, else a live
    /// worker on the same host. A stopped process left behind would keep `mpirun` from ever
    /// exiting. Says what was done, for the loss's message.
    fn fence(&mut self, worker: usize) -> &'static str {
        let process = &self.workers[worker].process;
        if self.workers[worker].local {
            return if liveness::fence(process.pid) {
                "; rank 0 killed it"
            } else {
                ""
            };
        }
        let buddy = (0..self.workers.len()).find(|&other| {
            other != worker
                && !self.workers[other].lost
                && self.workers[other].process.host == process.host
        });
        match buddy {
            Some(buddy) => {
                let pid = process.pid;
                self.link()
                    .transport
                    .send_to_worker(buddy, &ToWorker::Fence { pid });
                "; a worker on its host was told to kill it"
            }
            None => "",
        }
    }
}

/// How much work one batch should hold.
const TARGET_BATCH_NANOS: u64 = 1_000_000;

/// How many queued tasks one idle worker takes.
fn batch_size(queued: usize, workers: usize, task_nanos: Option<u64>, max: usize) -> usize {
    let fair = queued.div_ceil(workers.max(1));
    let by_time = match task_nanos {
        None => 1,
        Some(nanos) => usize::try_from(TARGET_BATCH_NANOS / nanos.max(1)).unwrap_or(usize::MAX),
    };
    fair.min(by_time).clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_task_duration_and_fair_share() {
        assert_eq!(batch_size(100, 2, None, 64), 1);
        assert_eq!(batch_size(100, 2, Some(10_000), 64), 50);
        assert_eq!(batch_size(1000, 2, Some(1_000), 64), 64);
        assert_eq!(batch_size(1000, 2, Some(50_000_000), 64), 1);
        assert_eq!(batch_size(3, 4, Some(1), 64), 1);
        assert_eq!(batch_size(1000, 2, Some(1), 1), 1);
    }
}
