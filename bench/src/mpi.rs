//! The MPI workloads of the MPI issue: MPI1 (round trip of submit + result of a tiny task on 2
//! worker ranks) and MPI2 (10,000 small tasks: submit each then wait for all, and `map` with a
//! chunksize), for our `MpiPoolExecutor` beside `mpi4py.futures` and a raw MPI ping-pong.
//!
//! Every measurement is one `mpirun` launch of a program that times its own loop after a
//! warm-up and prints one [`Report`] line per metric; the launch itself (0.3-1 s) is never
//! measured. The programs: ours and the raw ping-pong are `executor-bench-mpi`
//! (`src/bin/executor-bench-mpi.rs`, built with the `mpi` feature because it needs MPI and
//! libclang), mpi4py's is `python/mpi4py_anchors.py` run by `python -m mpi4py.futures`.
//!
//! Nothing here needs MPI to build. What is missing is skipped with a notice and a note:
//! every MPI row without `mpirun`; ours and the floor without `executor-bench-mpi`; the
//! mpi4py.futures rows when mpi4py cannot be installed into the bench's venv
//! (`<target>/bench/mpi4py-venv`, made on first use with `pip install mpi4py==4.1.2`).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::context::{Context, WORKERS, goal, thousands};
use crate::harness::{Contender, Measurement, Scale};
use crate::mpi_hosts::{Launch, SimCluster};
use crate::python;
use crate::record::{Figures, Unit};

/// MPI1: round trips per measurement of ours...
const MPI1_ROUND_TRIPS: usize = 2_000;
/// ... of the raw ping-pong (a round trip costs about a microsecond)...
const MPI1_PING_PONGS: usize = 20_000;
/// ... and of mpi4py.futures (about a millisecond each).
const MPI1_MPI4PY_ROUND_TRIPS: usize = 300;
/// The raw ping-pong's message: about the size of our encoded call of `echo(u64)` and of its
/// encoded reply (postcard, each with a job number and a registry index).
pub(crate) const PING_PONG_BYTES: usize = 24;
/// MPI2: tasks per measurement.
const MPI2_TASKS: usize = 10_000;
/// MPI2's `map` chunksize, ours and mpi4py's alike.
const MPI2_CHUNKSIZE: usize = 100;
/// Ranks of ours and of mpi4py.futures: rank 0 (the executor) and the workers.
pub(crate) const RANKS: usize = WORKERS + 1;
/// The mpi4py the bench installs into its venv.
pub const MPI4PY_VERSION: &str = "4.1.2";
/// One launch must end by then (the slowest, mpi4py's 10,000 submits, takes seconds).
const LAUNCH_LIMIT: Duration = Duration::from_secs(300);
/// Installing mpi4py must end by then.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// The path of `mpirun`: `$EXECUTOR_BENCH_MPIRUN` (empty: none), or `mpirun` on `PATH`.
pub const MPIRUN_ENV: &str = "EXECUTOR_BENCH_MPIRUN";
/// The path of `executor-bench-mpi`: `$EXECUTOR_BENCH_MPI_BIN` (empty: not built), or next to
/// this binary. `cargo xtask bench` sets it.
pub const PROGRAM_ENV: &str = "EXECUTOR_BENCH_MPI_BIN";
/// The venv for mpi4py: `$EXECUTOR_BENCH_MPI4PY_VENV`, or `<target>/bench/mpi4py-venv`.
pub const VENV_ENV: &str = "EXECUTOR_BENCH_MPI4PY_VENV";

// ---- the report line ------------------------------------------------------------------------

/// One figure an MPI program prints on rank 0: `bench-mpi round-trip ops=2000 seconds=0.0251`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured: `round-trip`, `ping-pong`, `submit-wait`, `map`.
    pub metric: String,
    /// How many operations the timed loop ran.
    pub ops: u64,
    /// How long the timed loop took.
    pub seconds: f64,
}

/// The first word of a report line.
const PREFIX: &str = "bench-mpi";

impl Report {
    /// A report of `ops` operations in `seconds`.
    pub fn new(metric: &str, ops: u64, seconds: f64) -> Report {
        Report {
            metric: metric.to_owned(),
            ops,
            seconds,
        }
    }

