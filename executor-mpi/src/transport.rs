//! [`Transport`]: non-blocking sends and polled receives between rank 0 and its workers, owned
//! by the one thread of a process that makes MPI calls.
//!
//! The peers are either the ranks of `MPI_COMM_WORLD` (pre-launched: rank 0 and the workers,
//! world ranks 1..N) or the two sides of the intercommunicator `MPI_Comm_spawn` made (spawned:
//! rank 0 alone on one side, the workers, remote ranks 0..N-1, on the other). The rest of the
//! crate numbers workers 0..N-1 in both modes; only this file translates to MPI ranks.
//!
//! Every send is an `MPI_Isend` whose buffer lives until the request completes, so two ranks
//! sending large messages to each other at once never deadlock, and a busy receiver never
//! blocks the sender's progress thread.
//!
//! Each side keeps one receive posted in advance (`MPI_Irecv` from any peer into a buffer of
//! [`POSTED_BYTES`]), so a message lands as soon as MPI progresses, and polling for one is an
//! `MPI_Test` rather than a matched probe (which starts and frees a request each time) followed
//! by a receive into a new vector. A message larger than that buffer travels on
//! [`LARGE_TAG`], followed by an empty message on [`TAG`] that announces it; the receiver then
//! takes the sender's next message on [`LARGE_TAG`]. Messages between two ranks on one tag keep
//! their order (MPI's non-overtaking rule), and each announcement follows its message, so the
//! k-th announcement from a rank names its k-th large message, and messages are handled in the
//! order they were sent whatever their sizes.

use std::time::{Duration, Instant};

use concurrent_futures_process::task_model as codec;
use mpi::Rank;
use mpi::datatype::Equivalence;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source, Status};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, InterCommunicator, SimpleCommunicator};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::{LARGE_TAG, TAG};

/// The size of the buffer of the receive posted in advance: messages up to this size land in
/// it; larger ones travel on [`LARGE_TAG`].
pub(crate) const POSTED_BYTES: usize = 64 * 1024;

/// A send in progress and the buffer it reads from.
struct PendingSend {
    request: Request<'static, [u8], StaticScope>,
    buffer: *mut [u8],
    /// The rank it goes to.
    to: Rank,
}

impl PendingSend {
    /// Frees the buffer of a completed request.
    fn release(buffer: *mut [u8]) {
        // SAFETY: `buffer` came from `Box::into_raw` in `Transport::send`, and its request has
        // completed, so MPI no longer reads it and nothing else refers to it.
        drop(unsafe { Box::from_raw(buffer) });
    }
}

/// How a session's connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every peer is alive: disconnect and finalise MPI as usual.
    Clean,
    /// A peer died: do not disconnect (it would wait for the dead one), only finalise.
    Abandon,
}

/// Who this process talks to, and over which communicator.
pub(crate) enum Peers {
    /// Pre-launched: every rank of the job is in `MPI_COMM_WORLD`; rank 0 leads.
    World(SimpleCommunicator),
    /// Spawned, on rank 0: the intercommunicator to the workers it spawned.
    Children(InterCommunicator),
    /// Spawned, on a worker: the intercommunicator to the rank 0 that spawned it.
    Parent(InterCommunicator),
}

/// The peers, the sends still in flight and the receive posted in advance.
pub(crate) struct Transport {
    peers: Peers,
    sends: Vec<PendingSend>,
    /// The receive posted in advance into `landing`, once the first poll posted it.
    posted: Option<Request<'static, [u8], StaticScope>>,
    /// [`POSTED_BYTES`] from a leaked box: MPI writes into it while `posted` is pending; this
    /// side reads it between the receive's completion and the next post. Freed on drop.
    landing: *mut [u8],
}

// SAFETY: the raw buffer pointers are owned by the transport alone (each is freed exactly once,
// after its request completed or was cancelled); the transport is used by one thread at a time
// (behind a mutex, at `MPI_THREAD_SERIALIZED`).
unsafe impl Send for Transport {}

impl Transport {
    pub(crate) fn new(peers: Peers) -> Self {
        let landing: Box<[u8]> = vec![0; POSTED_BYTES].into_boxed_slice();
        Transport {
            peers,
            sends: Vec::new(),
            posted: None,
            landing: Box::into_raw(landing),
        }
    }

