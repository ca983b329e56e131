//! [`init`] and [`Session`]: MPI initialised once per process, the roles of the ranks, and the
//! end of the job.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use concurrent_futures_core::backend::Drive;
use concurrent_futures_core::{BrokenExecutor, BuildError, BuildErrorKind};
use mpi::Threading;

use crate::builder::{Settings, builder};
use crate::dynamic;
use crate::job::Job;
use crate::pool::{MpiPoolBuilder, MpiPoolExecutor};
use crate::progress::{self, Command, HandshakeError, Health, RootCell};
use crate::transport::{Ending, Peers, Transport};
use crate::worker;

/// What rank 0's handles share with its progress thread.
pub(crate) struct Link {
    commands: Mutex<Option<Sender<Command>>>,
    /// Rank 0's state, for submitters and waiting threads that make progress themselves.
    cell: Arc<RootCell>,
    progress_thread: ThreadId,
    workers: usize,
    health: Arc<Health>,
    next_id: AtomicU64,
    finalized: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where the progress thread says how the end goes.
    phases: Mutex<Option<Receiver<Phase>>>,
}

impl Link {
    /// Dispatches a job on this thread if rank 0's state is free, else hands it to the
    /// progress thread; gives it back if the session has ended.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = commands.as_ref() else {
            return Err(job);
        };
        match self.cell.submit_here(job) {
            Ok((wake, ended)) => {
                if wake {
                    // The progress thread parked with nothing to do: it must look after the
                    // answer if nobody waits for it. It cannot have ended: `commands` is open.
                    let _ = sender.send(Command::Wake);
                }
                drop(commands);
                // Done-callbacks may submit: never under `commands`.
                ended.finish();
                Ok(())
            }
            Err(job) => sender
                .send(Command::Submit(job))
                .map_err(|error| match error.0 {
                    Command::Submit(job) => job,
                    Command::Finalize | Command::Wake => {
                        unreachable!("a submit command was sent")
                    }
                }),
        }
    }

    /// What a thread waiting on one of this session's futures drives.
    pub(crate) fn driver(&self) -> Arc<dyn Drive> {
        self.cell.clone()
    }

    /// A fresh job number.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Why the session is broken (a worker died), if it is.
    pub(crate) fn broken(&self) -> Option<BrokenExecutor> {
        self.health.broken()
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
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let (Some(thread), Some(phases)) = (thread, phases)
            && wait_for_finalize(&phases)
        {
            let _ = thread.join();
        }
        // Else MPI_Finalize is still waiting for a dead peer: the progress thread is left to it
        // and ends with the process.
    }
}

/// How the end of a session goes on the progress thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A peer died: MPI is finalised without disconnecting, which may still wait for the dead
    /// peer (OpenMPI's finalize fence sometimes does, for minutes).
    Abandoning,
    /// MPI is finalised.
    Finalized,
}

