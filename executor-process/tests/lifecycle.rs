//! Stopping tasks and workers: time limits, interrupts, terminate/kill, recycling, CPython's
//! broken-pool mode, and attribution of a crash inside a batch.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Gate, Probe, outcome};
use concurrent_futures_core::{Executor, Shutdown, Submit, TaskError};
use concurrent_futures_process::{ProcessPool, SubmitOptions};
use libtest_mimic::Failed;

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("pool starts")
}

fn pid_of(pool: &ProcessPool) -> u64 {
    outcome(&pool.submit(Probe::Pid).unwrap()).unwrap()
}

fn timeout_kills_and_replaces_the_worker() -> Result<(), Failed> {
    let pool = pool(1);
    let before = pid_of(&pool);
    let gate = Gate::new();
    let limit = Duration::from_millis(100);
    let expired = pool
        .submit_with(gate.task(1), SubmitOptions::new().timeout(limit))
        .unwrap();
    let queued = pool.submit(Probe::Return(2)).unwrap();
    assert_eq!(outcome(&expired), Err(TaskError::Expired { limit }));
    assert_eq!(outcome(&queued), Ok(2));
    assert_ne!(pid_of(&pool), before, "the worker was replaced");
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn default_timeout_applies_and_sigkill_follows_sigterm() -> Result<(), Failed> {
    let limit = Duration::from_millis(100);
    let pool = ProcessPool::builder()
        .max_workers(1)
        .task_timeout(limit)
        .kill_grace(Duration::from_millis(100))
        .build()
        .unwrap();
    let gate = Gate::new();
    let stubborn = pool.submit(gate.stubborn_task(1)).unwrap();
    assert_eq!(outcome(&stubborn), Err(TaskError::Expired { limit }));
    // A per-task limit overrides the default: this one has all the time it needs.
    let generous = pool
        .submit_with(
            Probe::Return(3),
            SubmitOptions::new().timeout(Duration::from_secs(600)),
        )
        .unwrap();
    assert_eq!(outcome(&generous), Ok(3));
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn interrupt_stops_a_running_task() -> Result<(), Failed> {
    let pool = pool(1);
    let before = pid_of(&pool);
    let mut gate = Gate::new();
    let running = pool.submit(gate.task(1)).unwrap();
    gate.wait_started(1);
    assert!(running.interrupt());
    running.wait_timeout(common::LONG);
    assert!(running.cancelled(), "{running:?}");
    assert_eq!(outcome(&pool.submit(Probe::Return(5)).unwrap()), Ok(5));
    assert_ne!(pid_of(&pool), before, "the worker was replaced");
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn interrupt_of_a_queued_task_cancels_it() -> Result<(), Failed> {
    let pool = pool(1);
    let mut gate = Gate::new();
    let running = pool.submit(gate.task(1)).unwrap();
    gate.wait_started(1);
    let queued = pool.submit(Probe::Return(2)).unwrap();
    assert!(queued.interrupt());
    assert!(queued.cancelled());
    gate.release_all();
    assert_eq!(outcome(&running), Ok(1));
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn terminate_workers_fails_running_and_cancels_pending() -> Result<(), Failed> {
    for kill in [false, true] {
        let pool = pool(1);
        let mut gate = Gate::new();
        let running = pool.submit(gate.task(1)).unwrap();
        gate.wait_started(1);
        let pending: Vec<_> = (0..5)
            .map(|i| pool.submit(Probe::Return(i)).unwrap())
            .collect();
        let pids = pool.worker_pids();
        if kill {
            pool.kill_workers();
        } else {
            pool.terminate_workers();
        }
        for future in &pending {
            assert!(future.cancelled());
        }
        match outcome(&running) {
            Err(TaskError::Broken(broken)) => {
                assert!(broken.reason.contains("_workers()"), "{broken}")
            }
            other => return Err(format!("expected Broken, got {other:?}").into()),
        }
        assert!(pool.is_shutdown());
        assert!(pool.submit(Probe::Return(1)).is_err());
        pool.shutdown(Shutdown::default());
        for pid in pids {
            assert!(common::process_gone(pid), "worker {pid} was not reaped");
        }
    }
    Ok(())
}

/// Tasks already handed to a worker in its batch were running as far as their futures go
/// (`running()`, `cancel()` refused): when `terminate_workers` stops that worker they fail
/// `Broken`, never `Cancelled` (issue #12, item 4). Only tasks never sent are cancelled.
///
/// How many queued tasks go into the batch depends on the task durations the pool measured, so
/// a slow moment can leave the batch at one task. Every attempt checks the rule for whatever
/// was sent and not sent; the scenario is repeated (a bounded number of times) until at least
/// one batch held more than the running task, which the rule is about.
fn terminate_workers_fails_a_whole_batch_broken() -> Result<(), Failed> {
    for _ in 0..20 {
        if terminate_a_batch()? {
            return Ok(());
        }
    }
    Err("in 20 attempts, no batch held more than its running task".into())
}

/// One attempt: `true` if tasks besides the running one were in its batch.
fn terminate_a_batch() -> Result<bool, Failed> {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    // Quick tasks first, so the pool measures them as short and batches the queue.
    for i in 0..20 {
        assert_eq!(outcome(&pool.submit(Probe::Return(i)).unwrap()), Ok(i));
    }
    let mut first = Gate::new();
    let holding = pool.submit(first.task(0)).unwrap();
    // Queued while the worker is busy: sent as one batch once it is free.
    let mut second = Gate::new();
    let head = pool.submit(second.task(1)).unwrap();
    let rest: Vec<_> = (2..5)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    first.wait_started(1);
    first.release_all();
    assert_eq!(outcome(&holding), Ok(0));
    second.wait_started(1);
    // Sent with the running task: running, and cancel() refused. The batch is the head of
    // the queue, so the sent ones come first.
    let sent = rest.iter().take_while(|future| future.running()).count();
    for future in &rest[..sent] {
        assert!(
            !future.cancel(),
            "a task handed to a worker cannot be cancelled"
        );
    }
    let never_sent = pool.submit(Probe::Return(9)).unwrap();
    pool.terminate_workers();
    assert!(never_sent.cancelled(), "a task never sent is cancelled");
    for future in &rest[sent..] {
        assert!(future.cancelled(), "a task never sent is cancelled");
    }
    for future in std::iter::once(&head).chain(&rest[..sent]) {
        match outcome(future) {
            Err(TaskError::Broken(broken)) => {
                assert!(broken.reason.contains("terminate_workers()"), "{broken}")
            }
            other => return Err(format!("expected Broken, got {other:?}").into()),
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(sent > 0)
}

fn max_tasks_per_child_recycles_without_hanging() -> Result<(), Failed> {
    // CPython gh-115634: one worker, a limit of 2, ten tasks: the replacement must come.
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(3)
        .build()
        .unwrap();
    let pids: Vec<u64> = (0..10)
        .map(|_| pool.submit(Probe::Pid).unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|f| outcome(f).unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3]);
    assert_eq!(pids[3], pids[5]);
    assert_ne!(pids[5], pids[6]);
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), 4);
    pool.shutdown(Shutdown::default());

    let pool = ProcessPool::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..6)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    pool.shutdown(Shutdown::default());
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(future.result_timeout(Duration::ZERO), Ok(i as u64));
    }
    Ok(())
}

fn broken_on_worker_death_breaks_the_pool() -> Result<(), Failed> {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .broken_on_worker_death(true)
        .build()
        .unwrap();
    let mut gate = Gate::new();
    let running = pool.submit(gate.task(1)).unwrap();
    gate.wait_started(1);
    let crashed = pool.submit(Probe::Abort).unwrap();
    assert!(matches!(outcome(&crashed), Err(TaskError::Broken(_))));
    assert!(matches!(outcome(&running), Err(TaskError::Broken(_))));
    match pool.submit(Probe::Return(1)) {
        Err(refused) => assert!(matches!(
            refused.reason(),
            concurrent_futures_core::Rejected::Broken(_)
        )),
        Ok(_) => return Err("a broken pool accepted a task".into()),
    }
    assert!(pool.is_shutdown());
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// Warms the pool up with short tasks so that it batches, then queues a crash among them.
fn crash_inside_a_batch_fails_only_the_crashing_task() -> Result<(), Failed> {
    let pool = pool(1);
    let warm: Vec<_> = (0..200)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for future in &warm {
        outcome(future).unwrap();
    }
    let mut gate = Gate::new();
    let blocker = pool.submit(gate.task(0)).unwrap();
    gate.wait_started(1);
    let before: Vec<_> = (0..20)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    let crash = pool.submit(Probe::Abort).unwrap();
    let after: Vec<_> = (0..20)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    gate.release_all();
    outcome(&blocker).unwrap();
    for (i, future) in before.iter().chain(&after).enumerate() {
        assert_eq!(outcome(future), Ok((i % 20) as u64));
    }
    assert!(matches!(outcome(&crash), Err(TaskError::WorkerLost(_))));
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// A blocked task does not hold later tasks hostage while another worker is free, even if they
/// were sent in the same batch (the free worker takes back what the busy one has not started).
fn blocked_task_does_not_hold_its_batch() -> Result<(), Failed> {
    let pool = pool(2);
    let warm: Vec<_> = (0..500)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for future in &warm {
        outcome(future).unwrap();
    }
    for _ in 0..3 {
        let mut blocker = Gate::new();
        let mut other = Gate::new();
        let held = pool.submit(other.task(0)).unwrap();
        let blocked = pool.submit(blocker.task(1)).unwrap();
        other.wait_started(1);
        blocker.wait_started(1);
        let mut stuck = Gate::new();
        let mut behind: Vec<_> = vec![pool.submit(stuck.task(2)).unwrap()];
        behind.extend((0..40).map(|i| pool.submit(Probe::Return(i)).unwrap()));
        // Free one worker: it takes a batch that starts with the stuck task; the other worker,
        // freed next, must end up running the rest.
        other.release_all();
        outcome(&held).unwrap();
        blocker.release_all();
        outcome(&blocked).unwrap();
        for (i, future) in behind.iter().enumerate().skip(1) {
            assert_eq!(outcome(future), Ok(i as u64 - 1));
        }
        // The stuck task is inside its gate (not merely claimed: its worker may not have
        // reached the gate yet, and a gate removed before that fails the task).
        stuck.wait_started(1);
        drop(stuck);
        assert_eq!(outcome(&behind[0]), Ok(2));
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

test_main!(
    blocked_task_does_not_hold_its_batch,
    timeout_kills_and_replaces_the_worker,
    default_timeout_applies_and_sigkill_follows_sigterm,
    interrupt_stops_a_running_task,
    interrupt_of_a_queued_task_cancels_it,
    terminate_workers_fails_running_and_cancels_pending,
    terminate_workers_fails_a_whole_batch_broken,
    max_tasks_per_child_recycles_without_hanging,
    broken_on_worker_death_breaks_the_pool,
    crash_inside_a_batch_fails_only_the_crashing_task,
);
