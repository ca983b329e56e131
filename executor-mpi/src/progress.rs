//! Rank 0's progress thread: the only thread of rank 0 that calls MPI. It queues jobs, sends
//! each to a worker rank with a free slot, and completes futures from the answers.
//!
//! With nothing in flight it blocks on its command channel (no CPU burn); while tasks run it
//! polls MPI with a short backoff, waking at once for new commands.
//!
//! Scheduling: only idle workers are fed, each with a batch whose size adapts to the measured
//! task duration of the pool (about a millisecond of work, one task while unmeasured), at most a
//! fair share of the queue and at most the pool's `tasks_per_worker`: no-op tasks travel many
//! per message, long tasks one at a time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use concurrent_futures_core::BrokenExecutor;
use concurrent_futures_process::task_model::Registry;

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

/// A job sent to a worker.
struct InFlight {
    worker: usize,
    job: Job,
}

/// Whether the session broke (a worker died), shared by the progress thread, which sets it,
/// and the pools, which refuse tasks once it is set.
#[derive(Debug, Default)]
pub(crate) struct Health {
    broken: Mutex<Option<BrokenExecutor>>,
}

impl Health {
    /// Why the session is broken, if it is.
    pub(crate) fn broken(&self) -> Option<BrokenExecutor> {
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_broken(&self, reason: BrokenExecutor) {
        self.broken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(reason);
    }
}

/// What rank 0 knows of one worker.
struct Worker {
    /// Jobs sent and not ended.
    load: usize,
    /// Its process, from its hello.
    process: WorkerProcess,
    /// On rank 0's host, so its liveness can be checked.
    local: bool,
    /// It said `Bye`.
    said_bye: bool,
    /// It died.
    lost: bool,
    /// The pools whose initializer it ran successfully.
    initialized: HashSet<u64>,
    /// The pool whose initializer it runs now (it gets nothing else meanwhile).
    initializing: Option<Arc<PoolState>>,
}

/// The state of rank 0's progress thread.
struct Root<'t> {
    transport: &'t mut Transport,
    queue: VecDeque<Job>,
    in_flight: HashMap<u64, InFlight>,
    workers: Vec<Worker>,
    /// Set once `Finalize` arrived: workers were told to stop.
    stopping: bool,
    /// Set once a worker died; shared with the pools.
    health: Arc<Health>,
    /// When workers' liveness is next checked.
    checks: CheckClock,
}

/// Runs rank 0's progress thread until `Finalize` (or until every sender is gone), then stops
/// the workers and returns once they all said goodbye or died. The caller ends the connection
/// as the result says, and finalises MPI.
pub(crate) fn run_root(
    transport: &mut Transport,
    processes: Vec<WorkerProcess>,
    health: Arc<Health>,
    commands: Receiver<Command>,
) -> Ending {
    let host = liveness::host_name();
    let workers = processes
        .into_iter()
        .map(|process| Worker {
            load: 0,
            local: process.host == host,
            process,
            said_bye: false,
            lost: false,
            initialized: HashSet::new(),
            initializing: None,
        })
        .collect();
    let mut root = Root {
        transport,
        queue: VecDeque::new(),
        in_flight: HashMap::new(),
        workers,
        stopping: false,
        health,
        checks: CheckClock::new(),
    };
    let mut backoff = Backoff::new();
    loop {
        let idle = root.queue.is_empty() && root.in_flight.is_empty() && !root.stopping;
        let mut progressed = false;
        if idle && !root.transport.sending() {
            // Nothing in flight: block until there is something to do.
            match commands.recv() {
                Ok(command) => root.command(command),
                Err(_) => root.stop(),
            }
            progressed = true;
        }
        loop {
            match commands.try_recv() {
                Ok(command) => {
                    progressed = true;
                    root.command(command);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !root.stopping {
                        root.stop();
                    }
                    break;
                }
            }
        }
        root.dispatch();
        while let Some((worker, answer)) = root.transport.try_receive_from_worker::<ToRoot>() {
            progressed = true;
            root.answer(worker, answer);
        }
        root.transport.poll_sends();
        if root.stopping && root.workers.iter().all(|w| w.said_bye || w.lost) {
            break;
        }
        // Work is out (or workers are stopping): are they all still alive? Rate-limited, and
        // not only when idle, so a busy live worker cannot hide a dead one.
        if root.checks.due() {
            root.check_workers();
        }
        if progressed {
            backoff.reset();
            continue;
        }
        match commands.recv_timeout(backoff.next_pause()) {
            Ok(command) => {
                backoff.reset();
                root.command(command);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if !root.stopping {
                    root.stop();
                }
            }
        }
    }
    let broken = BrokenExecutor::new("the MPI session ended while the task ran");
    for (_, InFlight { job, .. }) in root.in_flight.drain() {
        job.finish(Outcome::Broken(broken.clone()));
    }
    // After a death the live workers must not disconnect either: the disconnect waits for
    // every peer of the intercommunicator, the dead one included.
    let ending = if root.workers.iter().any(|worker| worker.lost) {
        Ending::Abandon
    } else {
        Ending::Clean
    };
    let disconnect = ending == Ending::Clean;
    for worker in 0..root.workers.len() {
        if root.workers[worker].said_bye {
            root.transport
                .send_to_worker(worker, &ToWorker::End { disconnect });
        }
    }
    root.transport.flush();
    ending
}

