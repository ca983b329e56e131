//! The worker ranks: their progress thread receives tasks from rank 0, runs them one after
//! another and sends back the outcomes. It is the only thread of the rank that calls MPI.
//!
//! Rank 0 sends a worker at most its pool's `tasks_per_worker` jobs. The ones not yet started
//! wait in a local queue; every message that arrived is read before the next job starts, so a
//! `Cancel` that arrives in time skips its job.

use std::collections::{HashSet, VecDeque};

use crate::protocol::{RemoteFailure, ToRoot, ToWorker};
use crate::registry::Registry;
use crate::transport::{Backoff, Transport};

/// A task sent to this worker.
#[derive(Debug)]
struct RunJob {
    id: u64,
    entry: u32,
    payload: Vec<u8>,
}

/// Serves rank 0 until it says stop. Returns once it said `Bye` and every send completed.
pub(crate) fn serve(transport: &mut Transport) {
    let registry = Registry::get();
    transport.send(0, &ToRoot::Hello(registry.fingerprint()));
    let mut queue = VecDeque::new();
    let mut cancelled = HashSet::new();
    let mut stopping = false;
    let mut backoff = Backoff::new();
    loop {
        let mut received = false;
        while let Some((_, message)) = transport.try_receive::<ToWorker>() {
            received = true;
            match message {
                ToWorker::Run { id, entry, payload } => {
                    queue.push_back(RunJob { id, entry, payload });
                }
                ToWorker::Cancel(id) => {
                    cancelled.insert(id);
                }
                ToWorker::Stop => stopping = true,
            }
        }
        transport.poll_sends();
        if let Some(job) = queue.pop_front() {
            if cancelled.remove(&job.id) {
                transport.send(0, &ToRoot::Skipped(job.id));
                continue;
            }
            transport.send(0, &ToRoot::Started(job.id));
            let reply = match registry.runner(job.entry) {
                Some(run) => run(&job.payload).0,
                None => Err(RemoteFailure::UnknownTask { index: job.entry }),
            };
            // A cancel that came too late: the job ran.
            cancelled.remove(&job.id);
            transport.send(0, &ToRoot::Done { id: job.id, reply });
            backoff.reset();
            continue;
        }
        if stopping {
            transport.send(0, &ToRoot::Bye);
            transport.flush();
            return;
        }
        if received {
            backoff.reset();
        } else {
            std::thread::sleep(backoff.next_pause());
        }
    }
}
