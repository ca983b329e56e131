//! Checks of `shutdown` in every combination of `wait` and `cancel_futures`: idempotent, refuses
//! later work (handing the task back), waits or not, cancels what is queued or not, and works
//! from inside a task or a callback without deadlock. Also what dropping an executor does to
//! its futures: none is left hanging.

use std::sync::mpsc;

use concurrent_futures_core::{
    Rejected, ReturnWhen, Shutdown, State, Submit, TaskError, backend::Chunk, wait,
};

use crate::conformance::support::{
    ALL_SHUTDOWNS, Fixture, PATIENCE, expect_cancelled, expect_value, in_thread, nothing_yet,
    outcome, queued, recv, saturate, started, submit,
};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask, hooks};

super::checks! { "shutdown":
    is_idempotent,
    submit_after_shutdown_hands_the_task_back,
    wait_blocks_until_running_tasks_finish [Requirement::Concurrent(1)],
    wait_runs_queued_tasks [Requirement::Saturable],
    no_wait_returns_while_tasks_run [Requirement::Concurrent(1)],
    cancel_futures_cancels_queued [Requirement::Saturable],
    cancel_futures_with_wait [Requirement::Saturable],
    from_inside_a_task [Requirement::InProcess],
    from_a_callback_of_a_cancelled_future [Requirement::Saturable],
    drop_leaves_no_future_hanging [Requirement::Concurrent(1)],
}

/// Shutting down again, in any combination, is harmless; `is_shutdown` tells.
pub fn is_idempotent<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    assert!(!fx.ex.is_shutdown(), "a new executor is not shut down");
    expect_value(&fx.submit(TestTask::Return(1)), 1, "Return(1)");
    for how in ALL_SHUTDOWNS.into_iter().chain(ALL_SHUTDOWNS) {
        fx.ex.shutdown(how);
        assert!(fx.ex.is_shutdown(), "is_shutdown() after shutdown({how:?})");
    }
}

/// After any kind of shutdown, `submit` refuses with `Rejected::ShutDown` and hands the very
/// task back; so does a chunk (what `map` submits).
pub fn submit_after_shutdown_hands_the_task_back<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    for how in ALL_SHUTDOWNS {
        let fx = Fixture::new(make);
        fx.ex.shutdown(how);
        let task = TestTask::Fail("keep me".into());
        let refused = Submit::<TestTask>::submit(&*fx.ex, task.clone())
            .expect_err("submit after shutdown must be refused");
        assert_eq!(refused.reason(), &Rejected::ShutDown, "after {how:?}");
        assert_eq!(refused.into_task(), task, "the refused task is handed back");
        let chunk = Chunk::new(vec![TestTask::Return(1), TestTask::Return(2)]);
        let refused = Submit::<Chunk<TestTask>>::submit(&*fx.ex, chunk.clone())
            .expect_err("a chunk after shutdown must be refused");
        assert_eq!(
            refused.into_task(),
            chunk,
            "the refused chunk is handed back"
        );
    }
}

/// `shutdown(wait: true)` returns only after the running tasks have finished.
pub fn wait_blocks_until_running_tasks_finish<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(1));
    started(&gate, 1);
    let ex = fx.ex.clone();
    let returned = in_thread(move || ex.shutdown(Shutdown::default()));
    nothing_yet(&returned, "shutdown(wait: true) while a task runs");
    gate.release_all();
    recv(&returned, "shutdown(wait: true) after the task finished");
    assert!(
        future.done(),
        "shutdown(wait: true) returned before the task finished (it is {})",
        future.state()
    );
    assert_eq!(future.result(), Ok(1));
}

/// Without `cancel_futures`, queued tasks still run, and `shutdown(wait: true)` waits for them.
pub fn wait_runs_queued_tasks<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting: Vec<_> = (0..3).map(|i| queued(&fx, TestTask::Return(i))).collect();
    let ex = fx.ex.clone();
    let returned = in_thread(move || ex.shutdown(Shutdown::default()));
    nothing_yet(
        &returned,
        "shutdown(wait: true) with running and queued tasks",
    );
    gate.release_all();
    recv(&returned, "shutdown(wait: true) after the tasks finished");
    for (i, f) in (0..).zip(waiting.iter().chain(&busy)) {
        assert!(
            f.done(),
            "shutdown(wait: true) returned with task {i} still {}",
            f.state()
        );
        assert!(f.result().is_ok(), "task {i}: {:?}", f.result());
    }
}

/// `shutdown(wait: false)` returns while tasks run; they finish anyway.
pub fn no_wait_returns_while_tasks_run<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(2));
    started(&gate, 1);
    let ex = fx.ex.clone();
    let returned = in_thread(move || {
        ex.shutdown(Shutdown::no_wait());
        ex.is_shutdown()
    });
    assert!(
        recv(
            &returned,
            "shutdown(wait: false) while a task runs (it blocked)"
        ),
        "is_shutdown() after shutdown(wait: false)"
    );
    assert!(Submit::<TestTask>::submit(&*fx.ex, TestTask::Return(1)).is_err());
    gate.release_all();
    expect_value(&future, 2, "a task running through shutdown(wait: false)");
}

