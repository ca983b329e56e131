//! The `Future` state machine: the method × state matrix of the reference (§2.1–§2.3) translated
//! to our API, the legal and illegal transitions, non-destructive reads, `into_result`, and the
//! races between cancel and start and between completion and a blocked reader.
//!
//! Translation notes:
//! - `set_running_or_notify_cancel()` is [`Promise::start`]: `Ok(Start::Run)` for `True`,
//!   `Ok(Start::Cancelled)` for `False`, `Err(InvalidStateError)` for `RuntimeError`.
//! - CPython's CANCELLED and CANCELLED_AND_NOTIFIED collapse into one [`State::Cancelled`] on
//!   purpose: cancellation notifies every waiter at once (gh-87893). So `start()` on a cancelled
//!   future keeps answering `Ok(Start::Cancelled)` instead of raising on the second call.
//! - `set_result`/`set_error` consume the promise, so "complete a finished future" cannot even be
//!   written; completing a cancelled one is the `InvalidStateError` case left.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{
    Future, State, TaskError,
    backend::{InvalidStateError, Promise, Start},
};

/// Generous bound for blocking reads, so a lost wake-up fails with a message instead of hanging.
const BOUND: Duration = Duration::from_secs(30);

type F = Future<i32, String>;
type P = Promise<i32, String>;

/// The states of the reference's matrix, as our API reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Pending,
    Running,
    /// Cancelled by the user; no backend has looked at it yet (CPython: CANCELLED).
    Cancelled,
    /// Cancelled, and the backend's `start()` saw it (CPython: CANCELLED_AND_NOTIFIED).
    CancelledAcknowledged,
    FinishedOk,
    FinishedErr,
}

const ALL: [Setup; 6] = [
    Setup::Pending,
    Setup::Running,
    Setup::Cancelled,
    Setup::CancelledAcknowledged,
    Setup::FinishedOk,
    Setup::FinishedErr,
];

/// A future in `setup`, with its promise while the promise can still be used.
fn make(setup: Setup) -> (Option<P>, F) {
    let (promise, future) = F::pending();
    match setup {
        Setup::Pending => (Some(promise), future),
        Setup::Running => {
            assert_eq!(promise.start(), Ok(Start::Run));
            (Some(promise), future)
        }
        Setup::Cancelled => {
            assert!(future.cancel());
            (Some(promise), future)
        }
        Setup::CancelledAcknowledged => {
            assert!(future.cancel());
            assert_eq!(promise.start(), Ok(Start::Cancelled));
            (Some(promise), future)
        }
        Setup::FinishedOk => {
            assert_eq!(promise.start(), Ok(Start::Run));
            promise.set_result(42).unwrap();
            (None, future)
        }
        Setup::FinishedErr => {
            assert_eq!(promise.start(), Ok(Start::Run));
            promise.set_error("E".to_string()).unwrap();
            (None, future)
        }
    }
}

fn is_cancelled(setup: Setup) -> bool {
    matches!(setup, Setup::Cancelled | Setup::CancelledAcknowledged)
}

// §2.1: state, done(), cancelled(), running().

#[test]
fn predicates_match_the_state_table() {
    for setup in ALL {
        let (_promise, future) = make(setup);
        let expected = match setup {
            Setup::Pending => State::Pending,
            Setup::Running => State::Running,
            Setup::Cancelled | Setup::CancelledAcknowledged => State::Cancelled,
            Setup::FinishedOk | Setup::FinishedErr => State::Finished,
        };
        assert_eq!(future.state(), expected, "{setup:?}");
        assert_eq!(future.done(), expected.is_done(), "{setup:?}: done()");
        assert_eq!(
            future.cancelled(),
            is_cancelled(setup),
            "{setup:?}: cancelled()"
        );
        assert_eq!(
            future.running(),
            setup == Setup::Running,
            "{setup:?}: running()"
        );
        assert_eq!(
            future.wait_timeout(Duration::ZERO),
            expected.is_done(),
            "{setup:?}"
        );
    }
}

// §2.3, row by row.

#[test]
fn cancel_row() {
    for setup in ALL {
        let (_promise, future) = make(setup);
        let before = future.state();
        let expected = matches!(
            setup,
            Setup::Pending | Setup::Cancelled | Setup::CancelledAcknowledged
        );
        assert_eq!(future.cancel(), expected, "{setup:?}");
        let after = if expected { State::Cancelled } else { before };
        assert_eq!(future.state(), after, "{setup:?}: state after cancel()");
    }
}

