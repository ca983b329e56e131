//! No failure on a pool thread may leave a waiter blocked (issues #12 and #15): a panic on a
//! connection thread or the supervisor, a message that does not decode, or the parent running
//! out of descriptors ends in a typed outcome, `shutdown(wait)` returns and no zombie stays.
//! Also: the parent's descriptors stay bounded by the number of workers, whatever the churn.
//!
//! Each scenario runs in a child process (this binary, re-executed with
//! `EXECUTOR_PROCESS_TEST_SCENARIO`), because it sets process-wide things: the failure-injection
//! plan (`EXECUTOR_PROCESS_FAULTS`, see `src/fault.rs`), the descriptor limit, and it counts the
//! process's descriptors and zombie children. The child asserts; the test asserts that the child
//! succeeded within a bound, so a hang fails with a message instead of hanging the suite.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::{Gate, LONG, Probe, outcome};
use concurrent_futures_core::{Executor, Rejected, Shutdown, Submit, TaskError};
use concurrent_futures_process::{Bytes, ProcessPool, SubmitOptions};
use libtest_mimic::{Arguments, Failed, Trial};

const SCENARIO_ENV: &str = "EXECUTOR_PROCESS_TEST_SCENARIO";
const FAULTS_ENV: &str = "EXECUTOR_PROCESS_FAULTS";

/// Runs `scenario` in a child process with the failure-injection plan `faults`; fails unless
/// the child exits successfully within [`LONG`].
fn in_child(scenario: &str, faults: &str) -> Result<(), Failed> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(SCENARIO_ENV, scenario)
        .env(FAULTS_ENV, faults)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let (done, finished) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = done.send(text);
    });
    let Ok(text) = finished.recv_timeout(LONG) else {
        // SAFETY: `pid` is our child, not reaped yet (the wait below reaps it).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        let _ = child.wait();
        let _ = waiter.join();
        return Err(format!("scenario {scenario} did not finish within {LONG:?} (a hang)").into());
    };
    let _ = waiter.join();
    let status = child.wait().unwrap();
    if !status.success() {
        return Err(format!("scenario {scenario} failed ({status}):\n{text}").into());
    }
    Ok(())
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// What the open descriptors are, counted by kind, for failure messages.
fn descriptor_kinds() -> String {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let target = std::fs::read_link(entry.path()).map_or_else(
            |_| "?".to_string(),
            |t| {
                t.to_string_lossy()
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string()
            },
        );
        *kinds.entry(target).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// Shuts `pool` down, waiting (bounded by the child's own bound), and checks nothing is left.
fn shutdown_and_check(pool: ProcessPool) {
    pool.shutdown(Shutdown::default());
    let zombies = common::zombie_children();
    assert!(
        zombies.is_empty(),
        "zombie workers after shutdown: {zombies:?}"
    );
}

// ---- the tests ----------------------------------------------------------------------------

fn descriptors_stay_bounded_under_worker_churn() -> Result<(), Failed> {
    in_child("churn", "")
}

fn a_low_descriptor_limit_ends_every_future() -> Result<(), Failed> {
    in_child("low_limit", "")
}

fn a_panic_while_starting_a_worker_breaks_the_pool_saying_so() -> Result<(), Failed> {
    in_child("spawn_panic", "spawn@2")
}

fn a_panic_in_the_handshake_replaces_the_worker() -> Result<(), Failed> {
    in_child("handshake_panic", "handshake@1")
}

fn running_out_of_descriptors_breaks_the_pool_naming_them() -> Result<(), Failed> {
    in_child("resource_exhausted", "handshake-emfile@2+")
}

fn a_panic_on_receiving_fails_only_the_running_task() -> Result<(), Failed> {
    in_child("receive_panic", "receive@3")
}

fn an_undecodable_message_is_named_in_worker_lost() -> Result<(), Failed> {
    // The worker's third message is its second result: the first is its handshake reply.
    in_child("garbage", "worker-garbage@3")
}

fn a_panic_while_sending_a_batch_stops_only_that_worker() -> Result<(), Failed> {
    in_child("flush_panic", "flush@2")
}

fn a_failed_send_stops_only_that_worker() -> Result<(), Failed> {
    in_child("flush_panic", "flush-error@2")
}

fn a_panic_on_the_supervisor_breaks_the_pool() -> Result<(), Failed> {
    // Its first two commands start the worker and arm its start-up deadline; the third is the
    // time limit of the first task sent.
    in_child("supervisor_panic", "supervisor@3")
}

// ---- the scenarios, in the child ----------------------------------------------------------

/// Issue #12, item 1: with a worker per task, the parent's descriptors depend on `max_workers`,
/// not on how many workers came and went (a reaped worker's pidfd used to stay open for the
/// kill grace period, and exiting workers could pile up without limit).
fn churn() {
    for workers in [2usize, 4] {
        let before = descriptors();
        let pool = ProcessPool::builder()
            .max_workers(workers)
            .max_tasks_per_child(1)
            .build()
            .unwrap();
        let futures: Vec<_> = (0..300u64)
            .map(|i| pool.submit(Probe::Return(i)).unwrap())
            .collect();
        let mut most = (0, String::new());
        for (i, future) in futures.iter().enumerate() {
            assert_eq!(outcome(future), Ok(i as u64));
            let open = descriptors();
            if open > most.0 {
                most = (open, descriptor_kinds());
            }
        }
        // The bound: at most 8 per worker plus a constant. At most 2 * workers
        // processes (those serving, and as many on their way out), each holding 3 descriptors
        // here (pidfd, progress page, its end of the socket pair; arenas only for large
        // payloads), and a replacement's socket pair for a moment while it is spawned.
        let bound = before + 8 * workers + 4;
        assert!(
            most.0 <= bound,
            "{workers} workers, 300 churned: up to {} descriptors open, more than {bound} \
             ({before} before the pool): {}",
            most.0,
            most.1
        );
        shutdown_and_check(pool);
    }
}

/// Issue #12, item 2: under a descriptor limit barely above what the process uses, with a
/// worker per task, every future ends (with its value, or an error naming descriptors),
/// `shutdown(wait)` returns and no zombie stays.
fn low_limit() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    assert_eq!(outcome(&pool.submit(Probe::Return(7)).unwrap()), Ok(7));
    // Room for little more than what is open now: replacing workers runs into the limit.
    let limit = libc::rlimit {
        rlim_cur: (descriptors() + 4) as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = limit;
    // SAFETY: getrlimit/setrlimit with valid rlimit structs.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
        let tight = libc::rlimit {
            rlim_cur: limit.rlim_cur,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &tight), 0);
    }
    // Every tenth task is large enough to travel through shared memory, which needs
    // descriptors of its own on both sides.
    let task = |i: u64| match i % 10 {
        0 => Probe::Len(Bytes(vec![7; 100_000 + i as usize])),
        _ => Probe::Return(i),
    };
    let expected = |i: u64| match i % 10 {
        0 => 100_000 + i,
        _ => i,
    };
    let futures: Vec<_> = (0..300u64).map(|i| pool.submit(task(i))).collect();
    let (mut values, mut failures) = (0, 0);
    for (i, future) in futures.into_iter().enumerate() {
        let Ok(future) = future else {
            failures += 1; // refused: the pool broke
            continue;
        };
        match outcome(&future) {
            Ok(value) => {
                assert_eq!(value, expected(i as u64));
                values += 1;
            }
            Err(TaskError::Broken(broken)) => {
                assert!(
                    broken.reason.contains("descriptors"),
                    "task {i} failed for another reason: {broken}"
                );
                failures += 1;
            }
            Err(TaskError::WorkerLost(exit)) => {
                let reason = exit.reason.clone().unwrap_or_default();
                assert!(
                    reason.contains("descriptors"),
                    "task {i} lost its worker for another reason: {exit}"
                );
                failures += 1;
            }
            Err(other) => panic!("task {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(values + failures, 300);
    shutdown_and_check(pool);
    // SAFETY: as above, restoring the limit.
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &old);
    }
    eprintln!("{values} tasks ran, {failures} failed naming descriptors");
}

