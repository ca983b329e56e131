//! The worker ranks: the progress thread receives batches of tasks from rank 0, runs them one
//! after another and sends back each outcome as soon as it is known; a keeper thread keeps
//! showing signs of life while a task runs.
//!
//! Both threads call MPI, one at a time: the transport is behind a mutex, and MPI runs at
//! `MPI_THREAD_SERIALIZED`. The progress thread holds it except while it runs a task (and
//! while it sleeps), so a task's round trip costs no thread hand-off; the keeper takes it
//! every so often to send a heartbeat (see `heartbeat`) and to read what rank 0 sent, so rank 0
//! tells a long task from a lost worker, and the worker notices a rank 0 that is gone (killed,
//! or its host cut off) and ends its own process instead of waiting forever.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use concurrent_futures_process::task_model::Registry;

use crate::heartbeat::{self, Heartbeats, Pacer, StallGuard};
use crate::liveness;
use crate::protocol::{PROTOCOL_VERSION, RemoteFailure, ToRoot, ToWorker, WireJob};
use crate::transport::{Backoff, Ending, Transport};

/// Heartbeats before rank 0's welcome arrives (the handshake then has its own timeout).
const DEFAULT_BEFORE_WELCOME: Heartbeats = Heartbeats {
    interval: Duration::from_millis(500),
    timeout: Duration::from_secs(3),
};

/// What both threads of a worker share, behind one mutex: the transport and what was heard.
struct Link {
    transport: Transport,
    /// Messages from rank 0 the progress thread has not handled yet (the keeper may receive
    /// them).
    inbox: VecDeque<ToWorker<'static>>,
    /// Rank 0's heartbeat settings, from its welcome.
    beats: Option<Heartbeats>,
    /// When rank 0 was last heard from.
    last_heard: Instant,
    /// When a heartbeat to rank 0 is due.
    pacer: Pacer,
    /// Set when the progress thread is done with MPI: the keeper must stop.
    closed: bool,
}

impl Link {
    /// Receives what arrived into the inbox, up to the first batch of tasks (so it runs
    /// without another probe first); `true` if something arrived.
    fn pump(&mut self) -> bool {
        let mut received = false;
        while let Some(message) = self
            .transport
            .try_receive_from_leader::<ToWorker<'static>>()
        {
            let work = matches!(message, ToWorker::Run(_));
            received = true;
            self.last_heard = Instant::now();
            match message {
                ToWorker::Heartbeat => {}
                ToWorker::Welcome {
                    heartbeat_nanos,
                    timeout_nanos,
                } => {
                    self.beats = Some(Heartbeats {
                        interval: Duration::from_nanos(heartbeat_nanos),
                        timeout: Duration::from_nanos(timeout_nanos),
                    });
                }
                other => self.inbox.push_back(other),
            }
            if work {
                break;
            }
        }
        received
    }

    fn send(&mut self, message: &ToRoot) {
        self.transport.send_to_leader(message);
        self.pacer.sent();
    }

    fn beats(&self) -> Heartbeats {
        self.beats.unwrap_or(DEFAULT_BEFORE_WELCOME)
    }
}

