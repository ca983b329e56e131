//! Clones, and dropping the last handle (concurrent-futures-core's `Executor` docs, "Dropping the last
//! handle"): accepted work is never lost when a program ends without `shutdown(wait)`, clones
//! share one pool, and a done-callback that drops the last handle does not deadlock.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Gate, LONG, Probe, assert_gone_within, outcome, process_gone};
use concurrent_futures_core::{Executor, Shutdown, Submit, Task};
use concurrent_futures_process::ProcessPool;
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Serialize};

/// In a child program: how it ends ("drop" or "no_wait").
const CHILD_ENV: &str = "EXECUTOR_PROCESS_TEST_DROP_CHILD";
/// In a child program: the gate its task waits at.
const GATE_ENV: &str = "EXECUTOR_PROCESS_TEST_DROP_GATE";
/// In a child program: the file its task writes (its worker's pid) once through the gate.
const MARKER_ENV: &str = "EXECUTOR_PROCESS_TEST_DROP_MARKER";

/// Waits at a gate, then writes its worker's pid to `marker`.
#[derive(Debug, Serialize, Deserialize)]
struct WriteMarker {
    gate: PathBuf,
    marker: PathBuf,
}

impl Task for WriteMarker {
    type Output = u64;
    type Error = String;

    fn run(self) -> Result<u64, String> {
        Probe::Gate {
            path: self.gate,
            value: 0,
        }
        .run()?;
        let pid = std::process::id();
        std::fs::write(&self.marker, pid.to_string()).map_err(|e| e.to_string())?;
        Ok(u64::from(pid))
    }
}

concurrent_futures_process::register_task!(WriteMarker);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("pool starts")
}

/// The child program: submits a task that waits at the parent's gate, says so, and ends
/// without `shutdown(wait)`, the pool dropped on the way out of `main`.
fn child(mode: &str) {
    let gate = PathBuf::from(std::env::var_os(GATE_ENV).expect("gate path"));
    let marker = PathBuf::from(std::env::var_os(MARKER_ENV).expect("marker path"));
    let pool = pool(1);
    // Nobody waits for the future: only the pool's drop can keep the task alive.
    drop(pool.submit(WriteMarker { gate, marker }).expect("accepted"));
    match mode {
        "drop" => {}
        "no_wait" => pool.shutdown(Shutdown::no_wait()),
        other => panic!("unknown child mode {other:?}"),
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "submitted").expect("stdout");
    stdout.flush().expect("stdout");
}

/// Waits for `child` at most `timeout`; kills and reaps it after that (`None`).
fn wait_bounded(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    // A bound on a wait, not synchronisation: poll the child until it exits or time is up.
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the child program in `mode`; its task, released only once the child has reached the
/// end of `main`, must still run, and the child must exit cleanly with its worker reaped.
fn queued_task_survives_the_end_of_main(mode: &'static str) -> Result<(), Failed> {
    let mut gate = Gate::new();
    let marker = gate.dir().join("marker");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, mode)
        .env(GATE_ENV, gate.path())
        .env(MARKER_ENV, &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("piped");
    let (lines, said) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = lines.send(line);
    });
    let line = said.recv_timeout(LONG);
    if line.as_deref().map(str::trim_end) != Ok("submitted") {
        let status = wait_bounded(child, LONG);
        return Err(format!("the child said {line:?} and ended with {status:?}").into());
    }
    // The child is past its last statement: without a waiting drop it would now exit, and
    // its worker with it, before the task gets through the gate.
    let reached = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| gate.wait_started(1)));
    if reached.is_err() {
        let status = wait_bounded(child, Duration::ZERO);
        return Err(format!(
            "the child's task never reached the gate ({mode}): the child ended with {status:?} \
             without running it"
        )
        .into());
    }
    gate.release_all();
    let status = wait_bounded(child, LONG);
    let written = std::fs::read_to_string(&marker);
    let _ = std::fs::remove_file(&marker);
    let status =
        status.ok_or_else(|| format!("the child ({mode}) did not exit within {LONG:?}"))?;
    assert!(status.success(), "the child ({mode}) ended with {status}");
    let worker: u32 = written
        .map_err(|e| format!("the task never ran ({mode}): no marker file ({e})"))?
        .trim()
        .parse()
        .expect("a pid in the marker");
    // Checked at once: the child may only exit after reaping its worker.
    assert!(
        process_gone(worker),
        "worker {worker} outlived its parent ({mode})"
    );
    Ok(())
}