/// After a peer died, how long to wait for `MPI_Finalize` before leaving it behind.
const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// Waits for the progress thread to finalise MPI: `true` once it has (or it ended), `false` if
/// it is still stuck in `MPI_Finalize` after a peer died and [`ABANDON_GRACE`].
fn wait_for_finalize(phases: &Receiver<Phase>) -> bool {
    match phases.recv() {
        Ok(Phase::Finalized) | Err(_) => true,
        Ok(Phase::Abandoning) => !matches!(
            phases.recv_timeout(ABANDON_GRACE),
            Err(RecvTimeoutError::Timeout)
        ),
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

    /// How many worker ranks the session started with (the job's size minus one, or the
    /// number spawned).
    pub fn workers(&self) -> usize {
        self.link.workers()
    }

    /// How many of them still serve: [`workers`](Session::workers) minus those lost (see
    /// [`LostWorker`](crate::LostWorker)).
    ///
    /// ```no_run
    /// let session = concurrent_futures_mpi::init().unwrap();
    /// assert!(session.live_workers() <= session.workers());
    /// ```
    pub fn live_workers(&self) -> usize {
        self.link.workers() - self.link.health.lost()
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

/// How the workers come to be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Launch {
    /// They are the other ranks of the job (`mpirun -n N`).
    PreLaunched,
    /// Rank 0 spawns this many.
    Spawn(usize),
}

/// What the progress thread found this process to be.
enum Role {
    /// Rank 0, with this many workers.
    Leader(usize),
    /// A worker: it serves until rank 0 ends the session.
    Worker,
}

/// Pre-launched mode (`mpirun -n N ./app`): call it first in `main` on every rank.
///
/// MPI is initialised on a progress thread of its own, the only thread that makes MPI calls.
/// On rank 0 it returns the [`Session`] that makes executors. On every other rank it serves
/// tasks until rank 0's session ends, then finalises MPI and exits the process: it never
/// returns there. In a worker that [`spawn`] started, it serves the same way.
///
/// ```no_run
/// use concurrent_futures_core::{Executor, Shutdown, Submit};
///
/// fn square(x: u64) -> u64 { x * x }
/// concurrent_futures_mpi::remote_fn!(square);
///
/// fn main() {
///     let session = concurrent_futures_mpi::init().expect("launched with mpirun -n 2 or more");
///     let pool = session.pool();
///     assert_eq!(pool.call(square, 7).unwrap().result(), Ok(49));
///     pool.shutdown(Shutdown::default());
/// }
/// ```
pub fn init() -> Result<Session, BuildError> {
    builder().init()
}

/// Spawned mode: call it first in `main` of a program started as one process
/// (`mpirun -n 1 ./app`, or plainly `./app` where the MPI library supports singletons).
///
/// Rank 0 starts `max_workers` copies of this binary with `MPI_Comm_spawn` (same arguments)
/// and returns the [`Session`] that makes executors. A spawned copy runs `main` again: when it
/// reaches `spawn` (or [`init`]) it finds its parent, serves tasks until the session ends, then
/// finalises MPI and exits: it never returns there.
///
/// Spawning can fail (a [`BuildError`] of kind [`BuildErrorKind::Spawn`] with MPI's reason): Debian's MPICH cannot spawn;
/// OpenMPI wants a free slot per worker, so add `--oversubscribe` to `mpirun` when there are
/// more processes than cores (started without `mpirun`, set
/// `OMPI_MCA_rmaps_base_oversubscribe=1`). In a job of more than one rank, use [`init`].
///
/// ```no_run
/// use concurrent_futures_core::{Executor, Shutdown, Submit};
///
/// fn square(x: u64) -> u64 { x * x }
/// concurrent_futures_mpi::remote_fn!(square);
///
/// fn main() {
///     // mpirun -n 1 --oversubscribe ./app
///     let session = concurrent_futures_mpi::spawn(2).expect("MPI can spawn 2 workers");
///     let pool = session.pool();
///     assert_eq!(pool.call(square, 7).unwrap().result(), Ok(49));
///     pool.shutdown(Shutdown::default());
/// }
/// ```
pub fn spawn(max_workers: usize) -> Result<Session, BuildError> {
    builder().spawn(max_workers)
}

/// Initialises MPI on the progress thread and finds this process's role: see [`init`].
pub(crate) fn start(launch: Launch, settings: Settings) -> Result<Session, BuildError> {
    if INITIALIZED.swap(true, Ordering::AcqRel) {
        return Err(BuildError::new(
            BuildErrorKind::Environment,
            "concurrent_futures_mpi::init was already called",
        ));
    }
    let (role_sender, role) = mpsc::channel::<Result<Role, BuildError>>();
    let (command_sender, commands) = mpsc::channel::<Command>();
    let (phase_sender, phases) = mpsc::channel::<Phase>();
    let health = Arc::new(Health::default());
    let shared_health = health.clone();
    let cell = RootCell::new(command_sender.clone());
    let shared_cell = cell.clone();
    let thread = std::thread::Builder::new()
        .name("executor-mpi-progress".into())
        .spawn(move || {
            // The progress thread makes the MPI calls, except a worker's keeper thread, which
            // takes turns with it (MPI_THREAD_SERIALIZED).
            let Some((universe, level)) = mpi::initialize_with_threading(Threading::Serialized)
            else {
                let _ = role_sender.send(Err(BuildError::new(
                    BuildErrorKind::Environment,
                    "MPI could not be initialised: MPI_Init_thread failed or MPI was already \
                     initialised",
                )));
                return;
            };
            let peers = match find_peers(launch, &universe) {
                Ok(peers) => peers,
                Err(error) => {
                    let _ = role_sender.send(Err(error));
                    drop(universe);
                    return;
                }
            };
            let mut transport = Transport::new(peers);
            // A keeper thread takes turns with the progress thread to send heartbeats.
            let keeper = matches!(level, Threading::Serialized | Threading::Multiple);
            let ending = if !transport.leads() {
                let _ = role_sender.send(Ok(Role::Worker));
                let (served, ending) = worker::serve(transport, keeper);
                transport = served;
                ending
            } else {
                let processes = match progress::handshake(&mut transport) {
                    Ok(processes) => {
                        let _ = role_sender.send(Ok(Role::Leader(transport.workers())));
                        processes
                    }
                    Err(error) => {
                        let _ = role_sender.send(Err(match error {
                            HandshakeError::Mismatch(worker) => BuildError::new(
                                BuildErrorKind::Handshake,
                                format!(
                                    "rank {} runs a different build (its task registry differs \
                                     from rank 0's)",
                                    transport.rank_of_worker(worker)
                                ),
                            ),
                            HandshakeError::Timeout => BuildError::new(
                                BuildErrorKind::Handshake,
                                "not every worker rank answered the handshake in time",
                            ),
                        }));
                        // The caller drops the command sender, which ends the session at once.
                        Vec::new()
                    }
                };
                let (served, ending) = progress::run_root(
                    &shared_cell,
                    transport,
                    processes,
                    settings,
                    shared_health,
                    commands,
                    keeper,
                );
                transport = served;
                ending
            };
            match ending {
                Ending::Clean => {
                    // Disconnects from the spawned workers (or the parent), then MPI_Finalize,
                    // on the thread that initialised MPI.
                    drop(transport);
                    drop(universe);
                }
                Ending::Abandon if transport.leads() => {
                    // A worker was lost: neither disconnecting nor MPI_Finalize can end the
                    // job then (OpenMPI waits for the lost rank, or returns and leaves mpirun
                    // running); MPI_Abort at the end of this process can.
                    transport.abandon();
                    std::mem::forget(universe);
                    abort_job_at_exit();
                }
                Ending::Abandon => {
                    // Rank 0 lost a worker: disconnecting would wait for it forever.
                    let _ = phase_sender.send(Phase::Abandoning);
                    transport.abandon();
                    finalize_without_disconnect(universe);
                }
            }
            let _ = phase_sender.send(Phase::Finalized);
        })
        .map_err(|error| {
            BuildError::with_source(
                BuildErrorKind::Spawn,
                "could not start the MPI progress thread",
                error,
            )
        })?;
    let progress_thread = thread.thread().id();
    match role.recv() {
        Ok(Ok(Role::Leader(workers))) => Ok(Session {
            link: Arc::new(Link {
                commands: Mutex::new(Some(command_sender)),
                cell,
                progress_thread,
                workers,
                health,
                next_id: AtomicU64::new(1),
                finalized: AtomicBool::new(false),
                thread: Mutex::new(Some(thread)),
                phases: Mutex::new(Some(phases)),
            }),
        }),
        Ok(Ok(Role::Worker)) => {
            // The progress thread serves; this thread only waits for the end of the job, and
            // exits even if MPI_Finalize is stuck on a dead peer.
            if wait_for_finalize(&phases) {
                let _ = thread.join();
            }
            std::process::exit(0);
        }
        Ok(Err(error)) => {
            // Both senders go, so the progress thread sees the channel close and ends.
            cell.drop_waker();
            drop(command_sender);
            let _ = thread.join();
            Err(error)
        }
        Err(_) => {
            cell.drop_waker();
            drop(command_sender);
            let _ = thread.join();
            Err(BuildError::new(
                BuildErrorKind::Environment,
                "the MPI progress thread died while initialising MPI",
            ))
        }
    }
}

/// Who this process talks to: its parent if it was spawned, else per `launch`.
fn find_peers(launch: Launch, universe: &mpi::environment::Universe) -> Result<Peers, BuildError> {
    use mpi::topology::Communicator;

    if let Some(parent) = dynamic::parent() {
        return Ok(Peers::Parent(parent));
    }
    let world = universe.world();
    match launch {
        Launch::PreLaunched if world.size() < 2 => Err(BuildError::new(
            BuildErrorKind::Environment,
            "the MPI job has one rank and so no workers: run it with `mpirun -n 2` or more, \
             or use concurrent_futures_mpi::spawn",
        )),
        Launch::PreLaunched => Ok(Peers::World(world)),
        Launch::Spawn(0) => Err(BuildError::new(
            BuildErrorKind::InvalidConfig,
            "max_workers must be greater than 0",
        )),
        Launch::Spawn(_) if world.size() > 1 => Err(BuildError::new(
            BuildErrorKind::Environment,
            format!(
            "the job already has {} ranks: spawn is for a program started as one process; \
             with `mpirun -n N` use concurrent_futures_mpi::init",
                world.size()
            ),
        )),
        Launch::Spawn(count) => dynamic::spawn_this_binary(count)
            .map(Peers::Children)
            .map_err(|message| {
                BuildError::new(
                    BuildErrorKind::Spawn,
                    format!(
                        "MPI could not spawn the workers: {message} (hint: OpenMPI needs a free slot per worker: add \
                     --oversubscribe to mpirun, or set OMPI_MCA_rmaps_base_oversubscribe=1 \
                     when started without mpirun; Debian's MPICH cannot spawn: launch with \
                     `mpirun -n {}` and use concurrent_futures_mpi::init)",
                        count + 1
                    ),
                )
            }),
    }
}

/// Set once rank 0 lost a worker and left MPI initialised: the process's exit ends the job with
/// `MPI_Abort`.
static ABORT_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Makes this process's exit end the MPI job with `MPI_Abort`, with the process's exit status
/// as the error code. On `MPI_COMM_WORLD` in both modes: measured with OpenMPI 4.1.4, it also
/// ends spawned workers, and at once, where aborting the intercommunicator to them took 5 s.
fn abort_job_at_exit() {
    if ABORT_AT_EXIT.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: registers a function with the C library to run at exit; it lives as long as the
    // program and takes no data (the argument is null).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let registered = unsafe { on_exit(abort_job, std::ptr::null_mut()) } == 0;
    // SAFETY: as above, through `atexit` (no exit status there: the job ends with code 0).
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let registered = unsafe { libc::atexit(abort_job_with_success) } == 0;
    if !registered {
        eprintln!(
            "concurrent_futures_mpi: could not arrange for MPI_Abort at exit; mpirun may not \
             end by itself after this lost worker"
        );
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    /// glibc: like `atexit`, with the exit status passed to the function.
    fn on_exit(
        function: extern "C" fn(libc::c_int, *mut libc::c_void),
        argument: *mut libc::c_void,
    ) -> libc::c_int;
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
extern "C" fn abort_job_with_success() {
    abort_job(0, std::ptr::null_mut());
}

/// Run at exit once rank 0 lost a worker: ends every process of the job (the survivors were
/// already told to finish) and makes `mpirun` exit with `status`.
extern "C" fn abort_job(status: libc::c_int, _argument: *mut libc::c_void) {
    eprintln!(
        "concurrent_futures_mpi: a worker was lost, so MPI_Finalize cannot end this MPI job; \
         ending it with MPI_Abort (status {status})"
    );
    // SAFETY: MPI was initialised and never finalised (the progress thread forgot the
    // universe instead). The progress thread, which made every other MPI call, has ended, so
    // this call from the exiting thread does not run concurrently with another.
    unsafe {
        mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, status);
    }
}

/// `MPI_Finalize` without what dropping the universe also does first: disconnecting from a
/// parent (which would wait for a dead peer). Nothing else it does (detaching a buffer, freeing
/// attribute keys) is used by this crate.
fn finalize_without_disconnect(universe: mpi::environment::Universe) {
    std::mem::forget(universe);
    // SAFETY: MPI was initialised on this thread (the universe existed) and is finalised once:
    // the universe, which would finalise it again, was forgotten. No MPI call follows.
    unsafe {
        mpi::ffi::MPI_Finalize();
    }
}
