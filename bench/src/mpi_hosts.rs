//! The MPI workloads across hosts: MPI3 (round trip), MPI4 (throughput) and MPI5 (the time from
//! a worker's death to every future done), with rank 0 on one simulated host and the workers on
//! another (`scripts/cluster.sh`: network + UTS namespaces joined by a veth pair, so ranks talk
//! TCP), for ours beside mpi4py.futures launched the same way and a raw ping-pong across the
//! hosts.
//!
//! The cluster is made once per workload, named after this process, and removed when the
//! workload's contenders are dropped. Where it cannot be made (not root, no `ip`, no
//! namespaces) the rows are skipped with the script's reason as a note.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::context::{Context, WORKERS, thousands};
use crate::harness::Scale;
use crate::mpi::{Launcher, PING_PONG_BYTES, RANKS, Setup, ops, tail};
use crate::record::{Figures, Unit};

/// MPI3: round trips per measurement of ours, of the ping-pong and of mpi4py.futures.
const MPI3_ROUND_TRIPS: usize = 2_000;
const MPI3_PING_PONGS: usize = 300;
const MPI3_MPI4PY_ROUND_TRIPS: usize = 300;
/// MPI4: tasks per measurement, and `map`'s chunksize.
const MPI4_TASKS: usize = 10_000;
const MPI4_CHUNKSIZE: usize = 100;
/// MPI5: tasks queued behind the fatal one.
const MPI5_TASKS: usize = 1_000;
/// MPI5: how long mpi4py.futures' futures are waited for after the death.
const MPI5_MPI4PY_LIMIT_SECONDS: u64 = 20;
/// One launch must end by then.
const LAUNCH_LIMIT: Duration = Duration::from_secs(120);
/// An MPI5 launch of mpi4py.futures: its limit, plus time for `mpirun` to end (or be killed:
/// it may not end after its rank 0 left a lost worker behind).
const MPI5_MPI4PY_LAUNCH_LIMIT: Duration = Duration::from_secs(MPI5_MPI4PY_LIMIT_SECONDS + 25);

/// A simulated two-host cluster, removed (with whatever still runs on it) when dropped.
pub(crate) struct SimCluster {
    name: String,
    /// `cluster.sh mpirun-args`: how `mpirun` reaches the other host.
    mpirun_args: Vec<String>,
}

/// The cluster's script, in the workspace this harness was built from.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
}

impl SimCluster {
    /// Makes cluster `bench<pid>`, or says why it cannot be made here.
    fn up() -> Result<Arc<SimCluster>, String> {
        let skipped = "MPI rows across hosts skipped";
        let check = Command::new(script())
            .arg("check")
            .output()
            .map_err(|error| format!("{skipped}: cannot run scripts/cluster.sh: {error}"))?;
        if !check.status.success() {
            return Err(format!(
                "{skipped}: {}",
                String::from_utf8_lossy(&check.stderr).trim()
            ));
        }
        let name = format!("bench{}", std::process::id());
        let cluster = SimCluster {
            name,
            mpirun_args: Vec::new(),
        };
        let up = Command::new(script())
            .args(["up", &cluster.name])
            .output()
            .map_err(|error| format!("{skipped}: cluster.sh up: {error}"))?;
        if !up.status.success() {
            return Err(format!(
                "{skipped}: cluster.sh up failed: {}",
                tail(&String::from_utf8_lossy(&up.stderr))
            ));
        }
        let args = Command::new(script())
            .args(["mpirun-args", &cluster.name])
            .output()
            .map_err(|error| format!("{skipped}: cluster.sh mpirun-args: {error}"))?;
        let mut cluster = cluster;
        cluster.mpirun_args = String::from_utf8_lossy(&args.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Ok(Arc::new(cluster))
    }

    /// Runs `program` under `mpirun` with rank 0 on the first host and `ranks - 1` ranks on the
    /// second; its standard output, or why it failed. With `ends_after_report`, a run that printed its report
    /// counts even if `mpirun` then fails or must be killed at `limit` (after a lost worker).
    pub(crate) fn launch(
        &self,
        mpirun: &Path,
        launch: Launch,
        program: &[OsString],
    ) -> Result<String, String> {
        let ranks = launch.ranks;
        let mut command = Command::new(script());
        command
            .args(["run", &self.name])
            .arg(mpirun)
            .args([
                "--host",
                &format!("{0}a:1,{0}b:{1}", self.name, ranks - 1),
                "-n",
                &ranks.to_string(),
            ])
            .args(launch.recovery.then_some("--enable-recovery"))
            .args(&self.mpirun_args)
            .args(program)
            .stdin(Stdio::null())
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            // The other host is reached through the launch agent, not `isolated`.
            .env_remove("OMPI_MCA_plm");
        if std::env::var_os("OMPI_MCA_btl_vader_single_copy_mechanism").is_none() {
            command.env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        }
        let run = run_collecting(&mut command, launch.limit)?;
        let reported = run
            .stdout
            .lines()
            .any(|line| line.starts_with("bench-mpi "));
        match run.status {
            Some(status) if status.success() => Ok(run.stdout),
            _ if launch.ends_after_report && reported => Ok(run.stdout),
            Some(status) => Err(format!(
                "mpirun across hosts failed ({status}): {}",
                tail(&run.stderr)
            )),
            None => Err(format!(
                "mpirun across hosts did not finish within {}s and was killed: {}",
                launch.limit.as_secs(),
                tail(&run.stderr)
            )),
        }
    }
}

/// How one launch goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch {
    /// `mpirun -n`: rank 0 on the first host, the others on the second.
    ranks: usize,
    /// `mpirun --enable-recovery`.
    recovery: bool,
    /// Killed after this.
    limit: Duration,
    /// See [`SimCluster::launch`].
    ends_after_report: bool,
}

