//! [`init`] and [`Session`]: MPI initialised once per process, the roles of the ranks, and the
//! end of the job.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};

use mpi::Threading;

use crate::job::Job;
use crate::pool::{MpiPoolBuilder, MpiPoolExecutor};
use crate::progress::{self, Command, HandshakeError};
use crate::transport::Transport;
use crate::worker;

/// Why [`init`] (or [`spawn`]) gave no session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// `init` was already called in this process (MPI can be initialised once).
    AlreadyInitialized,
    /// `MPI_Init_thread` failed, or MPI was already initialised by someone else.
    Mpi(String),
    /// The job has a single rank, so there is no worker to run tasks: launch with
    /// `mpirun -n 2` or more.
    NoWorkers,
    /// A worker rank runs a different build (its task registry differs from rank 0's).
    RegistryMismatch {
        /// The first rank found different.
        rank: i32,
    },
    /// Not every worker rank answered in time.
    HandshakeTimeout,
    /// Spawned mode (`MPI_Comm_spawn`) is not implemented yet.
    SpawnNotImplemented,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::AlreadyInitialized => write!(f, "executor_mpi::init was already called"),
            InitError::Mpi(message) => write!(f, "MPI could not be initialised: {message}"),
            InitError::NoWorkers => write!(
                f,
                "the MPI job has one rank and so no workers: run it with `mpirun -n 2` or more"
            ),
            InitError::RegistryMismatch { rank } => write!(
                f,
                "rank {rank} runs a different build (its task registry differs from rank 0's)"
            ),
            InitError::HandshakeTimeout => {
                write!(f, "not every worker rank answered the handshake in time")
            }
            InitError::SpawnNotImplemented => write!(
                f,
                "spawned mode (MPI_Comm_spawn) is not implemented yet: launch the program with \
                 `mpirun -n N` instead"
            ),
        }
    }
}

impl std::error::Error for InitError {}

