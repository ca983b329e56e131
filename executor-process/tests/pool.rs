//! The pool's everyday behaviour: results, task errors, panics, crash isolation with
//! replacement, map with chunks, functions, large payloads, deep queues, and shutdown.

mod common;

use std::collections::HashSet;

use common::{Gate, Probe, outcome};
use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit, TaskError};
use concurrent_futures_process::{Bytes, ProcessPool};
use libtest_mimic::Failed;

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn double(n: u64) -> u64 {
    n * 2
}

fn make_bytes(len: usize) -> Bytes {
    Bytes(vec![7; len])
}

fn nothing() -> u8 {
    0
}

concurrent_futures_process::remote_fn!(add, double, make_bytes, nothing);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("pool starts")
}

fn returns_values_errors_and_panics() -> Result<(), Failed> {
    let pool = pool(2);
    let ok = pool.submit(Probe::Return(42)).unwrap();
    let failed = pool.submit(Probe::Fail("nope".into())).unwrap();
    let panicked = pool.submit(Probe::Panic("boom".into())).unwrap();
    assert_eq!(outcome(&ok), Ok(42));
    assert_eq!(outcome(&failed), Err(TaskError::Failed("nope".to_string())));
    let panic = outcome(&panicked).unwrap_err();
    let info = panic.panic_info().expect("a panic");
    assert_eq!(info.message(), "boom");
    let location = info.location().expect("the location travels");
    assert!(location.file.ends_with("common/mod.rs"), "{location:?}");
    // The worker survived the panic: both workers still answer.
    let pids: HashSet<u64> = (0..20)
        .map(|_| pool.submit(Probe::Pid).unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|f| outcome(f).unwrap())
        .collect();
    assert!(pids.len() <= 2);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn crash_fails_only_its_task() -> Result<(), Failed> {
    for crash in [
        Probe::Abort,
        Probe::Segfault,
        Probe::Exit(3),
        Probe::KillSelf,
    ] {
        let pool = pool(2);
        let before = pool.submit(Probe::Return(1)).unwrap();
        assert_eq!(outcome(&before), Ok(1));
        let crashed = pool.submit(crash.clone()).unwrap();
        let after: Vec<_> = (0..10)
            .map(|i| pool.submit(Probe::Return(i)).unwrap())
            .collect();
        match outcome(&crashed) {
            Err(TaskError::WorkerLost(exit)) => {
                assert!(exit.pid > 0);
                match crash {
                    Probe::Abort => assert_eq!(exit.signal, Some(libc::SIGABRT)),
                    Probe::Segfault => assert_eq!(exit.signal, Some(libc::SIGSEGV)),
                    Probe::Exit(code) => assert_eq!(exit.code, Some(code)),
                    Probe::KillSelf => assert_eq!(exit.signal, Some(libc::SIGKILL)),
                    _ => unreachable!(),
                }
            }
            other => return Err(format!("{crash:?}: expected WorkerLost, got {other:?}").into()),
        }
        for (i, future) in after.iter().enumerate() {
            assert_eq!(outcome(future), Ok(i as u64), "{crash:?}");
        }
        assert!(!pool.is_shutdown());
        pool.shutdown(Shutdown::default());
    }
    Ok(())
}

fn replacement_worker_serves() -> Result<(), Failed> {
    let pool = pool(1);
    let first = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    let lost = pool.submit(Probe::Abort).unwrap();
    assert!(matches!(outcome(&lost), Err(TaskError::WorkerLost(_))));
    let second = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    assert_ne!(first, second, "a new worker process");
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn functions_and_tuples() -> Result<(), Failed> {
    let pool = pool(2);
    assert_eq!(outcome(&pool.call(add, (2, 3)).unwrap()), Ok(5));
    assert_eq!(outcome(&pool.call(double, 21).unwrap()), Ok(42));
    assert_eq!(outcome(&pool.call(nothing, ()).unwrap()), Ok(0));
    let doubled: Vec<u64> = pool
        .map(
            (0..100).map(|i| concurrent_futures_process::Call::new(double, i)),
            MapOptions::new().chunksize(7),
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(doubled, (0..100).map(|i| i * 2).collect::<Vec<_>>());
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn unregistered_function_fails_its_future() -> Result<(), Failed> {
    fn triple(n: u64) -> u64 {
        n * 3
    }
    let pool = pool(1);
    match outcome(&pool.call(triple, 1).unwrap()) {
        Err(TaskError::Backend(error)) => {
            assert!(error.message().contains("not registered"), "{error}")
        }
        other => return Err(format!("expected a Backend error, got {other:?}").into()),
    }
    assert_eq!(outcome(&pool.call(double, 1).unwrap()), Ok(2));
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn map_with_chunks_keeps_order_and_errors() -> Result<(), Failed> {
    let pool = pool(2);
    let tasks = (0..1000u64).map(|i| {
        if i % 100 == 7 {
            Probe::Fail(format!("item {i}"))
        } else if i % 100 == 8 {
            Probe::Panic(format!("item {i}"))
        } else {
            Probe::Return(i)
        }
    });
    let results: Vec<_> = pool
        .map(tasks, MapOptions::new().chunksize(64).buffersize(4))
        .collect();
    assert_eq!(results.len(), 1000);
    for (i, result) in results.into_iter().enumerate() {
        match i % 100 {
            7 => assert_eq!(result, Err(TaskError::Failed(format!("item {i}")))),
            8 => assert!(result.unwrap_err().is_panic()),
            _ => assert_eq!(result, Ok(i as u64)),
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn large_arguments_and_results() -> Result<(), Failed> {
    let pool = pool(2);
    let mib = 1 << 20;
    let futures: Vec<_> = (0..20)
        .map(|i| {
            pool.submit(Probe::Len(Bytes(vec![i as u8; mib + i])))
                .unwrap()
        })
        .collect();
    let made = pool.call(make_bytes, 3 * mib).unwrap();
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(outcome(future), Ok((mib + i) as u64));
    }
    let bytes = outcome(&made).unwrap();
    assert_eq!(bytes.len(), 3 * mib);
    assert!(bytes.iter().all(|&b| b == 7));
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// Large arguments and results inside batches: arenas are reused, grown and replaced mid-batch.
fn large_payloads_in_batches() -> Result<(), Failed> {
    let pool = pool(1);
    let warm: Vec<_> = (0..200).map(|i| pool.call(double, i).unwrap()).collect();
    for future in &warm {
        outcome(future).unwrap();
    }
    for round in 0..3 {
        let mut gate = Gate::new();
        let blocker = pool.submit(gate.task(0)).unwrap();
        gate.wait_started(1);
        let sizes: Vec<usize> = (0..30)
            .map(|i| (i * 97_000 + round * 13) % 2_500_000)
            .collect();
        let made: Vec<_> = sizes
            .iter()
            .map(|&n| pool.call(make_bytes, n).unwrap())
            .collect();
        let lens: Vec<_> = sizes
            .iter()
            .map(|&n| pool.submit(Probe::Len(Bytes(vec![3; n]))).unwrap())
            .collect();
        gate.release_all();
        outcome(&blocker).unwrap();
        for ((future, len), &n) in made.iter().zip(&lens).zip(&sizes) {
            let bytes = outcome(future).unwrap();
            assert_eq!(bytes.len(), n);
            assert!(bytes.iter().all(|&b| b == 7));
            assert_eq!(outcome(len), Ok(n as u64));
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn shutdown_waits_and_reaps() -> Result<(), Failed> {
    let pool = pool(2);
    let futures: Vec<_> = (0..50)
        .map(|i| {
            pool.submit(Probe::Sleep {
                millis: 1,
                value: i,
            })
            .unwrap()
        })
        .collect();
    let pids = pool.worker_pids();
    pool.shutdown(Shutdown::default());
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(
            future.result_timeout(std::time::Duration::ZERO),
            Ok(i as u64)
        );
    }
    for pid in pids {
        assert!(common::process_gone(pid), "worker {pid} still exists");
    }
    assert!(pool.is_shutdown());
    assert!(pool.submit(Probe::Return(1)).is_err());
    Ok(())
}

fn shutdown_cancels_queued_futures() -> Result<(), Failed> {
    let pool = pool(1);
    let mut gate = Gate::new();
    let running = pool.submit(gate.task(1)).unwrap();
    gate.wait_started(1);
    let queued: Vec<_> = (0..10)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    pool.shutdown(Shutdown::no_wait().cancel_futures(true));
    for future in &queued {
        assert!(future.cancelled());
    }
    gate.release_all();
    assert_eq!(outcome(&running), Ok(1));
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// A done-callback can wait for another task of its pool, whichever thread runs it: the
/// connection thread, or a thread that waits for a result and reads results itself (then the
/// callback runs there, with nothing held that the other task's result needs).
fn a_done_callback_can_wait_for_another_task() -> Result<(), Failed> {
    let pool = pool(1);
    let (sender, answers) = std::sync::mpsc::channel();
    for i in 0..50u64 {
        let future = pool.call(double, i).unwrap();
        let (inner_pool, sender) = (pool.clone(), sender.clone());
        future.add_done_callback(move |_| {
            let inner = inner_pool.call(add, (i, 1)).unwrap();
            let _ = sender.send(outcome(&inner));
        });
        assert_eq!(outcome(&future), Ok(i * 2));
    }
    drop(sender);
    let mut answers: Vec<_> = answers.iter().map(|answer| answer.unwrap()).collect();
    answers.sort_unstable();
    assert_eq!(answers, (1..=50).collect::<Vec<u64>>());
    pool.shutdown(Shutdown::wait());
    Ok(())
}

/// A done-callback can shut its pool down and wait for it, even when the thread running it is
/// the one reading results: the workers still get their exit, and their connection threads
/// still see them go.
fn a_done_callback_can_shut_its_pool_down() -> Result<(), Failed> {
    for _ in 0..10 {
        let pool = pool(2);
        let future = pool.call(double, 4).unwrap();
        let (sender, shut) = std::sync::mpsc::channel();
        let inner = pool.clone();
        future.add_done_callback(move |_| {
            inner.shutdown(Shutdown::wait());
            let _ = sender.send(());
        });
        assert_eq!(outcome(&future), Ok(8));
        shut.recv_timeout(common::LONG)
            .map_err(|_| "shutdown(wait) in a done-callback did not return")?;
        assert!(
            pool.call(double, 1).is_err(),
            "shut down: submits are refused"
        );
        pool.shutdown(Shutdown::wait());
    }
    Ok(())
}

test_main!(
    a_done_callback_can_wait_for_another_task,
    a_done_callback_can_shut_its_pool_down,
    returns_values_errors_and_panics,
    crash_fails_only_its_task,
    replacement_worker_serves,
    functions_and_tuples,
    unregistered_function_fails_its_future,
    map_with_chunks_keeps_order_and_errors,
    large_arguments_and_results,
    large_payloads_in_batches,
    shutdown_waits_and_reaps,
    shutdown_cancels_queued_futures,
);