/// A launch of MPI3 and MPI4.
fn plain(ranks: usize) -> Launch {
    Launch {
        ranks,
        recovery: false,
        limit: LAUNCH_LIMIT,
        ends_after_report: false,
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.name]).status();
    }
}

/// What [`run_collecting`] saw.
struct Run {
    /// `None`: killed at the limit.
    status: Option<std::process::ExitStatus>,
    stdout: String,
    stderr: String,
}

/// Runs `command` with its output collected, killing it at `limit`; the output read until then
/// is kept either way.
fn run_collecting(command: &mut Command, limit: Duration) -> Result<Run, String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start {command:?}: {error}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    // Lines as they come, so a killed run keeps what it printed.
    let (lines, collected) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (done, finished) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match finished.recv_timeout(limit) {
        Ok(status) => Some(status.map_err(|error| error.to_string())?),
        Err(_) => {
            // SAFETY: `kill` has no memory-safety preconditions; `pid` is our child, not yet
            // reaped (its waiting thread has not returned), so it cannot have been reused.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = finished.recv();
            None
        }
    };
    // Ranks left behind may hold the pipes open, so the readers are not joined: what is read
    // by now is what counts, and the cluster's removal ends those ranks.
    let stdout: Vec<String> =
        std::iter::from_fn(|| collected.recv_timeout(Duration::from_millis(200)).ok()).collect();
    let stderr = if errors.is_finished() {
        errors.join().unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Run {
        status,
        stdout: stdout.join("\n"),
        stderr,
    })
}

/// What the workloads across hosts run on: MPI and our programs (`Setup`), and a cluster.
struct Across {
    setup: Setup,
    cluster: Arc<SimCluster>,
}

impl Across {
    /// `None` (with the notes saying why) where MPI or the cluster is missing.
    fn find(cx: &Context, notes: &mut Vec<String>) -> Option<Across> {
        let setup = Setup::find(cx, notes)?;
        match SimCluster::up() {
            Ok(cluster) => {
                notes.push(
                    "Across hosts: rank 0 on one simulated host, the workers on another \
                     (network + UTS namespaces joined by a veth pair, scripts/cluster.sh), so \
                     the ranks talk TCP through the kernel, never shared memory; both hosts \
                     share this machine's cores."
                        .to_owned(),
                );
                Some(Across { setup, cluster })
            }
            Err(note) => {
                eprintln!("notice: {note}");
                notes.push(note);
                None
            }
        }
    }

    /// Launches on this cluster, as `launch` says.
    fn here(&self, launch: Launch) -> Launcher {
        Launcher::Across(self.cluster.clone(), launch)
    }
}

/// The label of our series across hosts.
fn our_label() -> String {
    format!("MpiPoolExecutor, rank 0 on one host, {WORKERS} workers on another")
}

/// MPI3: submit + result of a tiny task, one at a time, workers on the other host.
pub fn mpi3(cx: &Context) -> Vec<Figures> {
    let ours_ops = ops(cx, MPI3_ROUND_TRIPS);
    let floor_ops = ops(cx, MPI3_PING_PONGS);
    let mpi4py_ops = ops(cx, MPI3_MPI4PY_ROUND_TRIPS);
    let mut notes = Vec::new();
    let mut contenders = Vec::new();
    if let Some(across) = Across::find(cx, &mut notes) {
        notes.push(format!(
            "MPI3: a measurement is {} round trips of ours, {} of the raw ping-pong ({} \
             bytes, rank 0 on one host, rank 1 on the other) and {} of mpi4py.futures. The \
             raw ping-pong is no floor here: both its ranks spin in blocking MPI calls, which on \
             a 2-core machine starves the kernel's network path between the hosts.",
            thousands(ours_ops),
            thousands(floor_ops),
            PING_PONG_BYTES,
            thousands(mpi4py_ops)
        ));
        contenders.extend(across.setup.ours(
            "ours",
            &our_label(),
            across.here(plain(RANKS)),
            vec!["round-trip".into(), ours_ops.to_string()],
            vec![("round-trip", ours_ops)],
            false,
        ));
        contenders.extend(across.setup.ours(
            "raw-mpi",
            "floor: raw MPI ping-pong (rsmpi) across the hosts",
            across.here(plain(2)),
            vec![
                "ping-pong".into(),
                floor_ops.to_string(),
                PING_PONG_BYTES.to_string(),
            ],
            vec![("ping-pong", floor_ops)],
            true,
        ));
        contenders.extend(across.setup.mpi4py(
            across.here(plain(RANKS)),
            vec!["round-trip".into(), mpi4py_ops.to_string()],
            vec![("round-trip", mpi4py_ops)],
        ));
    }
    cx.measure(
        5,
        vec![(
            "MPI3",
            format!("submit + result of a tiny task, {WORKERS} worker ranks on another host"),
            Unit::PerOp {
                ops: 1.0,
                name: "round trip".into(),
            },
            // No goal against the ping-pong: across these hosts it is no floor (see the note).
            Vec::new(),
        )],
        contenders,
        notes,
    )
}

