//! [`Transport`]: non-blocking sends and polled receives on `MPI_COMM_WORLD`, owned by the one
//! thread of a process that makes MPI calls.
//!
//! Every send is an `MPI_Isend` whose buffer lives until the request completes, so two ranks
//! sending large messages to each other at once never deadlock, and a busy receiver never
//! blocks the sender's progress thread.

use std::time::{Duration, Instant};

use executor_process::task_model as codec;
use mpi::Rank;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::TAG;

/// A send in progress and the buffer it reads from.
struct PendingSend {
    request: Request<'static, [u8], StaticScope>,
    buffer: *mut [u8],
}

impl PendingSend {
    /// Frees the buffer of a completed request.
    fn release(buffer: *mut [u8]) {
        // SAFETY: `buffer` came from `Box::into_raw` in `Transport::send`, and its request has
        // completed, so MPI no longer reads it and nothing else refers to it.
        drop(unsafe { Box::from_raw(buffer) });
    }
}

/// The world communicator plus the sends still in flight.
pub(crate) struct Transport {
    world: SimpleCommunicator,
    sends: Vec<PendingSend>,
}

// SAFETY: the raw buffer pointers are owned by the transport alone (each is freed exactly once,
// after its request completed); the transport moves to its progress thread once and is used only
// there.
unsafe impl Send for Transport {}

impl Transport {
    pub(crate) fn new(world: SimpleCommunicator) -> Self {
        Transport {
            world,
            sends: Vec::new(),
        }
    }

    /// This process's rank.
    pub(crate) fn rank(&self) -> Rank {
        self.world.rank()
    }

    /// How many ranks the job has.
    pub(crate) fn size(&self) -> Rank {
        self.world.size()
    }

    /// Starts sending `message` to `rank`; never blocks.
    pub(crate) fn send<M: Serialize>(&mut self, rank: Rank, message: &M) {
        let bytes = codec::encode(message).expect("protocol messages always encode");
        let buffer: &'static mut [u8] = Box::leak(bytes.into_boxed_slice());
        let raw: *mut [u8] = buffer;
        // SAFETY: `raw` points to the leaked buffer just made; it is freed only after the
        // request completed (`poll_sends`/`flush`), so the shared borrow MPI reads stays valid.
        let shared: &'static [u8] = unsafe { &*raw };
        let request =
            self.world
                .process_at_rank(rank)
                .immediate_send_with_tag(StaticScope, shared, TAG);
        self.sends.push(PendingSend {
            request,
            buffer: raw,
        });
    }

    /// Completes the sends that are done; `true` if some are still in flight.
    pub(crate) fn poll_sends(&mut self) -> bool {
        let mut still = Vec::with_capacity(self.sends.len());
        for send in self.sends.drain(..) {
            match send.request.test() {
                Ok(_) => PendingSend::release(send.buffer),
                Err(request) => still.push(PendingSend {
                    request,
                    buffer: send.buffer,
                }),
            }
        }
        self.sends = still;
        !self.sends.is_empty()
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

    /// A message that has arrived, with its sender, if there is one.
    pub(crate) fn try_receive<M: DeserializeOwned>(&mut self) -> Option<(Rank, M)> {
        let probed = self
            .world
            .any_process()
            .immediate_matched_probe_with_tag(TAG)?;
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        let decoded = codec::decode(&bytes).expect("protocol messages always decode");
        Some((status.source_rank(), decoded))
    }
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
    pauses: u32,
}

impl Backoff {
    /// How long polls follow each other at once.
    const SPIN: Duration = Duration::from_micros(100);
    /// The first pause.
    const FIRST_PAUSE: Duration = Duration::from_micros(5);
    /// Longest pause between polls.
    const MAX_PAUSE: Duration = Duration::from_millis(1);

    pub(crate) fn new() -> Self {
        Backoff {
            idle_since: None,
            pauses: 0,
        }
    }

    /// Something happened: poll again at once.
    pub(crate) fn reset(&mut self) {
        self.idle_since = None;
        self.pauses = 0;
    }

    /// How long to wait before the next poll.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let idle_since = *self.idle_since.get_or_insert_with(Instant::now);
        if idle_since.elapsed() < Self::SPIN {
            return Duration::ZERO;
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
