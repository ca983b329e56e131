//! Shared by the test binaries: run plainly by `cargo test`, a binary launches `mpirun` on
//! itself (with a timeout) and passes its output and status through; under MPI it runs its
//! checks on rank 0 and prints libtest's format. Without `mpirun` it prints a notice and skips.
//!
//! Two launches: [`PRE_LAUNCHED`] (`mpirun -n 3`: rank 0 and two worker ranks, `init`) and
//! [`SPAWNED`] (`mpirun -n 1 --enable-recovery`: rank 0 alone, which spawns its workers;
//! recovery keeps rank 0 alive when a spawned worker dies).

#![allow(dead_code, unreachable_pub)]

pub mod suite;

use std::fmt::Debug;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

/// Set in the environment of the ranks `mpirun` starts.
const UNDER_MPI: &str = "EXECUTOR_MPI_TEST_UNDER_MPIRUN";
/// How `mpirun` starts a test binary.
#[derive(Debug, Clone, Copy)]
pub struct Launch {
    /// `mpirun -n`.
    pub ranks: &'static str,
    /// More `mpirun` arguments.
    pub args: &'static [&'static str],
}

/// Rank 0 and two worker ranks, for `concurrent_futures_mpi::init`.
pub const PRE_LAUNCHED: Launch = Launch {
    ranks: "3",
    args: &[],
};

/// Rank 0 alone, for `concurrent_futures_mpi::spawn`; a dead worker does not take the job down.
pub const SPAWNED: Launch = Launch {
    ranks: "1",
    args: &["--enable-recovery"],
};

/// How many workers the spawned tests spawn.
pub const SPAWNED_WORKERS: usize = 2;
/// The whole binary must end by then.
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

/// `main` of a test binary: `suite` under `mpirun -n 3`, or the launch of it.
pub fn main(name: &str, suite: fn() -> ExitCode) -> ExitCode {
    main_with(name, PRE_LAUNCHED, suite)
}

/// `main` of a test binary: `suite` under MPI as `how` says, or the launch of it.
pub fn main_with(name: &str, how: Launch, suite: fn() -> ExitCode) -> ExitCode {
    if std::env::var_os(UNDER_MPI).is_some() {
        suite()
    } else {
        launch(name, how)
    }
}

/// `main` of a test binary: `suite` under MPI as `how` says, on a simulated two-host cluster
/// (`scripts/cluster.sh`) with one slot on the first host and two on the second, so rank 0 is
/// on one host and its workers (launched or spawned) on the other, talking TCP. Where
/// namespaces cannot be made (not root, no `ip`), it says so and the test is skipped.
pub fn main_on_cluster(name: &str, how: Launch, suite: fn() -> ExitCode) -> ExitCode {
    if std::env::var_os(UNDER_MPI).is_some() {
        suite()
    } else {
        launch_on_cluster(name, how)
    }
}

/// The simulated cluster's script.
fn cluster_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
}

/// A cluster made for one test binary, removed (with whatever still runs on it) when dropped,
/// so a failing or timed-out run leaves no namespace behind.
struct Cluster {
    name: String,
}

impl Cluster {
    fn up(name: String) -> Result<Cluster, String> {
        let status = Command::new(cluster_script())
            .args(["up", &name])
            .status()
            .map_err(|error| error.to_string())?;
        let cluster = Cluster { name };
        if status.success() {
            Ok(cluster)
        } else {
            Err(format!("cluster.sh up failed: {status}"))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_script())
            .args(["down", &self.name])
            .status();
    }
}

/// Not under MPI: makes a cluster, runs this binary under `mpirun` on it, removes the cluster.
fn launch_on_cluster(name: &str, how: Launch) -> ExitCode {
    let Some(mpirun) = find_on_path("mpirun") else {
        return skip(name, MPIRUN_MISSING);
    };
    if let Err(why) = cluster_check() {
        return skip(name, &why);
    }
    let cluster = match Cluster::up(format!("m{}", std::process::id())) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut command = cluster.mpirun(mpirun, how);
    command.args(name_filters());
    run_bounded(
        name,
        command,
        &format!("mpirun -n {} across two simulated hosts", how.ranks),
    )
    // `cluster` is dropped here, after mpirun ended: the hosts go, with anything left on them.
}

/// Whether a cluster can be made here: `Err` says why not.
fn cluster_check() -> Result<(), String> {
    match Command::new(cluster_script()).arg("check").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
        Err(error) => Err(format!("cannot run scripts/cluster.sh: {error}")),
    }
}