/// Starting a process that panics is a spawn failure, which breaks the pool (as an executable
/// that cannot start does): the tasks left fail `Broken` with the panic in the reason.
fn spawn_panic() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..6u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for (i, future) in futures.iter().enumerate() {
        match outcome(future) {
            Ok(value) => assert!(i < 2 && value == i as u64, "task {i} gave {value}"),
            Err(TaskError::Broken(broken)) => {
                assert!(i >= 2, "task {i} of the first worker failed: {broken}");
                assert!(
                    broken.reason.contains("injected fault at spawn"),
                    "the reason carries the panic: {broken}"
                );
            }
            Err(other) => panic!("task {i}: unexpected {other:?}"),
        }
    }
    shutdown_and_check(pool);
}

fn handshake_panic() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let futures: Vec<_> = (0..20u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(outcome(future), Ok(i as u64), "task {i}");
    }
    shutdown_and_check(pool);
}

fn resource_exhausted() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .max_tasks_per_child(5)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..20u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for (i, future) in futures.iter().enumerate() {
        match outcome(future) {
            Ok(value) => assert!(i < 5 && value == i as u64, "task {i} gave {value}"),
            Err(TaskError::Broken(broken)) => {
                assert!(i >= 5, "task {i} of the first worker failed: {broken}");
                assert!(
                    broken.reason.contains("ran out of file descriptors"),
                    "the reason names the resource: {broken}"
                );
            }
            Err(other) => panic!("task {i}: unexpected {other:?}"),
        }
    }
    match pool.submit(Probe::Return(99)) {
        Err(refused) => assert!(
            matches!(refused.reason(), Rejected::Broken(_)),
            "refused as broken: {refused:?}"
        ),
        Ok(_) => panic!("a broken pool accepted a task"),
    }
    shutdown_and_check(pool);
}

