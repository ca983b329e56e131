//! What the checks share: the [`Fixture`] that owns and cleans up an executor, bounded waits
//! that fail with a message, and saturating a bounded pool with gated tasks.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use concurrent_futures_core::{Shutdown, Submit, TaskError};

use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, TestFuture, TestTask};

/// How long a check waits for something that must happen.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// How long a check watches for something that must not happen. Waiting this long never
/// orders events; a correct backend passes whatever the scheduling.
pub(crate) const GLIMPSE: Duration = Duration::from_millis(50);

/// Every combination of [`Shutdown`]'s options.
pub(crate) const ALL_SHUTDOWNS: [Shutdown; 4] = [
    Shutdown {
        wait: true,
        cancel_futures: false,
    },
    Shutdown {
        wait: true,
        cancel_futures: true,
    },
    Shutdown {
        wait: false,
        cancel_futures: false,
    },
    Shutdown {
        wait: false,
        cancel_futures: true,
    },
];

/// An executor under test, shared (callbacks and hooks hold clones), shut down when dropped.
///
/// Declare gates *after* the fixture: locals drop in reverse order, so the gates release
/// their tasks before the fixture waits for them. After a failed assertion it does not wait
/// (a broken backend must not turn a failure into a hang).
pub(crate) struct Fixture<E: TestExecutor> {
    pub(crate) ex: Arc<E>,
}

impl<E: TestExecutor> Fixture<E> {
    pub(crate) fn new(make: Factory<'_, E>) -> Self {
        Fixture {
            ex: Arc::new(make()),
        }
    }

    /// Submits `task`, failing the check if the executor refuses it.
    pub(crate) fn submit(&self, task: TestTask) -> TestFuture {
        submit(&*self.ex, task)
    }

    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.ex.shutdown(Shutdown {
            wait,
            cancel_futures,
        });
    }
}

impl<E: TestExecutor> Drop for Fixture<E> {
    fn drop(&mut self) {
        let wait = !std::thread::panicking();
        self.ex.shutdown(Shutdown {
            wait,
            cancel_futures: true,
        });
    }
}

/// Submits `task` to `ex`, failing the check if it is refused.
pub(crate) fn submit<E: TestExecutor + ?Sized>(ex: &E, task: TestTask) -> TestFuture {
    let shown = format!("{task:?}");
    Submit::<TestTask>::submit(ex, task)
        .unwrap_or_else(|e| panic!("submit({shown}) was refused: {e}"))
}

/// Waits until `n` tasks in all have reached `gate`.
pub(crate) fn started(gate: &Gate, n: usize) {
    if let Err(timeout) = gate.wait_started(n, PATIENCE) {
        panic!("{timeout}: the executor does not run them");
    }
}

/// The outcome of `future`, which must be done within [`PATIENCE`].
pub(crate) fn outcome(future: &TestFuture, what: &str) -> Result<u64, TaskError<String>> {
    if !future.wait_timeout(PATIENCE) {
        panic!(
            "{what}: the future is still {} after {PATIENCE:?}",
            future.state()
        );
    }
    future.result()
}

/// Asserts that `future` finishes with `value`.
pub(crate) fn expect_value(future: &TestFuture, value: u64, what: &str) {
    match outcome(future, what) {
        Ok(v) if v == value => {}
        other => panic!("{what}: expected Ok({value}), got {other:?}"),
    }
}

/// Asserts that `future` ends cancelled.
pub(crate) fn expect_cancelled(future: &TestFuture, what: &str) {
    let result = outcome(future, what);
    assert!(
        future.cancelled() && result == Err(TaskError::Cancelled),
        "{what}: expected a cancelled future, it is {} with {result:?}",
        future.state()
    );
}

/// The workers of a bounded backend (checks that saturate require [`Requirement::Saturable`]).
///
/// [`Requirement::Saturable`]: crate::Requirement::Saturable
pub(crate) fn workers(caps: &Capabilities) -> usize {
    caps.bounded_workers
        .expect("a saturating check requires bounded workers")
}

/// Occupies every worker with a task blocked in `gate`; returns their futures (values
/// `1000 + i`). Anything submitted next stays queued until the gate opens.
pub(crate) fn saturate<E: TestExecutor>(
    fx: &Fixture<E>,
    gate: &Gate,
    caps: &Capabilities,
) -> Vec<TestFuture> {
    let n = workers(caps);
    let futures: Vec<_> = (0..n)
        .map(|i| fx.submit(gate.task(1000 + i as u64)))
        .collect();
    if let Err(timeout) = gate.wait_started(n, PATIENCE) {
        panic!("{timeout}: the backend should run {n} tasks at once (bounded_workers)");
    }
    futures
}

/// Submits a task that must stay queued behind a saturated pool and checks it is pending.
pub(crate) fn queued<E: TestExecutor>(fx: &Fixture<E>, task: TestTask) -> TestFuture {
    let future = fx.submit(task);
    assert_eq!(
        future.state(),
        concurrent_futures_core::State::Pending,
        "a task submitted while every worker is busy must be pending (is bounded_workers right?)"
    );
    future
}

/// Receives from `rx` within [`PATIENCE`].
pub(crate) fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(PATIENCE) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("{what}: nothing within {PATIENCE:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the sender went away"),
    }
}

/// Asserts that nothing arrives on `rx` for a [`GLIMPSE`].
pub(crate) fn nothing_yet<T: std::fmt::Debug>(rx: &Receiver<T>, what: &str) {
    match rx.recv_timeout(GLIMPSE) {
        Err(RecvTimeoutError::Timeout) => {}
        Ok(value) => panic!("{what}: got {value:?} too early"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the sender went away"),
    }
}

/// Runs `f` on a new thread and returns the channel its result arrives on.
pub(crate) fn in_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}
