//! Loom models of one future's state machine (`executor-core/src/state.rs`): cancel against
//! start, completion against callback registration, a blocked reader against completion,
//! cancellation and abandonment, a waker against completion, and interrupt against start.
//!
//! Run with `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! concurrent-futures-testkit --release --test 'loom_*'`. Without the cfg this file is empty. No model
//! uses a timed wait: loom does not model time, so every wait here is unbounded and a lost
//! wake-up shows up as a loom deadlock.

#[cfg(executor_loom)]
mod tests {
    use std::sync::Arc as StdArc;
    use std::task::{Context, Wake, Waker};

    use concurrent_futures_core::{Future, State, TaskError, backend::Start};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::thread;

    #[test]
    fn cancel_against_start() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let canceller = {
                let future = future.clone();
                thread::spawn(move || future.cancel())
            };
            let start = promise.start().unwrap();
            if start == Start::Run {
                promise.set_result(1).unwrap();
            } else {
                drop(promise);
            }
            let cancelled = canceller.join().unwrap();
            assert_ne!(cancelled, start == Start::Run, "exactly one side wins");
            let expected = if cancelled {
                Err(TaskError::Cancelled)
            } else {
                Ok(1)
            };
            assert_eq!(future.result(), expected);
        });
    }

    #[test]
    fn start_and_complete_against_cancel_against_a_blocked_reader() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let backend = thread::spawn(move || {
                if promise.start() == Ok(Start::Run) {
                    promise.set_result(1).unwrap();
                }
            });
            let canceller = {
                let future = future.clone();
                thread::spawn(move || future.cancel())
            };
            let outcome = future.result();
            let cancelled = canceller.join().unwrap();
            backend.join().unwrap();
            if cancelled {
                assert_eq!(outcome, Err(TaskError::Cancelled));
            } else {
                assert_eq!(outcome, Ok(1));
            }
        });
    }

    #[test]
    fn set_result_against_add_done_callback() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let calls = Arc::new(AtomicUsize::new(0));
            let completer = thread::spawn(move || promise.set_result(7).unwrap());
            let counter = calls.clone();
            future.add_done_callback(move |f| {
                assert_eq!(f.state(), State::Finished);
                assert_eq!(f.result(), Ok(7));
                counter.fetch_add(1, Ordering::SeqCst);
            });
            completer.join().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly once");
        });
    }

    #[test]
    fn cancel_against_add_done_callback_from_two_threads() {
        loom::model(|| {
            let (_promise, future) = Future::<u32>::pending();
            let calls = Arc::new(AtomicUsize::new(0));
            let registrar = {
                let future = future.clone();
                let counter = calls.clone();
                thread::spawn(move || {
                    future.add_done_callback(move |_| {
                        counter.fetch_add(1, Ordering::SeqCst);
                    })
                })
            };
            let counter = calls.clone();
            future.add_done_callback(move |_| {
                counter.fetch_add(10, Ordering::SeqCst);
            });
            assert!(future.cancel());
            registrar.join().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 11, "each exactly once");
        });
    }

    #[test]
    fn result_waiter_against_completion() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let completer = thread::spawn(move || promise.set_result(3).unwrap());
            // Blocks with no deadline: a lost wake-up is a loom deadlock.
            assert_eq!(future.result(), Ok(3));
            completer.join().unwrap();
        });
    }

    #[test]
    fn two_waiters_against_cancel() {
        loom::model(|| {
            let (_promise, future) = Future::<u32>::pending();
            let waiter = {
                let future = future.clone();
                thread::spawn(move || {
                    future.wait();
                    future.cancelled()
                })
            };
            let canceller = {
                let future = future.clone();
                thread::spawn(move || future.cancel())
            };
            assert!(canceller.join().unwrap());
            assert!(waiter.join().unwrap());
        });
    }

    #[test]
    fn into_result_against_an_abandoned_promise() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let dropper = thread::spawn(move || {
                assert_eq!(promise.start(), Ok(Start::Run));
                drop(promise);
            });
            assert_eq!(future.join(), Err(TaskError::Abandoned));
            dropper.join().unwrap();
        });
    }

    /// A waker that records that it was woken.
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: StdArc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn waker_registration_against_completion() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let completer = thread::spawn(move || promise.set_result(5).unwrap());
            let flag = StdArc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut awaiting = std::pin::pin!(future);
            let first = awaiting.as_mut().poll(&mut Context::from_waker(&waker));
            completer.join().unwrap();
            if first.is_pending() {
                assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
                let second = awaiting.as_mut().poll(&mut Context::from_waker(&waker));
                assert_eq!(second, std::task::Poll::Ready(Ok(5)));
            } else {
                assert_eq!(first, std::task::Poll::Ready(Ok(5)));
            }
        });
    }

    #[test]
    fn interrupt_against_start() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            let hook_calls = Arc::new(AtomicUsize::new(0));
            let counter = hook_calls.clone();
            promise.on_interrupt(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            });
            let interrupter = {
                let future = future.clone();
                thread::spawn(move || future.interrupt())
            };
            let start = promise.start().unwrap();
            if start == Start::Run {
                promise.set_result(1).unwrap();
            } else {
                drop(promise);
            }
            let interrupted = interrupter.join().unwrap();
            let calls = hook_calls.load(Ordering::SeqCst);
            assert!(calls <= 1);
            match start {
                Start::Cancelled => {
                    // Interrupted while pending: cancelled, the hook never ran.
                    assert!(interrupted);
                    assert_eq!(calls, 0);
                    assert!(future.cancelled());
                }
                Start::Run => {
                    // Either it asked the running task to stop, or it came after completion.
                    assert_eq!(interrupted, calls == 1);
                    assert_eq!(future.result(), Ok(1));
                }
            }
        });
    }

    #[test]
    fn interrupt_against_the_backend_cancelling_a_running_task() {
        loom::model(|| {
            let (promise, future) = Future::<u32>::pending();
            assert_eq!(promise.start(), Ok(Start::Run));
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            promise.on_interrupt(move || flag.store(true, Ordering::SeqCst));
            let interrupter = {
                let future = future.clone();
                thread::spawn(move || future.interrupt())
            };
            // The backend checks once whether it was asked to stop.
            if stop.load(Ordering::SeqCst) {
                promise.set_cancelled().unwrap();
            } else {
                promise.set_result(2).unwrap();
            }
            let interrupted = interrupter.join().unwrap();
            future.wait();
            if future.cancelled() {
                assert!(interrupted);
            } else {
                assert_eq!(future.result(), Ok(2));
            }
        });
    }
}
