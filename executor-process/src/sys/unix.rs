//! Unix system calls used by the pool, each wrapped in a safe function.
//!
//! - In the parent: [`ProcessHandle`] to signal a worker without racing pid reuse (a pidfd on
//!   Linux), [`wait_for_exit`] to reap it.
//! - In the worker, first thing after `exec` (workers are started with `posix_spawn`, so
//!   nothing runs between `fork` and `exec`): [`die_with_parent`] (parent-death signal and the
//!   `getppid` race check), [`close_inherited_descriptors`], [`take_parent_socket`].

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

/// `SIGTERM`: ask a worker to stop.
pub(crate) const SIGTERM: i32 = libc::SIGTERM;
/// `SIGKILL`: stop a worker for sure.
pub(crate) const SIGKILL: i32 = libc::SIGKILL;

/// How a child process ended, as `waitpid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitStatus {
    /// The exit code, if it exited.
    pub(crate) code: Option<i32>,
    /// The signal that killed it, if one did.
    pub(crate) signal: Option<i32>,
}

/// In the worker, first thing: asks for `SIGKILL` when the parent thread that started it dies,
/// then checks that the parent is still `parent` (it may have died before the signal was armed,
/// and the worker was then adopted by another process: `PR_SET_PDEATHSIG` alone leaves that
/// race open). Returns `false` if the parent is already gone.
///
/// Elsewhere than Linux there is no parent-death signal: only the `getppid` check and the
/// channel's disconnect remain.
pub(crate) fn die_with_parent(parent: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; no memory is passed.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
    }
    // SAFETY: getppid has no preconditions.
    (unsafe { libc::getppid() }) as u32 == parent
}

/// In the worker, first thing: closes every descriptor it inherited from the parent. Workers are
/// started with `posix_spawn` (which has no portable "close the rest" action), so they inherit
/// whatever the parent left open without close-on-exec; none of it is theirs.
///
/// A descriptor inherited across `exec` is exactly one without the close-on-exec flag, while
/// `std` opens every descriptor with it: so only those without the flag are closed, and a
/// descriptor that Rust code in this process already owns (should anything run before
/// [`init`](crate::init)) is left alone rather than closed under its owner.
pub(crate) fn close_inherited_descriptors() {
    #[cfg(target_os = "linux")]
    const OPEN_DESCRIPTORS: &str = "/proc/self/fd";
    #[cfg(not(target_os = "linux"))]
    const OPEN_DESCRIPTORS: &str = "/dev/fd";
    let listed: Option<Vec<RawFd>> = std::fs::read_dir(OPEN_DESCRIPTORS).ok().map(|dir| {
        dir.flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect()
    });
    // Without the listing: every number below the descriptor limit (at most 65,536).
    let candidates = listed.unwrap_or_else(|| (3..descriptor_limit()).collect());
    for fd in candidates {
        close_if_inherited(fd);
    }
}

/// Closes `fd` if it is open without close-on-exec.
fn close_if_inherited(fd: RawFd) {
    // SAFETY: fcntl(F_GETFD) only reads a descriptor's flags (or fails with EBADF, for example
    // for the directory listing's own descriptor, closed by now); no memory is involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: a descriptor without close-on-exec was inherited, not opened by Rust code in
        // this process (std always sets the flag), so no owner will use or close it again.
        unsafe {
            libc::close(fd);
        }
    }
}

/// The soft descriptor limit, capped at 65,536.
fn descriptor_limit() -> RawFd {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 4096;
    }
    limit.rlim_cur.min(65_536) as RawFd
}

/// In the worker: takes the socket the parent passed as standard input, and puts `/dev/null`
/// in its place, so tasks never read the parent's input. `Err` says what standard input was
/// instead, if it is not a socket pair's end.
pub(crate) fn take_parent_socket() -> Result<super::Socket, String> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) returns a new descriptor (or -1); fd 0 stays valid.
    let copy = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(format!("closed ({})", io::Error::last_os_error()));
    }
    // SAFETY: `copy` was just returned by fcntl and is owned by nobody else.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };
    let socket = super::Socket::from_fd(copy).map_err(|_| "not a socket pair's end".to_string())?;
    let null = File::open("/dev/null").map_err(|e| format!("kept: /dev/null: {e}"))?;
    // SAFETY: both descriptors are open; dup2 atomically replaces fd 0.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(format!("kept: {}", io::Error::last_os_error()));
    }
    Ok(socket)
}

