//! Worker mode: what [`init`] does when this process was started as a worker.
//!
//! The loop receives batches, records each task's id on the progress page before running it,
//! and sends each outcome back as soon as it is ready (so a crash can be pinned on exactly one
//! task). A chunk of `map` runs item by item, each item's outcome committed to the progress
//! page's record area before the next starts, and comes back in one message (see
//! `chunk.rs`). It exits when told to, or when the parent's end of the socket closes (the
//! parent died; the parent-death signal covers a worker busy in a long task).

use std::sync::Arc;
use std::time::Duration;

use concurrent_futures_core::{CodecError, CodecStage};

use crate::arena::{Arena, MAX_ARENA};
use crate::builder::MAX_SPIN;
use crate::bytes::Bytes;
use crate::chunk::write_varint;
use crate::frame::{Attached, FrameReceiver, FrameSender, Wake, WhenFull, WireError};
use crate::protocol::{
    ChunkRun, FromWorker, JobMessage, PROTOCOL_VERSION, Payload, Progress, RemoteFailure, Reply,
    SHARED_MEMORY_THRESHOLD, Setup, ToWorker,
};
use crate::registry::{ItemSink, Registry, RunItemsFn};
use crate::ring::{End, Rings};
use crate::spawn::WORKER_ENV;
use crate::sys;

/// The worker-mode hook: call it first thing in `main` (and in every `harness = false` test).
///
/// In the parent it returns at once. In a process the pool started as a worker it never returns:
/// it arms the parent-death signal, closes the descriptors the parent leaked to it (those open
/// without close-on-exec), serves tasks and then exits the process.
///
/// ```no_run
/// // The first line of `main`:
/// concurrent_futures::process::init();
/// // ... the program, which may build a `ProcessPool` ...
/// ```
///
/// Tests with the default harness cannot run code before libtest; see
/// [`libtest_worker!`](crate::libtest_worker) for them.
pub fn init() {
    let Some(parent) = take_worker_marker() else {
        return;
    };
    // The worker's own hygiene, before it opens anything (the parent starts it with
    // `posix_spawn`, so none of this can run between fork and exec): die with the parent, and
    // drop every descriptor the parent leaked to it.
    let code = match connect(parent).and_then(serve) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!(
                "concurrent-futures-process worker {}: {message}",
                std::process::id()
            );
            70
        }
    };
    std::process::exit(code);
}

/// The parent's pid if this process was started as a worker, removing the marker so processes
/// that tasks start do not take themselves for workers.
pub(crate) fn take_worker_marker() -> Option<u32> {
    let parent = std::env::var_os(WORKER_ENV)?;
    // SAFETY: `init` is documented to run first in `main`, before the program starts threads,
    // so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(WORKER_ENV) };
    Some(parent.to_str().and_then(|p| p.parse().ok()).unwrap_or(0))
}

/// A worker's side of its connection, after the set-up.
pub(crate) struct Connection {
    pub(crate) results: FrameSender<FromWorker>,
    pub(crate) tasks: FrameReceiver<ToWorker>,
    pub(crate) progress: Progress,
    pub(crate) initializer: Option<JobMessage>,
    pub(crate) spin: Duration,
    /// The connection's rings, used from [`Connection::ready`] on.
    rings: Option<Rings>,
}

impl Connection {
    /// Answers the set-up with `ready` (on the socket), then moves both directions onto the
    /// rings: the parent sends nothing between the set-up and its reading of `ready`.
    pub(crate) fn ready(&mut self, ready: FromWorker) -> Result<(), WireError> {
        self.results.send(ready)?;
        if let Some(rings) = self.rings.take() {
            let (producer, consumer) = rings.split(End::Worker);
            self.results
                .use_ring(producer, WhenFull::Wait, Wake::Socket);
            self.tasks.use_ring(consumer, Wake::Futex);
        }
        Ok(())
    }
}

