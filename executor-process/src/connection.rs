//! The parent's thread for one worker: start the process, handshake, then receive results until
//! the worker's channel closes, then reap the process. Starting the process here (rather than on
//! one shared thread) lets workers start in parallel; the thread outlives its process, as the
//! parent-death signal requires (see `supervisor`).
//!
//! The worker holds the only sender of its result channel, so the channel closes exactly when
//! the worker process dies: that is how a crash is detected at once, without polling. The thread
//! then waits for the exit status (with a SIGKILL scheduled after the grace period, in case the
//! channel closed but the process lingers) and reports it.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};

use concurrent_futures_core::backend::catch_panic;
use concurrent_futures_core::{CodecError, CodecStage};

use crate::arena::Arena;
use crate::bytes::Bytes;
use crate::fault;
use crate::guard::{self, ConnectionFailure};
use crate::link::Link;
use crate::protocol::{
    FromWorker, JobMessage, PROTOCOL_VERSION, Payload, Progress, RemoteFailure, Reply, Setup,
    ToWorker,
};
use crate::registry::Registry;
use crate::shared::Shared;
use crate::spawn;
use crate::supervisor::Command;
use crate::sys::{self, ProcessHandle};

thread_local! {
    /// The pool (by [`Shared::id`]) this thread belongs to; 0 on other threads.
    static POOL_THREAD: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as one of `shared`'s own threads.
pub(crate) fn mark_pool_thread(shared: &Shared) {
    POOL_THREAD.with(|pool| pool.set(shared.id()));
}

/// `true` on `shared`'s own threads, where `shutdown(wait)` and the last handle's drop must not
/// block: they would wait for the very thread that delivers results, for example from a
/// done-callback. Another pool's threads may wait for this one.
pub(crate) fn on_pool_thread(shared: &Shared) -> bool {
    POOL_THREAD.with(Cell::get) == shared.id()
}

/// The connection thread's body: starts worker `worker`'s process, then serves it.
///
/// Nothing may unwind out of here (see `guard`): a panic while starting the process breaks the
/// start like a spawn error, one while serving it kills the worker with a reason, and the
/// worker is reaped and its exit recorded in every case.
pub(crate) fn start(shared: Arc<Shared>, worker: u64) {
    mark_pool_thread(&shared);
    let spawned = catch_panic(|| {
        fault::point("spawn");
        spawn::spawn_worker(&shared.config)
    })
    .unwrap_or_else(|panic| Err(io::Error::other(format!("starting it panicked: {panic}"))));
    match spawned {
        Ok(child) => {
            let process = Arc::new(ProcessHandle::new(child.pid));
            // Registered before the handshake, so the handshake always finds the worker in the
            // starting phase.
            if let Err(panic) = catch_panic(|| shared.on_spawned(worker, process.clone())) {
                let failure = ConnectionFailure::panicked("start-up", &panic);
                shared.on_connection_failed(worker, failure);
                // It may not be registered: stop it here, so the handshake ends at once.
                process.signal(sys::SIGKILL);
            }
            run(shared, worker, process, child.rendezvous);
        }
        Err(error) => {
            if let Err(panic) = catch_panic(|| shared.on_spawn_failed(worker, error)) {
                shared.on_pool_thread_failed(Some(worker), "a connection thread", &panic);
            }
        }
    }
}

/// Serves a started worker until its channel closes, then reaps it.
fn run(shared: Arc<Shared>, worker: u64, process: Arc<ProcessHandle>, rendezvous: File) {
    let mut startup = None;
    let mut stage = "the handshake";
    let served = catch_panic(|| match handshake(&shared, worker, rendezvous) {
        Ok(results) => {
            stage = "receiving results";
            receive(&shared, worker, &process, &results);
        }
        Err(detail) => startup = Some(detail),
    });
    if let Err(panic) = served {
        shared.on_connection_failed(worker, ConnectionFailure::panicked(stage, &panic));
        process.signal(sys::SIGKILL);
    } else if let Some(detail) = &startup {
        // A handshake that failed for lack of descriptors is no sign of a bad executable: it
        // goes through the resource policy (see `guard`) instead of breaking the pool at once.
        let failure = ConnectionFailure::error(format!("the handshake failed: {detail}"));
        if failure.resource.is_some() {
            shared.on_connection_failed(worker, failure);
            process.signal(sys::SIGKILL);
        }
    }
    // The channel is closed; the process should be exiting. Make sure it does.
    shared.command(Command::Kill {
        process: process.clone(),
        at: Instant::now() + shared.config.kill_grace,
    });
    let status = process.wait();
    // Recording the exit must happen whatever it runs into (it completes futures and sends to
    // other workers): if it panics, the pool breaks rather than wait for this worker for ever.
    if let Err(panic) = catch_panic(|| shared.on_worker_exit(worker, status, startup)) {
        shared.on_pool_thread_failed(Some(worker), "a connection thread", &panic);
    }
}

fn handshake(
    shared: &Shared,
    worker: u64,
    rendezvous: File,
) -> Result<IpcReceiver<FromWorker>, String> {
    // Made while the worker is still starting, off the handshake's critical path.
    let (results, receiver) =
        ipc::channel::<FromWorker>().map_err(|e| format!("could not create a channel: {e}"))?;
    fault::point("handshake");
    fault::point("handshake-emfile");
    let progress = Progress::new();
    let mut name = String::new();
    match BufReader::new(rendezvous).read_line(&mut name) {
        Ok(0) => return Err("exited before the rendezvous".to_string()),
        Ok(_) => {}
        Err(error) => return Err(format!("rendezvous pipe failed: {error}")),
    }
    let name = name.trim_end().to_string();
    let sender = IpcSender::<ToWorker>::connect(name.clone());
    sys::remove_rendezvous(std::path::Path::new(&name));
    let sender = sender.map_err(|e| match e.raw_os_error() {
        // ipc-channel does not check `socket()`: when the parent is out of descriptors it passes
        // -1 to `connect()`, which reports EBADF. Say what happened, so that the resource
        // policy (see `guard`) retries instead of blaming the executable.
        Some(libc::EBADF) => format!(
            "could not connect to the worker's rendezvous socket: {}",
            guard::SOCKET_FAILED
        ),
        _ => format!("could not connect to the worker's rendezvous socket: {e}"),
    })?;
    let initializer = shared.config.initializer.as_ref().map(|init| JobMessage {
        id: 0,
        entry: init.entry,
        chunk: None,
        payload: Payload::from_slice(&init.payload),
    });
    let setup = Setup {
        protocol: PROTOCOL_VERSION,
        fingerprint: Registry::get().fingerprint(),
        results,
        progress: progress.share(),
        initializer,
        spin_micros: shared.config.spin.as_micros() as u64,
    };
    // `setup` owns our copy of the result sender; sending drops it, so the worker holds the
    // only one.
    sender
        .send(ToWorker::Setup(setup))
        .map_err(|e| format!("could not send the set-up message: {e}"))?;
    match receiver.recv() {
        Ok(FromWorker::Ready { initializer, .. }) => {
            shared.on_ready(worker, Link::new(sender, progress), initializer);
            Ok(receiver)
        }
        Ok(FromWorker::Refused { reason }) => Err(format!("refused to serve: {reason}")),
        Ok(FromWorker::Done { .. } | FromWorker::Items { .. }) => {
            Err("answered before it was ready".to_string())
        }
        Err(IpcError::Disconnected) => Err("exited during the handshake".to_string()),
        Err(error) => Err(format!("handshake failed: {error}")),
    }
}

fn receive(
    shared: &Shared,
    worker: u64,
    process: &ProcessHandle,
    results: &IpcReceiver<FromWorker>,
) {
    // The worker's result arena, as mapped here.
    let mut arena: Option<Arena> = None;
    loop {
        match receive_spinning(results, shared.config.spin) {
            Ok(FromWorker::Done {
                id,
                reply,
                arena: fresh,
            }) => {
                fault::point("receive");
                if let Some(memory) = fresh {
                    arena = Some(Arena::from_memory(memory));
                }
                // Copy out of the arena now: once this result is processed the worker may be
                // sent its next batch and reuse the space.
                let reply = match reply {
                    Reply::Value(payload @ Payload::Arena { .. }) => {
                        match payload.bytes(arena.as_ref()) {
                            Ok(bytes) => Reply::Value(Payload::Inline(Bytes(bytes.to_vec()))),
                            Err(message) => Reply::Failed(RemoteFailure::Codec(CodecError {
                                stage: CodecStage::DecodeResult,
                                message,
                            })),
                        }
                    }
                    other => other,
                };
                shared.on_result(worker, id, reply);
            }
            Ok(FromWorker::Items { id, count, records }) => match records.bytes(None) {
                Ok(bytes) => shared.on_items(worker, id, count, bytes),
                Err(_) => process.signal(sys::SIGKILL), // arena records are not sent early
            },
            Ok(_) => {
                // A protocol violation: the worker cannot be trusted any more.
                shared.on_connection_failed(
                    worker,
                    ConnectionFailure::error(
                        "it sent a second handshake message while serving, so it was killed"
                            .to_string(),
                    ),
                );
                process.signal(sys::SIGKILL);
            }
            Err(IpcError::Disconnected) => return,
            Err(error) => {
                shared.on_connection_failed(worker, ConnectionFailure::undecodable(&error));
                process.signal(sys::SIGKILL);
                return;
            }
        }
    }
}

/// Polls for up to `spin` before blocking: a result that arrives within that time is picked up
/// without a wake-up.
pub(crate) fn receive_spinning<T>(receiver: &IpcReceiver<T>, spin: Duration) -> Result<T, IpcError>
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    if !spin.is_zero() {
        let start = Instant::now();
        loop {
            match receiver.try_recv() {
                Ok(message) => return Ok(message),
                Err(TryRecvError::IpcError(error)) => return Err(error),
                Err(TryRecvError::Empty) => {}
            }
            if start.elapsed() >= spin {
                break;
            }
            std::thread::yield_now();
        }
    }
    receiver.recv()
}