    /// Whether this process leads (rank 0) rather than serves.
    pub(crate) fn leads(&self) -> bool {
        match &self.peers {
            Peers::World(world) => world.rank() == 0,
            Peers::Children(_) => true,
            Peers::Parent(_) => false,
        }
    }

    /// How many workers serve the leader.
    pub(crate) fn workers(&self) -> usize {
        let count = match &self.peers {
            Peers::World(world) => world.size() - 1,
            Peers::Children(children) => children.remote_size(),
            Peers::Parent(parent) => parent.size(),
        };
        usize::try_from(count).unwrap_or(0)
    }

    /// The MPI rank of worker `worker` in the communicator its messages travel on, which is
    /// also its rank in its own `MPI_COMM_WORLD`.
    pub(crate) fn rank_of_worker(&self, worker: usize) -> Rank {
        let worker = Rank::try_from(worker).expect("worker numbers fit an MPI rank");
        match &self.peers {
            Peers::World(_) => worker + 1,
            Peers::Children(_) | Peers::Parent(_) => worker,
        }
    }

    /// Worker `worker` as messages name it: "MPI worker rank R", where R is its rank in its own
    /// `MPI_COMM_WORLD`, said to be a spawned job's rank in spawned mode (where rank 0 of the
    /// spawned workers is not the rank 0 that leads them).
    pub(crate) fn worker_name(&self, worker: usize) -> String {
        let rank = self.rank_of_worker(worker);
        match &self.peers {
            Peers::World(_) => format!("MPI worker rank {rank}"),
            Peers::Children(_) | Peers::Parent(_) => format!("spawned MPI worker rank {rank}"),
        }
    }

    /// This process's MPI rank in the communicator its messages travel on.
    pub(crate) fn own_rank(&self) -> Rank {
        match &self.peers {
            Peers::World(world) => world.rank(),
            Peers::Parent(parent) => parent.rank(),
            Peers::Children(_) => 0,
        }
    }

    /// The worker number of MPI rank `rank` (as `rank_of_worker` gives it).
    fn worker_of_rank(&self, rank: Rank) -> usize {
        let worker = match &self.peers {
            Peers::World(_) => rank - 1,
            Peers::Children(_) | Peers::Parent(_) => rank,
        };
        usize::try_from(worker).expect("messages come from worker ranks")
    }

    /// Starts sending `message` to worker `worker` (from the leader); never blocks.
    pub(crate) fn send_to_worker<M: Serialize>(&mut self, worker: usize, message: &M) {
        let rank = self.rank_of_worker(worker);
        self.send(rank, message);
    }

    /// Starts sending `message` to the leader (from a worker); never blocks.
    pub(crate) fn send_to_leader<M: Serialize>(&mut self, message: &M) {
        // World rank 0, or the parent side's only rank.
        self.send(0, message);
    }

    /// A message from a worker that has arrived (at the leader), with its worker number.
    pub(crate) fn try_receive_from_worker<M: DeserializeOwned>(&mut self) -> Option<(usize, M)> {
        let (rank, message) = self.try_receive()?;
        Some((self.worker_of_rank(rank), message))
    }

    /// A message from the leader that has arrived (at a worker).
    pub(crate) fn try_receive_from_leader<M: DeserializeOwned>(&mut self) -> Option<M> {
        self.try_receive().map(|(_, message)| message)
    }

    /// Starts sending `message` to `rank`; never blocks.
    fn send<M: Serialize>(&mut self, rank: Rank, message: &M) {
        let bytes = codec::encode(message).expect("protocol messages always encode");
        // Protocol messages are never empty (postcard writes an enum's variant), so an empty
        // message can announce a large one.
        debug_assert!(!bytes.is_empty());
        if bytes.len() > POSTED_BYTES {
            self.send_bytes(rank, bytes, LARGE_TAG);
            self.send_bytes(rank, Vec::new(), TAG);
        } else {
            self.send_bytes(rank, bytes, TAG);
        }
    }

    /// Starts sending `bytes` to `rank` with `tag`.
    fn send_bytes(&mut self, rank: Rank, bytes: Vec<u8>, tag: mpi::Tag) {
        let buffer: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        let raw: *mut [u8] = buffer;
        // SAFETY: `raw` points to the leaked buffer just made; it is freed only after the
        // request completed (`poll_sends`/`flush`), so the shared borrow MPI reads stays valid.
        let shared: &'static [u8] = unsafe { &*raw };
        let request = match &self.peers {
            Peers::World(world) => start_send(world, rank, shared, tag),
            Peers::Children(inter) | Peers::Parent(inter) => start_send(inter, rank, shared, tag),
        };
        self.sends.push(PendingSend {
            request,
            buffer: raw,
            to: rank,
        });
    }