impl Cluster {
    /// `mpirun` of this binary on the cluster as `how` says: one slot on host a (rank 0's),
    /// two on host b (the workers'). Test-name filters and more environment come next.
    fn mpirun(&self, mpirun: PathBuf, how: Launch) -> Command {
        let args = Command::new(cluster_script())
            .args(["mpirun-args", &self.name])
            .output()
            .expect("cluster.sh prints the mpirun arguments");
        let args = String::from_utf8_lossy(&args.stdout).into_owned();
        let exe = std::env::current_exe().expect("the test knows its own path");
        let mut command = Command::new(cluster_script());
        command
            .args(["run", &self.name])
            .arg(mpirun)
            .args(["--host", &format!("{0}a:1,{0}b:2", self.name)])
            .args(["-n", how.ranks])
            .args(how.args)
            .args(args.split_whitespace())
            .arg(exe)
            .env(UNDER_MPI, "1")
            .env(CLUSTER_HOST_OF_WORKERS, format!("{}b", self.name));
        allow_this_machine(&mut command);
        command
    }

    /// What still runs on the cluster's hosts, a line per process.
    fn leftovers(&self) -> Vec<String> {
        let output = Command::new(cluster_script())
            .args(["pids", &self.name])
            .output()
            .expect("cluster.sh lists the processes");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One fault scenario of a test binary: its own `mpirun` (on its own cluster if
/// `on_cluster`), and its checks, run on rank 0 (they panic on failure).
pub struct Scenario {
    pub name: &'static str,
    pub how: Launch,
    pub on_cluster: bool,
    pub checks: fn(),
    /// `mpirun` may not exit by itself after this scenario (OpenMPI 4.1.4, sometimes, once a
    /// host was cut off or a spawned worker on another host died): if it has not 20 s after
    /// rank 0 passed, the test checks that only the launcher's own processes are left
    /// (`mpirun`, and `orted` daemons), and kills `mpirun`.
    pub launcher_hangs: bool,
}

/// Whether a line of `cluster.sh pids` is a process of OpenMPI's launcher: `mpirun`, a host's
/// `orted` daemon, or the shell the launch agent started it with.
fn is_launcher(line: &str) -> bool {
    let mut words = line.split_whitespace().skip(2);
    let program = words.next().unwrap_or_default();
    match program.rsplit('/').next() {
        Some("mpirun" | "orted") => true,
        Some("sh") => words.any(|word| word.rsplit('/').next() == Some("orted")),
        _ => false,
    }
}

/// Names the scenario a launch runs.
const SCENARIO: &str = "EXECUTOR_MPI_TEST_SCENARIO";

/// How long one scenario's `mpirun` may take, start to exit, before it counts as hung.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// `main` of a test binary of scenarios. Not under MPI: launches each (filtered by name) and
/// reports it in libtest's format: it passes if `mpirun` exits successfully within
/// [`SCENARIO_TIMEOUT`] and, on a cluster, nothing of the job is left on either host once it
/// has. Under MPI (rank 0): runs the scenario's checks.
pub fn main_scenarios(binary: &str, scenarios: &[Scenario]) -> ExitCode {
    if let Ok(wanted) = std::env::var(SCENARIO) {
        let scenario = scenarios
            .iter()
            .find(|scenario| scenario.name == wanted)
            .expect("the launcher names a scenario of this binary");
        (scenario.checks)();
        // mpirun's own status cannot say this: after MPI_Abort it is 0 whatever the code.
        println!("{PASSED} {wanted}");
        return ExitCode::SUCCESS;
    }
    let Some(mpirun) = find_on_path("mpirun") else {
        return skip(binary, MPIRUN_MISSING);
    };
    let cluster_ok = cluster_check();
    let filters = name_filters();
    let started = Instant::now();
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    println!("\nrunning {} tests", scenarios.len());
    for scenario in scenarios {
        if !filters.is_empty() && !filters.iter().any(|f| scenario.name.contains(f.as_str())) {
            continue;
        }
        let name = scenario.name;
        if scenario.on_cluster
            && let Err(why) = &cluster_ok
        {
            println!("notice: `{name}` needs a simulated cluster and is skipped: {why}");
            println!("test {name} ... ignored ({why})");
            ignored += 1;
            continue;
        }
        let outcome = if scenario.on_cluster {
            run_scenario_on_cluster(&mpirun, scenario)
        } else {
            let mut command = mpirun_command(mpirun.clone(), scenario.how);
            command
                .arg(std::env::current_exe().expect("the test knows its own path"))
                .env(UNDER_MPI, "1")
                .env(SCENARIO, name);
            scenario_status(command, name, None)
        };
        match outcome {
            Ok(LauncherEnd::Exited(seconds)) => {
                println!("test {name} ... ok (mpirun exited after {seconds:.1}s)");
                passed += 1;
            }
            Ok(LauncherEnd::Hung(seconds)) => {
                println!(
                    "test {name} ... ok (rank 0 passed; mpirun had not exited {seconds:.1}s \
                     after its start, with nothing but the launcher left: killed)"
                );
                passed += 1;
            }
            Err(why) => {
                println!("test {name} ... FAILED\n    {why}");
                failed += 1;
            }
        }
    }
    summary(passed, failed, ignored, started)
}

/// How a scenario's `mpirun` ended, and when (seconds after its start).
pub enum LauncherEnd {
    /// It exited successfully by itself.
    Exited(f64),
    /// It did not exit, as OpenMPI 4.1.4's `mpirun` does not in some scenarios, with nothing
    /// but the launcher's processes left; it was killed.
    Hung(f64),
}

/// What rank 0 prints, with the scenario's name, once its checks passed.
const PASSED: &str = "executor-mpi-test: scenario passed:";

/// Runs `command` (an `mpirun` of scenario `name`) under [`SCENARIO_TIMEOUT`], passing its
/// output through: how long it took, or why it failed. It passed if rank 0 said so and
/// `mpirun` then exited successfully.
///
/// With `hung_launcher`, `mpirun` may not exit by itself in this scenario (see
/// `Scenario::launcher_hangs`): it passed if rank 0 said so and then `mpirun` exited
/// successfully within 20 s, or had not but nothing but the launcher's processes was left on
/// the cluster's hosts; `mpirun` is then killed.
fn scenario_status(
    mut command: Command,
    name: &str,
    hung_launcher: Option<&Cluster>,
) -> Result<LauncherEnd, String> {
    use std::io::{BufRead, BufReader};

    let started = Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| format!("mpirun: {error}"))?;
    let stdout = child.stdout.take().expect("piped");
    let expected = format!("{PASSED} {name}");
    // Echoes as it comes (a hang still shows what happened), and passes on rank 0's word. It
    // is not joined: a process left behind may keep the pipe open.
    let (word, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if line.trim() == expected {
                let _ = word.send(());
            }
        }
    });
    if let Some(cluster) = hung_launcher {
        if heard.recv_timeout(SCENARIO_TIMEOUT).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("rank 0 did not finish its checks (see above)".to_owned());
        }
        // Bounded polling: mpirun may still exit by itself, and nothing signals the hosts'
        // emptying.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return if status.success() {
                    Ok(LauncherEnd::Exited(started.elapsed().as_secs_f64()))
                } else {
                    Err(format!("mpirun failed: {status}"))
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = cluster.leftovers();
        let _ = child.kill();
        let _ = child.wait();
        return if left.iter().all(|p| is_launcher(p)) {
            Ok(LauncherEnd::Hung(started.elapsed().as_secs_f64()))
        } else {
            Err(format!(
                "more than the launcher is left on the hosts 20s after rank 0 passed:\n      {}",
                left.join("\n      ")
            ))
        };
    }
    let status = wait_bounded(child, SCENARIO_TIMEOUT);
    // The line was read before mpirun's exit, or is about to be: its pipe has it.
    let passed = heard.recv_timeout(Duration::from_secs(5)).is_ok();
    match status {
        Some(status) if status.success() && passed => {
            Ok(LauncherEnd::Exited(started.elapsed().as_secs_f64()))
        }
        Some(status) if status.success() => Err(format!(
            "rank 0 did not finish its checks (see its panic above); mpirun: {status}"
        )),
        Some(status) => Err(format!("mpirun failed: {status}")),
        None => Err(format!(
            "mpirun did not exit within {}s and was killed",
            SCENARIO_TIMEOUT.as_secs()
        )),
    }
}