/// The worker's start-up, up to (not including) its answer to the set-up: hygiene, the
/// parent's socket, the set-up message and the registry check.
pub(crate) fn connect(parent: u32) -> Result<Connection, String> {
    if !sys::die_with_parent(parent) {
        return Err("the parent process is gone".to_string());
    }
    sys::close_inherited_descriptors();
    let socket = sys::take_parent_socket()
        .map_err(|e| format!("not started by a process pool: standard input is {e}"))?;
    // The socket pair was made by the process that started us; anything else is an impostor.
    match socket.peer_pid() {
        Some(peer) if peer != parent => {
            return Err(format!(
                "standard input is connected to process {peer}, not to the parent {parent}"
            ));
        }
        _ => {}
    }
    let socket = Arc::new(socket);
    let results = FrameSender::<FromWorker>::new(socket.clone());
    let mut tasks = FrameReceiver::<ToWorker>::new(socket);
    let first = tasks.recv().map_err(|e| match e {
        WireError::Closed => "the parent closed the connection before the set-up".to_string(),
        other => format!("receiving the set-up failed: {other}"),
    })?;
    let ToWorker::Setup(setup) = first else {
        return Err("the first message was not the set-up".to_string());
    };
    let Setup {
        protocol,
        fingerprint,
        progress,
        rings,
        initializer,
        spin_micros,
    } = setup;
    let registry = Registry::get();
    if protocol != PROTOCOL_VERSION || fingerprint != registry.fingerprint() {
        let reason = format!(
            "the worker executable does not match the parent (protocol {protocol} vs \
             {PROTOCOL_VERSION}, task registry {fingerprint:016x} vs {:016x})",
            registry.fingerprint()
        );
        let _ = results.send(FromWorker::Refused {
            reason: reason.clone(),
        });
        return Err(reason);
    }
    let Some(progress) = progress.into_region().and_then(Progress::from_region) else {
        return Err("the progress page is missing or too small".to_string());
    };
    // Under loom (never run as a real worker) the rings are not shared: `None` keeps the
    // socket alone, as the parent does then too.
    let rings = rings.into_region().and_then(Rings::from_region);
    if rings.is_none() && !cfg!(executor_loom) {
        return Err("the connection's rings are missing or of the wrong size".to_string());
    }
    Ok(Connection {
        results,
        tasks,
        progress,
        initializer,
        spin: Duration::from_micros(spin_micros).min(MAX_SPIN),
        rings,
    })
}

fn serve(mut connection: Connection) -> Result<(), String> {
    let registry = Registry::get();
    let initializer = connection.initializer.take().map(|job| {
        let progress = &connection.progress;
        progress.set_started(INITIALIZER);
        let reply = match run_job(registry, &job, None) {
            Ok(bytes) => Payload::from_vec(bytes)
                .map(Reply::Value)
                .unwrap_or_else(|e| Reply::Failed(placing_failed(&e))),
            Err(failure) => Reply::Failed(failure),
        };
        progress.set_started(0);
        reply
    });
    let ready = FromWorker::Ready {
        pid: std::process::id(),
        initializer,
    };
    if !crate::fault::send_garbage(&connection.results) {
        connection
            .ready(ready)
            .map_err(|e| format!("the parent is gone ({e})"))?;
    }
    let Connection {
        results,
        mut tasks,
        progress,
        spin,
        ..
    } = connection;
    let mut inbox: Option<Arena> = None;
    let mut outbox = Outbox::default();
    loop {
        match tasks.recv_spinning(spin) {
            Ok(ToWorker::Run {
                generation,
                arena,
                jobs,
            }) => {
                if let Some(region) = arena.and_then(Attached::into_region) {
                    inbox = Some(Arena::from_region(region));
                }
                // The parent copied out every result of the previous batch before sending this
                // one: the result arena can be reused from the start.
                outbox.used = 0;
                for (position, job) in (0..).zip(jobs) {
                    if position > 0 && !progress.claim(generation, position) {
                        break; // the parent took the rest of the batch back
                    }
                    let items = registry.items_runner(job.entry);
                    if items.is_some() {
                        // Before the chunk is claimed as started, so the parent never reads the
                        // previous chunk's count as this one's.
                        progress.begin_items();
                    }
                    progress.set_started(job.id);
                    let id = job.id;
                    let outcome = match items {
                        Some(run_items) => {
                            run_chunk(run_items, &job, inbox.as_ref(), &progress, &results)?
                        }
                        None => run_job(registry, &job, inbox.as_ref()),
                    };
                    let (reply, arena) = match outcome
                        .and_then(|bytes| outbox.place(bytes).map_err(|e| placing_failed(&e)))
                    {
                        Ok((payload, arena)) => (Reply::Value(payload), arena),
                        Err(failure) => (Reply::Failed(failure), None),
                    };
                    drop(job);
                    send(&results, FromWorker::Done { id, reply, arena })?;
                }
            }
            Ok(ToWorker::Exit) | Err(WireError::Closed) => return Ok(()),
            Ok(ToWorker::Setup(_)) => return Err("a second set-up message".to_string()),
            Err(error) => return Err(format!("receive failed: {error}")),
        }
    }
}

