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

    /// A failure that is not a panic; `what` says what happened.
    pub(crate) fn error(what: String) -> Self {
        ConnectionFailure {
            resource: sys::descriptors_exhausted().or_else(|| resource_of_text(&what)),
            what,
        }
    }

    /// The worker's message did not decode.
    pub(crate) fn undecodable(error: &(dyn std::error::Error + 'static)) -> Self {
        ConnectionFailure::error(format!(
            "it sent a message that did not decode ({}), so it was killed",
            error_chain(error)
        ))
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

/// The resource a panic on a connection thread points to, if any: descriptors that cannot be
/// opened now, or one of ipc-channel's assertions on creating or mapping shared memory (it
/// asserts rather than returning an error when `memfd_create` or `mmap` fail).
pub(crate) fn resource_of_panic(message: &str) -> Option<String> {
    if let Some(descriptors) = sys::descriptors_exhausted() {
        return Some(descriptors);
    }
    if message.contains("fd >= 0") {
        Some("file descriptors or memory (creating shared memory failed)".to_string())
    } else if message.contains("MAP_FAILED") {
        Some("memory (mapping shared memory failed)".to_string())
    } else if message.contains("memory allocation") {
        Some("memory".to_string())
    } else {
        resource_of_text(message)
    }
}

/// `error` and its sources, outermost first: ipc-channel's own message for a decoding error
/// ("Serialization/Deserialization error") says nothing of what was wrong; its source does.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// What a handshake reports when ipc-channel could not create the socket to reach a worker.
pub(crate) const SOCKET_FAILED: &str = "creating the socket failed (out of file descriptors)";

/// The resource an OS error quoted in `text` says is exhausted, if it says so (errors reach the
/// connection thread as text: `std::io::Error` prints its number as "(os error N)").
fn resource_of_text(text: &str) -> Option<String> {
    if text.contains(SOCKET_FAILED) {
        return Some("file descriptors (creating a socket failed)".to_string());
    }
    [libc::EMFILE, libc::ENFILE, libc::ENOMEM]
        .into_iter()
        .find(|code| text.contains(&format!("(os error {code})")))
        .and_then(|code| resource_of_io(&std::io::Error::from_raw_os_error(code)))
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
    fn ipc_channel_assertions_name_the_resource() {
        assert!(resource_of_panic("assertion failed: fd >= 0").is_some());
        assert!(resource_of_panic("assertion failed: address != MAP_FAILED").is_some());
        assert_eq!(
            resource_of_panic("called `Option::unwrap()` on a `None` value"),
            None
        );
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert!(resource_of_text(&format!("could not create a channel: {emfile}")).is_some());
        assert_eq!(resource_of_text("exited before the rendezvous"), None);
    }
}
