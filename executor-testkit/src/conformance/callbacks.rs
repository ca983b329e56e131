//! Checks of done-callbacks: each runs once, in registration order, in the completing thread
//! (or at once if the future is done); a panicking one does not stop the others; a callback may
//! use the executor (submit, cancel, shut down) without deadlock.

use std::sync::mpsc;
use std::thread::ThreadId;
use std::time::Duration;

use concurrent_futures_core::{Shutdown, Submit, TaskError};

use crate::conformance::support::{Fixture, PATIENCE, expect_value, queued, recv, saturate};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestFuture, TestTask};

super::checks! { "callbacks":
    run_once_in_registration_order [Requirement::Concurrent(1)],
    run_in_the_completing_thread [Requirement::Concurrent(1)],
    run_at_once_if_already_done,
    see_the_done_future,
    cancel_runs_them_in_the_cancelling_thread [Requirement::Saturable],
    panicking_callback_does_not_stop_others [Requirement::Concurrent(1)],
    may_submit [Requirement::Concurrent(1)],
    may_cancel_other_futures [Requirement::Saturable],
    may_call_shutdown [Requirement::Concurrent(1)],
}

/// Callbacks registered before completion each run exactly once, in registration order.
pub fn run_once_in_registration_order<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    let (tx, rx) = mpsc::channel();
    for i in 0..5 {
        let tx = tx.clone();
        future.add_done_callback(move |_| tx.send(i).unwrap());
    }
    drop(tx);
    assert!(
        rx.try_recv().is_err(),
        "a callback ran before the future was done"
    );
    gate.release_all();
    let order: Vec<i32> = (0..5).map(|_| recv(&rx, "a done-callback")).collect();
    assert_eq!(
        order,
        [0, 1, 2, 3, 4],
        "callbacks out of registration order"
    );
    // Every callback (and its sender) is gone once run: nothing runs twice.
    assert_eq!(
        rx.recv_timeout(PATIENCE),
        Err(mpsc::RecvTimeoutError::Disconnected),
        "a callback ran twice, or was kept after running"
    );
}

/// A callback registered on a pending future runs in the thread that completes it, not in
/// the thread that registered it.
pub fn run_in_the_completing_thread<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    let (tx, rx) = mpsc::channel();
    future.add_done_callback(move |f| tx.send((std::thread::current().id(), f.done())).unwrap());
    gate.release_all();
    let (thread, done) = recv(&rx, "the done-callback");
    assert_ne!(
        thread,
        std::thread::current().id(),
        "the callback ran in the registering thread, not the completing one"
    );
    assert!(done, "the callback saw a future that was not done");
}

/// A callback added to a done future runs at once, in the caller's thread, before
/// `add_done_callback` returns.
pub fn run_at_once_if_already_done<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(2));
    expect_value(&future, 2, "Return(2)");
    let (tx, rx) = mpsc::channel();
    future.add_done_callback(move |_| tx.send(std::thread::current().id()).unwrap());
    assert_eq!(
        rx.try_recv().ok(),
        Some(std::thread::current().id()),
        "a callback on a done future must run in the caller's thread before add_done_callback returns"
    );
}

/// The callback gets the done future, whose outcome it can read without blocking.
pub fn see_the_done_future<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let (tx, rx) = mpsc::channel();
    let ok = fx.submit(TestTask::Return(4));
    let failed = fx.submit(TestTask::Fail("no".into()));
    for (name, future) in [("ok", &ok), ("failed", &failed)] {
        let tx = tx.clone();
        future.add_done_callback(move |f| {
            tx.send((name, f.done(), f.result_timeout(Duration::ZERO)))
                .unwrap()
        });
    }
    let mut seen = [recv(&rx, "a callback"), recv(&rx, "a callback")];
    seen.sort_by_key(|(name, ..)| *name);
    assert_eq!(
        seen,
        [
            ("failed", true, Err(TaskError::Failed("no".to_string()))),
            ("ok", true, Ok(4)),
        ],
        "what the callbacks saw of their futures"
    );
}