    /// Completes the sends that are done; `true` if some are still in flight.
    pub(crate) fn poll_sends(&mut self) -> bool {
        // In place: this runs on every poll of a round trip, and a new `Vec` per poll with a
        // send pending cost an allocation each time.
        let mut index = 0;
        while index < self.sends.len() {
            let send = self.sends.swap_remove(index);
            match send.request.test() {
                Ok(_) => PendingSend::release(send.buffer),
                Err(request) => {
                    self.sends.push(PendingSend { request, ..send });
                    let last = self.sends.len() - 1;
                    self.sends.swap(index, last);
                    index += 1;
                }
            }
        }
        !self.sends.is_empty()
    }

    /// Gives up the sends to worker `worker`, which died: they may never complete, so their
    /// requests and buffers are leaked (MPI may still refer to them).
    pub(crate) fn abandon_sends_to_worker(&mut self, worker: usize) {
        let rank = self.rank_of_worker(worker);
        let (lost, kept): (Vec<PendingSend>, Vec<PendingSend>) =
            self.sends.drain(..).partition(|send| send.to == rank);
        self.sends = kept;
        // Dropping an incomplete request panics (rsmpi), and freeing its buffer could let MPI
        // read freed memory: leak both, once per lost worker.
        std::mem::forget(lost);
    }

    /// Ends the transport without disconnecting from the peers (`MPI_Comm_disconnect` waits for
    /// every peer, and a dead one never comes). Sends still in flight are leaked.
    pub(crate) fn abandon(self) {
        std::mem::forget(self);
    }

    /// Whether sends are in flight.
    pub(crate) fn sending(&self) -> bool {
        !self.sends.is_empty()
    }

    /// Waits until every send completed, sleeping briefly between tests.
    pub(crate) fn flush(&mut self) {
        let mut backoff = Backoff::new();
        while self.poll_sends() {
            std::thread::sleep(backoff.next_pause());
        }
    }

    /// A message that has arrived, with its sender's rank, if there is one.
    fn try_receive<M: DeserializeOwned>(&mut self) -> Option<(Rank, M)> {
        let posted = match self.posted.take() {
            Some(posted) => posted,
            None => self.post(),
        };
        let status = match posted.test() {
            Ok(status) => status,
            Err(pending) => {
                self.posted = Some(pending);
                return None;
            }
        };
        let rank = status.source_rank();
        let decoded = match arrived_bytes(&status) {
            0 => {
                let bytes = match &self.peers {
                    Peers::World(world) => receive_large(world, rank),
                    Peers::Children(inter) | Peers::Parent(inter) => receive_large(inter, rank),
                };
                codec::decode(&bytes)
            }
            length => {
                // SAFETY: the receive into `landing` completed, so MPI no longer writes to it,
                // and it is posted again only below, after this borrow ends.
                let landed = unsafe { &(&*self.landing)[..length] };
                codec::decode(landed)
            }
        }
        .expect("protocol messages always decode");
        self.posted = Some(self.post());
        Some((rank, decoded))
    }

    /// Posts the receive into `landing` (none is posted).
    fn post(&mut self) -> Request<'static, [u8], StaticScope> {
        debug_assert!(self.posted.is_none());
        // SAFETY: `landing` is the transport's own buffer, alive until it drops (or leaked with
        // it); no receive is posted into it and no borrow of it is live, so MPI may write to it
        // until this request completes or is cancelled.
        let landing: &'static mut [u8] = unsafe { &mut *self.landing };
        match &self.peers {
            Peers::World(world) => post_receive(world, landing),
            Peers::Children(inter) | Peers::Parent(inter) => post_receive(inter, landing),
        }
    }
}

impl Drop for Transport {
    /// Cancels the receive posted in advance (`MPI_Comm_disconnect` and `MPI_Finalize` wait for
    /// pending communication) and frees its buffer. Not run by [`Transport::abandon`].
    fn drop(&mut self) {
        if let Some(posted) = self.posted.take() {
            posted.cancel();
            // Cancelled, or completed by a message nobody will read: either way it ends.
            posted.wait();
        }
        // SAFETY: `landing` came from `Box::into_raw` in `new`, and no receive is posted into it
        // any more (cancelled and waited for above).
        drop(unsafe { Box::from_raw(self.landing) });
    }
}

