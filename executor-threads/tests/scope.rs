//! `ThreadPool::scope`: tasks borrowing the caller's stack, what `scope` waits for (tasks run,
//! cancelled, drained by shutdown), panics in tasks and in the scope body, nested scopes,
//! scopes inside tasks of the same pool, and futures read after the scope.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;

use common::{BOUND, Counter, Latch};
use concurrent_futures_core::{Executor, Rejected, Shutdown, State, Submit, TaskError};
use concurrent_futures_threads::ThreadPool;

const CANCEL_NO_WAIT: Shutdown = Shutdown::no_wait().cancel_futures(true);

fn pool(max_workers: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(max_workers)
        .build()
        .unwrap()
}

/// Counts its drops in a borrowed counter: proves a closure's captures are gone.
struct DropCount<'a>(&'a AtomicUsize);

impl Drop for DropCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn tasks_read_borrowed_stack_data() {
    let pool = pool(4);
    let data: Vec<u64> = (0..1000).collect();
    let sums: Vec<u64> = pool.scope(|s| {
        let futures: Vec<_> = (0..8)
            .map(|i| {
                let data = &data;
                s.submit(move || data.iter().skip(i).step_by(8).sum::<u64>())
                    .unwrap()
            })
            .collect();
        futures
            .iter()
            .map(|f| f.result_timeout(BOUND).unwrap())
            .collect()
    });
    assert_eq!(sums.iter().sum::<u64>(), 999 * 1000 / 2);
    // The borrow ended with the scope: `data` can be moved now.
    drop(data);
}

#[test]
fn tasks_write_disjoint_mutable_chunks() {
    let pool = pool(3);
    let mut out = vec![0usize; 100];
    pool.scope(|s| {
        for (n, chunk) in out.chunks_mut(7).enumerate() {
            s.submit(move || {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = n * 7 + k;
                }
            })
            .unwrap();
        }
        // No future is kept: `scope` alone waits for the writes.
    });
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}

#[test]
fn scope_returns_only_after_every_task_finished() {
    let pool = pool(2);
    let (gate, started) = (Latch::new(), Counter::new());
    let finished = AtomicUsize::new(0);
    let (returned_tx, returned_rx) = mpsc::channel();
    std::thread::scope(|threads| {
        threads.spawn(|| {
            pool.scope(|s| {
                for _ in 0..2 {
                    s.submit(|| {
                        started.arrive();
                        gate.wait();
                        finished.fetch_add(1, SeqCst);
                    })
                    .unwrap();
                }
            });
            // What the scope saw when it returned.
            returned_tx.send(finished.load(SeqCst)).unwrap();
        });
        started.wait_for(2);
        // Both tasks are blocked on the gate, so the scope cannot have returned.
        assert_eq!(
            returned_rx.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "scope returned while its tasks were blocked"
        );
        gate.open();
        assert_eq!(
            returned_rx.recv_timeout(BOUND),
            Ok(2),
            "scope returned before both tasks finished"
        );
    });
}

#[test]
fn tasks_may_submit_more_tasks_to_their_scope() {
    let pool = pool(2);
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..4 {
            s.submit(|| {
                s.submit(|| ran.fetch_add(1, SeqCst)).unwrap();
                ran.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
    });
    // The inner submits were counted too: all eight closures ran before scope returned.
    assert_eq!(ran.load(SeqCst), 8);
}

#[test]
fn cancelled_tasks_are_dropped_unrun_before_scope_returns() {
    let pool = pool(1);
    let (gate, started) = (Latch::new(), Counter::new());
    let (ran, dropped) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (blocker, queued) = pool.scope(|s| {
        let blocker = s
            .submit(|| {
                started.arrive();
                gate.wait();
            })
            .unwrap();
        started.wait_for(1);
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let token = DropCount(&dropped);
                s.submit(|| {
                    let _token = token;
                    ran.fetch_add(1, SeqCst);
                })
                .unwrap()
            })
            .collect();
        for future in &queued {
            assert!(future.cancel());
        }
        gate.open();
        (blocker, queued)
    });
    assert_eq!(blocker.state(), State::Finished);
    for future in &queued {
        assert_eq!(future.result_timeout(BOUND), Err(TaskError::Cancelled));
    }
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(
        dropped.load(SeqCst),
        3,
        "a cancelled closure outlived its scope"
    );
}

