//! The CPU-bound unit of C1: a loop the optimiser cannot remove, calibrated to a duration.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spins through `iterations` steps of a cheap pseudo-random recurrence and returns its state.
/// Pure CPU: no memory traffic, no allocation, no system call.
pub fn burn(iterations: u64) -> u64 {
    let mut state = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for step in 0..iterations {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(step);
        state ^= state >> 29;
    }
    black_box(state)
}

/// How many [`burn`] iterations take about `target` on this machine, now: the fastest of a few
/// trials, so a preempted trial does not inflate the task.
pub fn iterations_for(target: Duration) -> u64 {
    const PROBE: u64 = 1 << 20;
    let fastest = (0..5)
        .map(|_| {
            let started = Instant::now();
            burn(PROBE);
            started.elapsed()
        })
        .min()
        .expect("five trials");
    let per_second = PROBE as f64 / fastest.as_secs_f64().max(1e-9);
    (per_second * target.as_secs_f64()).max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_depends_on_its_length() {
        assert_ne!(burn(10), burn(11));
        assert_eq!(burn(10), burn(10));
        assert!(iterations_for(Duration::from_millis(1)) >= 1);
    }
}
