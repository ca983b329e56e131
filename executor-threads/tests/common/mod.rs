//! Helpers shared by the thread-pool tests: a latch, bounded waits, and a look at the
//! process's threads through `/proc` (Linux).

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any wait in these tests may take before it fails with a message.
pub const BOUND: Duration = Duration::from_secs(20);

/// A one-shot gate: tasks block in `wait` until `open`.
#[derive(Clone, Default)]
pub struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    /// Blocks until opened; panics (failing the task or test) after [`BOUND`].
    pub fn wait(&self) {
        let deadline = Instant::now() + BOUND;
        let mut open = self.0.0.lock().unwrap();
        while !*open {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "latch never opened");
            open = self.0.1.wait_timeout(open, left).unwrap().0;
        }
    }
}

/// Counts arrivals; `wait_for(n)` blocks until `n` arrived.
#[derive(Clone, Default)]
pub struct Counter(Arc<(Mutex<usize>, Condvar)>);

impl Counter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn arrive(&self) {
        *self.0.0.lock().unwrap() += 1;
        self.0.1.notify_all();
    }

    pub fn get(&self) -> usize {
        *self.0.0.lock().unwrap()
    }

    pub fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + BOUND;
        let mut count = self.0.0.lock().unwrap();
        while *count < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {} of {n} arrived", *count);
            count = self.0.1.wait_timeout(count, left).unwrap().0;
        }
    }
}

/// A task that reports to `started` when it runs, waits for `gate`, then returns `then()`.
pub fn gated<R>(
    gate: &Latch,
    started: &Counter,
    then: impl FnOnce() -> R + Send + 'static,
) -> impl FnOnce() -> R + Send + 'static {
    let (gate, started) = (gate.clone(), started.clone());
    move || {
        started.arrive();
        gate.wait();
        then()
    }
}

/// Polls `condition` until it holds; fails with `what` after [`BOUND`]. For states that have
/// no event to wait on (a thread exiting, a thread parking).
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A prefix no other test uses, for thread names.
pub fn unique_prefix(base: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{base}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// One thread of this process, as `/proc/self/task/<tid>` shows it.
#[derive(Debug, Clone)]
pub struct ProcThread {
    pub name: String,
    /// `R` running, `S` sleeping, ...
    pub state: char,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
}

/// The threads of this process whose name starts with `prefix` (names are cut to 15 bytes).
pub fn proc_threads(prefix: &str) -> Vec<ProcThread> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return found;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime(14) stime(15)
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        if !name.starts_with(&prefix[..prefix.len().min(15)]) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
        // A joined thread can linger for a moment as a dead task being reaped.
        if matches!(state, 'Z' | 'X' | 'x') {
            continue;
        }
        found.push(ProcThread {
            name,
            state,
            cpu_ticks: ticks(11) + ticks(12),
        });
    }
    found
}