/// The id the progress page holds while the initializer runs: no task has it (task ids start
/// at 1), so a death then is told from a death between tasks.
pub(crate) const INITIALIZER: u64 = u64::MAX;

/// An outcome that could not be placed in shared memory, as the task's failure.
fn placing_failed(error: &std::io::Error) -> RemoteFailure {
    RemoteFailure::Codec(CodecError {
        stage: CodecStage::EncodeResult,
        message: format!("the worker could not place the result in shared memory: {error}"),
    })
}

fn send(results: &FrameSender<FromWorker>, message: FromWorker) -> Result<(), String> {
    if crate::fault::send_garbage(results) {
        return Ok(());
    }
    results
        .send(message)
        .map_err(|e| format!("the parent is gone ({e})"))
}

/// Runs one task: the encoded outcome, or why there is none.
fn run_job(
    registry: &Registry,
    job: &JobMessage,
    inbox: Option<&Arena>,
) -> Result<Vec<u8>, RemoteFailure> {
    let run = registry
        .runner(job.entry)
        .ok_or(RemoteFailure::UnknownTask { index: job.entry })?;
    let bytes = job.payload.bytes(inbox).map_err(|message| {
        RemoteFailure::Codec(CodecError {
            stage: CodecStage::DecodeTask,
            message,
        })
    })?;
    run(bytes).into_result().map_err(RemoteFailure::Codec)
}

/// Runs a chunk of `map` item by item, committing each outcome to the progress page (see
/// `chunk.rs` and [`Progress`]): the encoded outcomes of the items from the job's `start` on
/// that were not sent early, or why there are none. `Err` if the parent is gone.
fn run_chunk(
    run_items: RunItemsFn,
    job: &JobMessage,
    inbox: Option<&Arena>,
    progress: &Progress,
    results: &FrameSender<FromWorker>,
) -> Result<Result<Vec<u8>, RemoteFailure>, String> {
    let bytes = match job.payload.bytes(inbox) {
        Ok(bytes) => bytes,
        Err(message) => {
            return Ok(Err(RemoteFailure::Codec(CodecError {
                stage: CodecStage::DecodeTask,
                message,
            })));
        }
    };
    let run = job.chunk.unwrap_or(ChunkRun {
        start: 0,
        timed: true,
    });
    let mut writer = ItemWriter {
        progress,
        results,
        stamp: run.timed,
        id: job.id,
        used: 0,
        committed: 0,
        sent: 0,
        gone: None,
    };
    let ran = run_items(bytes, run.start as usize, &mut writer);
    if let Some(error) = writer.gone {
        return Err(error);
    }
    Ok(ran.map_err(RemoteFailure::Codec).map(|()| {
        let mut out = Vec::with_capacity(writer.used + 10);
        write_varint(&mut out, u64::from(writer.committed - writer.sent));
        // SAFETY: this thread is the only writer of the record area, and writes none while
        // the slice lives.
        out.extend_from_slice(unsafe { progress.own_records(writer.used) });
        out
    }))
}

/// The [`ItemSink`] of a chunk: appends each outcome to the progress page's record area and
/// publishes the committed count; when the area is full, sends its records early
/// ([`FromWorker::Items`]) and starts it over.
struct ItemWriter<'a> {
    progress: &'a Progress,
    results: &'a FrameSender<FromWorker>,
    /// Whether to stamp each item's start (the chunk has a time limit).
    stamp: bool,
    id: u64,
    /// Bytes of the record area in use.
    used: usize,
    /// Items of this run committed.
    committed: u32,
    /// Items of this run sent early.
    sent: u32,
    /// Set when a send failed: the parent is gone.
    gone: Option<String>,
}