/// How many bytes of memory the system could still give this process, as the kernel estimates
/// it (`MemAvailable`), if it says.
pub(crate) fn available_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// A worker process that can be signalled without hitting a recycled pid.
///
/// On Linux it holds a pidfd, which keeps naming the same process after it is reaped (signals
/// then fail harmlessly). Without one (elsewhere, or when `pidfd_open` failed, for example for
/// lack of descriptors) it falls back to `kill(2)`: signalling and reaping then exclude each
/// other through `reaped`'s lock, and [`wait`](Self::wait) only reaps once the process is a
/// zombie, so a signal either reaches the zombie (harmless) or sees the reaped flag, never a
/// recycled pid.
#[derive(Debug)]
pub(crate) struct ProcessHandle {
    pid: u32,
    pidfd: Option<OwnedFd>,
    reaped: Mutex<bool>,
}

impl ProcessHandle {
    /// A handle on the child `pid` that this process has not reaped yet.
    pub(crate) fn new(pid: u32) -> Self {
        ProcessHandle {
            pid,
            pidfd: pidfd_open(pid),
            reaped: Mutex::new(false),
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal`; does nothing once the process was reaped.
    pub(crate) fn signal(&self, signal: i32) {
        let reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        if *reaped {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            // SAFETY: pidfd_send_signal takes a pidfd we own, a signal number, a null siginfo
            // (allowed: the kernel fills one in) and flags 0.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0u32,
                );
            }
            return;
        }
        // SAFETY: kill takes a pid and a signal number; the pid is our child and, with the lock
        // held and the flag unset, not reaped yet, so it cannot have been recycled.
        unsafe {
            libc::kill(self.pid as libc::pid_t, signal);
        }
    }

    /// Blocks until the process exits and reaps it.
    pub(crate) fn wait(&self) -> ExitStatus {
        // Waiting without the lock (signals must still get through), then reaping with it.
        wait_for_zombie(self.pid);
        let mut reaped = self.reaped.lock().unwrap_or_else(|p| p.into_inner());
        let status = wait_for_exit(self.pid);
        *reaped = true;
        status
    }
}

/// Blocks until the child `pid` has exited, without reaping it (`waitid` with `WNOWAIT`).
fn wait_for_zombie(pid: u32) {
    loop {
        // SAFETY: siginfo_t is plain data; all zeroes is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid siginfo_t to write to; the pid is our own child.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // Exited, or not waitable (ECHILD): `wait_for_exit` reports which.
            return;
        }
    }
}

/// What the parent ran out of, if a descriptor cannot be opened now: `EMFILE` or `ENFILE`.
/// Called after a connection failed, to tell a resource shortage (where replacing the worker
/// at once would fail the same way) from a worker's fault.
pub(crate) fn descriptors_exhausted() -> Option<String> {
    let error = File::open("/dev/null").err()?;
    match error.raw_os_error() {
        Some(libc::EMFILE) => Some(format!(
            "file descriptors (the process limit, RLIMIT_NOFILE = {}, is reached)",
            descriptor_limit()
        )),
        Some(libc::ENFILE) => Some("file descriptors (the system-wide limit is reached)".into()),
        _ => None,
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags 0 and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a new descriptor that nobody else owns; pidfds are
    // close-on-exec by default.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd_open(_pid: u32) -> Option<OwnedFd> {
    None
}

/// Blocks until the child `pid` exits, reaps it, and says how it ended.
fn wait_for_exit(pid: u32) -> ExitStatus {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid int to write to; the pid is our own child.
        let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if rc == pid as libc::pid_t {
            break;
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // ECHILD: somebody else reaped it (for example a SIGCHLD set to SIG_IGN).
        return ExitStatus {
            code: None,
            signal: None,
        };
    }
    if libc::WIFEXITED(status) {
        ExitStatus {
            code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    } else if libc::WIFSIGNALED(status) {
        ExitStatus {
            code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        ExitStatus {
            code: None,
            signal: None,
        }
    }
}

/// The system-wide monotonic clock (`CLOCK_MONOTONIC`, the clock behind `Instant`), in
/// microseconds: unlike an `Instant`, its readings compare across processes, so a worker can
/// publish when an item started and the parent can judge it.
pub(crate) fn monotonic_micros() -> u64 {
    clock_micros(libc::CLOCK_MONOTONIC)
}

/// The coarse monotonic clock (`CLOCK_MONOTONIC_COARSE` on Linux): the same clock as
/// [`monotonic_micros`] as of the last timer tick, so it lags by up to
/// [`coarse_resolution_micros`], but reads in a few nanoseconds (a precise reading costs tens),
/// which matters when every item of a chunk is stamped.
pub(crate) fn coarse_micros() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_MONOTONIC_COARSE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_MONOTONIC;
    clock_micros(clock)
}

/// How far [`coarse_micros`] may lag [`monotonic_micros`], rounded up.
pub(crate) fn coarse_resolution_micros() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut resolution = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `resolution` is a valid, writable timespec.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut resolution) };
        if ok == 0 {
            return (resolution.tv_sec as u64) * 1_000_000
                + (resolution.tv_nsec as u64).div_ceil(1_000);
        }
        // Unknown: assume the slowest common tick (100 Hz).
        10_000
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

fn clock_micros(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and `clock` is a clock of this platform.
    unsafe { libc::clock_gettime(clock, &mut now) };
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

/// Sleeps while `word` holds `expected`, for at most `timeout` (a futex on shared memory, so
/// another process can wake it). Returns early on a wake-up, a signal or a changed value.
#[cfg_attr(executor_loom, allow(dead_code))]
pub(crate) fn futex_wait(word: &std::sync::atomic::AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT (not private: the word may be in memory another process maps) only
    // reads the aligned word, and sleeps while it holds `expected`, at most `timeout`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
        )
    };
}

/// Wakes the threads sleeping in [`futex_wait`] on `word`, in any process.
#[cfg_attr(executor_loom, allow(dead_code))]
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32) {
    // SAFETY: FUTEX_WAKE on the aligned word wakes sleepers; it touches no memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    fn is_open(fd: libc::c_int) -> bool {
        // SAFETY: fcntl(F_GETFD) only reads flags, or fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    #[test]
    fn only_descriptors_without_close_on_exec_count_as_inherited() {
        let owned = std::fs::File::open("/dev/null").unwrap(); // std sets close-on-exec
        // A descriptor without close-on-exec (dup2 clears the flag), as C code leaves them, at a
        // number so high that no other test's descriptor takes it once it is closed.
        let leaked = 900;
        // SAFETY: dup2 of an open descriptor onto a number this test owns.
        assert_eq!(unsafe { libc::dup2(owned.as_raw_fd(), leaked) }, leaked);
        super::close_if_inherited(owned.as_raw_fd());
        super::close_if_inherited(leaked);
        assert!(
            is_open(owned.as_raw_fd()),
            "a descriptor std owns stays open"
        );
        assert!(
            !is_open(leaked),
            "a descriptor without close-on-exec is closed"
        );
    }

    /// A handle signals its process and reaps it, with a pidfd or with the `kill(2)` fallback;
    /// once reaped, signalling it does nothing (the pid may already be someone else's).
    #[test]
    fn a_handle_kills_and_reaps_with_or_without_a_pidfd() {
        for with_pidfd in [true, false] {
            // Reaped through the handle, not through std's `Child`.
            #[allow(clippy::zombie_processes)]
            let pid = std::process::Command::new("sleep")
                .arg("1000")
                .spawn()
                .unwrap()
                .id();
            let mut handle = super::ProcessHandle::new(pid);
            if !with_pidfd {
                handle.pidfd = None;
            }
            let handle = std::sync::Arc::new(handle);
            let (done, reaped) = std::sync::mpsc::channel();
            let waiter = {
                let handle = handle.clone();
                std::thread::spawn(move || done.send(handle.wait()).unwrap())
            };
            handle.signal(libc::SIGKILL);
            let status = reaped
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the killed process is reaped");
            waiter.join().unwrap();
            assert_eq!(status.signal, Some(libc::SIGKILL), "pidfd: {with_pidfd}");
            assert!(*handle.reaped.lock().unwrap());
            handle.signal(libc::SIGKILL); // a no-op now
        }
    }
}