    /// `None` if `line` is not a report line (programs and MPI may print other things);
    /// otherwise the report, or why it is malformed.
    pub fn parse(line: &str) -> Option<Result<Report, String>> {
        let mut words = line.split_whitespace();
        if words.next() != Some(PREFIX) {
            return None;
        }
        let parsed = (|| {
            let metric = words.next().ok_or("no metric")?;
            let mut ops = None;
            let mut seconds = None;
            for word in words {
                match word.split_once('=') {
                    Some(("ops", value)) => ops = value.parse::<u64>().ok(),
                    Some(("seconds", value)) => seconds = value.parse::<f64>().ok(),
                    _ => return Err(format!("unexpected `{word}`")),
                }
            }
            let ops = ops.ok_or("no valid ops=N")?;
            let seconds = seconds
                .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
                .ok_or("no valid seconds=S")?;
            Ok(Report::new(metric, ops, seconds))
        })();
        Some(parsed.map_err(|error: String| format!("malformed report line `{line}`: {error}")))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX} {} ops={} seconds={}",
            self.metric, self.ops, self.seconds
        )
    }
}

/// Seconds per operation of each `(metric, ops)` in `wanted`, from a program's output: each
/// metric must be reported exactly once, with the expected number of operations.
pub fn per_op(output: &str, wanted: &[(&str, usize)]) -> Result<Vec<f64>, String> {
    let reports = output
        .lines()
        .filter_map(Report::parse)
        .collect::<Result<Vec<_>, _>>()?;
    wanted
        .iter()
        .map(|&(metric, ops)| {
            let mut found = reports.iter().filter(|report| report.metric == metric);
            match (found.next(), found.next()) {
                (Some(report), None) if report.ops == ops as u64 && ops > 0 => {
                    Ok(report.seconds / ops as f64)
                }
                (Some(report), None) => Err(format!(
                    "`{metric}` ran {} operations, expected {ops}",
                    report.ops
                )),
                (Some(_), Some(_)) => Err(format!("`{metric}` was reported twice")),
                (None, _) => Err(format!("no `{metric}` report in the output")),
            }
        })
        .collect()
}

// ---- launching ------------------------------------------------------------------------------

/// `name` found on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `mpirun`, or why there is none.
fn mpirun() -> Result<PathBuf, String> {
    let missing = "MPI rows skipped: `mpirun` is not installed (Debian: apt-get install \
                   openmpi-bin libopenmpi-dev libclang-dev)";
    match std::env::var_os(MPIRUN_ENV) {
        Some(path) if path.is_empty() => Err(format!("{missing}; ${MPIRUN_ENV} is empty")),
        Some(path) => Ok(PathBuf::from(path)),
        None => on_path("mpirun").ok_or_else(|| missing.to_owned()),
    }
}

/// `executor-bench-mpi`, or why there is none.
fn program() -> Result<PathBuf, String> {
    let not_built = "MPI rows skipped for ours and the raw ping-pong: `executor-bench-mpi` was \
                     not built (it needs the `mpi` feature, MPI and libclang; `cargo xtask bench` \
                     builds it when `mpirun` is installed)";
    let path = match std::env::var_os(PROGRAM_ENV) {
        Some(path) if path.is_empty() => return Err(not_built.to_owned()),
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .map_err(|error| format!("{not_built}: {error}"))?
            .with_file_name("executor-bench-mpi"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{not_built}: no {}", path.display()))
    }
}

/// Runs `mpirun -n ranks program...` on this machine and returns its standard output; fails
/// with the end of its standard error if it fails or outlives [`LAUNCH_LIMIT`].
fn launch(mpirun: &Path, ranks: usize, program: &[OsString]) -> Result<String, String> {
    let mut command = Command::new(mpirun);
    command
        .args(["-n", &ranks.to_string(), "--oversubscribe"])
        .args(program)
        .stdin(Stdio::null())
        // Root (CI, containers) is refused unless confirmed twice.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    // One machine: OpenMPI's default launcher wants `ssh` even for local ranks, and its
    // single-copy shared memory needs ptrace rights that containers often lack.
    for (name, value) in [
        ("OMPI_MCA_plm", "isolated"),
        ("OMPI_MCA_btl_vader_single_copy_mechanism", "none"),
    ] {
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    let output = run_bounded(&mut command, LAUNCH_LIMIT)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`mpirun -n {ranks} {}` failed ({}): {}",
            program
                .iter()
                .map(|arg| arg.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr))
        ))
    }
}

/// The last lines of `text`, on one line.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(6)..].join(" / ")
}