/// What rank 0's handles share with its progress thread.
pub(crate) struct Link {
    commands: Mutex<Option<Sender<Command>>>,
    progress_thread: ThreadId,
    workers: usize,
    next_id: AtomicU64,
    finalized: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Link {
    /// Hands a job to the progress thread; gives it back if the session has ended.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        match commands.as_ref() {
            Some(sender) => sender
                .send(Command::Submit(job))
                .map_err(|error| match error.0 {
                    Command::Submit(job) => job,
                    Command::Finalize => unreachable!("a submit command was sent"),
                }),
            None => Err(job),
        }
    }

    /// A fresh job number.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the session was finalised.
    pub(crate) fn is_finalized(&self) -> bool {
        self.finalized.load(Ordering::Acquire)
    }

    /// Whether the caller is the progress thread (done-callbacks run there).
    pub(crate) fn on_progress_thread(&self) -> bool {
        std::thread::current().id() == self.progress_thread
    }

    /// How many worker ranks serve tasks.
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    fn finalize(&self) {
        if self.finalized.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(sender) = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = sender.send(Command::Finalize);
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Rank 0's handle on the MPI job: makes [`MpiPoolExecutor`]s, and ends the job when dropped
/// (or [`finalize`](Session::finalize)d).
///
/// Keep it alive for as long as pools are used: once it is finalised the worker ranks exit and
/// pools refuse new tasks (`Rejected::Broken`).
pub struct Session {
    link: Arc<Link>,
}

impl Session {
    /// A pool with the default settings (one task in flight per worker).
    pub fn pool(&self) -> MpiPoolExecutor {
        self.builder().build()
    }

    /// A builder for pools with other settings; cloneable, and `build` can be called again.
    pub fn builder(&self) -> MpiPoolBuilder {
        MpiPoolBuilder::new(self.link.clone())
    }

    /// How many worker ranks serve tasks (the job's size minus one).
    pub fn workers(&self) -> usize {
        self.link.workers()
    }

    /// Stops the worker ranks once they finished what they were sent, fails tasks still queued
    /// with `TaskError::Broken`, and finalises MPI. Waits for all that.
    pub fn finalize(self) {
        self.link.finalize();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.link.finalize();
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("workers", &self.link.workers)
            .field("finalized", &self.link.is_finalized())
            .finish_non_exhaustive()
    }
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Pre-launched mode (`mpirun -n N ./app`): call it first in `main` on every rank.
///
/// MPI is initialised on a progress thread of its own, the only thread that makes MPI calls.
/// On rank 0 it returns the [`Session`] that makes executors. On every other rank it serves
/// tasks until rank 0's session ends, then finalises MPI and exits the process: it never
/// returns there.
///
/// ```no_run
/// use executor_core::{Executor, Shutdown, Submit};
///
/// fn square(x: u64) -> u64 { x * x }
/// executor_mpi::remote_fn!(square);
///
/// fn main() {
///     let session = executor_mpi::init().expect("launched with mpirun -n 2 or more");
///     let pool = session.pool();
///     assert_eq!(pool.call(square, 7).unwrap().result(), Ok(49));
///     pool.shutdown(Shutdown::default());
/// }
/// ```
pub fn init() -> Result<Session, InitError> {
    if INITIALIZED.swap(true, Ordering::AcqRel) {
        return Err(InitError::AlreadyInitialized);
    }
    let (role_sender, role) = mpsc::channel::<Result<(i32, i32), InitError>>();
    let (command_sender, commands) = mpsc::channel::<Command>();
    let thread = std::thread::Builder::new()
        .name("executor-mpi-progress".into())
        .spawn(move || {
            // The progress thread makes every MPI call, so MPI_THREAD_FUNNELED is enough.
            let Some((universe, _level)) = mpi::initialize_with_threading(Threading::Funneled)
            else {
                let _ = role_sender.send(Err(InitError::Mpi(
                    "MPI_Init_thread failed or MPI was already initialised".into(),
                )));
                return;
            };
            let mut transport = Transport::new(universe.world());
            let rank = transport.rank();
            if rank != 0 {
                let _ = role_sender.send(Ok((rank, transport.size())));
                worker::serve(&mut transport);
            } else if transport.size() < 2 {
                let _ = role_sender.send(Err(InitError::NoWorkers));
            } else {
                match progress::handshake(&mut transport) {
                    Ok(()) => {
                        let _ = role_sender.send(Ok((0, transport.size())));
                        progress::run_root(&mut transport, commands);
                    }
                    Err(error) => {
                        let _ = role_sender.send(Err(match error {
                            HandshakeError::Mismatch(rank) => InitError::RegistryMismatch { rank },
                            HandshakeError::Timeout => InitError::HandshakeTimeout,
                        }));
                        // `init` drops the command sender: this stops the workers that answered.
                        progress::run_root(&mut transport, commands);
                    }
                }
            }
            drop(transport);
            drop(universe); // MPI_Finalize, on the thread that initialised MPI.
        })
        .map_err(|error| InitError::Mpi(format!("cannot start the progress thread: {error}")))?;
    let progress_thread = thread.thread().id();
    match role.recv() {
        Ok(Ok((0, size))) => Ok(Session {
            link: Arc::new(Link {
                commands: Mutex::new(Some(command_sender)),
                progress_thread,
                workers: (size - 1) as usize,
                next_id: AtomicU64::new(1),
                finalized: AtomicBool::new(false),
                thread: Mutex::new(Some(thread)),
            }),
        }),
        Ok(Ok(_worker_rank)) => {
            // The progress thread serves; this thread only waits for the end of the job.
            let _ = thread.join();
            std::process::exit(0);
        }
        Ok(Err(error)) => {
            drop(command_sender);
            let _ = thread.join();
            Err(error)
        }
        Err(_) => {
            drop(command_sender);
            let _ = thread.join();
            Err(InitError::Mpi("the progress thread died".into()))
        }
    }
}

/// Spawned mode (`MPI_Comm_spawn` of this binary with `max_workers` ranks): not implemented
/// yet, always [`InitError::SpawnNotImplemented`]. Launch with `mpirun -n N` and use [`init`].
pub fn spawn(max_workers: usize) -> Result<Session, InitError> {
    let _ = max_workers;
    Err(InitError::SpawnNotImplemented)
}