#[test]
fn result_with_zero_timeout_row() {
    for setup in ALL {
        let (_promise, future) = make(setup);
        let expected = match setup {
            Setup::Pending | Setup::Running => Err(TaskError::Timeout),
            Setup::Cancelled | Setup::CancelledAcknowledged => Err(TaskError::Cancelled),
            Setup::FinishedOk => Ok(42),
            Setup::FinishedErr => Err(TaskError::Failed("E".to_string())),
        };
        assert_eq!(future.result_timeout(Duration::ZERO), expected, "{setup:?}");
        // A timed-out read leaves the future untouched.
        assert_eq!(
            future.result_timeout(Duration::ZERO),
            expected,
            "{setup:?}, again"
        );
    }
}

#[test]
fn error_with_zero_timeout_row() {
    for setup in ALL {
        let (_promise, future) = make(setup);
        let expected = match setup {
            Setup::Pending | Setup::Running => Some(TaskError::Timeout),
            Setup::Cancelled | Setup::CancelledAcknowledged => Some(TaskError::Cancelled),
            Setup::FinishedOk => None,
            Setup::FinishedErr => Some(TaskError::Failed("E".to_string())),
        };
        assert_eq!(future.error_timeout(Duration::ZERO), expected, "{setup:?}");
    }
}

#[test]
fn set_result_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let Some(promise) = promise else {
            // Finished: the promise was consumed by completing it; a second completion
            // does not compile.
            continue;
        };
        let outcome = promise.set_result(7);
        match setup {
            Setup::Pending | Setup::Running => {
                assert_eq!(outcome, Ok(()), "{setup:?}");
                assert_eq!(future.state(), State::Finished);
                assert_eq!(future.result(), Ok(7));
            }
            Setup::Cancelled | Setup::CancelledAcknowledged => {
                assert_eq!(
                    outcome,
                    Err(InvalidStateError {
                        state: State::Cancelled,
                        operation: "complete"
                    }),
                    "{setup:?}"
                );
                assert_eq!(
                    future.result(),
                    Err(TaskError::Cancelled),
                    "first outcome kept"
                );
            }
            Setup::FinishedOk | Setup::FinishedErr => unreachable!(),
        }
    }
}

#[test]
fn set_error_and_set_outcome_follow_the_set_result_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let Some(promise) = promise else { continue };
        let outcome = promise.set_error("late".to_string());
        if is_cancelled(setup) {
            assert_eq!(outcome.unwrap_err().state, State::Cancelled, "{setup:?}");
            assert!(future.cancelled());
        } else {
            assert_eq!(outcome, Ok(()), "{setup:?}");
            assert_eq!(future.result(), Err(TaskError::Failed("late".to_string())));
        }

        let (promise, future) = make(setup);
        let outcome = promise.unwrap().set_outcome(Err(TaskError::Abandoned));
        assert_eq!(outcome.is_ok(), !is_cancelled(setup), "{setup:?}");
        if !is_cancelled(setup) {
            assert_eq!(future.result(), Err(TaskError::Abandoned));
        }
    }
}

#[test]
fn start_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let Some(promise) = promise else { continue };
        match setup {
            Setup::Pending => {
                assert_eq!(promise.start(), Ok(Start::Run));
                assert_eq!(future.state(), State::Running);
            }
            Setup::Running => assert_eq!(
                promise.start(),
                Err(InvalidStateError {
                    state: State::Running,
                    operation: "start"
                })
            ),
            Setup::Cancelled | Setup::CancelledAcknowledged => {
                // The deliberate collapse: acknowledging again is harmless, never an error.
                assert_eq!(promise.start(), Ok(Start::Cancelled), "{setup:?}");
                assert_eq!(promise.start(), Ok(Start::Cancelled), "{setup:?}, again");
                assert_eq!(future.state(), State::Cancelled);
            }
            Setup::FinishedOk | Setup::FinishedErr => unreachable!(),
        }
    }
}

#[test]
fn add_done_callback_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        future.add_done_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let runs_now = future.done();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            usize::from(runs_now),
            "{setup:?}: a callback runs at once exactly when the future is done"
        );
        if let Some(promise) = promise.filter(|_| !runs_now) {
            promise.set_result(1).unwrap();
        }
        future.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{setup:?}: exactly once");
    }
}