fn dropping_the_pool_at_the_end_of_main_runs_queued_work() -> Result<(), Failed> {
    queued_task_survives_the_end_of_main("drop")
}

fn shutdown_without_wait_then_end_of_main_runs_queued_work() -> Result<(), Failed> {
    queued_task_survives_the_end_of_main("no_wait")
}

fn clones_share_one_pool_until_the_last_is_dropped() -> Result<(), Failed> {
    let pool = pool(1);
    let other = pool.clone();
    let first = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    drop(pool);
    assert!(
        !other.is_shutdown(),
        "dropping one clone shut the pool down"
    );
    let second = outcome(&other.submit(Probe::Pid).unwrap()).unwrap();
    assert_eq!(first, second, "the clone uses the same worker");
    let pids = other.worker_pids();
    let queued: Vec<_> = (0..4)
        .map(|i| other.submit(Probe::Return(i)).unwrap())
        .collect();
    let (dropped, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(other);
        let _ = dropped.send(());
    });
    done.recv_timeout(LONG)
        .map_err(|_| format!("dropping the last handle did not return within {LONG:?}"))?;
    // The last drop waited: every task ran and the worker was reaped.
    for (i, future) in queued.iter().enumerate() {
        assert!(
            future.done(),
            "task {i} was not done when the drop returned"
        );
        assert_eq!(future.result(), Ok(i as u64));
    }
    for pid in pids {
        assert!(process_gone(pid), "worker {pid} lives after the last drop");
    }
    Ok(())
}

/// The last handle dropped by a done-callback, on the pool's own connection thread: the drop
/// does not wait (that thread delivers the results it would wait for), the queue still runs
/// and the workers still exit.
fn done_callback_dropping_the_last_handle_does_not_deadlock() -> Result<(), Failed> {
    let pool = pool(1);
    let mut gate = Gate::new();
    let first = pool.submit(gate.task(1)).unwrap();
    gate.wait_started(1);
    let pids = pool.worker_pids();
    let queued = pool.submit(Probe::Return(2)).unwrap();
    let (dropped, done) = mpsc::channel();
    first.add_done_callback(move |_| {
        let on = std::thread::current().name().map(str::to_string);
        drop(pool);
        let _ = dropped.send(on);
    });
    gate.release_all();
    let on = done
        .recv_timeout(LONG)
        .map_err(|_| "the callback's drop of the last handle did not return (deadlock?)")?;
    assert!(
        on.as_deref()
            .is_some_and(|n| n.starts_with("executor-process-")),
        "the callback ran on {on:?}, not on a pool thread: the test proves nothing"
    );
    assert_eq!(outcome(&first), Ok(1));
    assert_eq!(outcome(&queued), Ok(2), "the queue still ran");
    assert_gone_within(&pids, LONG);
    Ok(())
}

fn main() {
    concurrent_futures_process::init();
    if let Some(mode) = std::env::var_os(CHILD_ENV) {
        child(mode.to_str().expect("a mode"));
        return;
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "dropping_the_pool_at_the_end_of_main_runs_queued_work",
            dropping_the_pool_at_the_end_of_main_runs_queued_work,
        ),
        Trial::test(
            "shutdown_without_wait_then_end_of_main_runs_queued_work",
            shutdown_without_wait_then_end_of_main_runs_queued_work,
        ),
        Trial::test(
            "clones_share_one_pool_until_the_last_is_dropped",
            clones_share_one_pool_until_the_last_is_dropped,
        ),
        Trial::test(
            "done_callback_dropping_the_last_handle_does_not_deadlock",
            done_callback_dropping_the_last_handle_does_not_deadlock,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