impl Root<'_> {
    fn command(&mut self, command: Command) {
        match command {
            Command::Submit(job) if self.stopping => job.finish(Outcome::Broken(
                BrokenExecutor::new("the MPI session was finalised"),
            )),
            Command::Submit(job) if self.health.broken().is_some() => {
                let broken = self.health.broken().expect("checked");
                job.finish(Outcome::Broken(broken));
            }
            Command::Submit(job) if job.pool.broken().is_some() => {
                let broken = job.pool.broken().expect("checked");
                job.finish(Outcome::Broken(broken));
            }
            Command::Submit(job) => self.queue.push_back(job),
            Command::Finalize => self.stop(),
        }
    }

    /// Fails the queue and tells every worker to stop.
    fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        let broken = BrokenExecutor::new("the MPI session was finalised");
        for job in self.queue.drain(..) {
            job.finish(Outcome::Broken(broken.clone()));
        }
        for worker in 0..self.workers.len() {
            if !self.workers[worker].lost {
                self.transport.send_to_worker(worker, &ToWorker::Stop);
            }
        }
    }

    /// Gives each idle worker a batch from the front of the queue. Every job of a batch is
    /// running from now on (as in CPython's call queue); cancelled ones are dropped.
    fn dispatch(&mut self) {
        let workers = self.workers.len();
        for worker in 0..self.workers.len() {
            if self.queue.is_empty() {
                return;
            }
            let state = &self.workers[worker];
            if state.load > 0 || state.lost || state.initializing.is_some() {
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
                self.transport.send_to_worker(
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
            let mut batch = Vec::with_capacity(limit);
            let mut jobs = Vec::with_capacity(limit);
            while batch.len() < limit {
                let Some(front) = self.queue.front() else {
                    break;
                };
                if !Arc::ptr_eq(&front.pool, &pool) {
                    break;
                }
                let mut job = self.queue.pop_front().expect("the queue has a front");
                if !job.promise.start() {
                    job.finish(Outcome::Cancelled);
                    continue;
                }
                batch.push(WireJob {
                    id: job.id,
                    entry: job.entry,
                    payload: std::mem::take(&mut job.payload),
                });
                jobs.push(job);
            }
            if batch.is_empty() {
                continue;
            }
            self.transport.send_to_worker(worker, &ToWorker::Run(batch));
            self.workers[worker].load = jobs.len();
            for job in jobs {
                self.in_flight.insert(job.id, InFlight { worker, job });
            }
        }
    }

    fn answer(&mut self, worker: usize, answer: ToRoot) {
        match answer {
            ToRoot::Done { id, nanos, reply } => {
                if let Some(in_flight) = self.end(id) {
                    in_flight.job.pool.record_task_nanos(nanos);
                    in_flight.job.finish(Outcome::Reply(reply));
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
            ToRoot::Hello { .. } => {
                debug_assert!(false, "worker {worker} said hello twice");
            }
        }
    }

    fn end(&mut self, id: u64) -> Option<InFlight> {
        let in_flight = self.in_flight.remove(&id)?;
        self.workers[in_flight.worker].load -= 1;
        Some(in_flight)
    }

    /// `pool`'s initializer failed on `worker`: the pool is broken. Its queued jobs fail with
    /// `TaskError::Broken`, and it refuses new ones; its jobs already sent to other workers
    /// still run. Other pools are not affected.
    fn break_pool(&mut self, pool: &Arc<PoolState>, worker: usize, reason: &str) {
        let broken = BrokenExecutor::new(format!(
            "the pool's initializer failed on MPI worker rank {}: {reason}",
            self.transport.rank_of_worker(worker)
        ));
        pool.set_broken(broken.clone());
        let (failed, kept): (VecDeque<Job>, VecDeque<Job>) = self
            .queue
            .drain(..)
            .partition(|job| Arc::ptr_eq(&job.pool, pool));
        self.queue = kept;
        for job in failed {
            job.finish(Outcome::Broken(broken.clone()));
        }
    }

    /// Checks that the workers on this host that have not said goodbye still run; a dead one
    /// breaks the session.
    fn check_workers(&mut self) {
        for worker in 0..self.workers.len() {
            let state = &self.workers[worker];
            if state.local
                && !state.lost
                && !state.said_bye
                && !liveness::process_is_alive(state.process.pid)
            {
                self.lose(worker);
            }
        }
    }

    /// Worker `worker` died: the session is broken. Its jobs and every queued job fail with
    /// `TaskError::Broken`, later submits are refused, and nothing more is sent to it. Jobs
    /// running on live workers still finish.
    fn lose(&mut self, worker: usize) {
        let process = &self.workers[worker].process;
        let broken = BrokenExecutor::new(format!(
            "MPI worker rank {} (pid {} on {}) died; the pool is broken",
            self.transport.rank_of_worker(worker),
            process.pid,
            process.host
        ));
        self.workers[worker].lost = true;
        self.workers[worker].load = 0;
        self.workers[worker].initializing = None;
        self.health.set_broken(broken.clone());
        self.transport.abandon_sends_to_worker(worker);
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, in_flight)| in_flight.worker == worker)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            let in_flight = self.in_flight.remove(&id).expect("listed");
            in_flight.job.finish(Outcome::Broken(broken.clone()));
        }
        for job in self.queue.drain(..) {
            job.finish(Outcome::Broken(broken.clone()));
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
