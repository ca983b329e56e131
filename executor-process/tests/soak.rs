//! The soak (issue #12): many tasks on a few churning workers, a random mix of values, panics,
//! aborts, segfaults and time limits, every outcome counted by kind and checked against what
//! its task does. Nothing may be lost (every future ends with the outcome its kind promises),
//! and after shutdown no zombie, no extra descriptor and no extra thread may remain.
//!
//! The test suite runs it bounded (`SOAK_TASKS` default 3,000); `cargo xtask soak` runs it long,
//! in release, with `SOAK_TASKS`, `SOAK_WORKERS` and `SOAK_SEED` set, and prints the same
//! report.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{LONG, Probe, SplitMix};
use concurrent_futures_core::{Executor, Future, Shutdown, TaskError};
use concurrent_futures_process::{ProcessPool, SubmitOptions};
use libtest_mimic::{Arguments, Failed, Trial};

/// What a task of the soak does, and so what its future must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Value,
    Panic,
    Abort,
    Segfault,
    TimeLimit,
}

impl Kind {
    /// Mostly values, a few of each failure, from one random draw.
    fn pick(draw: u64) -> Kind {
        match draw % 100 {
            0..=84 => Kind::Value,
            85..=89 => Kind::Panic,
            90..=92 => Kind::Abort,
            93..=95 => Kind::Segfault,
            _ => Kind::TimeLimit,
        }
    }
}

/// The process's resources, to compare before and after.
#[derive(Debug, Clone, Copy)]
struct Resources {
    descriptors: usize,
    threads: usize,
    rss_kib: u64,
    zombies: usize,
}

fn resources() -> Resources {
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, |d| d.count());
    let rss_pages: u64 = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    Resources {
        descriptors: count("/proc/self/fd"),
        threads: count("/proc/self/task"),
        rss_kib: rss_pages * 4,
        zombies: common::zombie_children().len(),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `got` is what a task of `kind` (returning `value`) must end with.
fn expected(kind: Kind, value: u64, got: &Result<u64, TaskError<String>>) -> bool {
    match (kind, got) {
        (Kind::Value, Ok(v)) => *v == value,
        (Kind::Panic, Err(TaskError::Panicked(_))) => true,
        (Kind::Abort, Err(TaskError::WorkerLost(exit))) => exit.signal == Some(libc::SIGABRT),
        (Kind::Segfault, Err(TaskError::WorkerLost(exit))) => exit.signal == Some(libc::SIGSEGV),
        (Kind::TimeLimit, Err(TaskError::Expired { .. })) => true,
        _ => false,
    }
}

fn soak() -> Result<(), Failed> {
    let tasks = env_number("SOAK_TASKS", 3_000);
    let workers = env_number("SOAK_WORKERS", 2) as usize;
    let seed = env_number("SOAK_SEED", 0x50A4);
    let before = resources();
    let started = Instant::now();
    let pool = ProcessPool::builder()
        .max_workers(workers)
        .max_tasks_per_child(50)
        // Panics are counted, not read: keep the log to one line each.
        .worker_env("RUST_BACKTRACE", "0")
        .build()
        .unwrap();
    let mut random = SplitMix(seed);
    let mut pending: Vec<(Kind, u64, Future<u64, String>)> = Vec::new();
    let mut counts = BTreeMap::<Kind, u64>::new();
    let mut lost = Vec::new();
    // Submitted in windows, so memory follows the window, not the run.
    let window = 1_000;
    for i in 0..tasks {
        let kind = Kind::pick(random.next());
        let (probe, options) = match kind {
            Kind::Value => (Probe::Return(i), SubmitOptions::new()),
            Kind::Panic => (Probe::Panic(format!("soak {i}")), SubmitOptions::new()),
            Kind::Abort => (Probe::Abort, SubmitOptions::new()),
            Kind::Segfault => (Probe::Segfault, SubmitOptions::new()),
            Kind::TimeLimit => (
                Probe::Sleep {
                    millis: 60_000,
                    value: i,
                },
                SubmitOptions::new().timeout(Duration::from_millis(20)),
            ),
        };
        let future = pool
            .submit_with(probe, options)
            .map_err(|e| format!("task {i} refused: {e}"))?;
        pending.push((kind, i, future));
        if pending.len() >= window || i + 1 == tasks {
            for (kind, value, future) in pending.drain(..) {
                let got = future.result_timeout(LONG);
                if expected(kind, value, &got) {
                    *counts.entry(kind).or_default() += 1;
                } else {
                    lost.push(format!("task {value} ({kind:?}): {got:?}"));
                }
            }
        }
    }
    pool.shutdown(Shutdown::wait());
    let elapsed = started.elapsed();
    let after = resources();
    println!(
        "soak: {tasks} tasks on {workers} workers (seed {seed}) in {:.1} s",
        elapsed.as_secs_f64()
    );
    for (kind, count) in &counts {
        println!("  {kind:?}: {count}");
    }
    println!("  lost or wrong: {}", lost.len());
    println!("  {:<12} {:>8} {:>8}", "", "before", "after");
    println!(
        "  {:<12} {:>8} {:>8}",
        "descriptors", before.descriptors, after.descriptors
    );
    println!(
        "  {:<12} {:>8} {:>8}",
        "threads", before.threads, after.threads
    );
    println!(
        "  {:<12} {:>8} {:>8}",
        "RSS (KiB)", before.rss_kib, after.rss_kib
    );
    println!(
        "  {:<12} {:>8} {:>8}",
        "zombies", before.zombies, after.zombies
    );
    if !lost.is_empty() {
        let shown: Vec<_> = lost.iter().take(10).collect();
        return Err(format!(
            "{} of {tasks} futures did not end as their task promises (seed {seed}): {shown:#?}",
            lost.len()
        )
        .into());
    }
    if after.zombies > 0 {
        return Err(format!("{} zombies after shutdown", after.zombies).into());
    }
    let grew = [
        ("descriptors", before.descriptors, after.descriptors),
        ("threads", before.threads, after.threads),
    ];
    for (what, before, after) in grew {
        if after > before {
            return Err(format!("{what} grew: {before} before, {after} after").into());
        }
    }
    Ok(())
}

fn main() {
    concurrent_futures_process::init();
    let mut args = Arguments::from_args();
    // It counts this process's descriptors and threads.
    args.test_threads = Some(1);
    libtest_mimic::run(&args, vec![Trial::test("soak", soak)]).exit();
}
