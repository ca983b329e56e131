//! `map` on the process pool keeps per-item semantics whatever the chunksize (issue #11, point
//! 8): each item has its own time limit, and a crash or an expiry fails only the item that was
//! running while the rest of its chunk keeps or gets its results. Also `map_fn`, Python's
//! `executor.map(function, iterable)`.
//!
//! Every map has a `timeout` of [`LONG`], so a hang fails the test instead of blocking it.

mod common;

use std::time::Duration;

use common::{Gate, LONG, Probe, outcome};
use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit, TaskError};
use concurrent_futures_process::ProcessPool;
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

/// Appends "index pid" to the log at `log`, then aborts if told to; returns the worker's pid.
fn logged_step(log: String, index: u64, abort: bool) -> u64 {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("the log opens");
    writeln!(file, "{index} {}", std::process::id()).expect("the log is written");
    drop(file);
    if abort {
        std::process::abort();
    }
    u64::from(std::process::id())
}

/// `size` bytes, each `index as u8`; aborts instead if told to.
fn blob(index: u64, size: usize, abort: bool) -> Vec<u8> {
    if abort {
        std::process::abort();
    }
    vec![index as u8; size]
}

/// A result whose encoding fails for 2 (an error) and 4 (a panic).
#[derive(Debug, PartialEq)]
struct Picky(u64);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            2 => Err(serde::ser::Error::custom("Picky refuses 2")),
            4 => panic!("Picky panics at 4"),
            n => serializer.serialize_u64(n),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Picky)
    }
}

fn picky(n: u64) -> Picky {
    Picky(n)
}

concurrent_futures_process::remote_fn!(add, collatz_steps, logged_step, blob, picky);

/// The log of [`logged_step`]: `(index, pid)` per line, in the order the items ran.
fn read_log(path: &std::path::Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let (index, pid) = line.split_once(' ').expect("two fields");
            (index.parse().unwrap(), pid.parse().unwrap())
        })
        .collect()
}

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