/// One scenario on a cluster of its own; it also fails if anything of the job is still on
/// either host 30 s after `mpirun` ended.
fn run_scenario_on_cluster(
    mpirun: &std::path::Path,
    scenario: &Scenario,
) -> Result<LauncherEnd, String> {
    let cluster = Cluster::up(format!("s{}", std::process::id()))?;
    let mut command = cluster.mpirun(mpirun.to_path_buf(), scenario.how);
    command.env(SCENARIO, scenario.name);
    let hung_launcher = scenario.launcher_hangs.then_some(&cluster);
    let end = scenario_status(command, scenario.name, hung_launcher)?;
    // A daemon may take a moment to notice its mpirun is gone: bounded polling, as nothing
    // signals the hosts' emptying.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = cluster.leftovers();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = cluster.leftovers();
    }
    if left.is_empty() {
        Ok(end)
    } else {
        Err(format!(
            "mpirun ended, but processes of the job are still on the hosts 30s later:\n      {}",
            left.join("\n      ")
        ))
    }
}

/// Set for the ranks of a cluster launch: the host name every worker must report.
const CLUSTER_HOST_OF_WORKERS: &str = "EXECUTOR_MPI_TEST_WORKER_HOST";

/// This process's host name, as its UTS namespace gives it.
fn host_name(_unused: u8) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

concurrent_futures_mpi::remote_fn!(host_name);

