//! `map` on the process pool keeps per-item semantics whatever the chunksize (issue #11, point
//! 8): each item has its own time limit, and a crash or an expiry fails only the item that was
//! running while the rest of its chunk keeps or gets its results. Also `map_fn`, Python's
//! `executor.map(function, iterable)`.
//!
//! Every map has a `timeout` of [`LONG`], so a hang fails the test instead of blocking it.

mod common;

use std::time::Duration;

use common::{Gate, LONG, Probe, outcome};
use executor_core::{Executor, MapOptions, Shutdown, Submit, TaskError};
use executor_process::ProcessPool;
use libtest_mimic::Failed;

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

executor_process::remote_fn!(add, collatz_steps);

fn pool(workers: usize, limit: Option<Duration>) -> ProcessPool {
    let builder = ProcessPool::builder().max_workers(workers);
    let builder = match limit {
        Some(limit) => builder.task_timeout(limit),
        None => builder,
    };
    builder.build().expect("pool starts")
}

fn options(chunksize: usize) -> MapOptions {
    MapOptions::new().chunksize(chunksize).timeout(LONG)
}

/// The reproduction: every item is well under the limit, the chunk's sum is over it.
/// Before, the limit covered the chunk and all 8 items expired. (The sleeps are the workload,
/// not synchronisation; the margin under the limit is wide so a loaded machine passes too.)
fn time_limit_applies_to_each_item() -> Result<(), Failed> {
    let limit = Duration::from_secs(1);
    let pool = pool(2, Some(limit));
    let items = (0..8).map(|value| Probe::Sleep { millis: 200, value });
    let results: Vec<_> = pool.map(items, options(8)).collect();
    assert_eq!(results, (0..8).map(Ok).collect::<Vec<_>>());
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// An abort in the second item of each chunk of 4: that item is `WorkerLost`, the item before it
/// keeps its result and the items after it run on the replacement worker.
fn crash_fails_only_the_running_item() -> Result<(), Failed> {
    let pool = pool(1, None);
    let items = (0..8u64).map(|i| if i % 4 == 1 { Probe::Abort } else { Probe::Pid });
    let results: Vec<_> = pool.map(items, options(4)).collect();
    assert_eq!(results.len(), 8);
    let mut pids = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        if i % 4 == 1 {
            match result {
                Err(TaskError::WorkerLost(exit)) => assert_eq!(exit.signal, Some(libc::SIGABRT)),
                other => return Err(format!("item {i}: expected WorkerLost, got {other:?}").into()),
            }
        } else {
            pids.push(result.map_err(|e| format!("item {i}: {e}"))?);
        }
    }
    // One worker, so each abort replaces it: items 0 | 2, 3, 4 | 6, 7 ran on three processes.
    let [first, second, third] = [pids[0], pids[1], pids[4]];
    assert_eq!(pids, [first, second, second, second, third, third]);
    assert!(first != second && second != third, "{pids:?}");
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// An item that never ends, second in its chunk: it alone expires.
fn expiry_fails_only_the_running_item() -> Result<(), Failed> {
    let limit = Duration::from_secs(1);
    let pool = pool(1, Some(limit));
    let gate = Gate::new();
    let items = (0..4u64).map(|i| {
        if i == 1 {
            // Never released: only the time limit ends it.
            gate.task(i)
        } else {
            Probe::Return(i)
        }
    });
    let results: Vec<_> = pool.map(items, options(4)).collect();
    assert_eq!(
        results,
        [Ok(0), Err(TaskError::Expired { limit }), Ok(2), Ok(3)]
    );
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// Failures of every kind in chunks of 3 over two workers, with a bounded buffer: one outcome per
/// item, in input order.
fn order_is_kept_around_failures() -> Result<(), Failed> {
    let pool = pool(2, None);
    let items = (0..30u64).map(|i| match i % 10 {
        2 => Probe::Abort,
        5 => Probe::Fail(format!("item {i}")),
        7 => Probe::Panic(format!("item {i}")),
        _ => Probe::Return(i),
    });
    let results: Vec<_> = pool.map(items, options(3).buffersize(2)).collect();
    assert_eq!(results.len(), 30);
    for (i, result) in results.into_iter().enumerate() {
        match i % 10 {
            2 => assert!(
                matches!(result, Err(TaskError::WorkerLost(_))),
                "{i}: {result:?}"
            ),
            5 => assert_eq!(result, Err(TaskError::Failed(format!("item {i}")))),
            7 => assert!(result.unwrap_err().is_panic(), "{i}"),
            _ => assert_eq!(result, Ok(i as u64)),
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// `map_fn` gives what calling the function item by item gives, for any chunksize, with one
/// argument or a tuple of several.
fn map_fn_equals_sequential_calls() -> Result<(), Failed> {
    let pool = pool(2, None);
    let numbers = 1..=200u64;
    let sequential: Vec<_> = numbers
        .clone()
        .map(|n| outcome(&pool.call(collatz_steps, n).unwrap()))
        .collect();
    assert_eq!(
        sequential,
        numbers
            .clone()
            .map(|n| Ok(collatz_steps(n)))
            .collect::<Vec<_>>()
    );
    for chunksize in [1, 8, 64] {
        let mapped: Vec<_> = pool
            .map_fn(collatz_steps, numbers.clone(), options(chunksize))
            .collect();
        assert_eq!(mapped, sequential, "chunksize {chunksize}");
    }
    let pairs: Vec<(u64, u64)> = (0..50).map(|i| (i, 1000 - i)).collect();
    let sums: Vec<_> = pool.map_fn(add, pairs.clone(), options(7)).collect();
    let called: Vec<_> = pairs
        .into_iter()
        .map(|pair| outcome(&pool.call(add, pair).unwrap()))
        .collect();
    assert_eq!(sums, called);
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// After shutdown, a chunk is refused as a whole: each of its items says so.
fn refused_chunk_reports_each_item() -> Result<(), Failed> {
    let pool = pool(1, None);
    pool.shutdown(Shutdown::default());
    let results: Vec<_> = pool
        .map_fn(add, (0..4).map(|i| (i, i)), options(4))
        .collect();
    assert_eq!(results.len(), 4);
    for result in results {
        assert!(matches!(result, Err(TaskError::Rejected(_))), "{result:?}");
    }
    Ok(())
}

test_main!(
    time_limit_applies_to_each_item,
    crash_fails_only_the_running_item,
    expiry_fails_only_the_running_item,
    order_is_kept_around_failures,
    map_fn_equals_sequential_calls,
    refused_chunk_reports_each_item,
);
