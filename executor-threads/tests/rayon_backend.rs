//! `RayonExecutor`: handles, cancellation of queued work, shutdown and drop on top of rayon.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counter, Latch, gated};
use concurrent_futures_core::{
    Executor, Rejected, Shutdown, State, Submit, TaskError, as_completed,
};
use concurrent_futures_threads::RayonExecutor;

fn one_thread() -> RayonExecutor {
    RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(1)).unwrap()
}

/// A one-thread executor busy with a task blocked on the returned latch.
fn busy() -> (RayonExecutor, Latch, concurrent_futures_core::Future<()>) {
    let ex = one_thread();
    let (gate, started) = (Latch::new(), Counter::new());
    let running = ex.submit(gated(&gate, &started, || ())).unwrap();
    started.wait_for(1);
    (ex, gate, running)
}

#[test]
fn tasks_run_on_the_rayon_pool_in_submission_order() {
    let (ex, gate, _running) = busy();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let futures: Vec<_> = (0..20)
        .map(|i| {
            let order = order.clone();
            ex.submit(move || {
                order.lock().unwrap().push(i);
                rayon::current_thread_index().is_some()
            })
            .unwrap()
        })
        .collect();
    gate.open();
    assert!(as_completed(&futures).all(|f| f.result() == Ok(true)));
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_cancelled_queued_task_never_runs() {
    let (ex, gate, running) = busy();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued = {
        let ran = ran.clone();
        ex.submit(move || ran.fetch_add(1, Ordering::SeqCst))
            .unwrap()
    };
    assert!(queued.cancel());
    gate.open();
    running.result().unwrap();
    ex.shutdown(Shutdown::default());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(queued.result(), Err(TaskError::Cancelled));
}

#[test]
fn shutdown_cancel_futures_cancels_the_queue_at_once() {
    let (ex, gate, running) = busy();
    let queued: Vec<_> = (0..5).map(|i| ex.submit(move || i).unwrap()).collect();
    ex.shutdown(Shutdown {
        wait: false,
        cancel_futures: true,
    });
    assert!(queued.iter().all(|f| f.state() == State::Cancelled));
    assert_eq!(ex.submit(|| 9).unwrap_err().reason(), &Rejected::ShutDown);
    assert!(!running.done());
    gate.open();
    ex.shutdown(Shutdown::default());
    assert!(running.done());
}

#[test]
fn shutdown_wait_waits_for_every_accepted_task() {
    let (ex, gate, running) = busy();
    let queued: Vec<_> = (0..5).map(|i| ex.submit(move || i).unwrap()).collect();
    let opener = std::thread::spawn(move || gate.open());
    ex.shutdown(Shutdown::default());
    opener.join().unwrap();
    assert!(running.done());
    assert!(queued.iter().all(|f| f.state() == State::Finished));
}

#[test]
fn a_task_can_shut_its_executor_down_with_wait() {
    let ex = one_thread();
    let inner = ex.clone();
    let f = ex
        .submit(move || {
            inner.shutdown(Shutdown::default());
            inner.is_shutdown()
        })
        .unwrap();
    assert_eq!(f.result_timeout(common::BOUND), Ok(true));
}

#[test]
fn panics_fail_only_their_future() {
    let ex = one_thread();
    let f = ex.submit(|| -> u8 { panic!("rayon boom") }).unwrap();
    assert_eq!(
        f.result().unwrap_err().panic_info().unwrap().message(),
        "rayon boom"
    );
    assert_eq!(ex.submit(|| 1).unwrap().result(), Ok(1));
}

#[test]
fn the_global_pool_works_too() {
    let ex = RayonExecutor::global();
    assert!(ex.pool().is_none());
    let futures: Vec<_> = (0..10u64)
        .map(|i| ex.submit(move || i * 2).unwrap())
        .collect();
    let sum: u64 = futures.iter().map(|f| f.result().unwrap()).sum();
    assert_eq!(sum, 90);
}

#[test]
fn dropping_the_last_handle_waits_for_accepted_tasks() {
    let ex = one_thread();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let ran = ran.clone();
        ex.submit(move || ran.fetch_add(1, Ordering::SeqCst))
            .unwrap();
    }
    drop(ex);
    assert_eq!(ran.load(Ordering::SeqCst), 50);
}