/// Runs `command` with its output captured; on `limit`, terminates it (SIGTERM, which
/// `mpirun` passes to its ranks, then SIGKILL) and fails.
fn run_bounded(command: &mut Command, limit: Duration) -> Result<std::process::Output, String> {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start {command:?}: {error}"))?;
    let pid = child.id() as libc::pid_t;
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let finished = |output: std::io::Result<std::process::Output>| {
        output.map_err(|error| format!("waiting for {command:?}: {error}"))
    };
    if let Ok(output) = outcome.recv_timeout(limit) {
        return finished(output);
    }
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child, not yet
        // reaped (the waiting thread has not returned), so it cannot have been reused.
        unsafe { libc::kill(pid, signal) };
        if outcome.recv_timeout(Duration::from_secs(5)).is_ok() {
            break;
        }
    }
    Err(format!(
        "{command:?} did not finish within {}s and was terminated",
        limit.as_secs()
    ))
}

// ---- mpi4py ---------------------------------------------------------------------------------

/// An interpreter that has mpi4py.
#[derive(Debug, Clone)]
pub(crate) struct Mpi4py {
    pub(crate) python: PathBuf,
    pub(crate) version: String,
}

/// The venv the bench installs mpi4py into.
fn venv_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(VENV_ENV) {
        return Ok(PathBuf::from(dir));
    }
    // `<target>/release/executor-bench` (or `debug/`): the venv goes to `<target>/bench/`.
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the benchmark binary is not in a target directory")?;
    Ok(target.join("bench").join("mpi4py-venv"))
}

/// mpi4py's version as `python` imports it.
fn mpi4py_version(python: &Path) -> Result<String, String> {
    let output = run_bounded(
        Command::new(python)
            .args(["-c", "import mpi4py; print(mpi4py.__version__)"])
            .stdin(Stdio::null()),
        Duration::from_secs(60),
    )?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{} cannot import mpi4py: {}",
            python.display(),
            tail(&String::from_utf8_lossy(&output.stderr))
        ))
    }
}

/// Makes a venv at `venv` with mpi4py [`MPI4PY_VERSION`]: built aside, then renamed into
/// place, so a half-made venv is never used.
fn install_venv(venv: &Path) -> Result<(), String> {
    eprintln!(
        "notice: installing mpi4py=={MPI4PY_VERSION} from PyPI into a venv at {} for the \
         mpi4py.futures anchors (once per target directory)",
        venv.display()
    );
    let aside = venv.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&aside);
    let step = |command: &mut Command| -> Result<(), String> {
        let output = run_bounded(command.stdin(Stdio::null()), INSTALL_LIMIT)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed ({}): {}",
                output.status,
                tail(&String::from_utf8_lossy(&output.stderr))
            ))
        }
    };
    let made = step(
        Command::new(python::interpreter())
            .args(["-m", "venv"])
            .arg(&aside),
    )
    .and_then(|()| {
        step(
            Command::new(aside.join("bin").join("python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--timeout", "20", "--retries", "1"])
                .arg(format!("mpi4py=={MPI4PY_VERSION}")),
        )
    })
    .and_then(|()| {
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
        }
        // Another run may have made it meanwhile: then keep theirs.
        match std::fs::rename(&aside, venv) {
            Ok(()) => Ok(()),
            Err(_) if venv.join("bin").join("python").is_file() => Ok(()),
            Err(error) => Err(format!("moving the venv into place: {error}")),
        }
    });
    let _ = std::fs::remove_dir_all(&aside);
    made
}

