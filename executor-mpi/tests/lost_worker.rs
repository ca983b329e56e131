//! Lost workers, each scenario its own `mpirun --enable-recovery` (see `common`): a worker
//! that exits on rank 0's host, and on a simulated second host (`scripts/cluster.sh`) a worker
//! that is killed, one that stops (SIGSTOP), and a host cut off from the network. In every
//! one, every future ends, the session finalises, the program and `mpirun` exit successfully
//! and, on the cluster, nothing of the job is left on either host (`common::main_scenarios`).
//!
//! The faults come from the tasks themselves, so no outside timing is involved: `exit_worker`
//! exits, `signal_worker` signals its own process, `cut_host_off` takes its host's link down.

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{Launch, Scenario};
use concurrent_futures_core::{Executor, Future, Rejected, Shutdown, TaskError};
use concurrent_futures_mpi::{LostWorker, MpiPoolExecutor, Session};

/// How long any one result may take: far beyond the default worker timeout (3 s).
const PATIENCE: Duration = Duration::from_secs(60);

/// Ends the worker process abruptly, as a crashing task would.
fn exit_worker(code: i32) -> u32 {
    std::process::exit(code)
}

/// Sends `signal` to the worker's own process: SIGKILL kills it, SIGSTOP stops every thread.
/// A stop is repeated if the process is continued (seen once in a few runs under OpenMPI
/// 4.1.4's daemon), so the worker stays stopped until it is killed.
fn signal_worker(signal: i32) -> u32 {
    loop {
        // SAFETY: signals this process; touches no memory.
        unsafe { libc::kill(libc::getpid(), signal) };
        if signal != libc::SIGSTOP {
            return std::process::id();
        }
    }
}

/// Takes this host's only link down (the task runs in the worker's network namespace, as
/// root): neither this worker nor any other on the host can reach rank 0 any more.
fn cut_host_off(_unused: u8) -> bool {
    std::process::Command::new("ip")
        .args(["link", "set", "veth0", "down"])
        .status()
        .is_ok_and(|status| status.success())
}

fn echo(x: u64) -> u64 {
    x
}