/// `MPI_Isend` of `bytes` to `rank` of `comm` (the remote group's for an intercommunicator).
fn start_send<C: Communicator>(
    comm: &C,
    rank: Rank,
    bytes: &'static [u8],
    tag: mpi::Tag,
) -> Request<'static, [u8], StaticScope> {
    comm.process_at_rank(rank)
        .immediate_send_with_tag(StaticScope, bytes, tag)
}

/// `MPI_Irecv` from any peer of `comm` on [`TAG`] into `landing`.
fn post_receive<C: Communicator>(
    comm: &C,
    landing: &'static mut [u8],
) -> Request<'static, [u8], StaticScope> {
    comm.any_process()
        .immediate_receive_into_with_tag(StaticScope, landing, TAG)
}

/// How many bytes a completed receive took.
fn arrived_bytes(status: &Status) -> usize {
    usize::try_from(status.count(u8::equivalent_datatype()))
        .expect("a completed receive has a byte count")
}

/// The next message from `rank` of `comm` on [`LARGE_TAG`], which its announcement says was
/// sent before: it is here or on its way (its sender keeps progressing it, as it waits for its
/// own sends), as with the receive that follows a probe of any large message.
fn receive_large<C: Communicator>(comm: &C, rank: Rank) -> Vec<u8> {
    comm.process_at_rank(rank)
        .matched_probe_with_tag(LARGE_TAG)
        .matched_receive_vec::<u8>()
        .0
}

/// Short pauses that grow while nothing happens: quick answers when busy, no CPU burn when idle.
///
/// Polls follow each other at once for a short spin (100 µs of wall time, not a number of
/// polls: when the job oversubscribes the cores, OpenMPI yields the CPU inside every empty poll,
/// and a count would hand the core away for a time slice per poll), then pauses double from
/// 5 µs up to 1 ms.
#[derive(Debug)]
pub(crate) struct Backoff {
    idle_since: Option<Instant>,
    /// Empty polls since the clock was last read.
    unclocked: u32,
    pauses: u32,
}

impl Backoff {
    /// How long polls follow each other at once.
    const SPIN: Duration = Duration::from_micros(100);
    /// The first pause.
    const FIRST_PAUSE: Duration = Duration::from_micros(5);
    /// Longest pause between polls.
    const MAX_PAUSE: Duration = Duration::from_millis(1);
    /// During the spin the clock is read once every this many polls: a read costs as much
    /// as a third of an empty poll, and a shorter poll sees a message sooner.
    const CLOCK_EVERY: u32 = 8;

    pub(crate) fn new() -> Self {
        Backoff {
            idle_since: None,
            unclocked: 0,
            pauses: 0,
        }
    }

    /// Something happened: poll again at once.
    pub(crate) fn reset(&mut self) {
        self.idle_since = None;
        self.unclocked = 0;
        self.pauses = 0;
    }

    /// How long to wait before the next poll.
    pub(crate) fn next_pause(&mut self) -> Duration {
        if self.pauses == 0 {
            let Some(idle_since) = self.idle_since else {
                self.idle_since = Some(Instant::now());
                return Duration::ZERO;
            };
            self.unclocked += 1;
            if self.unclocked < Self::CLOCK_EVERY {
                return Duration::ZERO;
            }
            self.unclocked = 0;
            if idle_since.elapsed() < Self::SPIN {
                return Duration::ZERO;
            }
        }
        let doublings = self.pauses.min(10);
        self.pauses = self.pauses.saturating_add(1);
        (Self::FIRST_PAUSE * (1 << doublings)).min(Self::MAX_PAUSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_grows_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.next_pause(), Duration::ZERO);
        // The spin ends after a while; then pauses start small and double up to the cap.
        let first = std::iter::repeat_with(|| backoff.next_pause())
            .find(|pause| !pause.is_zero())
            .expect("the spin ends");
        assert_eq!(first, Backoff::FIRST_PAUSE);
        let pauses: Vec<Duration> = (0..16).map(|_| backoff.next_pause()).collect();
        assert!(pauses.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(pauses[15], Backoff::MAX_PAUSE);
        backoff.reset();
        assert_eq!(backoff.next_pause(), Duration::ZERO);
    }
}