/// Locks the link (a panic elsewhere does not make it unusable: its state stays consistent
/// between calls).
fn lock(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves rank 0 until it says stop. Returns once it said `Bye`, every send completed and the
/// keeper stopped, with the transport and how rank 0 wants the connection ended. Without
/// `keeper` (MPI gave less than `MPI_THREAD_SERIALIZED`), heartbeats come only between tasks.
pub(crate) fn serve(transport: Transport, keeper: bool) -> (Transport, Ending) {
    let registry = Registry::get();
    let link = Arc::new(Mutex::new(Link {
        transport,
        inbox: VecDeque::new(),
        beats: None,
        last_heard: Instant::now(),
        pacer: Pacer::new(),
        closed: false,
    }));
    lock(&link).send(&ToRoot::Hello {
        protocol: PROTOCOL_VERSION,
        registry: registry.fingerprint(),
        pid: std::process::id(),
        host: liveness::host_name(),
    });
    let keeper = if keeper {
        start_keeper(link.clone())
    } else {
        None
    };
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut stopping = false;
    let mut said_bye = false;
    let mut backoff = Backoff::new();
    let mut stalls = StallGuard::new();
    let ending = loop {
        let mut guard = lock(&link);
        let received = guard.pump();
        let mut ending = None;
        while let Some(message) = guard.inbox.pop_front() {
            match message {
                ToWorker::Run(jobs) => queue.extend(jobs.into_iter().map(Work::Task)),
                ToWorker::Initialize {
                    pool,
                    entry,
                    payload,
                } => queue.push_back(Work::Initialize {
                    pool,
                    job: WireJob {
                        id: 0,
                        entry,
                        payload: payload.into(),
                    },
                }),
                ToWorker::Fence { pid } => fence(pid),
                ToWorker::Stop => stopping = true,
                ToWorker::End { disconnect } => {
                    ending = Some(if disconnect {
                        Ending::Clean
                    } else {
                        Ending::Abandon
                    });
                }
                // `pump` handles these itself; they never reach the inbox.
                ToWorker::Heartbeat | ToWorker::Welcome { .. } => {}
            }
        }
        guard.transport.poll_sends();
        if let Some(work) = queue.pop_front() {
            // The keeper may use MPI while the task runs.
            drop(guard);
            let answer = run_work(registry, work);
            lock(&link).send(&answer);
            backoff.reset();
            continue;
        }
        if let Some(ending) = ending {
            guard.transport.flush();
            guard.closed = true;
            break ending;
        }
        if stopping && !said_bye {
            guard.send(&ToRoot::Bye);
            said_bye = true;
        }
        if keeper.is_none() {
            keep(&mut guard, &mut stalls);
        }
        drop(guard);
        if received {
            backoff.reset();
        } else {
            std::thread::sleep(backoff.next_pause());
        }
    };
    (heartbeat::reclaim(link, keeper).transport, ending)
}

/// Starts the keeper thread: every few milliseconds, it takes the link if the progress thread
/// is not using it (it is running a task, or sleeping), reads what rank 0 sent, sends a
/// heartbeat when one is due, and ends the process if rank 0 has been silent for the timeout.
/// `None` if the thread cannot be started: heartbeats then come only between tasks.
fn start_keeper(link: Arc<Mutex<Link>>) -> Option<std::thread::JoinHandle<()>> {
    let started = std::thread::Builder::new()
        .name("executor-mpi-keeper".into())
        .spawn(move || {
            let mut stalls = StallGuard::new();
            loop {
                let pause = {
                    let mut guard = lock(&link);
                    if guard.closed {
                        return;
                    }
                    guard.pump();
                    keep(&mut guard, &mut stalls);
                    heartbeat::keeper_pause(&guard.beats())
                };
                std::thread::sleep(pause);
            }
        });
    match started {
        Ok(thread) => Some(thread),
        Err(error) => {
            eprintln!(
                "concurrent_futures_mpi: the worker could not start its heartbeat thread \
                 ({error}); a long task may look like a lost worker to rank 0"
            );
            None
        }
    }
}

/// The keeper's turn: a heartbeat if one is due, sends moved on, and the end of the process if
/// rank 0 has been silent for the timeout (silences seen just after a stall of this side's own
/// are forgiven).
fn keep(link: &mut Link, stalls: &mut StallGuard) {
    let beats = link.beats();
    if link.pacer.due(&beats) {
        link.send(&ToRoot::Heartbeat);
    }
    link.transport.poll_sends();
    if stalls.stalled(&beats) {
        link.last_heard = Instant::now();
    }
    if let Some(beats) = link.beats
        && link.last_heard.elapsed() > beats.timeout
    {
        leave_silent_leader(&link.transport, &beats);
    }
}

/// Rank 0 asked this worker to kill `pid`, a worker on this host that stopped answering.
fn fence(pid: u32) {
    if liveness::fence(pid) {
        eprintln!(
            "concurrent_futures_mpi: killed worker process {pid} on {}: rank 0 lost it (it \
             stopped answering)",
            liveness::host_name()
        );
    }
}

/// Rank 0 has been silent for longer than the timeout: it is gone (killed, or this host was cut
/// off from it). Waiting would leave this process behind forever, so it ends, without MPI
/// (whose calls could wait for rank 0 too).
fn leave_silent_leader(transport: &Transport, beats: &Heartbeats) -> ! {
    eprintln!(
        "concurrent_futures_mpi: MPI worker rank {} on {} heard nothing from rank 0 for {:.1}s: \
         rank 0 is lost; this worker ends",
        transport.own_rank(),
        liveness::host_name(),
        beats.timeout.as_secs_f64()
    );
    // SAFETY: `_exit` ends the process at once, skipping exit handlers (MPI's could wait for
    // the lost rank 0); nothing of ours runs after it.
    unsafe { libc::_exit(1) }
}

/// What a worker has to do next.
enum Work {
    /// A task.
    Task(WireJob<'static>),
    /// A pool's initializer (its `id` unused).
    Initialize { pool: u64, job: WireJob<'static> },
}

/// Runs `work` and makes its answer.
fn run_work(registry: &Registry, work: Work) -> ToRoot {
    match work {
        Work::Task(job) => {
            let started = Instant::now();
            let reply = run(registry, &job);
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            ToRoot::Done {
                id: job.id,
                nanos,
                reply,
            }
        }
        Work::Initialize { pool, job } => ToRoot::Initialized {
            pool,
            reply: run(registry, &job),
        },
    }
}

/// Runs `job` through the registry: its encoded outcome, or why it could not run.
fn run(registry: &Registry, job: &WireJob<'_>) -> Result<Vec<u8>, RemoteFailure> {
    match registry.runner(job.entry) {
        Some(run) => run(&job.payload)
            .into_result()
            .map_err(RemoteFailure::Codec),
        None => Err(RemoteFailure::UnknownTask { index: job.entry }),
    }
}