impl ItemWriter<'_> {
    /// Sends the records in the area, and `extra` (one more item's, too large for the area),
    /// and starts the area over. `false` if the parent is gone.
    fn send_early(&mut self, extra: Option<&[u8]>) -> bool {
        // SAFETY: this thread is the only writer of the record area, and writes none while
        // the slice lives.
        let mut records = unsafe { self.progress.own_records(self.used) }.to_vec();
        if let Some(extra) = extra {
            records.extend_from_slice(extra);
            self.committed += 1;
        }
        let records = match Payload::from_vec(records) {
            Ok(records) => records,
            Err(error) => {
                self.gone = Some(format!(
                    "could not place a chunk's outcomes in shared memory: {error}"
                ));
                return false;
            }
        };
        let message = FromWorker::Items {
            id: self.id,
            count: self.committed - self.sent,
            records,
        };
        if let Err(error) = send(self.results, message) {
            self.gone = Some(error);
            return false;
        }
        // Sent before the area is reset: whatever the parent reads after a crash, it has either
        // the message or the records in the area, never both (the committed count tells).
        self.sent = self.committed;
        self.used = 0;
        self.progress.commit(self.committed, 0);
        true
    }
}

impl ItemSink for ItemWriter<'_> {
    fn begin(&mut self) {
        if self.stamp {
            self.progress.item_started(self.committed);
        }
    }

    fn room(&mut self) -> &mut [u8] {
        // SAFETY: only this thread touches the record area, and the returned slice borrows
        // `self` mutably, so no other slice of the area made through `self` is alive with it.
        unsafe { self.progress.room(self.used) }
    }

    fn commit_room(&mut self, len: usize) -> bool {
        debug_assert!(self.used + len <= self.progress.record_area());
        self.used += len;
        self.committed += 1;
        self.progress.commit(self.committed, self.used);
        true
    }

    fn commit(&mut self, record: &[u8]) -> bool {
        let area = self.progress.record_area();
        if self.used + record.len() > area {
            if self.committed > self.sent && !self.send_early(None) {
                return false;
            }
            if record.len() > area {
                return self.send_early(Some(record));
            }
        }
        // SAFETY: only this thread writes the record area, and the parent reads it only once
        // this process is dead.
        unsafe { self.progress.write_record(self.used, record) };
        self.used += record.len();
        self.committed += 1;
        self.progress.commit(self.committed, self.used);
        true
    }
}

/// Where large results go: a reusable arena, filled from the start for every batch.
#[derive(Default)]
struct Outbox {
    arena: Option<Arena>,
    used: usize,
}

impl Outbox {
    /// A payload for `bytes`, and the arena to announce if a new one was needed.
    fn place(&mut self, bytes: Vec<u8>) -> std::io::Result<(Payload, Option<Attached>)> {
        if bytes.len() < SHARED_MEMORY_THRESHOLD {
            return Ok((Payload::Inline(Bytes(bytes)), None));
        }
        let end = self.used + bytes.len();
        if end > MAX_ARENA {
            return Ok((Payload::from_slice(&bytes)?, None));
        }
        let mut announce = None;
        if self.arena.as_ref().is_none_or(|a| a.capacity() < end) {
            // Results already placed in the old arena stay readable in the parent's mapping
            // of it until the parent has copied them (it processes messages in order).
            let arena = Arena::with_room_for(end)?;
            announce = Some(arena.share()?);
            self.arena = Some(arena);
            self.used = 0;
        }
        let arena = self.arena.as_ref().expect("an arena was just ensured");
        let offset = self.used;
        // SAFETY: within a batch every result gets a fresh range, and the parent only sends the
        // next batch (after which ranges are reused) once it copied out every result.
        unsafe { arena.write(offset, &bytes) };
        self.used += bytes.len();
        let payload = Payload::Arena {
            offset: offset as u64,
            len: bytes.len() as u64,
        };
        Ok((payload, announce))
    }
}
