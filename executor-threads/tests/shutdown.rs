//! `shutdown(wait, cancel_futures)`, submit after shutdown, shutdown from tasks and callbacks,
//! and what dropping the last handle does.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counter, Latch, eventually, gated, unique_prefix};
use concurrent_futures_core::{Executor, Rejected, Shutdown, State, Submit, TaskError};
use concurrent_futures_threads::ThreadPool;

const NO_WAIT: Shutdown = Shutdown {
    wait: false,
    cancel_futures: false,
};
const CANCEL_NO_WAIT: Shutdown = Shutdown {
    wait: false,
    cancel_futures: true,
};

/// A one-worker pool busy with a task blocked on the returned latch.
fn busy_pool() -> (ThreadPool, Latch, concurrent_futures_core::Future<()>) {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (gate, started) = (Latch::new(), Counter::new());
    let running = pool.submit(gated(&gate, &started, || ())).unwrap();
    started.wait_for(1);
    (pool, gate, running)
}

#[test]
fn queued_work_still_runs_after_shutdown() {
    let (pool, gate, running) = busy_pool();
    let queued: Vec<_> = (0..10)
        .map(|i| pool.submit(move || i).unwrap().share())
        .collect();
    pool.shutdown(NO_WAIT);
    assert!(pool.is_shutdown());
    gate.open();
    pool.shutdown(Shutdown::default());
    assert_eq!(running.result(), Ok(()));
    for (i, f) in queued.iter().enumerate() {
        assert_eq!(f.state(), State::Finished);
        assert_eq!(f.result(), Ok(i));
    }
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn cancel_futures_cancels_queued_work_at_once_and_wakes_waiters() {
    let (pool, gate, running) = busy_pool();
    let queued: Vec<_> = (0..10)
        .map(|i| pool.submit(move || i).unwrap().share())
        .collect();
    let callbacks = Arc::new(AtomicUsize::new(0));
    for f in &queued {
        let callbacks = callbacks.clone();
        f.add_done_callback(move |f| {
            assert!(f.cancelled());
            callbacks.fetch_add(1, Ordering::SeqCst);
        });
    }
    let waiter = {
        let last = queued[9].clone();
        std::thread::spawn(move || last.result())
    };
    pool.shutdown(CANCEL_NO_WAIT);
    // Done when shutdown returns, callbacks run, while the running task still runs.
    assert!(queued.iter().all(|f| f.cancelled()));
    assert_eq!(callbacks.load(Ordering::SeqCst), 10);
    assert_eq!(waiter.join().unwrap(), Err(TaskError::Cancelled));
    assert!(!running.done());
    gate.open();
    assert_eq!(running.result(), Ok(()));
    pool.shutdown(Shutdown::default());
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn submit_after_shutdown_is_refused_and_hands_the_task_back() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    pool.shutdown(Shutdown::default());
    let err = pool.submit(|| 41 + 1).unwrap_err();
    assert_eq!(err.reason(), &Rejected::ShutDown);
    assert_eq!(err.into_task()(), 42);
}

#[test]
fn shutdown_is_idempotent() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    for how in [
        Shutdown::default(),
        NO_WAIT,
        CANCEL_NO_WAIT,
        Shutdown::default(),
    ] {
        pool.shutdown(how);
        assert!(pool.is_shutdown());
    }
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn shutdown_wait_leaves_no_thread_behind() {
    let prefix = unique_prefix("leak");
    let pool = ThreadPool::builder()
        .max_workers(4)
        .thread_name_prefix(&prefix)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..200).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown(Shutdown::default());
    assert!(futures.iter().all(|f| f.done()));
    assert_eq!(pool.thread_count(), 0);
    // Joined: gone from the process, not just from the count (the kernel may take a moment to
    // reap a thread after `join` returned, hence `eventually`).
    eventually("the joined threads leave /proc", || {
        common::proc_threads(&prefix).is_empty()
    });
}

