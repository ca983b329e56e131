//! Heartbeats: how rank 0 and a worker on another host tell a peer that is gone (killed, stopped,
//! cut off) from one that is only busy or quiet.
//!
//! MPI says nothing about a lost peer: a message to it is simply never answered. So each side
//! sends something at least every [`Heartbeats::interval`] (a heartbeat when it has nothing
//! else to say), and a peer heard from by neither message nor heartbeat for
//! [`Heartbeats::timeout`] is lost. Heartbeats come from the progress threads, which never run
//! tasks or block, so a long task does not look like a lost worker.
//!
//! A side that did not run for a while (its own process stopped, a long done-callback on rank
//! 0's progress thread, an overloaded machine) must not blame its peers for the silence it did
//! not listen to: [`StallGuard`] notices such a gap and the caller forgives every silence.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often signs of life are due, and how long a silence means a peer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Heartbeats {
    /// Send something at least this often.
    pub(crate) interval: Duration,
    /// A peer silent for this long is lost.
    pub(crate) timeout: Duration,
}

impl Heartbeats {
    /// Four heartbeats per timeout: one lost or late heartbeat never loses a peer.
    pub(crate) fn for_timeout(timeout: Duration) -> Self {
        Heartbeats {
            interval: (timeout / 4).max(Duration::from_millis(1)),
            timeout,
        }
    }
}

/// How long a keeper thread (one per rank, sending heartbeats while the progress thread is
/// busy) sleeps between its turns: a quarter of the interval, at most 50 ms.
pub(crate) fn keeper_pause(beats: &Heartbeats) -> Duration {
    (beats.interval / 4).clamp(Duration::from_millis(1), Duration::from_millis(50))
}

/// Joins a keeper thread that was told to stop and takes back what it shared with the progress
/// thread (the transport, among the rest).
pub(crate) fn reclaim<T>(shared: Arc<Mutex<T>>, keeper: Option<JoinHandle<()>>) -> T {
    if let Some(keeper) = keeper {
        let _ = keeper.join();
    }
    Arc::try_unwrap(shared)
        .ok()
        .expect("the keeper has ended: the progress thread holds the only reference")
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Says when the next heartbeat is due.
#[derive(Debug)]
pub(crate) struct Pacer {
    last_sent: Instant,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer {
            last_sent: Instant::now(),
        }
    }

    /// Something was sent: no heartbeat is due for an interval.
    pub(crate) fn sent(&mut self) {
        self.last_sent = Instant::now();
    }

    /// Whether a heartbeat is due under `beats` (nothing sent for an interval).
    pub(crate) fn due(&self, beats: &Heartbeats) -> bool {
        self.last_sent.elapsed() >= beats.interval
    }

    /// How long until a heartbeat is due under `beats`.
    pub(crate) fn until_due(&self, beats: &Heartbeats) -> Duration {
        beats.interval.saturating_sub(self.last_sent.elapsed())
    }
}

/// Notices that this side's own loop did not run for a while.
#[derive(Debug)]
pub(crate) struct StallGuard {
    last_tick: Instant,
}

impl StallGuard {
    pub(crate) fn new() -> Self {
        StallGuard {
            last_tick: Instant::now(),
        }
    }

    /// Called once per turn of the loop: `true` if the previous turn was more than half a
    /// timeout ago, so silences seen now may be this side's own and must be forgiven.
    pub(crate) fn stalled(&mut self, beats: &Heartbeats) -> bool {
        let now = Instant::now();
        let gap = now.duration_since(self.last_tick);
        self.last_tick = now;
        gap > beats.timeout / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_heartbeats_per_timeout_and_never_a_zero_interval() {
        let beats = Heartbeats::for_timeout(Duration::from_secs(2));
        assert_eq!(beats.interval, Duration::from_millis(500));
        let tiny = Heartbeats::for_timeout(Duration::from_micros(10));
        assert_eq!(tiny.interval, Duration::from_millis(1));
    }

    #[test]
    fn a_pacer_is_due_an_interval_after_the_last_send() {
        let beats = Heartbeats::for_timeout(Duration::from_secs(3600));
        let mut pacer = Pacer::new();
        assert!(!pacer.due(&beats));
        assert!(pacer.until_due(&beats) > Duration::from_secs(800));
        pacer.last_sent -= beats.interval;
        assert!(pacer.due(&beats));
        assert_eq!(pacer.until_due(&beats), Duration::ZERO);
        pacer.sent();
        assert!(!pacer.due(&beats));
    }

    #[test]
    fn a_gap_longer_than_half_a_timeout_is_a_stall() {
        let beats = Heartbeats::for_timeout(Duration::from_secs(10));
        let mut guard = StallGuard::new();
        assert!(!guard.stalled(&beats));
        guard.last_tick -= Duration::from_secs(6);
        assert!(guard.stalled(&beats));
        assert!(!guard.stalled(&beats), "the stall is reported once");
    }
}