/// Runs for `millis` milliseconds.
fn busy_for(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

concurrent_futures_mpi::remote_fn!(exit_worker, signal_worker, cut_host_off, echo, busy_for);

/// The short worker timeout of the scenarios where nothing may be lost: tasks and callbacks
/// run five times as long.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

/// Pre-launched across the cluster: rank 0 on one host, both workers on the other.
const ACROSS_HOSTS: Launch = Launch {
    ranks: "3",
    args: &["--enable-recovery"],
};

fn main() -> ExitCode {
    common::main_scenarios(
        "lost_worker",
        &[
            Scenario {
                name: "local_exit_breaks_the_session_when_asked",
                how: common::SPAWNED,
                on_cluster: false,
                launcher_hangs: false,
                checks: local_exit_breaks_the_session,
            },
            Scenario {
                name: "local_exit_fails_only_the_running_task",
                how: common::SPAWNED,
                on_cluster: false,
                launcher_hangs: false,
                checks: local_exit_fails_only_the_running_task,
            },
            Scenario {
                name: "a_task_longer_than_the_timeout_is_not_a_lost_worker",
                how: common::SPAWNED,
                on_cluster: false,
                launcher_hangs: false,
                checks: long_task_is_not_a_loss,
            },
            Scenario {
                name: "a_long_done_callback_on_rank_0_loses_no_worker",
                how: common::SPAWNED,
                on_cluster: false,
                launcher_hangs: false,
                checks: long_callback_is_not_a_loss,
            },
            Scenario {
                name: "remote_sigkill_fails_only_the_running_task",
                how: ACROSS_HOSTS,
                on_cluster: true,
                launcher_hangs: false,
                checks: remote_sigkill,
            },
            Scenario {
                name: "remote_sigkill_spawned_fails_only_the_running_task",
                how: common::SPAWNED,
                on_cluster: true,
                launcher_hangs: true,
                checks: remote_sigkill_spawned,
            },
            Scenario {
                name: "remote_sigstop_is_noticed_and_fenced",
                how: ACROSS_HOSTS,
                on_cluster: true,
                launcher_hangs: false,
                checks: remote_sigstop,
            },
            Scenario {
                name: "remote_host_cut_off_breaks_the_session",
                how: ACROSS_HOSTS,
                on_cluster: true,
                launcher_hangs: true,
                checks: remote_host_cut_off,
            },
        ],
    )
}

/// mpi4py's semantics, asked for: the fatal task and the queue fail `Broken`, submits are
/// refused, the session ends cleanly.
fn local_exit_breaks_the_session() {
    let session = concurrent_futures_mpi::builder()
        .on_lost_worker(LostWorker::BreakSession)
        .spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes");
    let pool = session.pool();
    assert_eq!(pool.call(echo, 1).unwrap().result_timeout(PATIENCE), Ok(1));
    let fatal = pool.call(exit_worker, 3).expect("accepted");
    // Queued behind it: some may finish on the other worker first; none may hang. Once the
    // loss is noticed (it may be during this loop), submits are refused as broken.
    let mut others = Vec::new();
    for x in 0..1_000u64 {
        match pool.call(echo, x) {
            Ok(future) => others.push((x, future)),
            Err(refused) => {
                assert!(
                    matches!(refused.reason(), Rejected::Broken(_)),
                    "{:?}",
                    refused.reason()
                );
                break;
            }
        }
    }
    match fatal.result_timeout(PATIENCE) {
        Err(TaskError::Broken(broken)) => {
            let reason = broken.to_string();
            assert!(reason.contains("died"), "{reason}");
            assert!(reason.contains("pid"), "{reason}");
        }
        other => panic!("expected a broken executor, got {other:?}"),
    }
    for (x, future) in &others {
        let x = *x;
        match future.result_timeout(PATIENCE) {
            Ok(echoed) => assert_eq!(echoed, x),
            Err(TaskError::Broken(_)) => {}
            other => panic!("task {x}: expected its value or a broken executor, got {other:?}"),
        }
    }
    common::assert_refused_as_broken(pool.call(echo, 2));
    // A new pool of the broken session refuses too.
    assert!(session.pool().call(echo, 3).is_err());
    assert_eq!(session.live_workers(), common::SPAWNED_WORKERS - 1);
    session.finalize();
}

fn local_exit_fails_only_the_running_task() {
    let session = concurrent_futures_mpi::spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes");
    survive(&session, |pool| {
        pool.call(exit_worker, 3).expect("accepted")
    });
}

/// A spawned session whose workers are lost after [`SHORT_TIMEOUT`] of silence.
fn spawn_with_short_timeout() -> Session {
    concurrent_futures_mpi::builder()
        .worker_timeout(SHORT_TIMEOUT)
        .spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes")
}

/// Heartbeats come from the keeper threads, not from the thread running the task.
fn long_task_is_not_a_loss() {
    let session = spawn_with_short_timeout();
    let pool = session.pool();
    let long = 5 * SHORT_TIMEOUT.as_millis() as u64;
    // Both workers busy at once, so neither can cover for the other.
    let calls: Vec<_> = (0..common::SPAWNED_WORKERS)
        .map(|_| pool.call(busy_for, long).expect("accepted"))
        .collect();
    for call in calls {
        assert_eq!(call.result_timeout(PATIENCE), Ok(long));
    }
    assert_eq!(session.live_workers(), session.workers());
    assert_eq!(pool.call(echo, 5).unwrap().result_timeout(PATIENCE), Ok(5));
    pool.shutdown(Shutdown::default());
    session.finalize();
}

/// A done-callback runs on rank 0's progress thread: while it blocks, rank 0's keeper thread
/// keeps the workers from giving up on rank 0, and rank 0 forgives the silence it did not
/// listen to.
fn long_callback_is_not_a_loss() {
    let session = spawn_with_short_timeout();
    let pool = session.pool();
    let (ran, callback_ran) = std::sync::mpsc::channel();
    let first = pool.call(echo, 1).expect("accepted");
    first.add_done_callback(move |_| {
        std::thread::sleep(5 * SHORT_TIMEOUT);
        let _ = ran.send(());
    });
    let behind: Vec<_> = (0..100u64).map(|x| pool.call(echo, x).unwrap()).collect();
    callback_ran
        .recv_timeout(PATIENCE)
        .expect("the callback ran");
    for (x, future) in (0..100u64).zip(behind) {
        assert_eq!(future.result_timeout(PATIENCE), Ok(x));
    }
    assert_eq!(session.live_workers(), session.workers());
    // Both workers still serve (neither gave up on rank 0 and left).
    let calls: Vec<_> = (0..4u64)
        .map(|_| pool.call(busy_for, 200).expect("accepted"))
        .collect();
    for call in calls {
        assert_eq!(call.result_timeout(PATIENCE), Ok(200));
    }
    pool.shutdown(Shutdown::default());
    session.finalize();
}

fn remote_sigkill() {
    let session = concurrent_futures_mpi::init().expect("launched across the cluster");
    common::assert_workers_on_the_other_host(&session);
    survive(&session, |pool| fatal_signal(pool, libc::SIGKILL));
}

fn remote_sigkill_spawned() {
    let session = concurrent_futures_mpi::spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the workers on the other host");
    common::assert_workers_on_the_other_host(&session);
    survive(&session, |pool| fatal_signal(pool, libc::SIGKILL));
}

fn remote_sigstop() {
    let session = concurrent_futures_mpi::init().expect("launched across the cluster");
    common::assert_workers_on_the_other_host(&session);
    let reason = survive(&session, |pool| fatal_signal(pool, libc::SIGSTOP));
    assert!(reason.contains("stopped answering"), "{reason}");
    // The other worker on its host was told to kill it, so nothing stopped stays behind (the
    // launcher checks the hosts once mpirun exited).
    assert!(reason.contains("told to kill it"), "{reason}");
}

/// Both workers are on the host that is cut off: the session loses them all and breaks.
fn remote_host_cut_off() {
    let session = concurrent_futures_mpi::init().expect("launched across the cluster");
    common::assert_workers_on_the_other_host(&session);
    let pool = session.pool();
    let started = Instant::now();
    let cut = pool.call(cut_host_off, 0).expect("accepted");
    let queued: Vec<_> = (0..100u64).map(|x| pool.call(echo, x)).collect();
    match cut.result_timeout(PATIENCE) {
        Err(TaskError::WorkerLost(exit)) => {
            let reason = exit.to_string();
            assert!(reason.contains("stopped answering"), "{reason}");
        }
        // Its answer left before the link went down: then the next task meets the cut.
        Ok(true) => {}
        other => panic!("expected the worker lost, got {other:?}"),
    }
    for future in queued.into_iter().flatten() {
        match future.result_timeout(PATIENCE) {
            Ok(_) | Err(TaskError::WorkerLost(_)) => {}
            Err(TaskError::Broken(broken)) => {
                let reason = broken.to_string();
                assert!(reason.contains("every MPI worker was lost"), "{reason}");
            }
            other => panic!("expected a value, a lost worker or a broken session, got {other:?}"),
        }
    }
    println!(
        "remote_host_cut_off: every future done {:.2}s after the cut",
        started.elapsed().as_secs_f64()
    );
    // Each worker is given up on by its own silence: the second may be noticed a moment after
    // every queued task ended (all of them on the first, say). A task accepted meanwhile goes
    // to it and is lost with it; once both are gone, the session refuses.
    for _ in 0..session.workers() {
        match pool.call(echo, 1) {
            Ok(late) => match late.result_timeout(PATIENCE) {
                Err(TaskError::WorkerLost(_) | TaskError::Broken(_)) => {}
                other => panic!("a task sent to a cut-off host ended with {other:?}"),
            },
            refused => {
                common::assert_refused_as_broken(refused);
                break;
            }
        }
    }
    common::assert_refused_as_broken(pool.call(echo, 1));
    assert_eq!(session.live_workers(), 0);
    session.finalize();
}

/// Submits a task that sends `signal` to its worker.
fn fatal_signal(pool: &MpiPoolExecutor, signal: i32) -> Future<u32> {
    pool.call(signal_worker, signal).expect("accepted")
}

/// The survival checks: after warming up a pool that sends batches of up to 8, a fatal task
/// (made by `fatal` on that pool, so tasks are sent to its worker behind it) and 1,000 more: only the fatal one fails, with `WorkerLost` naming the rank and the host; every
/// other task gives its value (those sent behind it to the lost worker ran elsewhere); the
/// session goes on with one worker fewer. Returns the loss's message.
fn survive<F>(session: &Session, fatal: F) -> String
where
    F: FnOnce(&MpiPoolExecutor) -> Future<u32>,
{
    let pool = session.builder().tasks_per_worker(8).build();
    warm_up(&pool);
    let started = Instant::now();
    let fatal = fatal(&pool);
    let others: Vec<_> = (0..1_000u64)
        .map(|x| {
            (
                x,
                pool.call(echo, x)
                    .expect("the session survives a lost worker"),
            )
        })
        .collect();
    let reason = match fatal.result_timeout(PATIENCE) {
        Err(TaskError::WorkerLost(exit)) => exit.to_string(),
        other => panic!("expected the worker lost, got {other:?}"),
    };
    assert!(reason.contains("MPI worker rank"), "{reason}");
    assert!(reason.contains(" on "), "names the host: {reason}");
    let noticed = started.elapsed();
    for (x, future) in others {
        assert_eq!(future.result_timeout(PATIENCE), Ok(x), "task {x}");
    }
    println!(
        "lost worker noticed {:.2}s after the fatal task was submitted; every future done after \
         {:.2}s: {reason}",
        noticed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(session.live_workers(), session.workers() - 1);
    // Still serving, on the worker left.
    assert_eq!(pool.call(echo, 7).unwrap().result_timeout(PATIENCE), Ok(7));
    pool.shutdown(Shutdown::default());
    reason
}

/// Runs enough tasks on `pool` that its task time is measured, so later batches hold several.
fn warm_up(pool: &MpiPoolExecutor) {
    let warm: Vec<_> = (0..200u64).map(|x| pool.call(echo, x).unwrap()).collect();
    for future in warm {
        assert!(future.result_timeout(PATIENCE).is_ok());
    }
}