#[test]
fn a_task_can_shut_its_own_pool_down_with_wait() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let inner = pool.clone();
    let shut = pool
        .submit(move || {
            inner.shutdown(Shutdown::default());
            inner.is_shutdown()
        })
        .unwrap();
    assert_eq!(shut.result_timeout(common::BOUND), Ok(true));
    pool.shutdown(Shutdown::default());
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn a_done_callback_can_shut_the_pool_down_and_submit() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let gate = Latch::new();
    let first = {
        let gate = gate.clone();
        pool.submit(move || gate.wait()).unwrap()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = pool.clone();
    first.add_done_callback(move |_| {
        let chained = inner.submit(|| 7).map(|f| f.result());
        inner.shutdown(Shutdown::default());
        let refused = inner.submit(|| 8).is_err();
        tx.send((chained.ok(), refused)).unwrap();
    });
    gate.open();
    let (chained, refused) = rx.recv_timeout(common::BOUND).expect("callback deadlocked");
    assert_eq!(chained, Some(Ok(7)));
    assert!(refused);
    pool.shutdown(Shutdown::default());
    assert_eq!(pool.thread_count(), 0);
}

#[test]
fn a_callback_of_a_future_cancelled_by_shutdown_can_submit_without_deadlock() {
    // CPython deadlocks here (the callback runs under the shutdown lock).
    let (pool, gate, _running) = busy_pool();
    let queued = pool.submit(|| 1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = pool.clone();
    queued.add_done_callback(move |_| {
        tx.send(inner.submit(|| 2).err().map(|e| e.reason().clone()))
            .unwrap();
    });
    pool.shutdown(CANCEL_NO_WAIT);
    assert_eq!(
        rx.recv_timeout(common::BOUND).unwrap(),
        Some(Rejected::ShutDown)
    );
    gate.open();
}

#[test]
fn dropping_the_last_handle_runs_the_queue_and_joins_the_threads() {
    let prefix = unique_prefix("drop");
    let pool = ThreadPool::builder()
        .max_workers(2)
        .thread_name_prefix(&prefix)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..100)
        .map(|_| {
            let ran = ran.clone();
            pool.submit(move || ran.fetch_add(1, Ordering::SeqCst))
                .unwrap()
        })
        .collect();
    let clone = pool.clone();
    drop(pool);
    assert!(!clone.is_shutdown(), "a clone keeps the pool open");
    drop(clone);
    // The drop waited: everything ran and the threads are gone.
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    assert!(futures.iter().all(|f| f.state() == State::Finished));
    eventually("the joined threads leave /proc", || {
        common::proc_threads(&prefix).is_empty()
    });
}

#[test]
fn dropping_the_last_handle_on_a_pool_thread_does_not_wait_for_itself() {
    let prefix = unique_prefix("selfdrop");
    let pool = ThreadPool::builder()
        .max_workers(2)
        .thread_name_prefix(&prefix)
        .build()
        .unwrap();
    let gate = Latch::new();
    let owner = {
        let (pool_inside, gate) = (pool.clone(), gate.clone());
        pool.submit(move || {
            gate.wait();
            drop(pool_inside); // the last handle, dropped on a worker
        })
        .unwrap()
    };
    drop(pool);
    gate.open();
    assert_eq!(owner.result_timeout(common::BOUND), Ok(()));
    eventually("the workers exit by themselves", || {
        common::proc_threads(&prefix).is_empty()
    });
}

#[test]
fn many_submitters_racing_with_shutdown_lose_no_task() {
    for round in 0..20 {
        let pool = ThreadPool::builder().max_workers(3).build().unwrap();
        let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let submitters: Vec<_> = (0..4)
            .map(|t| {
                let (pool, accepted, barrier) = (pool.clone(), accepted.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..200 {
                        match pool.submit(move || t * 1000 + i) {
                            Ok(f) => accepted.lock().unwrap().push((t * 1000 + i, f)),
                            Err(e) => assert_eq!(e.reason(), &Rejected::ShutDown),
                        }
                    }
                })
            })
            .collect();
        barrier.wait();
        let cancel = round % 2 == 0;
        pool.shutdown(Shutdown {
            wait: true,
            cancel_futures: cancel,
        });
        for s in submitters {
            s.join().unwrap();
        }
        // The threads are joined: an accepted task not done now would never be. None is lost.
        assert_eq!(pool.thread_count(), 0);
        for (value, f) in accepted.lock().unwrap().iter() {
            match f.state() {
                State::Finished => assert_eq!(f.result(), Ok(*value)),
                State::Cancelled => assert!(cancel),
                state => panic!("task {value} is {state} after shutdown(wait)"),
            }
        }
    }
}
