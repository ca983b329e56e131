//! Failure injection, for the tests of "no failure on a pool thread leaves a waiter blocked".
//!
//! Compiled in only with the `fault-injection` feature (which this crate's own tests enable
//! through a dev-dependency on itself); without it every point is a no-op the optimiser removes.
//! With it, `EXECUTOR_PROCESS_FAULTS` names the points that fail, comma-separated: `point` fails
//! at every hit, `point@N` only at its N-th hit (counted from 1) in this process. The variable is
//! read once per process and is inherited by workers, so worker-side points work the same way.
//!
//! Points:
//! - `spawn`, `handshake`, `receive`: the connection thread panics while starting its worker,
//!   during the handshake, or on receiving a result;
//! - `handshake-emfile`: creating the worker's progress page fails with `EMFILE`, as when the
//!   parent is out of descriptors, during the handshake;
//! - `supervisor`: the supervisor thread panics on its next command;
//! - `flush`: sending a batch to a worker panics (on whichever thread sends);
//! - `flush-error`: sending a batch to a worker fails with an error (the worker is alive);
//! - `worker-garbage`: the worker sends a message that does not decode instead of its result.

/// Whether `point` fails at this hit.
#[cfg(feature = "fault-injection")]
pub(crate) fn fires(point: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    // (point, first hit that fails, whether later hits fail too)
    static PLAN: OnceLock<Vec<(String, u64, bool)>> = OnceLock::new();
    static HITS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
    let plan = PLAN.get_or_init(|| {
        std::env::var("EXECUTOR_PROCESS_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once('@') {
                Some((name, nth)) => match nth.strip_suffix('+') {
                    Some(first) => (name.to_string(), first.parse().unwrap_or(1), true),
                    None => (name.to_string(), nth.parse().unwrap_or(1), false),
                },
                None => (entry.to_string(), 1, true),
            })
            .collect()
    });
    let Some(&(_, first, onwards)) = plan.iter().find(|(name, _, _)| name == point) else {
        return false;
    };
    let mut hits = HITS.lock().unwrap_or_else(|p| p.into_inner());
    let count = hits
        .get_or_insert_with(HashMap::new)
        .entry(point.to_string())
        .or_insert(0);
    *count += 1;
    *count == first || (onwards && *count > first)
}

/// Whether `point` fails at this hit (never, without the `fault-injection` feature).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn fires(_point: &str) -> bool {
    false
}

/// Panics if `point` fails at this hit.
#[inline(always)]
pub(crate) fn point(point: &str) {
    if fires(point) {
        panic!("injected fault at {point}");
    }
}

/// The error "too many open files" if `point` fails at this hit.
#[inline(always)]
pub(crate) fn io_error(point: &str) -> Option<std::io::Error> {
    fires(point).then(|| std::io::Error::from_raw_os_error(libc::EMFILE))
}

/// In a worker: sends a message that does not decode as a `FromWorker` in place of the next
/// message, if `worker-garbage` fires at this hit (every message the worker sends is a hit; the
/// first is its handshake reply). Returns whether it did.
pub(crate) fn send_garbage(
    results: &crate::frame::FrameSender<crate::protocol::FromWorker>,
) -> bool {
    if !fires("worker-garbage") {
        return false;
    }
    // An inline frame whose message starts with a variant index no `FromWorker` has.
    let _ = results.send_raw(&[1, 0x7f], &[]);
    true
}
