//! Our process pool's contenders for P1-P5 and C1 (processes), and the functions its workers
//! run.
//!
//! The functions are registered with `concurrent_futures_process::remote_fn!` in the binary's `main.rs`
//! (the binary is what workers run; registering there guarantees the linker keeps the entries).

use std::hint::black_box;
use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
use concurrent_futures_process::{Bytes, Call, ProcessPool};

use crate::context::{WORKERS, thousands};
use crate::cpu;
use crate::harness::{Contender, Measurement};

// ---- what the workers run -------------------------------------------------------------------

/// P1, P2, P4: nothing.
pub fn noop() {}

/// P3: the trivial function.
pub fn trivial(item: u64) -> u64 {
    item + 1
}

/// P5: the length of the argument.
pub fn length(payload: Bytes) -> u64 {
    payload.len() as u64
}

/// C1: `iterations` of pure CPU.
pub fn burn(iterations: u64) -> u64 {
    cpu::burn(iterations)
}

/// Start-up: waits until every worker has one of these running, so every worker exists.
pub fn pause(millis: u64) {
    std::thread::sleep(Duration::from_millis(millis));
}

/// The hook that must run first in `main`: turns this process into a pool worker when the pool
/// started it as one, and returns at once otherwise.
pub fn worker_hook() {
    concurrent_futures_process::init();
}

// ---- the contenders -------------------------------------------------------------------------

/// A 2-worker pool whose workers are running.
fn started_pool() -> Result<ProcessPool, String> {
    started_pool_of(WORKERS)
}

/// A pool of `workers` workers, all running.
fn started_pool_of(workers: usize) -> Result<ProcessPool, String> {
    let pool = ProcessPool::builder()
        .max_workers(workers)
        .build()
        .map_err(|error| format!("building the pool: {error}"))?;
    let warm: Vec<_> = (0..workers)
        .map(|_| pool.call(pause, 20).map_err(|error| error.to_string()))
        .collect::<Result<_, _>>()?;
    for future in warm {
        future.join().map_err(|error| error.to_string())?;
    }
    Ok(pool)
}

fn finish(pool: ProcessPool, started: Instant) -> Measurement {
    let elapsed = started.elapsed().as_secs_f64();
    pool.shutdown(Shutdown::default());
    Ok(vec![elapsed])
}

fn failed(error: impl std::fmt::Display) -> String {
    format!("a task failed: {error}")
}

fn ours(run: impl FnMut() -> Measurement + 'static) -> Vec<Contender<'static>> {
    vec![Contender::ours("ours", "ProcessPool", run)]
}

/// P1: submit `tasks` no-ops, then wait for all.
pub fn p1(tasks: usize, _notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    ours(move || submit_noops(started_pool()?, tasks))
}

/// P1 on a pool of `workers` workers (the workers sweep).
pub fn p1_on(tasks: usize, workers: usize) -> Contender<'static> {
    Contender::ours("ours", "ProcessPool", move || {
        submit_noops(started_pool_of(workers)?, tasks)
    })
}

/// P1's body: `tasks` no-ops submitted to the started `pool`, then all waited for; the pool is
/// shut down after the clock stops.
fn submit_noops(pool: ProcessPool, tasks: usize) -> Measurement {
    let started = Instant::now();
    let futures: Vec<_> = (0..tasks)
        .map(|_| pool.call(noop, ()).map_err(|error| error.to_string()))
        .collect::<Result<_, _>>()?;
    for future in &futures {
        future.wait();
    }
    let figures = finish(pool, started);
    for future in futures {
        future.join().map_err(failed)?;
    }
    figures
}

/// P2: `rounds` sequential submit + result.
pub fn p2(rounds: usize, _notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    ours(move || {
        let pool = started_pool()?;
        let started = Instant::now();
        for _ in 0..rounds {
            pool.call(noop, ())
                .map_err(|error| error.to_string())?
                .join()
                .map_err(failed)?;
        }
        finish(pool, started)
    })
}

/// P3: `map` over `items` integers with `chunksize`.
pub fn p3(items: usize, chunksize: usize, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    notes.push(format!(
        "P3: `ProcessPool, default options` is the same map without a chunk size: it adapts to \
         the measured pace of the items (CPython's default is one item per task; the anchors \
         pass chunksize {}).",
        thousands(chunksize)
    ));
    let map_with = move |options: MapOptions| {
        move || {
            let pool = started_pool()?;
            let started = Instant::now();
            let mut sum = 0u64;
            let calls = (0..items as u64).map(|item| Call::new(trivial, item));
            for outcome in pool.map(calls, options) {
                sum = sum.wrapping_add(outcome.map_err(failed)?);
            }
            black_box(sum);
            finish(pool, started)
        }
    };
    let mut contenders = ours(map_with(MapOptions::new().chunksize(chunksize)));
    contenders.push(Contender::ours(
        "ours-adaptive",
        "ProcessPool, default options",
        map_with(MapOptions::new()),
    ));
    contenders
}

/// P4: construct to first result, and to shutdown complete (two figures).
pub fn p4(_notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    ours(|| {
        let started = Instant::now();
        let pool = ProcessPool::builder()
            .max_workers(WORKERS)
            .build()
            .map_err(|error| format!("building the pool: {error}"))?;
        pool.call(noop, ())
            .map_err(|error| error.to_string())?
            .join()
            .map_err(failed)?;
        let first = started.elapsed().as_secs_f64();
        pool.shutdown(Shutdown::default());
        Ok(vec![first, started.elapsed().as_secs_f64()])
    })
}

/// P5: `tasks` tasks with a `payload`-byte argument, returning its length.
pub fn p5(tasks: usize, payload: usize, _notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    let bytes = vec![0xA5u8; payload];
    ours(move || {
        let pool = started_pool()?;
        let started = Instant::now();
        let futures: Vec<_> = (0..tasks)
            .map(|_| {
                pool.call(length, Bytes(bytes.clone()))
                    .map_err(|error| error.to_string())
            })
            .collect::<Result<_, _>>()?;
        let mut total = 0;
        for future in futures {
            total += future.join().map_err(failed)?;
        }
        if total != (tasks * payload) as u64 {
            return Err(format!("the workers counted {total} bytes"));
        }
        finish(pool, started)
    })
}

/// C1: `tasks` CPU-bound tasks of `iterations` each.
pub fn c1(tasks: usize, iterations: u64, _notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    ours(move || {
        let pool = started_pool()?;
        let started = Instant::now();
        let futures: Vec<_> = (0..tasks)
            .map(|_| {
                pool.call(burn, iterations)
                    .map_err(|error| error.to_string())
            })
            .collect::<Result<_, _>>()?;
        for future in futures {
            black_box(future.join().map_err(failed)?);
        }
        finish(pool, started)
    })
}
