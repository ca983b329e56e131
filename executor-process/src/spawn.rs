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
//! Before `exec`, the child arms its parent-death signal and marks every descriptor it inherited
//! close-on-exec (see `sys`). Workers run in their own process group, so a Ctrl-C aimed at the
//! parent's terminal does not kill tasks mid-flight; they die with the parent instead.

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
    // SAFETY: `prepare_child` only makes async-signal-safe system calls (prctl, getppid,
    // close_range/fcntl) and allocates nothing, as required between fork and exec.
    unsafe {
        command.pre_exec(move || sys::prepare_child(parent));
    }
    let child = command.spawn()?;
    // Dropping the command closes our copy of the write end: end-of-file now means the worker
    // is gone.
    drop(command);
    Ok(Spawned {
        pid: child.id(),
        rendezvous: File::from(read_end),
    })
}
