//! Starting a worker process: the user's own binary, re-executed in worker mode.
//!
//! The child gets `EXECUTOR_PROCESS_WORKER=<parent pid>` and, as its standard input, the write
//! end of a close-on-exec pipe. In the child, [`init`](crate::init) creates a one-shot socket
//! server in a fresh temporary directory (created under umask 0o077: the directory and the
//! socket are 0700), writes the socket's name into that pipe and puts `/dev/null` on standard
//! input. Only the parent reads the name, and only the same user can reach the socket, so no
//! other user's process can join the rendezvous. If the child dies first, the
//! parent reads end-of-file at once: a start-up failure is never a hang.
//!
//! The command has no `pre_exec` hook (nor uid, gid, groups or chroot), so `std` starts it with
//! `posix_spawn` (`clone(CLONE_VM | CLONE_VFORK)` on Linux): start-up does not copy the parent's
//! page tables and does not grow with its memory. The hygiene a `pre_exec` hook would do runs in
//! the worker instead, first thing in [`init`](crate::init): it arms its parent-death signal,
//! checks `getppid` against the pid in `EXECUTOR_PROCESS_WORKER` (the parent may have died
//! before the signal was armed), and closes every descriptor it inherited above the standard
//! streams (see `sys`). Workers run in their own process group (`POSIX_SPAWN_SETPGROUP`), so a
//! Ctrl-C aimed at the parent's terminal does not kill tasks mid-flight; they die with the
//! parent instead.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::builder::Config;
use crate::sys;

/// The environment variable that marks a worker, holding the parent's pid.
pub(crate) const WORKER_ENV: &str = "EXECUTOR_PROCESS_WORKER";

/// A started worker process, before its handshake.
pub(crate) struct Spawned {
    /// Its pid.
    pub(crate) pid: u32,
    /// The read end of the rendezvous pipe.
    pub(crate) rendezvous: File,
}

/// Starts a worker process. Fails if the executable cannot be run.
pub(crate) fn spawn_worker(config: &Config) -> io::Result<Spawned> {
    let (read_end, write_end) = sys::pipe_cloexec()?;
    let parent = std::process::id();
    let mut command = Command::new(&config.executable);
    command
        .args(&config.args)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .env(WORKER_ENV, parent.to_string())
        .stdin(Stdio::from(write_end))
        .process_group(0);
    let child = command.spawn()?;
    // Dropping the command closes our copy of the write end: end-of-file now means the worker
    // is gone.
    drop(command);
    Ok(Spawned {
        pid: child.id(),
        rendezvous: File::from(read_end),
    })
}