/// The items a worker finished before it crashed keep the outcomes it computed: they ran once,
/// on the worker that died, and are not run again; the crashing item is not retried either.
fn committed_items_keep_their_real_results() -> Result<(), Failed> {
    let pool = pool(1, None);
    let dir = Gate::new();
    let log = dir.dir().join("log");
    let path = log.to_str().expect("a UTF-8 temp path").to_string();
    let items = (0..6u64).map(|i| (path.clone(), i, i == 3));
    let results: Vec<_> = pool.map_fn(logged_step, items, options(6)).collect();
    let ran = read_log(&log);
    // Each item ran exactly once, in order.
    assert_eq!(
        ran.iter().map(|(index, _)| *index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5],
        "{ran:?}"
    );
    let pid_of = |index: usize| ran[index].1;
    let (dead, replacement) = (pid_of(0), pid_of(4));
    assert_ne!(dead, replacement);
    assert_eq!([pid_of(1), pid_of(2), pid_of(3)], [dead; 3]);
    assert_eq!(pid_of(5), replacement);
    // Items 0..3 report the dead worker's pid: the values it computed, read back after it died.
    assert_eq!(results[..3], [Ok(dead), Ok(dead), Ok(dead)]);
    match &results[3] {
        Err(TaskError::WorkerLost(exit)) => {
            assert_eq!(u64::from(exit.pid), dead);
            assert_eq!(exit.signal, Some(libc::SIGABRT));
        }
        other => return Err(format!("item 3: expected WorkerLost, got {other:?}").into()),
    }
    assert_eq!(results[4..], [Ok(replacement), Ok(replacement)]);
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// Several items of one chunk crash in turn, two of them back to back: each fails alone, every
/// other item runs once and keeps its result, in order.
fn several_crashes_in_one_chunk() -> Result<(), Failed> {
    let pool = pool(1, None);
    let dir = Gate::new();
    let log = dir.dir().join("log");
    let path = log.to_str().expect("a UTF-8 temp path").to_string();
    let crashes = [1u64, 2, 5, 7];
    let items = (0..8u64).map(|i| (path.clone(), i, crashes.contains(&i)));
    let results: Vec<_> = pool.map_fn(logged_step, items, options(8)).collect();
    let ran = read_log(&log);
    assert_eq!(
        ran.iter().map(|(index, _)| *index).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>(),
        "each item runs once: {ran:?}"
    );
    for (i, result) in results.iter().enumerate() {
        let pid = ran[i].1;
        if crashes.contains(&(i as u64)) {
            match result {
                Err(TaskError::WorkerLost(exit)) => assert_eq!(u64::from(exit.pid), pid),
                other => return Err(format!("item {i}: expected WorkerLost, got {other:?}").into()),
            }
        } else {
            assert_eq!(result, &Ok(pid), "item {i}");
        }
    }
    // A new worker after each crash: items 0-1 | 2 | 3-5 | 6-7 ran on four processes.
    let pids: Vec<u64> = ran.iter().map(|(_, pid)| *pid).collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[3], pids[5]);
    assert_eq!(pids[6], pids[7]);
    let distinct: std::collections::BTreeSet<_> = [pids[0], pids[2], pids[3], pids[6]].into();
    assert_eq!(distinct.len(), 4, "{pids:?}");
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// Outcomes larger than the worker's shared record area travel early, in pieces (one even
/// alone); a crash after some did keeps all of them.
fn large_outcomes_survive_a_crash() -> Result<(), Failed> {
    let pool = pool(1, None);
    let sizes = [
        100_000usize,
        100_000,
        100_000,
        400_000,
        10,
        100_000,
        0,
        50_000,
    ];
    let items = (0..8u64).map(|i| (i, sizes[i as usize], i == 6));
    let results: Vec<_> = pool.map_fn(blob, items, options(8)).collect();
    for (i, result) in results.into_iter().enumerate() {
        if i == 6 {
            assert!(
                matches!(result, Err(TaskError::WorkerLost(_))),
                "{result:?}"
            );
        } else {
            assert_eq!(result, Ok(vec![i as u8; sizes[i]]), "item {i}");
        }
    }
    // Without a crash, too.
    let items = (0..8u64).map(|i| (i, sizes[i as usize], false));
    let results: Vec<_> = pool.map_fn(blob, items, options(8)).collect();
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result, Ok(vec![i as u8; sizes[i]]), "item {i}");
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// An item whose result does not encode (an error, or a panic in `Serialize`) fails alone with
/// `Codec` at `EncodeResult`; the chunk's other items keep their results.
fn encoding_failure_fails_only_its_item() -> Result<(), Failed> {
    let pool = pool(1, None);
    let results: Vec<_> = pool.map_fn(picky, 0..7u64, options(7)).collect();
    for (i, result) in results.into_iter().enumerate() {
        match (i, result) {
            (2 | 4, Err(TaskError::Codec(codec))) => {
                assert_eq!(
                    codec.stage,
                    concurrent_futures_core::CodecStage::EncodeResult
                );
                assert!(codec.message.contains("Picky"), "{}", codec.message);
            }
            (2 | 4, other) => return Err(format!("item {i}: expected Codec, got {other:?}").into()),
            (_, result) => assert_eq!(result, Ok(Picky(i as u64)), "item {i}"),
        }
    }
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

/// Items that each stay under the limit push the running item's deadline past the chunk's, more
/// than once; then an endless item expires, after the committed items, and the item after it
/// still runs.
fn expiry_after_committed_items() -> Result<(), Failed> {
    let limit = Duration::from_secs(1);
    let pool = pool(1, Some(limit));
    let gate = Gate::new();
    let items = (0..4u64).map(|i| match i {
        0 | 1 => Probe::Sleep {
            millis: 600,
            value: i,
        },
        2 => gate.task(i), // never released
        _ => Probe::Return(i),
    });
    let results: Vec<_> = pool.map(items, options(4)).collect();
    assert_eq!(
        results,
        [Ok(0), Ok(1), Err(TaskError::Expired { limit }), Ok(3)]
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
    expiry_after_committed_items,
    committed_items_keep_their_real_results,
    several_crashes_in_one_chunk,
    large_outcomes_survive_a_crash,
    encoding_failure_fails_only_its_item,
    order_is_kept_around_failures,
    map_fn_equals_sequential_calls,
    refused_chunk_reports_each_item,
);
