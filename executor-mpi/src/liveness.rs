//! Whether a worker process is still alive, for rank 0 to notice a lost worker.
//!
//! Only processes on rank 0's own host can be checked (by process id); MPI itself says nothing
//! about a dead peer (OpenMPI's default is to kill the whole job; with `mpirun
//! --enable-recovery` the job survives and a dead rank stays silent).

use std::time::{Duration, Instant};

/// How often rank 0 checks its workers while it waits for them.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(5);

/// Whether process `pid` of this host runs: it exists and is not a zombie (a dead MPI rank
/// stays a zombie until its launcher reaps it).
pub(crate) fn process_is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; `kill` only checks that the process exists and may be
    // signalled. It touches no memory of ours.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// Linux: the state letter in `/proc/<pid>/stat` (after the parenthesised command) is `Z`.
/// Elsewhere (or if it cannot be read) a process that exists counts as alive.
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// Kills process `pid` of this host with SIGKILL if it runs this same program (a worker of the
/// job that stopped answering): `true` if it was killed. The program check keeps a stale pid
/// from hitting an unrelated process; a stopped process keeps its pid, so it cannot have been
/// reused while rank 0 waited for it.
pub(crate) fn fence(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let Ok(target) = libc::pid_t::try_from(pid) else {
        return false;
    };
    let same_program = match (
        std::fs::read_link(format!("/proc/{pid}/exe")),
        std::fs::read_link("/proc/self/exe"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs == ours,
        _ => false,
    };
    // SAFETY: `kill` sends a signal and touches no memory of ours; `target` runs this program,
    // checked just above.
    same_program && unsafe { libc::kill(target, libc::SIGKILL) } == 0
}

/// This host's name as MPI reports it (`MPI_Get_processor_name`); workers send theirs in the
/// hello, and rank 0 checks those with the same name.
pub(crate) fn host_name() -> String {
    mpi::environment::processor_name().unwrap_or_default()
}

/// Rate-limits the checks: `due` says whether one is due now.
#[derive(Debug)]
pub(crate) struct CheckClock {
    last: Instant,
}

impl CheckClock {
    pub(crate) fn new() -> Self {
        CheckClock {
            last: Instant::now(),
        }
    }

    /// Whether [`CHECK_INTERVAL`] passed since the last check that was due.
    pub(crate) fn due(&mut self) -> bool {
        if self.last.elapsed() < CHECK_INTERVAL {
            return false;
        }
        self.last = Instant::now();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_is_alive(std::process::id()));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let pid = child.id();
        child.wait().expect("the child ends");
        assert!(!process_is_alive(pid));
    }

    #[test]
    fn fencing_kills_a_copy_of_this_program_only() {
        assert!(!fence(std::process::id()), "never itself");
        let mut other = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("`sleep` runs");
        assert!(!fence(other.id()), "another program is left alone");
        assert_eq!(other.try_wait().expect("waitable"), None);
        other.kill().expect("killed");
        other.wait().expect("reaped");
        // A copy of this process that stops itself: it runs this program (its /proc/<pid>/exe
        // is ours) and never answers, as a stopped worker.
        // SAFETY: the child only calls async-signal-safe functions (`raise`, `_exit`) before it
        // ends, as required after fork in a multithreaded process.
        let copy = unsafe {
            let pid = libc::fork();
            if pid == 0 {
                libc::raise(libc::SIGSTOP);
                libc::_exit(0);
            }
            pid
        };
        assert!(copy > 0, "fork: {}", std::io::Error::last_os_error());
        assert!(fence(copy as u32));
        let mut status = 0;
        // SAFETY: reaps our own child; `status` is a valid out-pointer.
        let reaped = unsafe { libc::waitpid(copy, &mut status, 0) };
        assert_eq!(reaped, copy);
        assert!(libc::WIFSIGNALED(status));
        assert_eq!(libc::WTERMSIG(status), libc::SIGKILL);
    }

    #[test]
    fn an_unreaped_dead_child_is_not_alive() {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let pid = child.id();
        // Wait for it to end without reaping it (WNOWAIT): it is a zombie from then on.
        // SAFETY: `info` is a valid, zeroed siginfo_t that waitid writes into; `pid` is our
        // own unreaped child.
        let waited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(waited, 0, "waitid: {}", std::io::Error::last_os_error());
        // SAFETY: signal 0 only checks that the process exists; it still does, as a zombie.
        let signalled = unsafe { libc::kill(pid as libc::pid_t, 0) };
        assert_eq!(signalled, 0, "the unreaped child still exists, as a zombie");
        assert!(!process_is_alive(pid));
        child.wait().expect("reaped");
    }
}