/// Cancelling a pending future runs its callbacks in the cancelling thread, before `cancel`
/// returns, and they see it cancelled.
pub fn cancel_runs_them_in_the_cancelling_thread<E: TestExecutor>(
    make: Factory<'_, E>,
    caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1));
    let (tx, rx) = mpsc::channel::<(ThreadId, bool)>();
    waiting.add_done_callback(move |f| {
        tx.send((std::thread::current().id(), f.cancelled()))
            .unwrap()
    });
    assert!(
        waiting.cancel(),
        "cancel() of a pending future must succeed"
    );
    assert_eq!(
        rx.try_recv().ok(),
        Some((std::thread::current().id(), true)),
        "the callbacks of a cancelled future run in the cancelling thread before cancel returns"
    );
}

/// A panicking callback is caught: the callbacks after it still run, and nothing unwinds into
/// the worker or the caller.
pub fn panicking_callback_does_not_stop_others<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    let (tx, rx) = mpsc::channel();
    let first = tx.clone();
    future.add_done_callback(move |_| first.send("before").unwrap());
    future.add_done_callback(|_| panic!("deliberate panic in a done-callback (conformance check)"));
    let last = tx.clone();
    future.add_done_callback(move |_| last.send("after").unwrap());
    gate.release_all();
    assert_eq!(recv(&rx, "the callback before the panicking one"), "before");
    assert_eq!(
        recv(&rx, "the callback after the panicking one"),
        "after",
        "a panicking callback stopped the next one"
    );
    // On a done future too: the panic does not escape `add_done_callback`.
    future.add_done_callback(|_| panic!("deliberate panic in a done-callback (conformance check)"));
    future.add_done_callback(move |_| tx.send("later").unwrap());
    assert_eq!(recv(&rx, "a callback added after a panicking one"), "later");
    // The worker that ran the panicking callback still works.
    expect_value(
        &fx.submit(TestTask::Return(2)),
        2,
        "a task after a panicking callback",
    );
}

/// A callback running in the completing thread may submit to the same executor.
pub fn may_submit<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    let (tx, rx) = mpsc::channel::<Result<TestFuture, String>>();
    let ex = fx.ex.clone();
    future.add_done_callback(move |_| {
        let submitted = Submit::<TestTask>::submit(&*ex, TestTask::Return(2));
        tx.send(submitted.map_err(|e| e.to_string())).unwrap();
    });
    gate.release_all();
    let chained = recv(&rx, "the callback that submits (deadlock?)")
        .unwrap_or_else(|e| panic!("submit from a done-callback was refused: {e}"));
    expect_value(&chained, 2, "the task submitted from a callback");
}

/// A callback may cancel another future of the same executor; the answer it gets is the
/// truth about that future.
pub fn may_cancel_other_futures<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(3)).share();
    let (tx, rx) = mpsc::channel();
    for f in &busy {
        let (tx, waiting) = (tx.clone(), waiting.clone());
        f.add_done_callback(move |_| {
            let _ = tx.send(waiting.cancel());
        });
    }
    gate.release(1);
    let cancelled = recv(&rx, "the callback that cancels (deadlock?)");
    assert!(
        waiting.wait_timeout(PATIENCE),
        "the future a callback tried to cancel is still {}",
        waiting.state()
    );
    let result = waiting.result();
    if cancelled {
        assert_eq!(result, Err(TaskError::Cancelled), "cancel() said true");
    } else {
        assert_eq!(result, Ok(3), "cancel() said false");
    }
    gate.release_all();
}

/// A callback may shut the executor down, waiting, from the completing thread, without
/// deadlock (no self-join); afterwards the executor refuses work.
pub fn may_call_shutdown<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    let (tx, rx) = mpsc::channel();
    let ex = fx.ex.clone();
    future.add_done_callback(move |_| {
        ex.shutdown(Shutdown::default());
        tx.send(ex.is_shutdown()).unwrap();
    });
    gate.release_all();
    assert!(
        recv(
            &rx,
            "a callback calling shutdown(wait: true) (self-join deadlock?)"
        ),
        "is_shutdown() after shutdown from a callback"
    );
    assert!(
        Submit::<TestTask>::submit(&*fx.ex, TestTask::Return(1)).is_err(),
        "submit after a callback shut the executor down must be refused"
    );
}
