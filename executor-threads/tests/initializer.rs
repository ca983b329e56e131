//! The initializer: once per thread, and a failing one breaks the pool (CPython's
//! `BrokenThreadPool`) without hanging anything.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counter, Latch, eventually, gated};
use concurrent_futures_core::{Executor, Rejected, Shutdown, Submit, TaskError};
use concurrent_futures_threads::ThreadPool;

#[test]
fn the_initializer_runs_once_at_the_start_of_every_thread() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = {
        let calls = calls.clone();
        ThreadPool::builder()
            .max_workers(3)
            .initializer(move || {
                calls.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let (gate, started) = (Latch::new(), Counter::new());
    let futures: Vec<_> = (0..3)
        .map(|_| {
            let (gate, started, calls) = (gate.clone(), started.clone(), calls.clone());
            // Each task sees its own thread's initializer done.
            pool.submit(move || {
                started.arrive();
                gate.wait();
                calls.load(Ordering::SeqCst) >= 1
            })
            .unwrap()
        })
        .collect();
    started.wait_for(3);
    gate.open();
    for f in &futures {
        assert_eq!(f.result(), Ok(true));
    }
    for i in 0..20 {
        assert_eq!(pool.submit(move || i).unwrap().result(), Ok(i));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

fn broken_reason<T: std::fmt::Debug>(outcome: Result<T, TaskError>) -> String {
    match outcome {
        Err(TaskError::Broken(broken)) => broken.reason,
        other => panic!("expected a broken-pool error, got {other:?}"),
    }
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(|| -> Result<(), String> { Err("database unreachable".into()) })
        .build()
        .unwrap();
    // Submitted before the failure was seen: either refused or failed, never run, never hung.
    let mut refused = 0;
    for i in 0..10 {
        match pool.submit(move || i) {
            Ok(future) => {
                let reason = broken_reason(future.result_timeout(common::BOUND));
                assert!(reason.contains("database unreachable"), "{reason}");
                assert!(reason.contains("initializer"), "{reason}");
            }
            Err(err) => {
                assert!(
                    matches!(err.reason(), Rejected::Broken(b) if b.reason.contains("database unreachable"))
                );
                assert_eq!(err.into_task()(), i, "the task is handed back");
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "the first failure must be seen by later submits"
    );
    assert!(pool.is_shutdown());
    let err = pool.submit(|| 0).unwrap_err();
    assert!(matches!(err.reason(), Rejected::Broken(_)), "{err}");
    pool.shutdown(Shutdown::default());
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn a_panicking_initializer_breaks_the_pool_with_the_panic_message() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .initializer(|| -> Result<(), String> { panic!("no config file") })
        .build()
        .unwrap();
    let future = pool.submit(|| 1).unwrap();
    let reason = broken_reason(future.result_timeout(common::BOUND));
    assert!(reason.contains("no config file"), "{reason}");
    eventually("the pool refuses submits", || pool.submit(|| 2).is_err());
}

#[test]
fn running_tasks_finish_normally_and_queued_ones_fail_when_a_later_thread_breaks_the_pool() {
    let inits = Arc::new(AtomicUsize::new(0));
    let pool = {
        let inits = inits.clone();
        ThreadPool::builder()
            .max_workers(2)
            .initializer(move || -> Result<(), &'static str> {
                // The first thread initializes fine, the second one fails.
                match inits.fetch_add(1, Ordering::SeqCst) {
                    0 => Ok(()),
                    _ => Err("second thread failed"),
                }
            })
            .build()
            .unwrap()
    };
    let (gate, started) = (Latch::new(), Counter::new());
    let running = pool.submit(gated(&gate, &started, || "finished")).unwrap();
    started.wait_for(1);
    // Starts the second thread, whose initializer fails: the queued tasks fail (or, once the
    // failure is seen, the submits are refused).
    let first_queued = pool.submit(|| "ran").unwrap();
    let mut queued = vec![first_queued];
    for _ in 0..4 {
        match pool.submit(|| "ran") {
            Ok(future) => queued.push(future),
            Err(err) => assert!(matches!(err.reason(), Rejected::Broken(_)), "{err}"),
        }
    }
    for future in &queued {
        let reason = broken_reason(future.result_timeout(common::BOUND));
        assert!(reason.contains("second thread failed"), "{reason}");
    }
    assert!(matches!(
        pool.submit(|| "late").unwrap_err().reason(),
        Rejected::Broken(_)
    ));
    assert!(!running.done(), "the running task is not touched");
    gate.open();
    assert_eq!(running.result(), Ok("finished"));
    pool.shutdown(Shutdown::default());
    assert_eq!(pool.thread_count(), 0);
}
