//! What the pool does when one of its own threads fails: the invariant that no failure on a pool
//! thread, a panic included, leaves a waiter blocked.
//!
//! Every pool thread runs its body under `catch_panic` and turns a panic into a typed outcome:
//!
//! - On a connection thread (start, handshake, receive), the worker is killed, reaped and its
//!   exit recorded with a [`ConnectionFailure`]: its running task fails `WorkerLost` whose reason
//!   says what the pool saw, the rest of its batch goes back to the queue, and a replacement
//!   starts. A message that does not decode is handled the same way.
//! - When the failure is the parent running out of a resource (descriptors, memory), an
//!   immediate replacement would most likely fail the same way, and forever: replacements are
//!   delayed with an exponential backoff ([`backoff`]), and after [`MAX_FAILURES`] failed
//!   workers in a row without progress the pool breaks with a `Broken` reason that names the
//!   resource. Progress is a result arriving, or a failure that ended the worker's running
//!   task (that future is done: failures cannot repeat for ever on the same work). The same
//!   bound applies to every other failure on the pool's side, so none can make the pool spin;
//!   a failure that fails one task per worker (a worker that garbles every result) only fails
//!   those tasks, as a crash would.
//! - If the supervisor thread itself fails, nothing would start workers or fire timers any
//!   more: the pool breaks, every waiter wakes with `Broken`, and the connection threads still
//!   reap their workers.

use std::time::Duration;

use concurrent_futures_core::PanicInfo;

use crate::frame::WireError;
use crate::sys;

/// How many workers in a row may fail on the pool's side before the pool breaks.
pub(crate) const MAX_FAILURES: u32 = 6;

/// Why the pool stopped a worker on its own side (not the worker's death, nor a user's request).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionFailure {
    /// What went wrong, for the task's `WorkerLost` reason.
    pub(crate) what: String,
    /// The resource the parent ran out of, if that is the cause.
    pub(crate) resource: Option<String>,
}

impl ConnectionFailure {
    /// A panic on a connection thread `while_doing` something (for example "the handshake").
    pub(crate) fn panicked(while_doing: &str, panic: &PanicInfo) -> Self {
        let message = panic.message();
        ConnectionFailure {
            what: format!("its connection failed during {while_doing}: {panic}"),
            resource: resource_of_panic(message),
        }
    }

    /// A failure that is not a panic and names no resource; `what` says what happened.
    pub(crate) fn error(what: String) -> Self {
        ConnectionFailure {
            resource: None,
            what,
        }
    }

    /// A system call failed `while_doing` something: out of a resource if `error` says so.
    pub(crate) fn io(while_doing: &str, error: &std::io::Error) -> Self {
        ConnectionFailure {
            what: format!("{while_doing} failed: {error}"),
            resource: resource_of_io(error),
        }
    }

    /// Sending to or receiving from the worker failed `while_doing` something.
    pub(crate) fn wire(while_doing: &str, error: &WireError) -> Self {
        match error {
            WireError::Io(error) => ConnectionFailure::io(while_doing, error),
            WireError::Malformed(what) => ConnectionFailure::error(format!(
                "it sent {} ({what}), so it was killed",
                if while_doing.is_empty() {
                    "a malformed message"
                } else {
                    while_doing
                }
            )),
            WireError::Closed => {
                ConnectionFailure::error(format!("{while_doing}: the worker closed its end"))
            }
        }
    }

    /// A message that is well formed but breaks the protocol, such as a result for a task that
    /// is not the one the worker runs: the worker cannot be trusted any more.
    pub(crate) fn violation(what: String) -> Self {
        ConnectionFailure::error(format!("{what}, so it was killed"))
    }

    /// The reason its `WorkerExit` carries.
    pub(crate) fn reason(&self) -> String {
        match &self.resource {
            Some(resource) => format!(
                "the pool stopped this worker: the parent ran out of {resource}: {}",
                self.what
            ),
            None => format!("the pool stopped this worker: {}", self.what),
        }
    }
}

/// The resource a panic on a pool thread points to, if any: descriptors that cannot be opened
/// now, or a failed allocation.
pub(crate) fn resource_of_panic(message: &str) -> Option<String> {
    if let Some(descriptors) = sys::descriptors_exhausted() {
        return Some(descriptors);
    }
    message
        .contains("memory allocation")
        .then(|| "memory".to_string())
}

/// The resource an OS error says is exhausted, if it says so.
pub(crate) fn resource_of_io(error: &std::io::Error) -> Option<String> {
    match error.raw_os_error() {
        Some(libc::EMFILE) => {
            Some(sys::descriptors_exhausted().unwrap_or_else(|| "file descriptors".to_string()))
        }
        Some(libc::ENFILE) => Some("file descriptors (the system-wide limit)".to_string()),
        Some(libc::ENOMEM) => Some("memory".to_string()),
        Some(libc::EAGAIN) => Some("processes or threads (EAGAIN)".to_string()),
        _ => None,
    }
}

/// How long to wait before replacing a worker after `failures` resource failures in a row.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(10 << failures.saturating_sub(1).min(6))
}

/// Why the pool breaks after `failures` workers failed in a row, the last with `last`.
pub(crate) fn give_up_reason(failures: u32, last: &ConnectionFailure) -> String {
    match &last.resource {
        Some(resource) => format!(
            "the pool ran out of {resource}: {failures} worker processes in a row could not be \
             served ({})",
            last.what
        ),
        None => format!(
            "{failures} worker processes in a row failed on the pool's side before serving (the \
             last: {})",
            last.what
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert_eq!(backoff(100), Duration::from_millis(640));
    }

    #[test]
    fn system_errors_name_the_resource() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let failure = ConnectionFailure::io("creating the socket pair", &emfile);
        assert!(failure.resource.is_some());
        assert!(failure.what.contains("creating the socket pair failed"));
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(ConnectionFailure::io("x", &refused).resource, None);
        let malformed = WireError::Malformed("an empty frame".to_string());
        let failure = ConnectionFailure::wire("", &malformed);
        assert_eq!(
            failure.what,
            "it sent a malformed message (an empty frame), so it was killed"
        );
    }
}