/// The interpreter for the mpi4py.futures anchors, with a note on where it came from; or why
/// there is none (the note that says they were skipped).
fn find_mpi4py(cx: &Context, notes: &mut Vec<String>) -> Option<Mpi4py> {
    let skipped = |why: String| {
        let note = format!("MPI rows skipped for mpi4py.futures: {why}");
        eprintln!("notice: {note}");
        note
    };
    if cx.python_version().is_none() {
        notes.push(skipped("no CPython (see the CPython notice)".to_owned()));
        return None;
    }
    let venv = match venv_dir() {
        Ok(venv) => venv,
        Err(error) => {
            notes.push(skipped(error));
            return None;
        }
    };
    let python = venv.join("bin").join("python");
    let installed = if python.is_file() {
        Ok(())
    } else {
        install_venv(&venv)
    };
    let found = installed.and_then(|()| {
        mpi4py_version(&python).map(|version| Mpi4py {
            python: python.clone(),
            version,
        })
    });
    match found {
        Ok(found) => Some(found),
        Err(error) => {
            // Offline: the machine's own interpreter may have mpi4py (Debian: python3-mpi4py).
            let system = PathBuf::from(python::interpreter());
            match mpi4py_version(&system) {
                Ok(version) => {
                    notes.push(format!(
                        "mpi4py.futures: the venv at {} could not be made ({error}); the \
                         machine's `{}` with mpi4py {version} was used instead.",
                        venv.display(),
                        system.display()
                    ));
                    Some(Mpi4py {
                        python: system,
                        version,
                    })
                }
                Err(_) => {
                    notes.push(skipped(format!(
                        "mpi4py=={MPI4PY_VERSION} could not be installed into {}: {error}",
                        venv.display()
                    )));
                    None
                }
            }
        }
    }
}

/// `python/mpi4py_anchors.py`, found next to this crate's sources.
pub(crate) fn mpi4py_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/mpi4py_anchors.py")
}

// ---- the workloads --------------------------------------------------------------------------

/// What an MPI workload can run on this machine.
pub(crate) struct Setup {
    pub(crate) mpirun: PathBuf,
    pub(crate) program: Option<PathBuf>,
    pub(crate) mpi4py: Option<Mpi4py>,
}

impl Setup {
    /// Finds `mpirun`, our program and mpi4py; `None` (with the note) without `mpirun`.
    pub(crate) fn find(cx: &Context, notes: &mut Vec<String>) -> Option<Setup> {
        let mpirun = match mpirun() {
            Ok(mpirun) => mpirun,
            Err(note) => {
                eprintln!("notice: {note}");
                notes.push(note);
                return None;
            }
        };
        let program = program()
            .inspect_err(|note| {
                eprintln!("notice: {note}");
                notes.push(note.clone());
            })
            .ok();
        let mpi4py = find_mpi4py(cx, notes);
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        notes.push(format!(
            "MPI: every measurement is one `mpirun` launch whose program times its own loop \
             after a warm-up (the launch is not measured). Ours and mpi4py.futures run {RANKS} \
             ranks (rank 0 and {WORKERS} workers) with `--oversubscribe` on {cores} cores; the \
             raw ping-pong runs 2 ranks."
        ));
        Some(Setup {
            mpirun,
            program,
            mpi4py,
        })
    }

    /// Ours (`executor-bench-mpi args...` launched as `launcher` says), one figure per
    /// `wanted` metric.
    pub(crate) fn ours<'a>(
        &self,
        key: &str,
        label: &str,
        launcher: Launcher,
        args: Vec<String>,
        wanted: Vec<(&'static str, usize)>,
        anchor: bool,
    ) -> Option<Contender<'a>> {
        let program = self.program.clone()?;
        let mpirun = self.mpirun.clone();
        let mut line: Vec<OsString> = vec![program.into()];
        line.extend(args.into_iter().map(OsString::from));
        let run = move || -> Measurement { per_op(&launcher.run(&mpirun, &line)?, &wanted) };
        let contender = if anchor {
            Contender::anchor(key, label, run)
        } else {
            Contender::ours(key, label, run)
        };
        // Every launch is a fresh job that warms itself up.
        Some(contender.without_warm_up())
    }

    /// mpi4py.futures (`mpi4py_anchors.py args...` launched as `launcher` says).
    pub(crate) fn mpi4py<'a>(
        &self,
        launcher: Launcher,
        args: Vec<String>,
        wanted: Vec<(&'static str, usize)>,
    ) -> Option<Contender<'a>> {
        let mpi4py = self.mpi4py.clone()?;
        let mpirun = self.mpirun.clone();
        let mut line: Vec<OsString> = vec![
            mpi4py.python.into(),
            "-m".into(),
            "mpi4py.futures".into(),
            mpi4py_script().into(),
        ];
        line.extend(args.into_iter().map(OsString::from));
        let label = format!(
            "mpi4py.futures MPIPoolExecutor (mpi4py {}){}",
            mpi4py.version,
            launcher.label_suffix()
        );
        let run = move || -> Measurement { per_op(&launcher.run(&mpirun, &line)?, &wanted) };
        Some(Contender::anchor("mpi4py", &label, run).without_warm_up())
    }
}

