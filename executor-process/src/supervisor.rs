//! The supervisor thread: the pool's timer, and where each worker's thread is started.
//!
//! Each worker process is started by its own connection thread (see `connection`), so workers
//! start in parallel and the first one through its handshake takes the first task. That thread
//! lives until it has reaped its worker, which matters on Linux: a worker's parent-death signal
//! fires when the *thread* that started it exits. The supervisor stops only once the pool is
//! shut down and every worker was reaped.
//!
//! Timers (task time limits, the SIGTERM-to-SIGKILL grace period, the start-up deadline) live in
//! an ordered map keyed by deadline; the thread sleeps on its command channel until the earliest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::connection;
use crate::shared::Shared;
use crate::sys::{self, ProcessHandle};

/// What the supervisor is asked to do.
pub(crate) enum Command {
    /// Start the thread that starts, serves and reaps worker `id`.
    Spawn(u64),
    /// At `at`, stop `job` on `worker` if it still runs.
    Expire {
        worker: u64,
        job: u64,
        limit: Duration,
        at: Instant,
    },
    /// At `at`, SIGKILL `process` if it has not been reaped.
    Kill {
        process: Arc<ProcessHandle>,
        at: Instant,
    },
    /// At `at`, kill `worker` if it is still starting.
    StartDeadline { worker: u64, at: Instant },
    /// Exit: the pool is shut down and no worker is left.
    Stop,
}

enum Timer {
    Expire {
        worker: u64,
        job: u64,
        limit: Duration,
    },
    Kill(Arc<ProcessHandle>),
    StartDeadline(u64),
}

/// The supervisor thread's body.
pub(crate) fn run(shared: Arc<Shared>, commands: Receiver<Command>) {
    connection::mark_pool_thread(&shared);
    let mut timers: BTreeMap<(Instant, u64), Timer> = BTreeMap::new();
    let mut sequence = 0u64;
    loop {
        let next = timers.keys().next().map(|(at, _)| *at);
        let command = match next {
            Some(at) => match commands.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match commands.recv() {
                Ok(command) => Some(command),
                Err(_) => return,
            },
        };
        let mut schedule = |at: Instant, timer: Timer| {
            sequence += 1;
            timers.insert((at, sequence), timer);
        };
        match command {
            Some(Command::Spawn(id)) => spawn_worker(&shared, id),
            Some(Command::Expire {
                worker,
                job,
                limit,
                at,
            }) => schedule(at, Timer::Expire { worker, job, limit }),
            Some(Command::Kill { process, at }) => schedule(at, Timer::Kill(process)),
            Some(Command::StartDeadline { worker, at }) => {
                schedule(at, Timer::StartDeadline(worker))
            }
            Some(Command::Stop) => return,
            None => {}
        }
        let now = Instant::now();
        while let Some(entry) = timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Timer::Expire { worker, job, limit } => shared.on_expire(worker, job, limit),
                Timer::Kill(process) => process.signal(sys::SIGKILL),
                Timer::StartDeadline(worker) => shared.on_start_deadline(worker),
            }
        }
    }
}

fn spawn_worker(shared: &Arc<Shared>, id: u64) {
    if !shared.claim_spawn(id) {
        return;
    }
    let thread = {
        let shared = shared.clone();
        thread::Builder::new()
            .name(format!("executor-process-worker-{id}"))
            .spawn(move || connection::start(shared, id))
    };
    match thread {
        Ok(thread) => shared.adopt_thread(thread),
        Err(error) => shared.on_spawn_failed(id, error),
    }
}
