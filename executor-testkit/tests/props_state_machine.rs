//! Model-based property test of one future's state machine: random sequences of user and
//! backend operations (cancel, interrupt, start, set_result, set_error, set_cancelled,
//! on_interrupt, add_done_callback, dropping the promise, zero-timeout `wait`/`as_completed`,
//! reads, `into_result`) run against the real `Future`/`Promise` and against a small reference
//! model; they must agree after every step (state, outcome, return values, callbacks run, hooks
//! called).
//!
//! Failing cases are shrunk and persisted in `executor-testkit/proptest-regressions/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use concurrent_futures_core::{
    Future, ReturnWhen, State, TaskError, as_completed_within,
    backend::{InvalidStateError, Promise, Start},
    wait,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/props_state_machine.txt"
        )))),
        ..ProptestConfig::default()
    }
}

type Outcome = Result<u8, TaskError<u8>>;

#[derive(Debug, Clone, Copy)]
enum Op {
    Cancel,
    Interrupt,
    Start,
    SetResult(u8),
    SetError(u8),
    SetCancelled,
    OnInterrupt,
    AddCallback,
    DropPromise,
    Wait0(ReturnWhen),
    AsCompleted0,
    Read0,
    TakeIfDone,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Cancel),
        1 => Just(Op::Interrupt),
        3 => Just(Op::Start),
        2 => any::<u8>().prop_map(Op::SetResult),
        1 => any::<u8>().prop_map(Op::SetError),
        1 => Just(Op::SetCancelled),
        1 => Just(Op::OnInterrupt),
        2 => Just(Op::AddCallback),
        1 => Just(Op::DropPromise),
        1 => prop_oneof![
            Just(ReturnWhen::FirstCompleted),
            Just(ReturnWhen::FirstException),
            Just(ReturnWhen::AllCompleted)
        ]
        .prop_map(Op::Wait0),
        1 => Just(Op::AsCompleted0),
        1 => Just(Op::Read0),
        1 => Just(Op::TakeIfDone),
    ]
}

/// The reference model: what CPython's table says, with our two deliberate changes
/// (one cancelled state; a dropped promise abandons its future).
#[derive(Debug, Default)]
struct Model {
    state: ModelState,
    promise_alive: bool,
    taken: bool,
    callbacks_queued: usize,
    callbacks_run: usize,
    hook_registered: bool,
    hook_calls: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
enum ModelState {
    #[default]
    Pending,
    Running,
    Cancelled,
    Finished(Outcome),
}

impl Model {
    fn state(&self) -> State {
        match self.state {
            ModelState::Pending => State::Pending,
            ModelState::Running => State::Running,
            ModelState::Cancelled => State::Cancelled,
            ModelState::Finished(_) => State::Finished,
        }
    }

    fn done(&self) -> bool {
        self.state().is_done()
    }

    fn outcome(&self) -> Option<Outcome> {
        match &self.state {
            _ if self.taken => Some(Err(TaskError::Taken)),
            ModelState::Pending | ModelState::Running => None,
            ModelState::Cancelled => Some(Err(TaskError::Cancelled)),
            ModelState::Finished(outcome) => Some(outcome.clone()),
        }
    }

    fn terminate(&mut self, to: ModelState) {
        self.state = to;
        self.callbacks_run += std::mem::take(&mut self.callbacks_queued);
        self.hook_registered = false;
    }

    fn cancel(&mut self) -> bool {
        match self.state {
            ModelState::Pending => {
                self.terminate(ModelState::Cancelled);
                true
            }
            ModelState::Cancelled => true,
            _ => false,
        }
    }

