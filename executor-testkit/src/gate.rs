//! [`Gate`]: a latch that holds tasks until the test releases them, and tells the test how many
//! have started. It is a Unix socket, so it works the same for tasks in other processes.
//!
//! A [`TestTask::Gate`](crate::TestTask) connects to the gate's socket and blocks reading one
//! byte. An acceptor thread counts every connection (a connection proves a task is running),
//! and either parks it until released or, when released already, answers it at once.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::TestTask;

/// A latch for [`TestTask::Gate`] tasks, in this process or any other on the machine.
///
/// ```
/// use std::time::Duration;
/// use concurrent_futures_core::Task;
/// use concurrent_futures_testkit::Gate;
///
/// let gate = Gate::new();
/// let task = gate.task(7);
/// let worker = std::thread::spawn(move || task.run());
/// gate.wait_started(1, Duration::from_secs(10)).unwrap(); // the task is blocked in the gate
/// gate.release_all();
/// assert_eq!(worker.join().unwrap(), Ok(7));
/// ```
///
/// Dropping the gate releases every task, also those that connect later.
pub struct Gate {
    shared: Arc<Shared>,
    path: PathBuf,
    acceptor: Option<JoinHandle<()>>,
    // Removed (with the socket) when the gate is dropped, after the acceptor has stopped.
    _dir: tempfile::TempDir,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Connections accepted so far: tasks that have started.
    started: usize,
    /// Tasks blocked in the gate, oldest first.
    held: VecDeque<UnixStream>,
    /// Releases granted before their tasks arrived.
    credits: usize,
    /// Released for good: every task passes at once.
    open: bool,
    /// The gate is being dropped: the acceptor must stop.
    closing: bool,
}

/// [`Gate::wait_started`] gave up: fewer tasks than expected reached the gate in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateTimeout {
    /// How many tasks had started.
    pub started: usize,
    /// How many were expected.
    pub expected: usize,
    /// How long it waited.
    pub waited: Duration,
}

impl fmt::Display for GateTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "only {} of {} gated tasks started within {:?}",
            self.started, self.expected, self.waited
        )
    }
}

impl std::error::Error for GateTimeout {}

impl Gate {
    /// A closed gate listening on a socket in a fresh private temporary directory.
    ///
    /// # Panics
    /// If the directory, the socket or the acceptor thread cannot be created.
    pub fn new() -> Gate {
        let dir = tempfile::Builder::new()
            .prefix("executor-gate-")
            .tempdir()
            .expect("create a temporary directory for a gate");
        let path = dir.path().join("gate.sock");
        let listener = UnixListener::bind(&path).expect("bind the gate's Unix socket");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("gate acceptor".into())
                .spawn(move || accept(listener, &shared))
                .expect("spawn the gate's acceptor thread")
        };
        Gate {
            shared,
            path,
            acceptor: Some(acceptor),
            _dir: dir,
        }
    }

    /// A task that blocks in this gate, then returns `value`.
    pub fn task(&self, value: u64) -> TestTask {
        TestTask::Gate {
            path: self.path.clone(),
            value,
        }
    }

    /// The gate's socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many tasks have reached the gate so far (released or not).
    pub fn started(&self) -> usize {
        self.shared.lock().started
    }

    /// Waits until at least `n` tasks in all have reached the gate: proof that they run.
    pub fn wait_started(&self, n: usize, timeout: Duration) -> Result<(), GateTimeout> {
        let begin = Instant::now();
        let deadline = begin + timeout;
        let mut state = self.shared.lock();
        while state.started < n {
            let now = Instant::now();
            if now >= deadline {
                return Err(GateTimeout {
                    started: state.started,
                    expected: n,
                    waited: now - begin,
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// Releases `n` tasks: those waiting first (oldest first), then the next ones to arrive.
    pub fn release(&self, n: usize) {
        let mut state = self.shared.lock();
        for _ in 0..n {
            match state.held.pop_front() {
                Some(stream) => release(stream),
                None => state.credits += 1,
            }
        }
    }

    /// Releases every task, now and from now on.
    pub fn release_all(&self) {
        let mut state = self.shared.lock();
        state.open = true;
        state.held.drain(..).for_each(release);
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Gate")
            .field("path", &self.path)
            .field("started", &state.started)
            .field("held", &state.held.len())
            .field("open", &state.open)
            .finish()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.open = true;
            state.closing = true;
            state.held.drain(..).for_each(release);
        }
        // Wake the acceptor out of `accept` with a connection of our own; it sees `closing`.
        let _ = UnixStream::connect(&self.path);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The acceptor thread: counts every connection and holds or releases it.
fn accept(listener: UnixListener, shared: &Shared) {
    for stream in listener.incoming() {
        let mut state = shared.lock();
        if state.closing {
            return;
        }
        let Ok(stream) = stream else {
            // A connection that failed before we accepted it: its task sees the gate gone.
            continue;
        };
        state.started += 1;
        if state.open {
            release(stream);
        } else if state.credits > 0 {
            state.credits -= 1;
            release(stream);
        } else {
            state.held.push_back(stream);
        }
        drop(state);
        shared.changed.notify_all();
    }
}

/// Lets one task through: one byte, then the connection closes.
fn release(mut stream: UnixStream) {
    // A task that already went away does not mind.
    let _ = stream.write_all(&[1]);
}
