//! [`Inbox`]: the parent's receiving half of one worker's connection, read by that worker's
//! connection thread, or by a thread that waits for a result and reads it itself
//! ([`PoolDriver`], the pool's [`Drive`]).
//!
//! A round trip whose result is read by the connection thread crosses two thread hand-offs in
//! the parent (worker's ring to connection thread, connection thread to the waiting thread),
//! each a wake-up when the receiving thread sleeps: on a 2-core machine that is most of a
//! round trip's cost. A waiting thread instead polls the workers' rings itself, and the
//! connection threads step aside while it does:
//!
//! - Whoever reads holds the inbox's lock, and handles what it reads under it (so results are
//!   handled in the order the worker sent them), then runs the effects (the next batch sent,
//!   the future completed, its done-callbacks) after letting go: a callback may wait for
//!   another task, or shut the pool down.
//! - A driver announces itself (`drivers`) and takes the lock when it is free. A connection
//!   thread polling its ring sees the announcement and lets go; while anyone drove the inbox in
//!   the last [`DRIVEN_WINDOW`], it naps instead of reading, so it neither competes for the CPU
//!   nor announces on the ring that it sleeps (which would make the worker send a wake-up per
//!   result). A driver that finds nothing for [`DRIVE_SPIN`] gives up and blocks as usual; the
//!   connection thread takes over at its next nap's end, so a result nobody drives waits at
//!   most about a nap longer.
//! - A connection thread asleep on its socket holds the lock: drivers then find it taken and
//!   give up; the worker's next result wakes the connection thread as before.
//! - A driver that finds the lock taken by a connection thread that is not asleep yields its
//!   CPU before it looks again: the holder may be preempted on this CPU (by the driver itself,
//!   woken by the result the connection thread handled), and lets go once it runs. Spinning
//!   instead kept it off for the whole drive (the scheduler left it there while the other CPU
//!   idled).
//! - A done-callback run by a connection thread that waits for another result may be the only
//!   reader of that result (its own worker's): its drive never gives up, it polls on with
//!   short naps until the result is there. (Before drivers, such a wait deadlocked.)
//! - What a driver reads that is wrong (a malformed message, a protocol violation) is left in
//!   the inbox for the connection thread, which kills the worker and reports it, as for what it
//!   reads itself.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use concurrent_futures_core::backend::{Drive, catch_panic};
use concurrent_futures_core::{CodecError, CodecStage};

use crate::arena::Arena;
use crate::bytes::Bytes;
use crate::connection;
use crate::fault;
use crate::frame::{FrameReceiver, WireError};
use crate::guard::ConnectionFailure;
use crate::protocol::{FromWorker, Payload, RemoteFailure, Reply};
use crate::shared::{Deferred, Shared};
use crate::sys::{self, ProcessHandle};

/// How long a driver polls without reading anything before it gives up.
const DRIVE_SPIN: Duration = Duration::from_micros(200);

/// How long after a driver left a connection thread keeps napping instead of reading.
const DRIVEN_WINDOW: Duration = Duration::from_millis(1);

/// A pool thread's nap between polls once its drive found nothing for [`DRIVE_SPIN`].
const PATIENT_NAP: Duration = Duration::from_micros(50);

/// One nap of a connection thread while its inbox is driven.
const NAP: Duration = Duration::from_micros(500);

/// What a driver's poll of one inbox found.
enum Polled {
    /// A message, read and handled; what follows is for the driver to run.
    Read(Deferred),
    /// The connection thread holds the inbox.
    Taken,
    /// Nothing to read (or a failure left for the connection thread).
    Nothing,
}

/// The parent's receiving half of one worker's connection.
pub(crate) struct Inbox {
    worker: u64,
    reader: Mutex<Reader>,
    /// Drivers polling this inbox now.
    drivers: AtomicUsize,
    /// When the last driver left, in nanoseconds of [`since_epoch`] (0: it gave up, so the
    /// connection thread must read at once). A fine clock: the coarse one ticks every few
    /// milliseconds, which kept connection threads napping that long after a driver left.
    driven_at: AtomicU64,
    /// The connection thread, woken when a driver gives up.
    reader_thread: std::sync::OnceLock<std::thread::Thread>,
    /// The connection thread sleeps on its socket holding `reader` (a driver finding it taken
    /// then has no one to yield to).
    reader_asleep: AtomicBool,
}

struct Reader {
    receiver: FrameReceiver<FromWorker>,
    /// The worker's result arena, as mapped here.
    arena: Option<Arena>,
    /// What a driver ran into, for the connection thread to act on.
    failure: Option<ConnectionFailure>,
}

