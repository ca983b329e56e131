//! The worker ranks: their progress thread receives batches of tasks from rank 0, runs them one
//! after another and sends back each outcome as soon as it is known. It is the only thread of
//! the rank that calls MPI.

use std::collections::VecDeque;
use std::time::Instant;

use concurrent_futures_process::task_model::Registry;

use crate::liveness;
use crate::protocol::{PROTOCOL_VERSION, RemoteFailure, ToRoot, ToWorker, WireJob};
use crate::transport::{Backoff, Ending, Transport};

/// Serves rank 0 until it says stop. Returns once it said `Bye` and every send completed, with
/// how rank 0 wants the connection ended.
pub(crate) fn serve(transport: &mut Transport) -> Ending {
    let registry = Registry::get();
    let hello = ToRoot::Hello {
        protocol: PROTOCOL_VERSION,
        registry: registry.fingerprint(),
        pid: std::process::id(),
        host: liveness::host_name(),
    };
    transport.send_to_leader(&hello);
    let mut queue: VecDeque<Work> = VecDeque::new();
    let mut stopping = false;
    let mut said_bye = false;
    let mut ending = None;
    let mut backoff = Backoff::new();
    loop {
        let mut received = false;
        while let Some(message) = transport.try_receive_from_leader::<ToWorker>() {
            received = true;
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
                        payload,
                    },
                }),
                ToWorker::Stop => stopping = true,
                ToWorker::End { disconnect } => {
                    ending = Some(if disconnect {
                        Ending::Clean
                    } else {
                        Ending::Abandon
                    });
                }
            }
        }
        transport.poll_sends();
        if let Some(work) = queue.pop_front() {
            let answer = match work {
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
            };
            transport.send_to_leader(&answer);
            backoff.reset();
            continue;
        }
        if let Some(ending) = ending {
            transport.flush();
            return ending;
        }
        if stopping && !said_bye {
            transport.send_to_leader(&ToRoot::Bye);
            said_bye = true;
        }
        if received {
            backoff.reset();
        } else {
            std::thread::sleep(backoff.next_pause());
        }
    }
}

/// What a worker has to do next.
enum Work {
    /// A task.
    Task(WireJob),
    /// A pool's initializer (its `id` unused).
    Initialize { pool: u64, job: WireJob },
}

/// Runs `job` through the registry: its encoded outcome, or why it could not run.
fn run(registry: &Registry, job: &WireJob) -> Result<Vec<u8>, RemoteFailure> {
    match registry.runner(job.entry) {
        Some(run) => run(&job.payload)
            .into_result()
            .map_err(RemoteFailure::Codec),
        None => Err(RemoteFailure::UnknownTask { index: job.entry }),
    }
}
