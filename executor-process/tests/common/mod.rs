//! Shared by the integration tests: a probe task that can misbehave on request, a cross-process
//! latch, and a small harness on libtest-mimic (every test binary is `harness = false`, because
//! workers re-execute it and `concurrent_futures_process::init()` must run first in `main`).

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use concurrent_futures_core::{Future, Task, TaskError};
use concurrent_futures_process::Bytes;
use serde::{Deserialize, Serialize};

/// How long any single wait in a test may take before the test fails instead of hanging.
pub const LONG: Duration = Duration::from_secs(60);

/// A task that returns, fails, panics, blocks or crashes its worker, as asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Probe {
    Return(u64),
    Fail(String),
    Panic(String),
    Sleep {
        millis: u64,
        value: u64,
    },
    Gate {
        path: PathBuf,
        value: u64,
    },
    /// Ignores SIGTERM, then waits at a gate: only SIGKILL stops it.
    StubbornGate {
        path: PathBuf,
        value: u64,
    },
    Pid,
    Abort,
    Exit(i32),
    Segfault,
    KillSelf,
    Len(Bytes),
}

impl Task for Probe {
    type Output = u64;
    type Error = String;

    fn run(self) -> Result<u64, String> {
        match self {
            Probe::Return(value) => Ok(value),
            Probe::Fail(message) => Err(message),
            Probe::Panic(message) => panic!("{message}"),
            Probe::Sleep { millis, value } => {
                std::thread::sleep(Duration::from_millis(millis));
                Ok(value)
            }
            Probe::Gate { path, value } => {
                let mut stream = UnixStream::connect(&path).map_err(|e| e.to_string())?;
                let mut byte = [0u8];
                let _ = stream.read(&mut byte);
                Ok(value)
            }
            Probe::StubbornGate { path, value } => {
                // SAFETY: setting SIGTERM's disposition to "ignore" is always valid.
                unsafe {
                    libc::signal(libc::SIGTERM, libc::SIG_IGN);
                }
                Probe::Gate { path, value }.run()
            }
            Probe::Pid => Ok(u64::from(std::process::id())),
            Probe::Abort => std::process::abort(),
            Probe::Exit(code) => std::process::exit(code),
            Probe::Segfault => {
                // SAFETY: restores the default action (the Rust runtime installs a handler that
                // ignores a raised SIGSEGV) and raises it: the process dies, as intended.
                unsafe {
                    libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                    libc::raise(libc::SIGSEGV);
                }
                Ok(0)
            }
            Probe::KillSelf => {
                // SAFETY: kill with our own pid and a signal number.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                Ok(0)
            }
            Probe::Len(bytes) => Ok(bytes.len() as u64),
        }
    }
}

concurrent_futures_process::register_task!(Probe);

/// Waits for a future with a bound, turning a hang into a test failure.
pub fn outcome<T: Clone + Send + 'static, E: Clone + Send + 'static>(
    future: &Future<T, E>,
) -> Result<T, TaskError<E>> {
    let outcome = future.result_timeout(LONG);
    assert!(
        !matches!(outcome, Err(TaskError::Timeout)),
        "a future did not complete within {LONG:?}"
    );
    outcome
}

/// A latch that works across processes: tasks made by [`Gate::task`] connect to it and block
/// until released.
pub struct Gate {
    dir: PathBuf,
    path: PathBuf,
    accepted: mpsc::Receiver<UnixStream>,
    open: Vec<UnixStream>,
}

impl Gate {
    pub fn new() -> Gate {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "executor-process-gate-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("gate directory");
        let path = dir.join("gate.sock");
        let listener = UnixListener::bind(&path).expect("gate socket");
        let (sender, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if sender.send(stream).is_err() {
                    return;
                }
            }
        });
        Gate {
            dir,
            path,
            accepted,
            open: Vec::new(),
        }
    }

    pub fn task(&self, value: u64) -> Probe {
        Probe::Gate {
            path: self.path.clone(),
            value,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The private directory holding the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stubborn_task(&self, value: u64) -> Probe {
        Probe::StubbornGate {
            path: self.path.clone(),
            value,
        }
    }

    /// Blocks until `n` more tasks are inside the gate.
    pub fn wait_started(&mut self, n: usize) {
        let deadline = Instant::now() + LONG;
        for _ in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            let stream = self
                .accepted
                .recv_timeout(left)
                .expect("tasks did not reach the gate in time");
            self.open.push(stream);
        }
    }

    /// Lets every task inside the gate go.
    pub fn release_all(&mut self) {
        for mut stream in self.open.drain(..) {
            let _ = stream.write_all(&[1]);
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release_all();
        // Wake the accept thread so it ends, then let go of anything that was still arriving.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Observes, with a deadline, that every pid in `pids` is gone.
pub fn assert_gone_within(pids: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !process_gone(*p)).collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes {alive:?} still alive after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Our own children that are zombies (exited, never reaped).
pub fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return zombies;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me.to_string() {
            zombies.push(pid);
        }
    }
    zombies
}

/// Declares a `main` that enters worker mode first, then runs the listed test functions (each
/// `fn() -> Result<(), libtest_mimic::Failed>`) with libtest-mimic.
#[macro_export]
macro_rules! test_main {
    ($($test:ident),+ $(,)?) => {
        fn main() {
            concurrent_futures_process::init();
            let args = libtest_mimic::Arguments::from_args();
            let trials = vec![
                $(libtest_mimic::Trial::test(stringify!($test), $test)),+
            ];
            libtest_mimic::run(&args, trials).exit();
        }
    };
}

/// SplitMix64: a small seedable generator, so a randomised test can be repeated from its seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
