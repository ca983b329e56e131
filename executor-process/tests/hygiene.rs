//! Nothing leaks: workers are reaped after shutdown (no zombies), die with their parent even
//! when it is SIGKILLed (no orphans), inherit no stray descriptors, and the pool's threads end.
//!
//! Runs its tests one at a time: they count this process's threads, descriptors and children.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Gate, Probe, assert_gone_within, outcome};
use concurrent_futures_core::{Executor, Shutdown, Submit};
use concurrent_futures_process::ProcessPool;
use libtest_mimic::{Arguments, Failed, Trial};

/// In the helper process of `workers_die_with_a_killed_parent`.
const ORPHAN_HELPER_ENV: &str = "EXECUTOR_PROCESS_TEST_ORPHAN_HELPER";

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("pool starts")
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn shutdown_reaps_workers_and_ends_threads() -> Result<(), Failed> {
    let threads_before = threads();
    let fds_before = descriptors();
    for round in 0..3 {
        let pool = pool(3);
        let futures: Vec<_> = (0..30)
            .map(|i| pool.submit(Probe::Return(i)).unwrap())
            .collect();
        let crashed = pool.submit(Probe::Abort).unwrap();
        for future in &futures {
            outcome(future).unwrap();
        }
        outcome(&crashed).unwrap_err();
        let pids = pool.worker_pids();
        pool.shutdown(Shutdown::default());
        for pid in &pids {
            assert!(
                common::process_gone(*pid),
                "round {round}: worker {pid} lives"
            );
        }
        let zombies = common::zombie_children();
        assert!(zombies.is_empty(), "round {round}: zombies {zombies:?}");
    }
    assert_eq!(threads(), threads_before, "the pools' threads ended");
    assert_eq!(
        descriptors(),
        fds_before,
        "the pools' descriptors were closed"
    );
    Ok(())
}

/// 100,000 queued tasks need no descriptors: they run under a descriptor limit barely above
/// what the process already uses.
fn deep_queue_needs_no_descriptors() -> Result<(), Failed> {
    let pool = pool(2);
    let mut gate = Gate::new();
    let blockers: Vec<_> = (0..2).map(|i| pool.submit(gate.task(i)).unwrap()).collect();
    gate.wait_started(2);
    let fds_before = descriptors();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let tight = libc::rlimit {
        rlim_cur: (fds_before + 16) as libc::rlim_t,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above; the limit is restored below.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &tight) };
    let queued: Vec<_> = (0..100_000u64)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    let fds_queued = descriptors();
    gate.release_all();
    let results: Vec<_> = queued.iter().map(outcome).collect();
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert!(
        fds_queued <= fds_before + 2,
        "queueing 100000 tasks opened descriptors: {fds_before} -> {fds_queued}"
    );
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result, Ok(i as u64));
    }
    for future in &blockers {
        outcome(future).unwrap();
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn dropping_the_pool_reaps_its_workers() -> Result<(), Failed> {
    let pool = pool(2);
    outcome(&pool.submit(Probe::Return(1)).unwrap()).unwrap();
    let pids = pool.worker_pids();
    drop(pool);
    // The last handle's drop returns only once its workers were reaped.
    for pid in &pids {
        assert!(
            common::process_gone(*pid),
            "worker {pid} lives after the drop"
        );
    }
    let zombies = common::zombie_children();
    assert!(zombies.is_empty(), "zombies {zombies:?}");
    Ok(())
}

fn workers_inherit_no_stray_descriptors() -> Result<(), Failed> {
    // A descriptor opened without close-on-exec, as careless C code does.
    struct RemoveOnDrop(PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let path = std::env::temp_dir().join(format!("executor-process-fd-{}", std::process::id()));
    std::fs::write(&path, b"secret").unwrap();
    let _cleanup = RemoveOnDrop(path.clone());
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: open with a valid NUL-terminated path; the descriptor is closed below.
    let leaky = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY) };
    assert!(leaky >= 0);
    let pool = pool(2);
    outcome(&pool.submit(Probe::Return(1)).unwrap()).unwrap();
    let pids = pool.worker_pids();
    assert!(!pids.is_empty());
    for pid in &pids {
        // Every descriptor above the standard streams (which the test runner may redirect).
        let entries: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) > Some(2))
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect();
        assert!(
            !entries.iter().any(|target| target == &path),
            "worker {pid} inherited {}: {entries:?}",
            path.display()
        );
        // Its two channel ends, the progress page and little else.
        assert!(entries.len() <= 8, "worker {pid} holds {entries:?}");
        let files: Vec<_> = entries
            .iter()
            .filter(|t| t.is_absolute() && !t.starts_with("/dev"))
            .collect();
        assert!(
            files.iter().all(|t| t.to_string_lossy().contains("memfd")),
            "worker {pid} holds files {files:?}"
        );
    }
    pool.shutdown(Shutdown::default());
    // SAFETY: closing the descriptor opened above.
    unsafe {
        libc::close(leaky);
    }
    Ok(())
}

