//! Done-callbacks (reference §2.4): registration order, exactly once, at once when already done,
//! in the completing (or cancelling) thread, panics reported through `set_callback_panic_hook`
//! without stopping the others, no lock held (a callback may cancel other futures, add
//! callbacks, read its own future), and the race of completion against registration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::thread::{self, ThreadId};
use std::time::Duration;

use concurrent_futures_core::{Future, ReturnWhen, State, TaskError, as_completed, wait};

/// Messages of panicking callbacks, as reported to the process-wide hook.
static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_report_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        concurrent_futures_core::set_callback_panic_hook(|info| {
            REPORTED.lock().unwrap().push(info.message().to_string());
        });
    });
}

fn reported(message: &str) -> usize {
    REPORTED
        .lock()
        .unwrap()
        .iter()
        .filter(|m| *m == message)
        .count()
}

/// A shared log that callbacks append to.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn callbacks_run_in_registration_order_exactly_once() {
    let (promise, future) = Future::<i32>::pending();
    let log = Log::default();
    for i in 0..5 {
        let log = log.clone();
        future.add_done_callback(move |f| log.push(format!("{i}:{:?}", f.result())));
    }
    assert!(log.entries().is_empty(), "nothing runs before completion");
    promise.set_result(3).unwrap();
    let expected: Vec<String> = (0..5).map(|i| format!("{i}:Ok(3)")).collect();
    assert_eq!(log.entries(), expected);
    // Nothing re-runs them: a late cancel or a new callback leaves the first ones alone.
    assert!(!future.cancel());
    let late = log.clone();
    future.add_done_callback(move |_| late.push("late"));
    assert_eq!(log.entries().len(), 6);
    assert_eq!(log.entries()[5], "late");
}