/// On rank 0 of a cluster launch: asserts that rank 0 does not run on the workers' host and
/// that the workers answer from it, so the suite that follows really crosses hosts.
pub fn assert_workers_on_the_other_host(session: &concurrent_futures_mpi::Session) {
    use concurrent_futures_core::{Executor, Shutdown};

    let expected = std::env::var(CLUSTER_HOST_OF_WORKERS)
        .expect("launched on a cluster, which names the workers' host");
    let here = host_name(0);
    assert_ne!(here, expected, "rank 0 must not share the workers' host");
    let pool = session.pool();
    // Several calls in flight at once, so more than one worker is likely to answer; whichever
    // does, it must answer from the other host.
    let calls: Vec<_> = (0..4 * session.workers())
        .map(|_| pool.call(host_name, 0).expect("accepted"))
        .collect();
    for call in calls {
        assert_eq!(call.result(), Ok(expected.clone()));
    }
    pool.shutdown(Shutdown::default());
}

/// Not under MPI: runs this binary under `mpirun` and reports its status.
fn launch(name: &str, how: Launch) -> ExitCode {
    let Some(mpirun) = find_on_path("mpirun") else {
        return skip(name, MPIRUN_MISSING);
    };
    let exe = std::env::current_exe().expect("the test knows its own path");
    let mut command = mpirun_command(mpirun, how);
    command.arg(exe).args(name_filters()).env(UNDER_MPI, "1");
    run_bounded(name, command, &format!("mpirun -n {}", how.ranks))
}

/// Why a test is skipped without `mpirun`, and how to get it.
const MPIRUN_MISSING: &str =
    "`mpirun` is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)";

/// Reports the test binary as skipped, in libtest's format, saying why.
fn skip(name: &str, why: &str) -> ExitCode {
    println!("notice: the MPI tests of `{name}` are skipped: {why}");
    println!("test mpi::{name} ... ignored ({why})");
    println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
    ExitCode::SUCCESS
}

/// Runs `command` (an `mpirun` of this binary, `how` in words) under [`SUITE_TIMEOUT`] and
/// reports its status.
fn run_bounded(name: &str, mut command: Command, how: &str) -> ExitCode {
    let child = command.spawn().expect("mpirun starts");
    match wait_bounded(child, SUITE_TIMEOUT) {
        Some(status) if status.success() => ExitCode::SUCCESS,
        Some(status) => {
            eprintln!("{how} on `{name}` failed: {status}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!(
                "`{name}` ({how}) did not finish within {}s; mpirun was killed",
                SUITE_TIMEOUT.as_secs()
            );
            ExitCode::FAILURE
        }
    }
}

/// OpenMPI's settings for this machine, wherever the ranks run: CI runs as root, which
/// OpenMPI refuses unless told twice; single-copy shared memory needs ptrace rights that
/// containers often lack (a value already in the environment wins).
fn allow_this_machine(command: &mut Command) {
    command
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    let single_copy = "OMPI_MCA_btl_vader_single_copy_mechanism";
    if std::env::var_os(single_copy).is_none() {
        command.env(single_copy, "none");
    }
}

/// `mpirun` (found on the PATH) set up for this machine as `how` says; the program to run and
/// its arguments come next.
pub fn mpirun_command(mpirun: PathBuf, how: Launch) -> Command {
    let mut command = Command::new(mpirun);
    command
        .args(["-n", how.ranks, "--oversubscribe"])
        .args(how.args);
    allow_this_machine(&mut command);
    // One machine: OpenMPI's default launcher wants `ssh` even for local ranks.
    if std::env::var_os("OMPI_MCA_plm").is_none() {
        command.env("OMPI_MCA_plm", "isolated");
    }
    command
}

/// Waits for `child` at most `timeout`; kills and reaps it after that (`None`).
pub fn wait_bounded(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    // A timeout, not synchronisation: poll the child until it exits or the deadline passes.
    loop {
        if let Some(status) = child.try_wait().expect("mpirun can be waited for") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test-name filters among libtest's arguments (flags and their values left out).
pub fn name_filters() -> Vec<String> {
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if matches!(
            arg.as_str(),
            "--test-threads" | "--format" | "--skip" | "--color" | "-Z"
        ) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    filters
}

pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Prints libtest's summary line; the exit code for it.
pub fn summary(passed: usize, failed: usize, ignored: usize, started: Instant) -> ExitCode {
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; \
         0 filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Asserts that a submit was refused because the pool (or its session) is broken.
pub fn assert_refused_as_broken<F: Debug, T>(
    submitted: Result<F, concurrent_futures_core::SubmitError<T>>,
) {
    match submitted {
        Err(refused) => assert!(
            matches!(
                refused.reason(),
                concurrent_futures_core::Rejected::Broken(_)
            ),
            "{:?}",
            refused.reason()
        ),
        Ok(future) => panic!("a broken pool accepted a task: {future:?}"),
    }
}