/// `shutdown(cancel_futures: true)` cancels every queued task (their futures are done, `wait`
/// does not hang on them), lets running ones finish, and the cancelled ones never run.
pub fn cancel_futures_cancels_queued<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let witness = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting: Vec<_> = (0..3).map(|i| queued(&fx, witness.task(i))).collect();
    fx.shutdown(false, true);
    let sets = wait(&waiting, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert!(
        sets.not_done.is_empty(),
        "{} queued futures not done after shutdown(cancel_futures)",
        sets.not_done.len()
    );
    for f in &waiting {
        expect_cancelled(f, "a queued task after shutdown(cancel_futures)");
    }
    for f in &busy {
        assert_eq!(f.state(), State::Running, "running tasks are not cancelled");
    }
    gate.release_all();
    witness.release_all();
    for f in &busy {
        assert!(outcome(f, "a running task through shutdown(cancel_futures)").is_ok());
    }
    fx.shutdown(true, false);
    assert_eq!(
        witness.started(),
        0,
        "tasks cancelled by shutdown ran anyway"
    );
}

/// `shutdown(wait: true, cancel_futures: true)` cancels the queue at once, then waits for the
/// running tasks only.
pub fn cancel_futures_with_wait<E: TestExecutor>(make: Factory<'_, E>, caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let busy = saturate(&fx, &gate, caps);
    let waiting: Vec<_> = (0..3).map(|i| queued(&fx, TestTask::Return(i))).collect();
    let ex = fx.ex.clone();
    let returned = in_thread(move || ex.shutdown(Shutdown::wait().cancel_futures(true)));
    for f in &waiting {
        expect_cancelled(f, "a queued task while shutdown waits for running ones");
    }
    nothing_yet(
        &returned,
        "shutdown(wait: true, cancel_futures: true) while tasks run",
    );
    gate.release_all();
    recv(
        &returned,
        "shutdown(wait, cancel_futures) after the running tasks finished",
    );
    for f in &busy {
        assert!(
            f.done() && f.result().is_ok(),
            "a running task: {:?}",
            f.result()
        );
    }
}

/// A task may shut down its own executor, waiting, without joining itself.
pub fn from_inside_a_task<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let ex = fx.ex.clone();
    let task = hooks::register(move || {
        ex.shutdown(Shutdown::default());
        Ok(u64::from(ex.is_shutdown()))
    });
    let future = fx.submit(task);
    assert_eq!(
        outcome(
            &future,
            "a task calling shutdown(wait: true) on its executor (self-join?)"
        ),
        Ok(1)
    );
    assert!(fx.ex.is_shutdown());
    assert!(Submit::<TestTask>::submit(&*fx.ex, TestTask::Return(1)).is_err());
}

/// The callback of a future cancelled by `shutdown(cancel_futures)` may use the executor: its
/// submit is refused instead of deadlocking (CPython deadlocks here).
pub fn from_a_callback_of_a_cancelled_future<E: TestExecutor>(
    make: Factory<'_, E>,
    caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    saturate(&fx, &gate, caps);
    let waiting = queued(&fx, TestTask::Return(1));
    let (tx, rx) = mpsc::channel();
    let ex = fx.ex.clone();
    waiting.add_done_callback(move |f| {
        let refused = Submit::<TestTask>::submit(&*ex, TestTask::Return(2))
            .err()
            .map(|e| e.reason().clone());
        ex.shutdown(Shutdown::no_wait().cancel_futures(true));
        tx.send((f.cancelled(), refused)).unwrap();
    });
    let ex = fx.ex.clone();
    let returned = in_thread(move || ex.shutdown(Shutdown::no_wait().cancel_futures(true)));
    assert_eq!(
        recv(
            &rx,
            "the callback of a future cancelled by shutdown (deadlock?)"
        ),
        (true, Some(Rejected::ShutDown))
    );
    recv(
        &returned,
        "shutdown(cancel_futures) whose callback used the executor",
    );
}

/// Dropping an executor with running and queued tasks leaves no future hanging: each ends
/// with a value or an error.
pub fn drop_leaves_no_future_hanging<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let gate = Gate::new();
    let ex = make();
    let running = submit(&ex, gate.task(1));
    started(&gate, 1);
    // More than a small pool runs at once, so that some are still queued when it is dropped.
    let mut futures = vec![running];
    futures.extend((0..6).map(|i| submit(&ex, gate.task(10 + i))));
    let dropped = in_thread(move || drop(ex));
    gate.release_all();
    recv(&dropped, "dropping the executor");
    let sets = wait(&futures, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert!(
        sets.not_done.is_empty(),
        "{} futures still not done after the executor was dropped and its tasks released",
        sets.not_done.len()
    );
    assert!(
        futures
            .iter()
            .all(|f| f.result() != Err(TaskError::Timeout)),
        "a future ended with a wait timeout"
    );
}
