//! [`TestTask`]: the suite's vocabulary of tasks, plain serialisable values so that the same
//! checks run on backends whose tasks cannot be closures (processes, other machines).

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use concurrent_futures_core::Task;
use serde::{Deserialize, Serialize};

use crate::hooks;

/// One task of the conformance suite. Its output is a `u64`, its own error a `String`.
///
/// Every variant is plain data, so a process backend can send it to a worker. The variants
/// that end the process ([`Abort`](TestTask::Abort), [`Exit`](TestTask::Exit),
/// [`Segfault`](TestTask::Segfault)) are only submitted by checks for backends that declare
/// [`Capabilities::isolates_crashes`](crate::Capabilities::isolates_crashes), and
/// [`Hook`](TestTask::Hook) only by checks for backends that run tasks in the caller's process.
///
/// ```
/// use concurrent_futures_core::Task;
/// use concurrent_futures_testkit::TestTask;
///
/// assert_eq!(TestTask::Return(7).run(), Ok(7));
/// assert_eq!(TestTask::Fail("no".into()).run(), Err("no".to_string()));
/// assert_eq!(
///     TestTask::Spin { iterations: 1000 }.run(),
///     Ok(TestTask::spin_checksum(1000))
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TestTask {
    /// Returns the value.
    Return(u64),
    /// Fails with the message as the task's own error.
    Fail(String),
    /// Panics with the message.
    Panic(String),
    /// Sleeps, then returns `value`. Only for checks that need wall time to pass, never to
    /// order events (gates do that).
    Sleep {
        /// How long to sleep, in milliseconds.
        millis: u64,
        /// What to return.
        value: u64,
    },
    /// Connects to the [`Gate`](crate::Gate) listening at `path` and blocks until the gate
    /// releases it (or the gate goes away), then returns `value`. Fails if it cannot connect.
    Gate {
        /// The gate's socket.
        path: PathBuf,
        /// What to return once released.
        value: u64,
    },
    /// Pure CPU work; returns [`TestTask::spin_checksum`] of `iterations`.
    Spin {
        /// How many rounds of arithmetic.
        iterations: u64,
    },
    /// Returns the id of the process that runs it.
    Pid,
    /// Aborts the process that runs it (`std::process::abort`).
    Abort,
    /// Exits the process that runs it with this code (`std::process::exit`).
    Exit(i32),
    /// Kills the process that runs it with `SIGSEGV`.
    Segfault,
    /// Runs the closure registered under this id with [`hooks::register`] in this process:
    /// how a check runs code inside a task (to submit or shut down from a worker). Fails in
    /// a process where nothing is registered under the id.
    Hook(u64),
}

impl TestTask {
    /// What [`TestTask::Spin`] returns for `iterations`.
    pub fn spin_checksum(iterations: u64) -> u64 {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..iterations {
            x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01B3);
        }
        x
    }
}

impl Task for TestTask {
    type Output = u64;
    type Error = String;

    fn run(self) -> Result<u64, String> {
        match self {
            TestTask::Return(value) => Ok(value),
            TestTask::Fail(message) => Err(message),
            TestTask::Panic(message) => panic!("{message}"),
            TestTask::Sleep { millis, value } => {
                std::thread::sleep(Duration::from_millis(millis));
                Ok(value)
            }
            TestTask::Gate { path, value } => {
                let mut stream = UnixStream::connect(&path).map_err(|e| {
                    format!("gate task could not connect to {}: {e}", path.display())
                })?;
                // One byte means released; end of stream or a reset means the gate went away.
                // Either way the latch is open.
                let _ = stream.read(&mut [0u8; 1]);
                Ok(value)
            }
            TestTask::Spin { iterations } => Ok(Self::spin_checksum(iterations)),
            TestTask::Pid => Ok(u64::from(std::process::id())),
            TestTask::Abort => std::process::abort(),
            TestTask::Exit(code) => std::process::exit(code),
            TestTask::Segfault => segfault(),
            TestTask::Hook(id) => hooks::run(id),
        }
    }
}

/// Kills this process with `SIGSEGV`.
fn segfault() -> ! {
    // std installs a SIGSEGV handler (for stack-overflow reports) that returns for a raised
    // signal; restore the default action so that the signal kills the process.
    // SAFETY: `signal` and `raise` are async-signal-safe libc calls with valid arguments; the
    // process is meant to die here.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::raise(libc::SIGSEGV);
    }
    unreachable!("SIGSEGV with its default action ends the process")
}
