//! Starting a worker process: the user's own binary, re-executed in worker mode.
//!
//! The parent makes an anonymous socket pair (`sys::Socket`, both ends close-on-exec) and gives
//! the child one end as its standard input, with `EXECUTOR_PROCESS_WORKER=<parent pid>` in its
//! environment. In the child, [`init`](crate::init) takes that socket, checks that it is one
//! and that its peer is the process named in the variable (`SO_PEERCRED`), and puts `/dev/null`
//! on standard input. There is no name to connect to and nothing on disk: no other process can
//! reach a worker or pose as its parent, and a parent that dies at any point leaves nothing
//! behind. If the child dies first, the parent reads end-of-file at once: a start-up failure is
//! never a hang.
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

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::builder::Config;
use crate::frame::MAX_FRAME;
use crate::sys::Socket;

/// The environment variable that marks a worker, holding the parent's pid.
pub(crate) const WORKER_ENV: &str = "EXECUTOR_PROCESS_WORKER";

/// A started worker process, before its handshake.
pub(crate) struct Spawned {
    /// Its pid.
    pub(crate) pid: u32,
    /// The parent's end of its socket pair.
    pub(crate) socket: Socket,
}

/// Starts a worker process. Fails if the executable cannot be run.
pub(crate) fn spawn_worker(config: &Config) -> io::Result<Spawned> {
    let (ours, theirs) = Socket::pair(MAX_FRAME)?;
    let parent = std::process::id();
    let mut command = Command::new(&config.executable);
    command
        .args(&config.args)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .env(WORKER_ENV, parent.to_string())
        .stdin(Stdio::from(theirs.into_fd()))
        .process_group(0);
    let child = command.spawn()?;
    // Dropping the command closes our copy of the worker's end: end-of-file now means the
    // worker is gone.
    drop(command);
    Ok(Spawned {
        pid: child.id(),
        socket: ours,
    })
}