/// Where and how an MPI program is launched.
#[derive(Clone)]
pub(crate) enum Launcher {
    /// `mpirun -n ranks` on this machine.
    Here { ranks: usize },
    /// On a simulated two-host cluster (see `mpi_hosts`).
    Across(Arc<SimCluster>, Launch),
}

impl Launcher {
    fn run(&self, mpirun: &Path, program: &[OsString]) -> Result<String, String> {
        match self {
            Launcher::Here { ranks } => launch(mpirun, *ranks, program),
            Launcher::Across(cluster, how) => cluster.launch(mpirun, *how, program),
        }
    }

    /// What a series' label adds to say where it ran.
    fn label_suffix(&self) -> &'static str {
        match self {
            Launcher::Here { .. } => "",
            Launcher::Across(..) => ", across hosts",
        }
    }
}

/// Operations per measurement: the sizes, except in the smoke test. `--quick` keeps
/// them (it runs fewer rounds): a launch costs far more than the loop it times, and a shorter
/// loop would measure one preemption rather than the executor.
pub(crate) fn ops(cx: &Context, full: usize) -> usize {
    match cx.scale {
        Scale::Smoke => cx.scale.size(full),
        Scale::Full | Scale::Quick => full,
    }
}

/// The label of our series.
fn our_label() -> String {
    format!("MpiPoolExecutor, mpirun -n {RANKS}")
}

/// MPI1: submit + result of a tiny task, one at a time: ours on 1 worker rank against the raw
/// ping-pong (2 ranks both), and on 2 worker ranks against mpi4py.futures.
pub fn mpi1(cx: &Context) -> Vec<Figures> {
    let ours_ops = ops(cx, MPI1_ROUND_TRIPS);
    let floor_ops = ops(cx, MPI1_PING_PONGS);
    let mpi4py_ops = ops(cx, MPI1_MPI4PY_ROUND_TRIPS);
    let mut notes = Vec::new();
    let mut contenders = Vec::new();
    if let Some(setup) = Setup::find(cx, &mut notes) {
        notes.push(format!(
            "MPI1: a measurement is {} round trips of ours, {} of the raw ping-pong \
             ({PING_PONG_BYTES}-byte messages, about our encoded call and reply) and {} of \
             mpi4py.futures (the builtin `abs`; mpi4py's default 1 ms MPI4PY_FUTURES_BACKOFF \
             paces its polling); figures are per round trip.",
            thousands(ours_ops),
            thousands(floor_ops),
            thousands(mpi4py_ops)
        ));
        notes.push(
            "MPI1: `mpirun -n 2` (one worker rank) is ours like for like with the raw \
             ping-pong, which the goal compares it with; `mpirun -n 3` (two workers, as \
             mpi4py.futures runs) is compared with mpi4py.futures."
                .to_owned(),
        );
        contenders.extend(setup.ours(
            "ours",
            "MpiPoolExecutor, mpirun -n 2",
            Launcher::Here { ranks: 2 },
            vec!["round-trip".into(), ours_ops.to_string()],
            vec![("round-trip", ours_ops)],
            false,
        ));
        contenders.extend(setup.ours(
            "ours-3",
            &our_label(),
            Launcher::Here { ranks: RANKS },
            vec!["round-trip".into(), ours_ops.to_string()],
            vec![("round-trip", ours_ops)],
            false,
        ));
        contenders.extend(setup.ours(
            "raw-mpi",
            "floor: raw MPI ping-pong (rsmpi), mpirun -n 2",
            Launcher::Here { ranks: 2 },
            vec![
                "ping-pong".into(),
                floor_ops.to_string(),
                PING_PONG_BYTES.to_string(),
            ],
            vec![("ping-pong", floor_ops)],
            true,
        ));
        contenders.extend(setup.mpi4py(
            Launcher::Here { ranks: RANKS },
            vec!["round-trip".into(), mpi4py_ops.to_string()],
            vec![("round-trip", mpi4py_ops)],
        ));
    }
    cx.measure(
        9,
        vec![(
            "MPI1",
            "submit + result of a tiny task, one at a time".to_owned(),
            Unit::PerOp {
                ops: 1.0,
                name: "round trip".into(),
            },
            vec![
                goal("ours", "raw-mpi", 1.0 / 3.0, "within 3× raw MPI ping-pong"),
                goal("ours-3", "mpi4py", 20.0, "≥ 20× mpi4py.futures"),
            ],
        )],
        contenders,
        notes,
    )
}