#[test]
fn interrupt_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let expected = match setup {
            Setup::Pending | Setup::Cancelled | Setup::CancelledAcknowledged => true,
            // No interrupt hook registered: a running task cannot be stopped.
            Setup::Running => false,
            Setup::FinishedOk | Setup::FinishedErr => false,
        };
        assert_eq!(future.interrupt(), expected, "{setup:?}");
        if setup == Setup::Pending {
            assert!(future.cancelled());
        }
        drop(promise);
    }
}

#[test]
fn set_cancelled_row() {
    for setup in ALL {
        let (promise, future) = make(setup);
        let Some(promise) = promise else { continue };
        let outcome = promise.set_cancelled();
        if is_cancelled(setup) {
            assert_eq!(
                outcome,
                Err(InvalidStateError {
                    state: State::Cancelled,
                    operation: "cancel"
                })
            );
        } else {
            assert_eq!(outcome, Ok(()), "{setup:?}");
        }
        assert_eq!(future.state(), State::Cancelled, "{setup:?}");
        assert_eq!(future.result(), Err(TaskError::Cancelled));
    }
}

// Transitions: nothing ever leaves Cancelled or Finished.

#[test]
fn nothing_leaves_a_terminal_state() {
    for setup in [
        Setup::Cancelled,
        Setup::CancelledAcknowledged,
        Setup::FinishedOk,
        Setup::FinishedErr,
    ] {
        let (promise, future) = make(setup);
        let state = future.state();
        let outcome = future.result_timeout(Duration::ZERO);
        future.cancel();
        future.interrupt();
        if let Some(promise) = promise {
            let _ = promise.start();
            assert!(promise.is_cancelled());
            drop(promise); // an uncompleted promise dropped late does not overwrite
        }
        assert_eq!(future.state(), state, "{setup:?}");
        assert_eq!(future.result_timeout(Duration::ZERO), outcome, "{setup:?}");
    }
}

#[test]
fn pending_may_finish_without_running() {
    let (promise, future) = F::pending();
    promise
        .set_outcome(Err(TaskError::Broken(
            concurrent_futures_core::BrokenExecutor::new("pool died"),
        )))
        .unwrap();
    assert_eq!(future.state(), State::Finished);
    assert!(
        matches!(future.result(), Err(TaskError::Broken(b)) if b.to_string().contains("pool died"))
    );
}

#[test]
fn a_cancelled_outcome_set_by_the_backend_is_a_finished_future() {
    let (promise, future) = F::pending();
    promise.set_outcome(Err(TaskError::Cancelled)).unwrap();
    assert_eq!(future.state(), State::Finished);
    assert!(!future.cancelled());
    assert_eq!(future.result(), Err(TaskError::Cancelled));
}

#[test]
fn ready_and_failed_are_finished() {
    let ok = F::ready(3);
    assert_eq!(ok.state(), State::Finished);
    assert_eq!(ok.result(), Ok(3));
    let failed = F::failed(TaskError::Failed("x".into()));
    assert_eq!(failed.state(), State::Finished);
    assert_eq!(failed.error(), Some(TaskError::Failed("x".into())));
}

// Reads are non-destructive, from every clone and thread.

#[test]
fn the_outcome_can_be_read_again_from_many_clones_and_threads() {
    let (promise, future) = Future::<String>::pending();
    let future = future.share();
    let start = Barrier::new(5);
    thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let reader = future.clone();
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    (reader.result_timeout(BOUND), reader.result_timeout(BOUND))
                })
            })
            .collect();
        start.wait();
        promise.set_result("shared".to_string()).unwrap();
        for reader in readers {
            let (first, second) = reader.join().unwrap();
            assert_eq!(first.as_deref(), Ok("shared"));
            assert_eq!(second.as_deref(), Ok("shared"));
        }
    });
    assert_eq!(future.result().as_deref(), Ok("shared"));
}

#[test]
fn a_timed_out_read_leaves_the_future_usable() {
    let (promise, future) = F::pending();
    assert_eq!(
        future.result_timeout(Duration::from_millis(1)),
        Err(TaskError::Timeout)
    );
    assert_eq!(future.state(), State::Pending);
    assert!(future.cancel(), "still pending, so still cancellable");
    drop(promise);
    assert_eq!(future.result(), Err(TaskError::Cancelled));
}

#[test]
fn join_moves_a_value_that_is_not_clone_out() {
    struct NotClone(u8);
    let (promise, future) = Future::<NotClone, std::io::Error>::pending();
    let watcher = future.cancel_handle();
    promise.set_result(NotClone(9)).unwrap();
    assert_eq!(future.join().ok().map(|v| v.0), Some(9));
    assert_eq!(watcher.state(), State::Finished, "only the outcome moved");
    let (promise, future) = Future::<NotClone, std::io::Error>::pending();
    promise
        .set_error(std::io::Error::other("disk full"))
        .unwrap();
    match future.join() {
        Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
        other => panic!(
            "expected the task's own error, got {:?}",
            other.map(|v| v.0)
        ),
    }
}