#[test]
fn shutdown_cancel_futures_inside_the_scope_drains_scoped_tasks() {
    let pool = pool(1);
    let (gate, started) = (Latch::new(), Counter::new());
    let dropped = AtomicUsize::new(0);
    let ran = AtomicBool::new(false);
    let queued = pool.scope(|s| {
        s.submit(|| {
            started.arrive();
            gate.wait();
        })
        .unwrap();
        started.wait_for(1);
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let token = DropCount(&dropped);
                s.submit(|| {
                    let _token = token;
                    ran.store(true, SeqCst);
                })
                .unwrap()
            })
            .collect();
        pool.shutdown(CANCEL_NO_WAIT);
        // Drained at once, before the running task ends.
        assert_eq!(dropped.load(SeqCst), 3);
        gate.open();
        queued
    });
    for future in &queued {
        assert_eq!(future.state(), State::Cancelled);
    }
    assert!(!ran.load(SeqCst));
}

#[test]
fn submit_after_shutdown_hands_the_borrowing_closure_back() {
    let pool = pool(1);
    pool.shutdown(Shutdown::wait());
    let data = [1, 2, 3];
    let length = pool.scope(|s| {
        let refused = s.submit(|| data.len()).unwrap_err();
        assert_eq!(refused.reason(), &Rejected::ShutDown);
        // The closure still borrows `data`, and is usable inside the scope.
        let closure = refused.into_task();
        closure()
    });
    assert_eq!(length, 3);
    let refused = pool.scope(|s| {
        s.submit_fallible(|| data.first().copied().ok_or("empty"))
            .err()
            .map(|e| e.reason().clone())
    });
    assert_eq!(refused, Some(Rejected::ShutDown));
}

#[test]
fn a_panicking_task_fails_its_future_not_the_scope() {
    let pool = pool(2);
    let data = [1, 2, 3];
    let (boom, fine) = pool.scope(|s| {
        let boom = s
            .submit(|| -> usize {
                if data.len() == 3 {
                    panic!("scoped boom");
                }
                0
            })
            .unwrap();
        let fine = s.submit(|| data.len()).unwrap();
        (boom, fine)
    });
    match boom.result_timeout(BOUND) {
        Err(TaskError::Panicked(panic)) => assert_eq!(panic.message(), "scoped boom"),
        other => panic!("expected the task's panic, got {other:?}"),
    }
    assert_eq!(fine.result_timeout(BOUND), Ok(3));
}

#[test]
fn a_panic_in_the_scope_body_waits_for_the_tasks_then_resumes() {
    let pool = pool(2);
    let (gate, started) = (Latch::new(), Counter::new());
    let finished = AtomicBool::new(false);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.submit(|| {
                started.arrive();
                gate.wait();
                finished.store(true, SeqCst);
            })
            .unwrap();
            started.wait_for(1);
            gate.open();
            panic!("body failed");
        })
    }));
    let payload = outcome.expect_err("the body's panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body failed"));
    assert!(
        finished.load(SeqCst),
        "scope unwound before its task finished"
    );
}

#[test]
fn fallible_tasks_fail_with_their_own_error() {
    let pool = pool(2);
    let inputs = ["7", "x"];
    let (good, bad) = pool.scope(|s| {
        let good = s.submit_fallible(|| inputs[0].parse::<u8>()).unwrap();
        let bad = s.submit_fallible(|| inputs[1].parse::<u8>()).unwrap();
        (good, bad)
    });
    assert_eq!(good.result_timeout(BOUND), Ok(7));
    assert!(matches!(
        bad.result_timeout(BOUND),
        Err(TaskError::Failed(_))
    ));
}