/// MPI2: 10,000 small tasks, submitted one by one then waited for (MPI2a), and by `map` with
/// a chunksize (MPI2b).
pub fn mpi2(cx: &Context) -> Vec<Figures> {
    let tasks = ops(cx, MPI2_TASKS);
    let wanted = vec![("submit-wait", tasks), ("map", tasks)];
    let args = vec![
        "throughput".to_owned(),
        tasks.to_string(),
        MPI2_CHUNKSIZE.to_string(),
    ];
    let mut notes = Vec::new();
    let mut contenders = Vec::new();
    if let Some(setup) = Setup::find(cx, &mut notes) {
        notes.push(format!(
            "MPI2b: `map` with chunksize {MPI2_CHUNKSIZE}, ours and mpi4py.futures alike; the \
             issue sets no goal for it."
        ));
        contenders.extend(setup.ours(
            "ours",
            &our_label(),
            Launcher::Here { ranks: RANKS },
            args.clone(),
            wanted.clone(),
            false,
        ));
        contenders.extend(setup.mpi4py(Launcher::Here { ranks: RANKS }, args, wanted));
    }
    let per_task = Unit::PerOp {
        ops: 1.0,
        name: "task".into(),
    };
    cx.measure(
        7,
        vec![
            (
                "MPI2a",
                format!(
                    "{} small tasks: submit each, then wait for all",
                    thousands(tasks)
                ),
                per_task.clone(),
                vec![goal("ours", "mpi4py", 20.0, "≥ 20× mpi4py.futures")],
            ),
            (
                "MPI2b",
                format!(
                    "{} small tasks by `map`, chunksize {MPI2_CHUNKSIZE}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        let report = Report::new("round-trip", 2000, 0.025_1);
        let line = report.to_string();
        assert!(
            line.starts_with("bench-mpi round-trip ops=2000 seconds="),
            "{line}"
        );
        assert_eq!(Report::parse(&line), Some(Ok(report)));
        // Python's repr of a float parses too.
        assert_eq!(
            Report::parse("bench-mpi map ops=10000 seconds=0.028646220998780336"),
            Some(Ok(Report::new("map", 10_000, 0.028_646_220_998_780_336)))
        );
    }

    #[test]
    fn other_lines_are_not_reports_and_bad_reports_are_errors() {
        assert_eq!(Report::parse("round trip: median 12 us"), None);
        assert_eq!(Report::parse(""), None);
        assert_eq!(Report::parse("bench-mpix map ops=1 seconds=1"), None);
        for bad in [
            "bench-mpi",
            "bench-mpi map ops=1",
            "bench-mpi map seconds=1.0",
            "bench-mpi map ops=x seconds=1.0",
            "bench-mpi map ops=1 seconds=nan",
            "bench-mpi map ops=1 seconds=0",
            "bench-mpi map ops=1 seconds=1 extra",
        ] {
            assert!(
                matches!(Report::parse(bad), Some(Err(_))),
                "{bad} should be malformed"
            );
        }
    }

    #[test]
    fn per_op_reads_each_wanted_metric_once() {
        let output = "\
[warn] some MPI chatter
bench-mpi submit-wait ops=10000 seconds=0.5
bench-mpi map ops=10000 seconds=0.02
";
        let figures = per_op(output, &[("submit-wait", 10_000), ("map", 10_000)]).unwrap();
        assert_eq!(figures, [0.5 / 10_000.0, 0.02 / 10_000.0]);
        let wrong_ops = per_op(output, &[("map", 100)]).unwrap_err();
        assert!(
            wrong_ops.contains("ran 10000 operations, expected 100"),
            "{wrong_ops}"
        );
        let missing = per_op(output, &[("round-trip", 1)]).unwrap_err();
        assert!(missing.contains("no `round-trip` report"), "{missing}");
        let twice = format!("{output}bench-mpi map ops=10000 seconds=0.03\n");
        assert!(
            per_op(&twice, &[("map", 10_000)])
                .unwrap_err()
                .contains("twice")
        );
        assert!(per_op("bench-mpi map ops=1", &[("map", 1)]).is_err());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text = (1..=10)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(tail(&text), "5 / 6 / 7 / 8 / 9 / 10");
        assert_eq!(tail("\n\n"), "");
    }
}