impl Inbox {
    /// The inbox of worker `worker`, reading from `receiver`.
    pub(crate) fn new(worker: u64, receiver: FrameReceiver<FromWorker>) -> Inbox {
        Inbox {
            worker,
            reader: Mutex::new(Reader {
                receiver,
                arena: None,
                failure: None,
            }),
            drivers: AtomicUsize::new(0),
            driven_at: AtomicU64::new(0),
            reader_thread: std::sync::OnceLock::new(),
            reader_asleep: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn driven_recently(&self) -> bool {
        self.drivers.load(Ordering::Acquire) > 0
            || match self.driven_at.load(Ordering::Acquire) {
                0 => false,
                at => since_epoch().saturating_sub(at) < DRIVEN_WINDOW.as_nanos() as u64,
            }
    }

    /// The connection thread's loop: reads and handles results until the worker's connection
    /// ends (returns) or fails (the worker is killed and the failure reported).
    pub(crate) fn serve(&self, shared: &Shared, process: &ProcessHandle) {
        let _ = self.reader_thread.set(std::thread::current());
        // Spinning pays only while this thread is the one reading a busy worker's results:
        // right after a driver had the inbox, nothing is imminent (the driver left with what
        // it waited for, or gave up on a long task), and spinning would take a CPU from the
        // threads that work.
        let mut spin = shared.config.spin;
        loop {
            if self.driven_recently() {
                spin = Duration::ZERO;
                std::thread::park_timeout(NAP);
                continue;
            }
            let mut reader = self.lock();
            let failure = match reader.failure.take() {
                Some(failure) => failure,
                None => {
                    let driver_waits = || self.drivers.load(Ordering::Acquire) > 0;
                    let asleep = Some(&self.reader_asleep);
                    match reader.receiver.recv_yielding(spin, &driver_waits, asleep) {
                        Ok(Some(message)) => match self.handle(&mut reader, shared, message) {
                            Ok(deferred) => {
                                spin = shared.config.spin;
                                drop(reader);
                                shared.apply_deferred(deferred);
                                continue;
                            }
                            Err(failure) => failure,
                        },
                        Ok(None) => continue,
                        Err(WireError::Closed) => return,
                        Err(error) => ConnectionFailure::wire("", &error),
                    }
                }
            };
            drop(reader);
            // The worker cannot be trusted any more.
            shared.on_connection_failed(self.worker, failure);
            process.signal(sys::SIGKILL);
            return;
        }
    }

    /// A driver's poll: reads and handles one message if the inbox is free and one is there,
    /// and says what follows, for the driver to run once it has withdrawn its presence.
    fn poll(&self, shared: &Shared) -> Polled {
        let mut reader = match self.reader.try_lock() {
            Ok(reader) => reader,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Held by a connection thread asleep on its socket: nothing to yield to.
            Err(TryLockError::WouldBlock) if self.reader_asleep.load(Ordering::Relaxed) => {
                return Polled::Nothing;
            }
            Err(TryLockError::WouldBlock) => return Polled::Taken,
        };
        if reader.failure.is_some() {
            return Polled::Nothing;
        }
        let failure = match reader.receiver.try_recv() {
            // A panic here is the pool's failure, not the waiting caller's: it is caught and
            // handed to the connection thread like any failure of the connection (`guard`).
            Ok(Some(message)) => match catch_panic(|| self.handle(&mut reader, shared, message)) {
                Ok(Ok(deferred)) => return Polled::Read(deferred),
                Ok(Err(failure)) => failure,
                Err(panic) => ConnectionFailure::panicked("receiving results", &panic),
            },
            // The receiver remembers the end; the connection thread sees it next.
            Ok(None) | Err(WireError::Closed) => return Polled::Nothing,
            Err(error) => ConnectionFailure::wire("", &error),
        };
        reader.failure = Some(failure);
        Polled::Nothing
    }

    /// Handles one message under the inbox's lock; what follows is for the caller to run once
    /// it let go.
    fn handle(
        &self,
        reader: &mut Reader,
        shared: &Shared,
        message: FromWorker,
    ) -> Result<Deferred, ConnectionFailure> {
        match message {
            FromWorker::Done {
                id,
                reply,
                arena: fresh,
            } => {
                fault::point("receive");
                if let Some(region) = fresh.and_then(|fresh| fresh.into_region()) {
                    reader.arena = Some(Arena::from_region(region));
                }
                // Copy out of the arena now: once this result is handled the worker may be sent
                // its next batch and reuse the space.
                let reply = match reply {
                    Reply::Value(payload @ Payload::Arena { .. }) => {
                        match payload.bytes(reader.arena.as_ref()) {
                            Ok(bytes) => Reply::Value(Payload::Inline(Bytes(bytes.to_vec()))),
                            Err(message) => Reply::Failed(RemoteFailure::Codec(CodecError {
                                stage: CodecStage::DecodeResult,
                                message,
                            })),
                        }
                    }
                    other => other,
                };
                shared
                    .on_result(self.worker, id, reply)
                    .map_err(ConnectionFailure::violation)
            }
            FromWorker::Items { id, count, records } => match records.bytes(None) {
                Ok(bytes) => shared
                    .on_items(self.worker, id, count, bytes)
                    .map(|()| Deferred::default())
                    .map_err(ConnectionFailure::violation),
                Err(_) => Err(ConnectionFailure::violation(
                    "it sent a chunk's early outcomes in its arena, which the protocol forbids"
                        .to_string(),
                )),
            },
            FromWorker::Ready { .. } | FromWorker::Refused { .. } => {
                Err(ConnectionFailure::violation(
                    "it sent a second handshake message while serving".to_string(),
                ))
            }
        }
    }
}

/// The pool's [`Drive`]: a thread about to block on one of the pool's futures reads results
/// from the workers' rings itself (see the module docs).
pub(crate) struct PoolDriver {
    pub(crate) shared: Weak<Shared>,
}

/// A driver's presence on a set of inboxes, withdrawn on drop (also by a panic).
struct Presence<'a> {
    inboxes: &'a [Arc<Inbox>],
    /// Leaving without what it waited for: the connection threads take over at once.
    gave_up: bool,
}

impl<'a> Presence<'a> {
    fn announce(inboxes: &'a [Arc<Inbox>]) -> Presence<'a> {
        for inbox in inboxes {
            inbox.drivers.fetch_add(1, Ordering::AcqRel);
        }
        Presence {
            inboxes,
            gave_up: false,
        }
    }

    /// Withdraws, waking the connection threads: nobody polls for them any more.
    fn give_up(mut self) {
        self.gave_up = true;
    }
}

impl Drop for Presence<'_> {
    fn drop(&mut self) {
        let at = if self.gave_up {
            0
        } else {
            since_epoch().max(1)
        };
        for inbox in self.inboxes {
            inbox.driven_at.store(at, Ordering::Release);
            inbox.drivers.fetch_sub(1, Ordering::AcqRel);
            if self.gave_up {
                if let Some(thread) = inbox.reader_thread.get() {
                    thread.unpark();
                }
            }
        }
    }
}

/// Nanoseconds since the first call (in this process).
fn since_epoch() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl Drive for PoolDriver {
    fn drive(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let inboxes = shared.inboxes();
        if inboxes.is_empty() {
            return;
        }
        // On one of the pool's own threads (a done-callback run by a connection thread), this
        // thread may be the only reader of the result it waits for: it must not give up, so
        // after the spin it polls on with naps.
        let patient = connection::on_pool_thread(&shared);
        let mut presence = Some(Presence::announce(&inboxes));
        let mut idle_since = Instant::now();
        let mut polls = 0u32;
        loop {
            if done() {
                return;
            }
            let mut taken = false;
            let read = inboxes.iter().find_map(|inbox| match inbox.poll(&shared) {
                Polled::Read(deferred) => Some(deferred),
                Polled::Taken => {
                    taken = true;
                    None
                }
                Polled::Nothing => None,
            });
            if let Some(deferred) = read {
                // Present only while polling, not while the effects run: a done-callback may
                // wait for another result (and give up driving it), or shut the pool down,
                // and the connection threads must then read again.
                drop(presence.take());
                shared.apply_deferred(deferred);
                if done() {
                    // Most often the result just read was the one awaited: leave without
                    // announcing a presence only to withdraw it.
                    return;
                }
                presence = Some(Presence::announce(&inboxes));
                idle_since = Instant::now();
                continue;
            }
            if taken {
                // A connection thread holds an inbox. Reading, it lets go as soon as it sees
                // this driver, if it runs; but it may be waiting for this very CPU (it completed
                // this thread's last result here, and the wake-up put this thread on its CPU),
                // and spinning would keep it off until the drive gives up: 209 µs per round
                // trip for whole runs of P2 on a 2-core VM. (One asleep on its socket is not
                // counted: yielding to nobody cost a system call per poll.)
                std::thread::yield_now();
            }
            polls = polls.wrapping_add(1);
            if polls % 16 == 0 {
                let now = Instant::now();
                let spun_out = now.duration_since(idle_since) >= DRIVE_SPIN && !patient;
                if spun_out || deadline.is_some_and(|d| now >= d) {
                    if let Some(presence) = presence.take() {
                        presence.give_up();
                    }
                    return;
                }
                if now.duration_since(idle_since) >= DRIVE_SPIN {
                    std::thread::sleep(PATIENT_NAP);
                }
            }
            std::hint::spin_loop();
        }
    }
}