/// MPI4: 10,000 small tasks across hosts, submitted one by one then waited for (MPI4a), and
/// by `map` with a chunksize (MPI4b).
pub fn mpi4(cx: &Context) -> Vec<Figures> {
    let tasks = ops(cx, MPI4_TASKS);
    let wanted = vec![("submit-wait", tasks), ("map", tasks)];
    let args = vec![
        "throughput".to_owned(),
        tasks.to_string(),
        MPI4_CHUNKSIZE.to_string(),
    ];
    let mut notes = Vec::new();
    let mut contenders = Vec::new();
    if let Some(across) = Across::find(cx, &mut notes) {
        contenders.extend(across.setup.ours(
            "ours",
            &our_label(),
            across.here(plain(RANKS)),
            args.clone(),
            wanted.clone(),
            false,
        ));
        contenders.extend(across.setup.mpi4py(across.here(plain(RANKS)), args, wanted));
    }
    let per_task = Unit::PerOp {
        ops: 1.0,
        name: "task".into(),
    };
    cx.measure(
        5,
        vec![
            (
                "MPI4a",
                format!(
                    "{} small tasks across hosts: submit each, then wait for all",
                    thousands(tasks)
                ),
                per_task.clone(),
                Vec::new(),
            ),
            (
                "MPI4b",
                format!(
                    "{} small tasks across hosts by `map`, chunksize {MPI4_CHUNKSIZE}",
                    thousands(tasks)
                ),
                per_task,
                Vec::new(),
            ),
        ],
        contenders,
        notes,
    )
}

/// MPI5: a worker on the other host aborts with 1,000 tasks queued behind its task: the time
/// from that task's submit until every future is done, under `mpirun --enable-recovery`.
pub fn mpi5(cx: &Context) -> Vec<Figures> {
    let tasks = ops(cx, MPI5_TASKS);
    let mut notes = Vec::new();
    let mut contenders = Vec::new();
    if let Some(across) = Across::find(cx, &mut notes) {
        notes.push(format!(
            "MPI5: `mpirun --enable-recovery` (else OpenMPI ends the job at the death); ours \
             with the session's defaults (the loss noticed after 3 s of silence, the fatal \
             task fails WorkerLost, the {} others run on the surviving worker).",
            thousands(tasks)
        ));
        contenders.extend(across.setup.ours(
            "ours",
            &our_label(),
            across.here(Launch {
                ranks: RANKS,
                recovery: true,
                limit: LAUNCH_LIMIT,
                ends_after_report: false,
            }),
            vec!["death".into(), tasks.to_string()],
            vec![("death", 1)],
            false,
        ));
        if cx.scale == Scale::Smoke {
            notes.push(
                "MPI5: mpi4py.futures is left out of the smoke run (it waits out its limit)."
                    .to_owned(),
            );
        } else {
            notes.push(format!(
                "MPI5: mpi4py.futures never notices a lost worker; its futures are waited for \
                 {MPI5_MPI4PY_LIMIT_SECONDS} s, and a figure of {MPI5_MPI4PY_LIMIT_SECONDS} s \
                 means they were still not done then (a lower bound; its run prints how many)."
            ));
            contenders.extend(across.setup.mpi4py(
                across.here(Launch {
                    ranks: RANKS,
                    recovery: true,
                    limit: MPI5_MPI4PY_LAUNCH_LIMIT,
                    ends_after_report: true,
                }),
                vec![
                    "death".into(),
                    tasks.to_string(),
                    MPI5_MPI4PY_LIMIT_SECONDS.to_string(),
                ],
                vec![("death", 1)],
            ));
        }
    }
    cx.measure(
        3,
        vec![(
            "MPI5",
            format!(
                "a worker on another host dies with {} tasks queued: until every future is done",
                thousands(tasks)
            ),
            Unit::Total,
            Vec::new(),
        )],
        contenders,
        notes,
    )
}