#[test]
fn reading_after_awaiting_through_a_reference_gives_taken() {
    let mut future = Future::<u8>::ready(1);
    let polled = std::pin::Pin::new(&mut future)
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
    assert_eq!(polled, std::task::Poll::Ready(Ok(1)));
    assert_eq!(future.state(), State::Finished);
    assert_eq!(future.result(), Err(TaskError::Taken));
    assert_eq!(future.error(), Some(TaskError::Taken));
}

#[test]
fn into_result_blocks_until_done() {
    let (promise, future) = Future::<Vec<u8>>::pending();
    let start = Barrier::new(2);
    thread::scope(|s| {
        let start_line = &start;
        let reader = s.spawn(move || {
            start_line.wait();
            future.join()
        });
        start.wait();
        promise.set_result(vec![1, 2]).unwrap();
        assert_eq!(reader.join().unwrap(), Ok(vec![1, 2]));
    });
}

#[test]
fn debug_and_display_name_the_state() {
    let (promise, future) = F::pending();
    assert!(format!("{future:?}").contains("Pending"));
    assert!(format!("{promise:?}").contains("Pending"));
    promise.set_result(5).unwrap();
    let shown = format!("{future:?}");
    assert!(shown.contains("Finished") && shown.contains('5'), "{shown}");
    assert_eq!(State::Cancelled.to_string(), "cancelled");
    let error = InvalidStateError {
        state: State::Finished,
        operation: "start",
    };
    assert_eq!(error.to_string(), "cannot start a future that is finished");
}

#[test]
fn future_and_promise_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Future<String, String>>();
    send::<Promise<String, String>>();
}

// Races, each exercised many times with both sides released by a barrier.

const ROUNDS: usize = 2000;

#[test]
fn race_cancel_against_start() {
    for round in 0..ROUNDS {
        let (promise, future) = F::pending();
        let barrier = Barrier::new(2);
        let (cancelled, started) = thread::scope(|s| {
            let canceller = s.spawn(|| {
                barrier.wait();
                future.cancel()
            });
            barrier.wait();
            let started = promise.start().unwrap();
            (canceller.join().unwrap(), started)
        });
        assert_ne!(
            cancelled,
            started == Start::Run,
            "round {round}: exactly one of cancel() and start() wins"
        );
        if started == Start::Run {
            assert_eq!(future.state(), State::Running, "round {round}");
            promise.set_result(1).unwrap();
            assert_eq!(future.result(), Ok(1));
        } else {
            assert_eq!(future.state(), State::Cancelled, "round {round}");
            assert!(promise.set_result(1).is_err());
            assert_eq!(future.result(), Err(TaskError::Cancelled));
        }
    }
}

#[test]
fn race_completion_against_a_blocked_reader() {
    for round in 0..ROUNDS {
        let (promise, future) = F::pending();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let reader = s.spawn(|| {
                barrier.wait();
                future.result_timeout(BOUND)
            });
            barrier.wait();
            promise.set_result(round as i32).unwrap();
            assert_eq!(
                reader.join().unwrap(),
                Ok(round as i32),
                "round {round}: the reader must be woken (lost wake-up?)"
            );
        });
    }
}

#[test]
fn race_cancel_against_a_blocked_waiter() {
    for round in 0..ROUNDS {
        let (_promise, future) = F::pending();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                barrier.wait();
                future.wait_timeout(BOUND)
            });
            barrier.wait();
            assert!(future.cancel());
            assert!(
                waiter.join().unwrap(),
                "round {round}: lost wake-up on cancel"
            );
        });
    }
}

#[test]
fn race_completion_against_interrupt_without_a_hook() {
    for round in 0..ROUNDS {
        let (promise, future) = F::pending();
        assert_eq!(promise.start(), Ok(Start::Run));
        let barrier = Barrier::new(2);
        let interrupted = thread::scope(|s| {
            let interrupter = s.spawn(|| {
                barrier.wait();
                future.interrupt()
            });
            barrier.wait();
            promise.set_result(1).unwrap();
            interrupter.join().unwrap()
        });
        assert!(
            !interrupted,
            "round {round}: no interrupt hook, nothing to stop"
        );
        assert_eq!(future.result(), Ok(1));
    }
}