/// A worker is reached only through the socket pair it inherited (issue #12, items 5 and 6): it
/// listens on no socket, nothing appears on disk (in its
/// TMPDIR) however workers start and die, and a process started in worker mode without the
/// pool's socket on standard input refuses to serve, saying why.
fn workers_listen_on_nothing_and_leave_nothing_on_disk() -> Result<(), Failed> {
    let gate = Gate::new(); // only for its private directory
    let tmp = gate.dir().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let pool = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .worker_env("TMPDIR", &tmp)
        .build()
        .unwrap();
    for i in 0..20 {
        assert_eq!(outcome(&pool.submit(Probe::Return(i)).unwrap()), Ok(i));
    }
    let mut busy = Gate::new();
    let running: Vec<_> = (0..2).map(|i| pool.submit(busy.task(i)).unwrap()).collect();
    busy.wait_started(2);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    let listening = listening_socket_inodes();
    for pid in &pids {
        // Its pool socket, and the gate's connection (the running task's).
        let sockets = socket_inodes(*pid);
        assert!(!sockets.is_empty(), "worker {pid} holds its pool socket");
        for socket in &sockets {
            assert!(
                !listening.contains(socket),
                "worker {pid} listens on socket {socket}: {sockets:?}"
            );
        }
    }
    pool.kill_workers();
    drop(running);
    pool.shutdown(Shutdown::default());
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir(&tmp).unwrap();

    // Worker mode without the pool's socket: this binary, told it is a worker of this process.
    let output = Command::new(std::env::current_exe().unwrap())
        .env("EXECUTOR_PROCESS_WORKER", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(70), "{text}");
    assert!(
        text.contains("not started by a process pool: standard input is not a socket pair's end"),
        "{text}"
    );
    Ok(())
}

/// The inodes of the sockets `pid` holds.
fn socket_inodes(pid: u32) -> Vec<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The inodes of every listening Unix socket on the system (`__SO_ACCEPTCON` in
/// `/proc/net/unix`).
fn listening_socket_inodes() -> Vec<u64> {
    const ACCEPTING: u32 = 0x0001_0000;
    std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            (flags & ACCEPTING != 0).then(|| fields.get(6)?.parse().ok())?
        })
        .collect()
}

fn workers_die_with_a_killed_parent() -> Result<(), Failed> {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .env(ORPHAN_HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(helper.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (pids, gate_dir) = line
        .trim_end()
        .split_once(';')
        .expect("pids;gate directory");
    let pids: Vec<u32> = pids
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    helper.kill().unwrap(); // SIGKILL: no destructor, no shutdown
    helper.wait().unwrap();
    let _ = std::fs::remove_dir_all(gate_dir);
    assert_eq!(pids.len(), 2, "the helper reported its workers: {line:?}");
    // Observing, with a deadline, that the parent-death signal did its work.
    assert_gone_within(&pids, Duration::from_secs(10));
    Ok(())
}

/// The helper: builds a pool, keeps both workers busy, prints their pids, waits to be killed.
fn orphan_helper() -> ! {
    let pool = pool(2);
    let mut gate = Gate::new();
    let _busy: Vec<_> = (0..2).map(|i| pool.submit(gate.task(i)).unwrap()).collect();
    gate.wait_started(2);
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("{};{}", pids.join(" "), gate.dir().display());
    loop {
        std::thread::park();
    }
}

fn main() {
    concurrent_futures_process::init();
    if std::env::var_os(ORPHAN_HELPER_ENV).is_some() {
        orphan_helper();
    }
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let trials = vec![
        Trial::test(
            "shutdown_reaps_workers_and_ends_threads",
            shutdown_reaps_workers_and_ends_threads,
        ),
        Trial::test(
            "deep_queue_needs_no_descriptors",
            deep_queue_needs_no_descriptors,
        ),
        Trial::test(
            "dropping_the_pool_reaps_its_workers",
            dropping_the_pool_reaps_its_workers,
        ),
        Trial::test(
            "workers_inherit_no_stray_descriptors",
            workers_inherit_no_stray_descriptors,
        ),
        Trial::test(
            "workers_listen_on_nothing_and_leave_nothing_on_disk",
            workers_listen_on_nothing_and_leave_nothing_on_disk,
        ),
        Trial::test(
            "workers_die_with_a_killed_parent",
            workers_die_with_a_killed_parent,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
