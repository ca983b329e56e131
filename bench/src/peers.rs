//! The Rust pools a user picks for blocking work instead of ours (performance issue, item 1):
//! tokio's `spawn_blocking`, the `blocking` crate's `unblock` (smol's), and the `threadpool`
//! crate with one crossbeam channel for the results. Each runs T1 (submit all, then wait), T2 (submit and
//! wait, one at a time) and C1 (CPU-bound tasks) with 2 threads, warmed up before the clock
//! starts, as our pools are. T1 also runs from several submitting threads at once, for the
//! submitters sweep (`crate::sweeps`).
//!
//! `blocking` has one global pool whose size is read from `BLOCKING_MAX_THREADS` when it is
//! first used: the bench binary sets it to 2 first thing in `main` (see [`BLOCKING_THREADS_ENV`]).
//! Its threads outlive each round (they idle out after a second), which is how users meet it.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use crate::context::WORKERS;
use crate::harness::{Contender, Measurement};
use crate::{cpu, threads};

/// The environment variable that sizes `blocking`'s global pool.
pub const BLOCKING_THREADS_ENV: &str = "BLOCKING_MAX_THREADS";

/// A tokio runtime whose blocking pool has 2 threads, both started.
fn tokio_runtime() -> tokio::runtime::Runtime {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(WORKERS)
        .build()
        .expect("a tokio runtime");
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    let handles: Vec<_> = (0..WORKERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            runtime.spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    for handle in handles {
        runtime.block_on(handle).expect("a warm-up task");
    }
    runtime
}

/// Starts both of `blocking`'s threads.
fn warm_blocking() {
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            blocking::unblock(move || {
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    for task in tasks {
        futures_lite::future::block_on(task);
    }
}

/// A 2-thread `threadpool`, both threads started.
fn thread_pool() -> threadpool::ThreadPool {
    let pool = threadpool::ThreadPool::new(WORKERS);
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    for _ in 0..WORKERS {
        let barrier = Arc::clone(&barrier);
        pool.execute(move || {
            barrier.wait();
        });
    }
    barrier.wait();
    pool
}

/// The three peers as contenders of a workload, each running `job` (T1, T2 or C1's body) on
/// its pool: on the measuring thread, or split across `submitters` threads.
fn contenders<'a>(job: PeerJob, submitters: Option<usize>) -> Vec<Contender<'a>> {
    vec![
        Contender::anchor("tokio", "tokio spawn_blocking + block_on", move || {
            let runtime = tokio_runtime();
            timed(job, submitters, |job| job.run_tokio(&runtime))
        }),
        Contender::anchor("blocking", "blocking::unblock + block_on", move || {
            warm_blocking();
            timed(job, submitters, PeerJob::run_blocking)
        }),
        Contender::anchor(
            "threadpool",
            "threadpool + one crossbeam channel",
            move || {
                let pool = thread_pool();
                let figures = timed(job, submitters, |job| job.run_threadpool(&pool));
                pool.join();
                figures
            },
        ),
    ]
}

/// The seconds `run(job)` takes on this thread, or, given `submitters`, with `job` split into
/// that many shares run at once on as many threads (see [`threads::spread`]).
fn timed(
    job: PeerJob,
    submitters: Option<usize>,
    run: impl Fn(PeerJob) -> Result<(), String> + Sync,
) -> Measurement {
    match submitters {
        Some(submitters) => {
            let (total, ..) = job.shape();
            let (elapsed, _) =
                threads::spread(submitters, total, |share| run(job.with_total(share)))?;
            Ok(vec![elapsed])
        }
        None => {
            let started = Instant::now();
            run(job)?;
            Ok(vec![started.elapsed().as_secs_f64()])
        }
    }
}

/// T1's peers: `tasks` no-ops submitted, then all waited for.
pub fn t1<'a>(tasks: usize) -> Vec<Contender<'a>> {
    contenders(PeerJob::SubmitAll { tasks }, None)
}

/// T1's peers from `submitters` threads at once (the submitters sweep): each thread submits
/// its share of the `tasks`, then waits for its own (the `threadpool` row: a result channel
/// per thread).
pub fn t1_from<'a>(tasks: usize, submitters: usize) -> Vec<Contender<'a>> {
    contenders(PeerJob::SubmitAll { tasks }, Some(submitters))
}

/// T2's peers: `rounds` times, one no-op submitted and waited for.
pub fn t2<'a>(rounds: usize) -> Vec<Contender<'a>> {
    contenders(PeerJob::RoundTrips { rounds }, None)
}

/// C1's peers: `tasks` CPU-bound tasks of `iterations` each, submitted, then waited for.
pub fn c1<'a>(tasks: usize, iterations: u64) -> Vec<Contender<'a>> {
    contenders(PeerJob::Cpu { tasks, iterations }, None)
}

/// What a peer runs.
#[derive(Debug, Clone, Copy)]
enum PeerJob {
    SubmitAll { tasks: usize },
    RoundTrips { rounds: usize },
    Cpu { tasks: usize, iterations: u64 },
}

impl PeerJob {
    /// The task body and how many to submit before waiting (1: one at a time).
    fn shape(self) -> (usize, usize, u64) {
        match self {
            PeerJob::SubmitAll { tasks } => (tasks, tasks, 0),
            PeerJob::RoundTrips { rounds } => (rounds, 1, 0),
            PeerJob::Cpu { tasks, iterations } => (tasks, tasks, iterations),
        }
    }

    /// The same job with `total` tasks (or rounds) instead: one submitting thread's share.
    fn with_total(self, total: usize) -> PeerJob {
        match self {
            PeerJob::SubmitAll { .. } => PeerJob::SubmitAll { tasks: total },
            PeerJob::RoundTrips { .. } => PeerJob::RoundTrips { rounds: total },
            PeerJob::Cpu { iterations, .. } => PeerJob::Cpu {
                tasks: total,
                iterations,
            },
        }
    }

    fn run_tokio(self, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
        let (total, window, iterations) = self.shape();
        let mut done = 0;
        while done < total {
            let now = window.min(total - done);
            let handles: Vec<_> = (0..now)
                .map(|_| runtime.spawn_blocking(move || cpu::burn(iterations)))
                .collect();
            for handle in handles {
                black_box(runtime.block_on(handle).map_err(|e| e.to_string())?);
            }
            done += now;
        }
        Ok(())
    }

    fn run_blocking(self) -> Result<(), String> {
        let (total, window, iterations) = self.shape();
        let mut done = 0;
        while done < total {
            let now = window.min(total - done);
            let tasks: Vec<_> = (0..now)
                .map(|_| blocking::unblock(move || cpu::burn(iterations)))
                .collect();
            for task in tasks {
                black_box(futures_lite::future::block_on(task));
            }
            done += now;
        }
        Ok(())
    }

    fn run_threadpool(self, pool: &threadpool::ThreadPool) -> Result<(), String> {
        // One channel for all results, as a `threadpool` user writes it (a channel per task,
        // like the futures above, costs it an allocation per task it does not need).
        let (total, window, iterations) = self.shape();
        let (sender, receiver) = crossbeam_channel::unbounded();
        let mut done = 0;
        while done < total {
            let now = window.min(total - done);
            for _ in 0..now {
                let sender = sender.clone();
                pool.execute(move || {
                    let _ = sender.send(cpu::burn(iterations));
                });
            }
            for _ in 0..now {
                black_box(receiver.recv().map_err(|e| e.to_string())?);
            }
            done += now;
        }
        Ok(())
    }
}
