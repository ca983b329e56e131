//! Checks under contention: many submitters at once, cancellation racing the workers from
//! another thread, submit racing shutdown, and many threads waiting on the same futures.

use std::sync::{Arc, Barrier, mpsc};

use concurrent_futures_core::{Rejected, ReturnWhen, Shutdown, Submit, as_completed, wait};

use crate::conformance::cancel::check_cancel_answer;
use crate::conformance::support::{Fixture, PATIENCE, expect_value, outcome};
use crate::conformance::{Factory, TestExecutor};
use crate::{Capabilities, TestFuture, TestTask};

super::checks! { "concurrency":
    many_concurrent_submitters,
    cancel_from_another_thread_races_start,
    submit_races_shutdown,
    many_threads_wait_on_the_same_futures,
}

const THREADS: u64 = 8;

/// 8 threads submit 200 tasks each at the same time; every future resolves to its own value.
pub fn many_concurrent_submitters<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let per_thread = 200;
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let submitters: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ex, barrier) = (fx.ex.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..per_thread)
                    .map(|i| {
                        let value = t * 1_000_000 + i;
                        let future = Submit::<TestTask>::submit(&*ex, TestTask::Return(value))
                            .expect("a concurrent submit was refused");
                        (value, future)
                    })
                    .collect::<Vec<(u64, TestFuture)>>()
            })
        })
        .collect();
    for submitter in submitters {
        let futures = submitter.join().expect("a submitting thread panicked");
        for (value, future) in futures {
            expect_value(&future, value, "a task of a concurrent submitter");
        }
    }
}

/// Another thread cancels each future as soon as it is submitted; `cancel`'s answer always
/// matches the outcome.
pub fn cancel_from_another_thread_races_start<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let (tx, rx) = mpsc::channel::<(u64, TestFuture)>();
    let canceller = std::thread::spawn(move || {
        rx.into_iter()
            .map(|(value, f)| {
                let cancelled = f.cancel();
                (value, f, cancelled)
            })
            .collect::<Vec<_>>()
    });
    for i in 0..300 {
        tx.send((i, fx.submit(TestTask::Return(i)))).unwrap();
    }
    drop(tx);
    let answers = canceller.join().expect("the cancelling thread panicked");
    for (value, f, cancelled) in answers {
        check_cancel_answer(&f, cancelled, value);
    }
}

/// Threads submit while another shuts down: each submit either runs its task (no
/// `cancel_futures`, so it finishes with its value) or is refused with the task handed back,
/// and once refused, refused for good.
pub fn submit_races_shutdown<E: TestExecutor>(make: Factory<'_, E>, _caps: &Capabilities) {
    let fx = Fixture::new(make);
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let submitters: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (ex, barrier) = (fx.ex.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut accepted = Vec::new();
                for i in 0..1000 {
                    let task = TestTask::Return(t * 1_000_000 + i);
                    match Submit::<TestTask>::submit(&*ex, task.clone()) {
                        Ok(future) => accepted.push((t * 1_000_000 + i, future)),
                        Err(refused) => {
                            assert_eq!(refused.reason(), &Rejected::ShutDown);
                            assert_eq!(refused.into_task(), task, "the task is handed back");
                            let again = Submit::<TestTask>::submit(&*ex, TestTask::Return(0));
                            assert!(again.is_err(), "a submit after a refusal was accepted");
                            break;
                        }
                    }
                }
                accepted
            })
        })
        .collect();
    barrier.wait();
    fx.ex.shutdown(Shutdown {
        wait: false,
        cancel_futures: false,
    });
    for submitter in submitters {
        let accepted = submitter.join().expect("a submitting thread panicked");
        for (value, f) in accepted {
            expect_value(&f, value, "a task accepted just before shutdown");
        }
    }
}

/// Several threads run `wait` and `as_completed` over the same futures at once; all see them
/// all.
pub fn many_threads_wait_on_the_same_futures<E: TestExecutor>(
    make: Factory<'_, E>,
    _caps: &Capabilities,
) {
    let fx = Fixture::new(make);
    let futures: Arc<Vec<TestFuture>> =
        Arc::new((0..100).map(|i| fx.submit(TestTask::Return(i))).collect());
    let waiters: Vec<_> = (0..4)
        .map(|t| {
            let futures = futures.clone();
            std::thread::spawn(move || {
                if t % 2 == 0 {
                    let sets = wait(futures.iter(), Some(PATIENCE), ReturnWhen::AllCompleted);
                    sets.done.len()
                } else {
                    as_completed(futures.iter()).count()
                }
            })
        })
        .collect();
    for waiter in waiters {
        assert_eq!(waiter.join().expect("a waiting thread panicked"), 100);
    }
    for (i, f) in (0..).zip(futures.iter()) {
        assert_eq!(outcome(f, "a shared future"), Ok(i));
    }
}