    fn complete(
        &mut self,
        to: ModelState,
        operation: &'static str,
    ) -> Result<(), InvalidStateError> {
        self.promise_alive = false;
        match self.state {
            ModelState::Pending | ModelState::Running => {
                self.terminate(to);
                Ok(())
            }
            _ => Err(InvalidStateError {
                state: self.state(),
                operation,
            }),
        }
    }
}

/// The real thing, plus counters the callbacks and hooks bump.
struct Real {
    promise: Option<Promise<u8, u8>>,
    future: Future<u8, u8>,
    callbacks_run: Arc<AtomicUsize>,
    hook_calls: Arc<AtomicUsize>,
}

fn apply(op: Op, model: &mut Model, real: &mut Real) -> Result<(), TestCaseError> {
    match op {
        Op::Cancel => prop_assert_eq!(real.future.cancel(), model.cancel()),
        Op::Interrupt => {
            let expected = match model.state {
                ModelState::Pending => model.cancel(),
                ModelState::Running if model.hook_registered => {
                    model.hook_registered = false;
                    model.hook_calls += 1;
                    true
                }
                ModelState::Running => false,
                ModelState::Cancelled => true,
                ModelState::Finished(_) => false,
            };
            prop_assert_eq!(real.future.interrupt(), expected);
        }
        Op::Start => {
            if let Some(promise) = &real.promise {
                let expected = match model.state {
                    ModelState::Pending => {
                        model.state = ModelState::Running;
                        Ok(Start::Run)
                    }
                    ModelState::Cancelled => Ok(Start::Cancelled),
                    _ => Err(InvalidStateError {
                        state: model.state(),
                        operation: "start",
                    }),
                };
                prop_assert_eq!(promise.start(), expected);
            }
        }
        Op::SetResult(value) => {
            if let Some(promise) = real.promise.take() {
                let expected = model.complete(ModelState::Finished(Ok(value)), "complete");
                prop_assert_eq!(promise.set_result(value), expected);
            }
        }
        Op::SetError(error) => {
            if let Some(promise) = real.promise.take() {
                let to = ModelState::Finished(Err(TaskError::Failed(error)));
                let expected = model.complete(to, "complete");
                prop_assert_eq!(promise.set_error(error), expected);
            }
        }
        Op::SetCancelled => {
            if let Some(promise) = real.promise.take() {
                let expected = model.complete(ModelState::Cancelled, "cancel");
                prop_assert_eq!(promise.set_cancelled(), expected);
            }
        }
        Op::OnInterrupt => {
            if let Some(promise) = &real.promise {
                if !model.done() {
                    model.hook_registered = true;
                }
                let calls = real.hook_calls.clone();
                promise.on_interrupt(move || {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            }
        }
        Op::AddCallback => {
            if model.done() {
                model.callbacks_run += 1;
            } else {
                model.callbacks_queued += 1;
            }
            let calls = real.callbacks_run.clone();
            real.future.add_done_callback(move |f| {
                assert!(f.done(), "a callback only ever sees a done future");
                calls.fetch_add(1, Ordering::SeqCst);
            });
        }
        Op::DropPromise => {
            if let Some(promise) = real.promise.take() {
                let _ = model.complete(ModelState::Finished(Err(TaskError::Abandoned)), "");
                drop(promise);
            }
        }
        Op::Wait0(mode) => {
            let sets = wait([&real.future], Some(Duration::ZERO), mode);
            prop_assert_eq!(sets.done.len(), usize::from(model.done()));
            prop_assert_eq!(sets.not_done.len(), usize::from(!model.done()));
        }
        Op::AsCompleted0 => {
            let mut iter = as_completed_within([&real.future], Duration::ZERO);
            match iter.next() {
                Some(Ok(_)) => prop_assert!(model.done()),
                Some(Err(timeout)) => {
                    prop_assert!(!model.done());
                    prop_assert_eq!((timeout.unfinished, timeout.total), (1, 1));
                }
                None => prop_assert!(false, "one future, so one item"),
            }
            prop_assert!(iter.next().is_none());
        }
        Op::Read0 => {
            let expected = model.outcome().unwrap_or(Err(TaskError::Timeout));
            prop_assert_eq!(real.future.result_timeout(Duration::ZERO), expected.clone());
            prop_assert_eq!(real.future.error_timeout(Duration::ZERO), expected.err());
        }
        Op::TakeIfDone => {
            if model.done() {
                let expected = model.outcome().unwrap();
                let polled = std::pin::Pin::new(&mut real.future)
                    .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
                prop_assert_eq!(polled, std::task::Poll::Ready(expected));
                model.taken = true;
            }
        }
    }
    Ok(())
}

fn check_agreement(model: &Model, real: &Real) -> Result<(), TestCaseError> {
    let future = &real.future;
    prop_assert_eq!(future.state(), model.state());
    prop_assert_eq!(future.done(), model.done());
    prop_assert_eq!(future.cancelled(), model.state() == State::Cancelled);
    prop_assert_eq!(future.running(), model.state() == State::Running);
    prop_assert_eq!(future.wait_timeout(Duration::ZERO), model.done());
    prop_assert_eq!(
        real.callbacks_run.load(Ordering::SeqCst),
        model.callbacks_run
    );
    prop_assert_eq!(real.hook_calls.load(Ordering::SeqCst), model.hook_calls);
    prop_assert_eq!(real.promise.is_some(), model.promise_alive);
    if let Some(promise) = &real.promise {
        prop_assert_eq!(promise.is_cancelled(), model.state() == State::Cancelled);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_future_agrees_with_the_model_at_every_step(ops in prop::collection::vec(op(), 0..40)) {
        let (promise, future) = Future::<u8, u8>::pending();
        let mut real = Real {
            promise: Some(promise),
            future,
            callbacks_run: Arc::default(),
            hook_calls: Arc::default(),
        };
        let mut model = Model { promise_alive: true, ..Model::default() };
        for op in ops {
            apply(op, &mut model, &mut real)?;
            check_agreement(&model, &real)?;
        }
        // Dropping the promise at the end settles the future for good.
        if let Some(promise) = real.promise.take() {
            let _ = model.complete(ModelState::Finished(Err(TaskError::Abandoned)), "");
            drop(promise);
        }
        check_agreement(&model, &real)?;
        prop_assert!(real.future.done());
    }
}
