//! `Promise`, the backend's side: the start/complete protocol, typed misuse errors, a dropped
//! promise failing its future with `Abandoned`, interrupt hooks (`on_interrupt` and
//! `set_cancelled` from running), and interrupt racing against start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{
    BrokenExecutor, Future, State, TaskError, WorkerExit,
    backend::{InvalidStateError, Start},
};

const BOUND: Duration = Duration::from_secs(30);

type F = Future<u32, String>;

#[test]
fn the_backend_protocol_start_then_complete() {
    let (promise, future) = F::pending();
    assert!(!promise.is_cancelled());
    assert_eq!(promise.start(), Ok(Start::Run));
    assert!(future.running());
    promise.set_result(5).unwrap();
    assert_eq!(future.result(), Ok(5));
}

#[test]
fn a_cancelled_task_must_not_run() {
    let (promise, future) = F::pending();
    assert!(future.cancel());
    assert!(promise.is_cancelled());
    assert_eq!(promise.start(), Ok(Start::Cancelled));
    drop(promise);
    assert_eq!(future.result(), Err(TaskError::Cancelled), "not Abandoned");
}

#[test]
fn misuse_is_a_typed_error() {
    let (promise, _future) = F::pending();
    assert_eq!(promise.start(), Ok(Start::Run));
    let error = promise.start().unwrap_err();
    assert_eq!(
        error,
        InvalidStateError {
            state: State::Running,
            operation: "start"
        }
    );
    let as_error: &dyn std::error::Error = &error;
    assert_eq!(
        as_error.to_string(),
        "cannot start a future that is running"
    );

    let (promise, future) = F::pending();
    future.cancel();
    let error = promise.set_result(1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot complete a future that is cancelled"
    );
}

#[test]
fn dropping_an_uncompleted_promise_abandons_the_future() {
    let (promise, future) = F::pending();
    drop(promise);
    assert_eq!(future.state(), State::Finished);
    assert_eq!(future.result(), Err(TaskError::Abandoned));

    let (promise, future) = F::pending();
    assert_eq!(promise.start(), Ok(Start::Run));
    drop(promise);
    assert_eq!(future.result(), Err(TaskError::Abandoned));
    assert_eq!(
        TaskError::<String>::Abandoned.to_string(),
        "the executor dropped the task without completing it"
    );
}

#[test]
fn an_abandoned_promise_wakes_a_blocked_reader() {
    let (promise, future) = F::pending();
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let reader = s.spawn(|| {
            barrier.wait();
            future.result_timeout(BOUND)
        });
        barrier.wait();
        drop(promise);
        assert_eq!(reader.join().unwrap(), Err(TaskError::Abandoned));
    });
}

#[test]
fn any_outcome_travels_intact() {
    let outcomes: Vec<Result<u32, TaskError<String>>> = vec![
        Ok(1),
        Err(TaskError::Failed("mine".into())),
        Err(TaskError::Broken(BrokenExecutor::new("initializer failed"))),
        Err(TaskError::WorkerLost(WorkerExit {
            pid: 7,
            code: None,
            signal: Some(9),
        })),
        Err(TaskError::Expired {
            limit: Duration::from_secs(1),
        }),
    ];
    for outcome in outcomes {
        let (promise, future) = F::pending();
        let sent = outcome.clone();
        thread::spawn(move || promise.set_outcome(sent).unwrap())
            .join()
            .unwrap();
        assert_eq!(future.result(), outcome);
    }
}

#[test]
fn interrupting_a_running_task_calls_the_hook_once_and_the_backend_cancels() {
    let (promise, future) = F::pending();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    promise.on_interrupt(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(promise.start(), Ok(Start::Run));
    let notified = Arc::new(AtomicUsize::new(0));
    let seen = notified.clone();
    future.add_done_callback(move |f| {
        assert!(f.cancelled());
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert!(future.interrupt(), "a stop was requested");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(future.running(), "the hook only asks; the backend decides");
    future.interrupt();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the hook runs at most once"
    );
    // The backend stopped the task: a running future may end cancelled.
    promise.set_cancelled().unwrap();
    assert!(future.cancelled());
    assert_eq!(future.result(), Err(TaskError::Cancelled));
    assert_eq!(notified.load(Ordering::SeqCst), 1);
}

#[test]
fn interrupting_a_pending_task_cancels_it_without_the_hook() {
    let (promise, future) = F::pending();
    let hook = Arc::new(());
    let held = hook.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    promise.on_interrupt(move || {
        drop(held);
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(future.interrupt());
    assert!(future.cancelled());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(Arc::strong_count(&hook), 1, "the unused hook was dropped");
    assert_eq!(promise.start(), Ok(Start::Cancelled));
}

#[test]
fn a_finished_task_drops_its_hook_and_cannot_be_interrupted() {
    let (promise, future) = F::pending();
    let hook = Arc::new(());
    let held = hook.clone();
    promise.on_interrupt(move || drop(held));
    assert_eq!(promise.start(), Ok(Start::Run));
    promise.set_result(3).unwrap();
    assert_eq!(
        Arc::strong_count(&hook),
        1,
        "the hook was dropped at completion"
    );
    assert!(!future.interrupt());
    assert_eq!(future.result(), Ok(3));
}

#[test]
fn a_hook_registered_on_a_done_future_is_dropped_at_once() {
    let (promise, future) = F::pending();
    future.cancel();
    let hook = Arc::new(());
    let held = hook.clone();
    promise.on_interrupt(move || drop(held));
    assert_eq!(Arc::strong_count(&hook), 1);
}

#[test]
fn race_interrupt_against_start() {
    for round in 0..2000 {
        let (promise, future) = F::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        promise.on_interrupt(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let barrier = Barrier::new(2);
        let (interrupted, start) = thread::scope(|s| {
            let interrupter = s.spawn(|| {
                barrier.wait();
                future.interrupt()
            });
            barrier.wait();
            let start = promise.start().unwrap();
            (interrupter.join().unwrap(), start)
        });
        let hook_calls = calls.load(Ordering::SeqCst);
        assert!(interrupted, "round {round}: pending or running with a hook");
        match start {
            Start::Cancelled => {
                assert_eq!(hook_calls, 0, "round {round}: cancelled before it ran");
                assert!(future.cancelled());
            }
            Start::Run => {
                assert_eq!(
                    hook_calls, 1,
                    "round {round}: the running task was asked to stop"
                );
                promise.set_cancelled().unwrap();
                assert!(future.cancelled());
            }
        }
    }
}