#[test]
fn cancelling_twice_runs_callbacks_once() {
    let (_promise, future) = Future::<i32>::pending();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    future.add_done_callback(move |f| {
        assert!(f.cancelled());
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(future.cancel());
    assert!(future.cancel());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_callback_on_a_done_future_runs_at_once_in_the_callers_thread() {
    for future in [
        Future::<i32>::ready(1),
        Future::failed(TaskError::Cancelled),
        {
            let (_p, f) = Future::pending();
            f.cancel();
            f
        },
    ] {
        let ran_in: Arc<Mutex<Option<ThreadId>>> = Arc::default();
        let slot = ran_in.clone();
        future.add_done_callback(move |_| *slot.lock().unwrap() = Some(thread::current().id()));
        // Synchronously, before add_done_callback returned.
        assert_eq!(*ran_in.lock().unwrap(), Some(thread::current().id()));
    }
}

#[test]
fn callbacks_run_in_the_completing_thread() {
    let (promise, future) = Future::<i32>::pending();
    let ran_in: Arc<Mutex<Option<ThreadId>>> = Arc::default();
    let slot = ran_in.clone();
    future.add_done_callback(move |_| *slot.lock().unwrap() = Some(thread::current().id()));
    let completer = thread::spawn(move || {
        promise.set_result(1).unwrap();
        thread::current().id()
    });
    let completer_id = completer.join().unwrap();
    assert_eq!(*ran_in.lock().unwrap(), Some(completer_id));
}

#[test]
fn callbacks_run_in_the_cancelling_thread_before_cancel_returns() {
    let (_promise, future) = Future::<i32>::pending();
    let ran_in: Arc<Mutex<Option<ThreadId>>> = Arc::default();
    let slot = ran_in.clone();
    future.add_done_callback(move |_| *slot.lock().unwrap() = Some(thread::current().id()));
    let canceller = future.cancel_handle();
    let id = thread::spawn(move || {
        assert!(canceller.cancel());
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(*ran_in.lock().unwrap(), Some(id));
}

#[test]
fn an_abandoned_promise_runs_the_callbacks() {
    let (promise, future) = Future::<i32>::pending();
    let log = Log::default();
    let sink = log.clone();
    future.add_done_callback(move |f| sink.push(format!("{:?}", f.result())));
    drop(promise);
    assert_eq!(log.entries(), ["Err(Abandoned)"]);
}

#[test]
fn a_panicking_callback_is_reported_and_the_rest_still_run() {
    install_report_hook();
    let (promise, future) = Future::<i32>::pending();
    let log = Log::default();
    let first = log.clone();
    future.add_done_callback(move |_| first.push("before"));
    future.add_done_callback(|_| panic!("callback-panic-during-completion"));
    let last = log.clone();
    future.add_done_callback(move |_| last.push("after"));
    // The panic does not unwind into the completing call.
    assert_eq!(promise.set_result(1), Ok(()));
    assert_eq!(log.entries(), ["before", "after"]);
    assert_eq!(reported("callback-panic-during-completion"), 1);
    assert_eq!(future.result(), Ok(1));
}

#[test]
fn a_panicking_callback_on_a_done_future_is_reported_too() {
    install_report_hook();
    let future = Future::<i32>::ready(1);
    future.add_done_callback(|_| panic!("callback-panic-when-already-done"));
    assert_eq!(reported("callback-panic-when-already-done"), 1);
    let log = Log::default();
    let sink = log.clone();
    future.add_done_callback(move |_| sink.push("still fine"));
    assert_eq!(log.entries(), ["still fine"]);
}

#[test]
fn a_panicking_callback_during_cancel_is_reported_and_cancel_still_succeeds() {
    install_report_hook();
    let (_promise, future) = Future::<i32>::pending();
    future.add_done_callback(|_| panic!("callback-panic-during-cancel"));
    assert!(future.cancel());
    assert_eq!(reported("callback-panic-during-cancel"), 1);
}

#[test]
fn a_callback_may_cancel_other_futures_and_add_callbacks() {
    let (promise, first) = Future::<i32>::pending();
    let (_other_promise, other) = Future::<i32>::pending();
    let log = Log::default();
    let other = other.share();
    {
        let other = other.clone();
        let log = log.clone();
        first.add_done_callback(move |f| {
            assert!(other.cancel(), "another future's lock is free");
            // The same future is done, so this runs at once, nested.
            let inner_log = log.clone();
            f.add_done_callback(move |_| inner_log.push("nested on self"));
            // A callback on another, now cancelled, future also runs at once.
            let other_log = log.clone();
            other.add_done_callback(move |o| other_log.push(format!("other {:?}", o.state())));
            log.push(format!("first sees {:?}", f.result()));
        });
    }
    promise.set_result(10).unwrap();
    assert_eq!(
        log.entries(),
        ["nested on self", "other Cancelled", "first sees Ok(10)"]
    );
    assert!(other.cancelled());
}

#[test]
fn a_callback_may_wait_on_its_own_future_and_on_others() {
    let (promise, future) = Future::<i32>::pending();
    let done = Future::<i32>::ready(2);
    let seen = Log::default();
    let sink = seen.clone();
    future.add_done_callback(move |f| {
        let sets = wait([f, &done], None, ReturnWhen::AllCompleted);
        sink.push(format!("wait {}", sets.done.len()));
        sink.push(format!("as_completed {}", as_completed([f, &done]).count()));
        f.wait();
        sink.push(format!("{:?}", f.state()));
    });
    promise.set_result(1).unwrap();
    assert_eq!(seen.entries(), ["wait 2", "as_completed 2", "Finished"]);
}

#[test]
fn callbacks_are_dropped_after_running() {
    let (promise, future) = Future::<i32>::pending();
    let captured = Arc::new(());
    let held = captured.clone();
    future.add_done_callback(move |_| drop(held));
    let never_run = captured.clone();
    let (_p2, other) = Future::<i32>::pending();
    other.add_done_callback(move |_| drop(never_run));
    assert_eq!(Arc::strong_count(&captured), 3);
    promise.set_result(1).unwrap();
    assert_eq!(
        Arc::strong_count(&captured),
        2,
        "the run callback freed what it held"
    );
    drop(other);
    drop(_p2);
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "an abandoned future's callback ran too"
    );
}

#[test]
fn race_completion_against_callback_registration() {
    for round in 0..2000 {
        let (promise, future) = Future::<usize>::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let registrar = s.spawn(|| {
                barrier.wait();
                let counter = calls.clone();
                future.add_done_callback(move |f| {
                    assert_eq!(f.state(), State::Finished);
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            });
            barrier.wait();
            promise.set_result(round).unwrap();
            registrar.join().unwrap();
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "round {round}: the callback must run exactly once"
        );
    }
}

#[test]
fn race_cancel_against_callback_registration_from_many_threads() {
    for round in 0..500 {
        let (_promise, future) = Future::<usize>::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Barrier::new(4);
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    barrier.wait();
                    let counter = calls.clone();
                    future.add_done_callback(move |_| {
                        counter.fetch_add(1, Ordering::SeqCst);
                    });
                });
            }
            barrier.wait();
            assert!(future.cancel());
        });
        assert_eq!(calls.load(Ordering::SeqCst), 3, "round {round}");
        assert_eq!(
            future.result_timeout(Duration::ZERO),
            Err(TaskError::Cancelled)
        );
    }
}
