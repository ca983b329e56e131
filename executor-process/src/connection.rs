//! The parent's thread for one worker: start the process, handshake, then receive results until
//! the worker's channel closes, then reap the process. Starting the process here (rather than on
//! one shared thread) lets workers start in parallel; the thread outlives its process, as the
//! parent-death signal requires (see `supervisor`).
//!
//! The worker holds the only other end of its socket pair, so the socket reads end-of-file
//! exactly when the worker process dies: that is how a crash is detected at once, without
//! polling. The thread then waits for the exit status (with a SIGKILL scheduled after the grace
//! period, in case the socket closed but the process lingers) and reports it.

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use concurrent_futures_core::backend::catch_panic;

use crate::fault;
use crate::frame::{Attached, FrameReceiver, FrameSender, Wake, WhenFull, WireError};
use crate::guard::ConnectionFailure;
use crate::inbox::Inbox;
use crate::link::Link;
use crate::protocol::{
    FromWorker, JobMessage, PROTOCOL_VERSION, Payload, Progress, Setup, ToWorker,
};
use crate::registry::Registry;
use crate::ring::{End, RINGS_REGION, Rings};
use crate::shared::Shared;
use crate::spawn;
use crate::supervisor::Command;
use crate::sys::{self, ProcessHandle, Region, Socket};
use crate::worker;

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
            run(shared, worker, process, child.socket);
        }
        Err(error) => {
            if let Err(panic) = catch_panic(|| shared.on_spawn_failed(worker, error)) {
                shared.on_pool_thread_failed(Some(worker), "a connection thread", &panic);
            }
        }
    }
}

/// Serves a started worker until its socket closes, then reaps it.
fn run(shared: Arc<Shared>, worker: u64, process: Arc<ProcessHandle>, socket: Socket) {
    let mut startup = None;
    let mut stage = "the handshake";
    let served = catch_panic(|| match handshake(&shared, worker, socket) {
        Ok(results) => {
            stage = "receiving results";
            let inbox = Arc::new(Inbox::new(worker, results));
            shared.add_inbox(inbox.clone());
            // Removed however serving ends: a panic must not leave drivers polling it.
            let _visible = InboxVisible(&shared, &inbox);
            inbox.serve(&shared, &process);
        }
        Err(failure) => {
            // A handshake that failed for lack of descriptors or memory is no sign of a bad
            // executable: it goes through the resource policy (see `guard`) instead of breaking
            // the pool at once.
            if failure.resource.is_some() {
                shared.on_connection_failed(worker, failure.clone());
                process.signal(sys::SIGKILL);
            }
            startup = Some(failure.what);
        }
    });
    if let Err(panic) = served {
        shared.on_connection_failed(worker, ConnectionFailure::panicked(stage, &panic));
        process.signal(sys::SIGKILL);
    }
    // The socket is closed; the process should be exiting. Make sure it does.
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

/// Sends the set-up (the worker reads it once `init()` runs) and waits for its answer.
fn handshake(
    shared: &Shared,
    worker: u64,
    socket: Socket,
) -> Result<FrameReceiver<FromWorker>, ConnectionFailure> {
    fault::point("handshake");
    if let Some(error) = fault::io_error("handshake-emfile") {
        return Err(ConnectionFailure::io("creating the progress page", &error));
    }
    let socket = Arc::new(socket);
    let sender = FrameSender::<ToWorker>::new(socket.clone());
    let mut receiver = FrameReceiver::<FromWorker>::new(socket);
    let progress =
        Progress::new().map_err(|e| ConnectionFailure::io("creating the progress page", &e))?;
    let rings_region = Region::new(RINGS_REGION)
        .map_err(|e| ConnectionFailure::io("creating the connection's rings", &e))?;
    let rings_shared = rings_region
        .share()
        .map_err(|e| ConnectionFailure::io("sharing the connection's rings", &e))?;
    let rings = Rings::from_region(rings_region);
    let initializer = match &shared.config.initializer {
        Some(init) => Some(JobMessage {
            id: 0,
            entry: init.entry,
            chunk: None,
            payload: Payload::from_slice(&init.payload)
                .map_err(|e| ConnectionFailure::io("placing the initializer's argument", &e))?,
        }),
        None => None,
    };
    let setup = Setup {
        protocol: PROTOCOL_VERSION,
        fingerprint: Registry::get().fingerprint(),
        progress: progress
            .share()
            .map_err(|e| ConnectionFailure::io("sharing the progress page", &e))?,
        rings: Attached::Outgoing(rings_shared),
        initializer,
        spin_micros: shared.config.spin.as_micros() as u64,
    };
    match sender.send(ToWorker::Setup(setup)) {
        // Gone before reading it: its exit status tells more, below.
        Ok(()) | Err(WireError::Closed) => {}
        Err(error) => return Err(ConnectionFailure::wire("sending the set-up", &error)),
    }
    match receiver.recv() {
        Ok(FromWorker::Ready { initializer, .. }) => {
            // Everything after `Ready` goes through the rings (with the socket for what does
            // not fit them, and for wake-ups).
            let mut sender = sender;
            if let Some(rings) = rings {
                let (producer, consumer) = rings.split(End::Parent);
                sender.use_ring(producer, WhenFull::Fail, Wake::Futex);
                receiver.use_ring(consumer, Wake::Socket);
            }
            shared.on_ready(worker, Link::new(sender, progress), initializer);
            Ok(receiver)
        }
        Ok(FromWorker::Refused { reason }) => Err(ConnectionFailure::error(format!(
            "refused to serve: {reason}"
        ))),
        Ok(FromWorker::Done { .. } | FromWorker::Items { .. }) => Err(
            ConnectionFailure::violation("it answered before it was ready".to_string()),
        ),
        // The page tells whether `init()` ran: it marks the initializer before running it.
        Err(WireError::Closed) if progress.started() == worker::INITIALIZER => Err(
            ConnectionFailure::error("died while running the initializer".to_string()),
        ),
        Err(WireError::Closed) => Err(ConnectionFailure::error(
            "exited before its handshake (is concurrent_futures_process::init() called first \
             in its main?)"
                .to_string(),
        )),
        Err(error) => Err(ConnectionFailure::wire("its handshake", &error)),
    }
}

/// Keeps an inbox visible to drivers while it lives.
struct InboxVisible<'a>(&'a Shared, &'a Arc<Inbox>);

impl Drop for InboxVisible<'_> {
    fn drop(&mut self) {
        self.0.remove_inbox(self.1);
    }
}