#[test]
fn nested_scopes_on_the_calling_thread() {
    let pool = pool(2);
    let outer = [10u32, 20];
    let total = pool.scope(|s| {
        let first = s.submit(|| outer[0]).unwrap();
        let inner_data = [1u32, 2, 3];
        let inner = pool.scope(|t| {
            let futures: Vec<_> = inner_data
                .iter()
                .map(|x| t.submit(move || x + outer[1]).unwrap())
                .collect();
            futures
                .iter()
                .map(|f| f.result_timeout(BOUND).unwrap())
                .sum::<u32>()
        });
        inner + first.result_timeout(BOUND).unwrap()
    });
    assert_eq!(total, (21 + 22 + 23) + 10);
}

/// A task of a one-worker pool opens a scope: the worker runs the scope's jobs itself while
/// `scope` waits, instead of waiting for a worker that will never come.
#[test]
fn a_scope_inside_a_task_of_a_full_pool_does_not_deadlock() {
    for max_workers in [1, 2] {
        let pool = pool(max_workers);
        let inner_pool = pool.clone();
        let future = pool
            .submit(move || {
                let data: Vec<u64> = (1..=10).collect();
                let futures = inner_pool.scope(|s| {
                    data.chunks(3)
                        .map(|chunk| s.submit(move || chunk.iter().sum::<u64>()).unwrap())
                        .collect::<Vec<_>>()
                });
                // Read after the scope: waiting inside the body would be a task waiting for
                // another task of a full pool, which no pool can serve.
                futures.iter().map(|f| f.result().unwrap()).sum::<u64>()
            })
            .unwrap();
        let outcome = future.result_timeout(BOUND);
        if outcome != Ok(55) {
            // Dropping a deadlocked pool would join its stuck worker: leak it and fail.
            std::mem::forget(pool);
            panic!("scope inside a task (max_workers = {max_workers}) gave {outcome:?}");
        }
    }
}

/// Two workers: one waits for its scope, the other may be blocked in a scoped task waiting
/// for a second scoped task; the waiting worker must wake up to run it.
#[test]
fn a_worker_waiting_for_its_scope_runs_jobs_the_scope_submits_later() {
    let pool = pool(2);
    let inner_pool = pool.clone();
    let future = pool
        .submit(move || {
            let data = [1u32, 2, 3];
            let first = inner_pool.scope(|s| {
                s.submit(|| {
                    let second = s.submit(|| data.iter().sum::<u32>()).unwrap();
                    second.result_timeout(BOUND)
                })
                .unwrap()
            });
            first.result()
        })
        .unwrap();
    let outcome = future.result_timeout(BOUND);
    if outcome != Ok(Ok(Ok(6))) {
        // Dropping a deadlocked pool would join its stuck workers: leak it and fail.
        std::mem::forget(pool);
        panic!("nested wait inside a scope on a pool thread gave {outcome:?}");
    }
}

#[test]
fn futures_are_read_after_the_scope_returned() {
    let pool = pool(2);
    let words = vec![String::from("scope"), String::from("futures")];
    let futures = pool.scope(|s| {
        words
            .iter()
            .map(|w| s.submit(move || w.to_uppercase()).unwrap())
            .collect::<Vec<_>>()
    });
    drop(words);
    // Done when the scope returned, not merely started or running.
    assert!(futures.iter().all(|f| f.state() == State::Finished));
    let upper: Vec<_> = futures
        .iter()
        .map(|f| f.result_timeout(BOUND).unwrap())
        .collect();
    assert_eq!(upper, ["SCOPE", "FUTURES"]);
}

#[test]
fn forgetting_a_future_does_not_end_the_scope_early() {
    let pool = pool(1);
    let (gate, started) = (Latch::new(), Counter::new());
    let finished = AtomicBool::new(false);
    let (returned_tx, returned_rx) = mpsc::channel();
    std::thread::scope(|threads| {
        threads.spawn(|| {
            pool.scope(|s| {
                std::mem::forget(
                    s.submit(|| {
                        started.arrive();
                        gate.wait();
                        finished.store(true, SeqCst);
                    })
                    .unwrap(),
                );
            });
            returned_tx.send(finished.load(SeqCst)).unwrap();
        });
        started.wait_for(1);
        assert_eq!(returned_rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        gate.open();
        assert_eq!(returned_rx.recv_timeout(BOUND), Ok(true));
    });
}