fn receive_panic() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let futures: Vec<_> = (0..10u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    let mut lost = Vec::new();
    for (i, future) in futures.iter().enumerate() {
        match outcome(future) {
            Ok(value) => assert_eq!(value, i as u64),
            Err(TaskError::WorkerLost(exit)) => lost.push((i, exit)),
            Err(other) => panic!("task {i}: unexpected {other:?}"),
        }
    }
    assert_eq!(lost.len(), 1, "exactly the running task fails: {lost:?}");
    let message = lost[0].1.to_string();
    assert!(
        message.contains("the pool stopped this worker")
            && message.contains("receiving results")
            && message.contains("injected fault at receive"),
        "the reason says what the pool saw: {message}"
    );
    assert_eq!(outcome(&pool.submit(Probe::Return(42)).unwrap()), Ok(42));
    shutdown_and_check(pool);
}

fn garbage() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    assert_eq!(outcome(&pool.submit(Probe::Return(1)).unwrap()), Ok(1));
    match outcome(&pool.submit(Probe::Return(2)).unwrap()) {
        Err(TaskError::WorkerLost(exit)) => {
            let message = exit.to_string();
            assert!(
                message.contains("does not decode"),
                "WorkerLost names the undecodable message: {message}"
            );
            assert!(
                !message.contains("signal"),
                "not only the pool's own kill: {message}"
            );
        }
        other => panic!("expected WorkerLost, got {other:?}"),
    }
    assert_eq!(outcome(&pool.submit(Probe::Return(3)).unwrap()), Ok(3));
    shutdown_and_check(pool);
}

fn flush_panic() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let futures: Vec<_> = (0..10u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(outcome(future), Ok(i as u64), "task {i}");
    }
    shutdown_and_check(pool);
}

fn supervisor_panic() {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let limited = SubmitOptions::new().timeout(LONG * 10);
    let running = pool.submit_with(gate.task(1), limited).unwrap();
    let queued: Vec<_> = (0..5u64).map(|i| pool.submit(Probe::Return(i))).collect();
    match outcome(&running) {
        Err(TaskError::Broken(broken)) => assert!(
            broken.reason.contains("supervisor"),
            "the reason names the supervisor: {broken}"
        ),
        other => panic!("expected Broken, got {other:?}"),
    }
    for future in queued.into_iter().flatten() {
        assert!(
            matches!(outcome(&future), Err(TaskError::Broken(_))),
            "a queued task ends Broken"
        );
    }
    assert!(
        pool.submit(Probe::Return(9)).is_err(),
        "a broken pool refuses"
    );
    shutdown_and_check(pool);
}

fn main() {
    concurrent_futures_process::init();
    if let Ok(scenario) = std::env::var(SCENARIO_ENV) {
        match scenario.as_str() {
            "churn" => churn(),
            "low_limit" => low_limit(),
            "spawn_panic" => spawn_panic(),
            "handshake_panic" => handshake_panic(),
            "resource_exhausted" => resource_exhausted(),
            "receive_panic" => receive_panic(),
            "garbage" => garbage(),
            "flush_panic" => flush_panic(),
            "supervisor_panic" => supervisor_panic(),
            other => panic!("no scenario {other}"),
        }
        return;
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "descriptors_stay_bounded_under_worker_churn",
            descriptors_stay_bounded_under_worker_churn,
        ),
        Trial::test(
            "a_low_descriptor_limit_ends_every_future",
            a_low_descriptor_limit_ends_every_future,
        ),
        Trial::test(
            "a_panic_while_starting_a_worker_breaks_the_pool_saying_so",
            a_panic_while_starting_a_worker_breaks_the_pool_saying_so,
        ),
        Trial::test(
            "a_panic_in_the_handshake_replaces_the_worker",
            a_panic_in_the_handshake_replaces_the_worker,
        ),
        Trial::test(
            "running_out_of_descriptors_breaks_the_pool_naming_them",
            running_out_of_descriptors_breaks_the_pool_naming_them,
        ),
        Trial::test(
            "a_panic_on_receiving_fails_only_the_running_task",
            a_panic_on_receiving_fails_only_the_running_task,
        ),
        Trial::test(
            "an_undecodable_message_is_named_in_worker_lost",
            an_undecodable_message_is_named_in_worker_lost,
        ),
        Trial::test(
            "a_panic_while_sending_a_batch_stops_only_that_worker",
            a_panic_while_sending_a_batch_stops_only_that_worker,
        ),
        Trial::test(
            "a_failed_send_stops_only_that_worker",
            a_failed_send_stops_only_that_worker,
        ),
        Trial::test(
            "a_panic_on_the_supervisor_breaks_the_pool",
            a_panic_on_the_supervisor_breaks_the_pool,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
