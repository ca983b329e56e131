//! Checks of `.await`: through the std-only [`block_on`](crate::block_on), a future gives its
//! outcome, wakes its task on completion, and dropping the awaiting task neither cancels the
//! work nor loses the result.

use std::future::Future as _;
use std::pin::pin;
use std::task::{Context, Poll};

use concurrent_futures_core::TaskError;

use crate::conformance::support::{Fixture, PATIENCE, expect_value, in_thread, recv, started};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, Gate, Requirement, TestTask, block_on_timeout, thread_waker};

super::checks! { "async_await":
    await_gives_the_value,
    await_gives_the_error,
    await_wakes_on_completion [Requirement::Concurrent(1)],
    dropping_the_awaiting_task_keeps_the_result [Requirement::Concurrent(1)],
    awaits_many_in_sequence,
}

/// `.await` gives the value.
pub fn await_gives_the_value<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Return(5));
    // Awaiting the unique handle moves the value out.
    assert_eq!(block_on_timeout(future, PATIENCE), Some(Ok(5)));
    // Awaiting a shared one gives a copy: a clone and then the original give it again.
    let shared = fx.submit(TestTask::Return(6)).share();
    assert_eq!(
        block_on_timeout(async { (shared.clone().await, shared.await) }, PATIENCE),
        Some((Ok(6), Ok(6)))
    );
}

/// `.await` gives the task's error.
pub fn await_gives_the_error<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let future = fx.submit(TestTask::Fail("async no".into()));
    assert_eq!(
        block_on_timeout(future, PATIENCE),
        Some(Err(TaskError::Failed("async no".to_string())))
    );
}

/// A task awaiting a running future is woken when it completes.
pub fn await_wakes_on_completion<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let future = fx.submit(gate.task(8));
    started(&gate, 1);
    let awaited = in_thread(move || block_on_timeout(future, PATIENCE));
    gate.release_all();
    assert_eq!(
        recv(&awaited, "a thread awaiting the future"),
        Some(Ok(8)),
        "the awaiting task was not woken"
    );
}

/// Dropping an awaiting task after it polled neither cancels the work nor loses the result.
pub fn dropping_the_awaiting_task_keeps_the_result<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let gate = Gate::new();
    let mut future = fx.submit(gate.task(4));
    started(&gate, 1);
    {
        let awaiting = pin!(&mut future);
        let waker = thread_waker();
        let polled = awaiting.poll(&mut Context::from_waker(&waker));
        assert!(
            matches!(polled, Poll::Pending),
            "a running future polled ready"
        );
    }
    gate.release_all();
    expect_value(&future, 4, "a future whose awaiting task was dropped");
}

/// One async block awaits many futures one after the other.
pub fn awaits_many_in_sequence<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let futures: Vec<_> = (1..=20).map(|i| fx.submit(TestTask::Return(i))).collect();
    let sum = block_on_timeout(
        async move {
            let mut sum = 0;
            for f in futures {
                sum += f.await.expect("Return never fails");
            }
            sum
        },
        PATIENCE,
    );
    assert_eq!(sum, Some(210));
}
