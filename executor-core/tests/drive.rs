//! `Future::pending_driven`: a thread about to block on one future drives the backend first,
//! and the wait still ends as for any future when the driver cannot complete it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concurrent_futures_core::backend::{Drive, Promise};
use concurrent_futures_core::{Future, ReturnWhen, wait};

/// Counts its calls, remembers the deadlines it was given, and makes no progress itself.
#[derive(Default)]
struct Idle {
    calls: AtomicUsize,
    deadlines: Mutex<Vec<Option<Instant>>>,
}

impl Drive for Idle {
    fn drive(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.deadlines.lock().unwrap().push(deadline);
        let _ = done();
    }
}

/// Says when it is called, and makes no progress.
struct Announces(Mutex<mpsc::Sender<()>>);

impl Drive for Announces {
    fn drive(&self, done: &dyn Fn() -> bool, _deadline: Option<Instant>) {
        assert!(!done(), "nothing completed the future yet");
        self.0.lock().unwrap().send(()).unwrap();
    }
}

#[test]
fn a_driver_that_cannot_finish_leaves_the_wait_to_the_completing_thread() {
    let (called, driven) = mpsc::channel();
    let driver = Arc::new(Announces(Mutex::new(called)));
    let (promise, future) = Future::<u32, Infallible>::pending_driven(driver);
    // Completes only once the waiting thread has driven and given up: the wait must then
    // block as for any future and end when this thread completes it.
    let completer = std::thread::spawn(move || {
        let was_driven = driven.recv_timeout(Duration::from_secs(30)).is_ok();
        promise.set_result(7).unwrap();
        was_driven
    });
    assert_eq!(future.join(), Ok(7));
    assert!(completer.join().unwrap(), "join() never drove the future");
}

#[test]
fn a_timed_wait_gives_the_driver_its_deadline_and_still_times_out() {
    let driver = Arc::new(Idle::default());
    let (_promise, future) = Future::<u32, Infallible>::pending_driven(driver.clone());
    let before = Instant::now();
    assert!(!future.wait_timeout(Duration::from_millis(5)));
    assert_eq!(driver.calls.load(Ordering::SeqCst), 1);
    let deadline = driver.deadlines.lock().unwrap()[0].expect("a timed wait has a deadline");
    assert!(deadline > before && deadline <= Instant::now());
}

#[test]
fn done_futures_and_waits_over_many_do_not_drive() {
    let driver = Arc::new(Idle::default());
    let (promise, future) = Future::<u32, Infallible>::pending_driven(driver.clone());
    promise.set_result(1).unwrap();
    assert_eq!(future.result(), Ok(1));
    let sets = wait([&future], None, ReturnWhen::AllCompleted);
    assert_eq!(sets.done.len(), 1);
    assert_eq!(driver.calls.load(Ordering::SeqCst), 0);
}

/// Completes its promise on the first drive: the waiting thread does the backend's work.
struct CompletesOnDrive(Mutex<Option<Promise<u32, Infallible>>>);

impl Drive for CompletesOnDrive {
    fn drive(&self, done: &dyn Fn() -> bool, _deadline: Option<Instant>) {
        if let Some(promise) = self.0.lock().unwrap().take() {
            promise.set_result(3).unwrap();
        }
        assert!(done(), "done() reflects the completion at once");
    }
}

#[test]
fn a_driver_completes_the_future_on_the_waiting_thread() {
    let driver = Arc::new(CompletesOnDrive(Mutex::new(None)));
    let (promise, future) = Future::<u32, Infallible>::pending_driven(driver.clone());
    *driver.0.lock().unwrap() = Some(promise);
    assert!(!future.done(), "nothing completes it until a thread waits");
    assert_eq!(future.result(), Ok(3));
}
