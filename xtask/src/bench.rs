//! `cargo xtask bench`: builds the benchmark binary (`bench/`, package `executor-bench`) in
//! release, runs every workload in its own process (our executors beside CPython, rayon,
//! procspawn and the raw floors, interleaved round by round), then prints the table and writes
//! the report and the chart.
//!
//! The machines are shared: a full run waits, before each workload, until other processes leave
//! the CPUs (at most three minutes), and runs again (at most twice) a workload during which
//! they still kept more than a quarter of a core busy, keeping the calmer run. The report shows
//! that figure for every workload. A full run of every workload publishes:
//! `docs/bench/latest.md` and `docs/bench/ratios.svg`.
//! `--quick` or `--only` runs are checks, not publications: they write under
//! `<target>/bench/` and leave `docs/bench/` alone.
//!
//! `--sweeps` runs the sweeps instead (`executor-bench sweep ...`): T1 from 1-8 submitting
//! threads, M1 from 1,000 to 10,000,000 queued futures, P1 on 1-8 worker processes, with the
//! same waits for quiet and reruns; a full run of every sweep publishes `docs/bench/sweeps.md`
//! and a chart per sweep beside it (the hand-written analysis at its end is kept).
//!
//! The MPI workloads (`--only mpi`) launch a second binary, `executor-bench-mpi`, under
//! `mpirun`; it needs MPI and libclang to build, so it is built (feature `mpi`) only when
//! `mpirun` is installed, and if it cannot be built the MPI rows of ours are skipped with a
//! notice while everything else runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::flags;
use crate::json;
use crate::util::{self, Result};
use crate::workspace::Workspace;

/// The package and binary that measure.
const PACKAGE: &str = "executor-bench";
/// The MPI programs the MPI workloads launch, built with the package's `mpi` feature.
const MPI_BINARY: &str = "executor-bench-mpi";
/// How the benchmark binary is told where [`MPI_BINARY`] is (empty: not built).
const MPI_BINARY_ENV: &str = "EXECUTOR_BENCH_MPI_BIN";

/// How long a full run waits, before each workload, for other processes to leave the CPUs.
const QUIET_WAIT: Duration = Duration::from_secs(180);
/// Below this many busy cores (averaged over [`QUIET_WINDOW`]) the machine counts as quiet.
const QUIET_CORES: f64 = 0.15;
/// The window over which busy cores are averaged.
const QUIET_WINDOW: Duration = Duration::from_secs(3);
/// A workload during which other processes kept more cores busy than this runs again...
const RETRY_ABOVE: f64 = 0.25;
/// ... at most this many times.
const RETRIES: usize = 2;

impl flags::Bench {
    /// Builds, measures, reports; fails if a workload's run failed (the others still report).
    pub(crate) fn run(&self) -> Result<()> {
        let started = Instant::now();
        let load_before = load_average();
        println!("bench: load average before the run: {load_before} (1, 5, 15 min)");
        if busy(&load_before) {
            println!(
                "bench: notice: the machine is busy; the ratios within this run still compare \
                 like with like, but the absolute figures will be noisy"
            );
        }
        util::run(util::cargo().args([
            "build",
            "--release",
            "--package",
            PACKAGE,
            "--bin",
            PACKAGE,
        ]))?;
        let workspace = Workspace::load()?;
        let binary = workspace.target_directory.join("release").join(PACKAGE);
        let scale = if self.quick { "quick" } else { "full" };
        let results = workspace
            .target_directory
            .join("bench")
            .join(self.results_dir(scale));
        clear_results(&results)?;

        let only = self.only.as_deref().unwrap_or("all");
        let names = workload_names(&binary, self.subcommand(), only)?;
        let mpi_binary = if names.iter().any(|name| is_mpi(name)) {
            build_mpi_binary(&workspace.target_directory)
        } else {
            None
        };
        let mut failed = Vec::new();
        let run_one = |name: &str, out: &Path| -> Result<()> {
            if !self.quick {
                wait_for_quiet(QUIET_WAIT);
            }
            let mut cmd = Command::new(&binary);
            cmd.args(self.subcommand())
                .args(["run", name, "--scale", scale, "--out"])
                .arg(out);
            if self.no_python {
                cmd.arg("--no-python");
            }
            cmd.env(
                MPI_BINARY_ENV,
                mpi_binary.as_deref().unwrap_or(Path::new("")),
            );
            util::run(&mut cmd)
        };
        for name in &names {
            util::section(&format!("bench {name} ({scale})"));
            if let Err(error) = run_one(name, &results.join(format!("{name}.json"))) {
                eprintln!("bench: {error}");
                failed.push(name.clone());
            }
        }
        // The machines are shared: a workload that other processes disturbed runs again when
        // the machine is quiet, and the calmer of the two runs is kept.
        for attempt in 1..=if self.quick { 0 } else { RETRIES } {
            for name in &names {
                let kept = results.join(format!("{name}.json"));
                let Some(others) = interference(&kept).filter(|&others| others > RETRY_ABOVE)
                else {
                    continue;
                };
                util::section(&format!(
                    "bench {name} again ({attempt}/{RETRIES}): other processes kept {others:.2} \
                     cores busy during it"
                ));
                let retry = results.join(format!("{name}.retry"));
                if let Err(error) = run_one(name, &retry) {
                    eprintln!("bench: {error}");
                    continue;
                }
                match interference(&retry) {
                    Some(calmer) if calmer < others => std::fs::rename(&retry, &kept)?,
                    _ => std::fs::remove_file(&retry)?,
                }
            }
        }

        let (markdown, svg) = outputs(
            self.publishes(),
            self.sweeps,
            &util::project_root(),
            &workspace.target_directory,
        );
        util::section("bench report");
        let mut report = Command::new(&binary);
        report
            .args(self.subcommand())
            .arg("report")
            .arg("--results")
            .arg(&results)
            .arg("--md")
            .arg(&markdown);
        if let Some(svg) = &svg {
            report.arg("--svg").arg(svg);
        }
        util::run(report.args(["--load-before", &load_before]))?;
        println!(
            "bench: wrote {} and {} in {}",
            markdown.display(),
            svg.map_or_else(
                || "a chart per sweep beside it".to_owned(),
                |svg| svg.display().to_string()
            ),
            util::format_duration(started.elapsed())
        );
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("bench: these workloads failed: {}", failed.join(", ")).into())
        }
    }

    /// Whether this run's figures are the ones to publish: every workload (or sweep), at full
    /// scale.
    fn publishes(&self) -> bool {
        !self.quick && self.only.is_none() && !self.no_python
    }

    /// The benchmark binary's command group: none for the workloads, `sweep` for the sweeps.
    fn subcommand(&self) -> &'static [&'static str] {
        if self.sweeps { &["sweep"] } else { &[] }
    }

    /// Where under `<target>/bench/` this run's figures go.
    fn results_dir(&self, scale: &str) -> String {
        if self.sweeps {
            format!("sweeps-{scale}")
        } else {
            scale.to_owned()
        }
    }
}

/// Whether the workload `name` is one of the MPI group's.
fn is_mpi(name: &str) -> bool {
    name.starts_with("mpi")
}

/// Builds `executor-bench-mpi` if `mpirun` is installed; its path, or `None` with a notice
/// (the benchmark binary then notes the MPI rows of ours as skipped).
fn build_mpi_binary(target: &Path) -> Option<PathBuf> {
    if !on_path("mpirun") {
        println!(
            "bench: notice: `mpirun` is not installed, so the MPI rows are skipped (Debian: \
             apt-get install openmpi-bin libopenmpi-dev libclang-dev)"
        );
        return None;
    }
    let built = util::run(util::cargo().args([
        "build",
        "--release",
        "--package",
        PACKAGE,
        "--features",
        "mpi",
        "--bin",
        MPI_BINARY,
    ]));
    match built {
        Ok(()) => Some(target.join("release").join(MPI_BINARY)),
        Err(error) => {
            println!(
                "bench: notice: {MPI_BINARY} did not build ({error}); the MPI rows of ours are \
                 skipped (it needs MPI's headers and libclang: Debian libopenmpi-dev \
                 libclang-dev)"
            );
            None
        }
    }
}

/// Whether `name` is an executable file in a directory of `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Where the report and the chart go; the sweeps' charts go beside their report, named by
/// the benchmark binary.
fn outputs(publish: bool, sweeps: bool, root: &Path, target: &Path) -> (PathBuf, Option<PathBuf>) {
    let dir = if publish {
        root.join("docs").join("bench")
    } else {
        target.join("bench")
    };
    if sweeps {
        (dir.join("sweeps.md"), None)
    } else {
        (dir.join("latest.md"), Some(dir.join("ratios.svg")))
    }
}

/// The workloads (or sweeps, with `subcommand` `sweep`) `only` selects, as the benchmark
/// binary names them.
fn workload_names(binary: &Path, subcommand: &[&str], only: &str) -> Result<Vec<String>> {
    let mut cmd = Command::new(binary);
    cmd.args(subcommand).args(["list", only]);
    let output = cmd
        .output()
        .map_err(|error| format!("cannot start `{}`: {error}", util::display(&cmd)))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            util::display(&cmd),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// How many cores other processes kept busy during the run whose figures are in `path` (the
/// `others` figure the benchmark binary records); `None` if unknown.
fn interference(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let figures = json::parse(&text).ok()?;
    match figures.items().first()?.get("others")? {
        json::Value::Number(others) => Some(*others),
        _ => None,
    }
}

/// Removes the previous run's results, so the report shows this run only.
fn clear_results(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Waits until the CPUs are quiet (nothing of ours runs now, so whatever is busy is someone
/// else), or `limit` has passed; says which. The report shows how busy the machine was during
/// each workload either way.
fn wait_for_quiet(limit: Duration) {
    let started = Instant::now();
    let mut said = false;
    loop {
        let Some(busy) = busy_cores(QUIET_WINDOW) else {
            return;
        };
        if busy < QUIET_CORES {
            if said {
                println!(
                    "bench: quiet after {}",
                    util::format_duration(started.elapsed())
                );
            }
            return;
        }
        if started.elapsed() >= limit {
            println!(
                "bench: still {busy:.2} cores busy with other work after {}; measuring anyway",
                util::format_duration(limit)
            );
            return;
        }
        if !said {
            println!(
                "bench: {busy:.2} cores busy with other work; waiting for quiet (at most {})",
                util::format_duration(limit)
            );
            said = true;
        }
    }
}

/// Busy cores on the whole machine, averaged over `window` (from `/proc/stat`).
fn busy_cores(window: Duration) -> Option<f64> {
    let before = busy_ticks()?;
    std::thread::sleep(window);
    let after = busy_ticks()?;
    // USER_HZ is 100 on Linux.
    Some((after - before) / 100.0 / window.as_secs_f64())
}

/// Ticks every CPU spent running anything: user, nice, system, irq and softirq time.
fn busy_ticks() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0.0))
        .collect();
    Some(
        [0, 1, 2, 5, 6]
            .iter()
            .filter_map(|&index| fields.get(index))
            .sum(),
    )
}

/// `/proc/loadavg`'s three load averages, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Whether the 1-minute load says something else is running (half a core or more).
fn busy(load: &str) -> bool {
    load.split_whitespace()
        .next()
        .and_then(|one_minute| one_minute.parse::<f64>().ok())
        .is_some_and(|one_minute| one_minute >= 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_runs_of_everything_publish() {
        let bench = |quick, only: Option<&str>| flags::Bench {
            quick,
            only: only.map(str::to_owned),
            ..flags::Bench::default()
        };
        assert!(bench(false, None).publishes());
        assert!(!bench(true, None).publishes());
        assert!(!bench(false, Some("t1")).publishes());
        let (markdown, svg) = outputs(true, false, Path::new("/w"), Path::new("/w/target"));
        assert_eq!(markdown, Path::new("/w/docs/bench/latest.md"));
        assert_eq!(svg.as_deref(), Some(Path::new("/w/docs/bench/ratios.svg")));
        let (markdown, _) = outputs(false, false, Path::new("/w"), Path::new("/w/target"));
        assert_eq!(markdown, Path::new("/w/target/bench/latest.md"));
    }

    #[test]
    fn sweeps_run_apart_and_publish_sweeps_md() {
        let sweeps = flags::Bench {
            sweeps: true,
            ..flags::Bench::default()
        };
        assert!(sweeps.publishes());
        assert_eq!(sweeps.subcommand(), ["sweep"]);
        assert_eq!(sweeps.results_dir("quick"), "sweeps-quick");
        assert!(flags::Bench::default().subcommand().is_empty());
        let (markdown, svg) = outputs(true, true, Path::new("/w"), Path::new("/w/target"));
        assert_eq!(markdown, Path::new("/w/docs/bench/sweeps.md"));
        assert_eq!(svg, None);
    }

    #[test]
    fn interference_is_read_from_the_figures() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t1.json");
        std::fs::write(&path, r#"[{"id": "T1", "others": 0.85, "steal": 1e-3}]"#).unwrap();
        assert_eq!(interference(&path), Some(0.85));
        std::fs::write(&path, r#"[{"id": "T1", "others": null}]"#).unwrap();
        assert_eq!(interference(&path), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_mpi_workloads_are_recognised() {
        assert!(is_mpi("mpi1") && is_mpi("mpi2"));
        assert!(!is_mpi("m1") && !is_mpi("p2"));
    }

    #[test]
    fn busy_means_half_a_core_or_more() {
        assert!(busy("1.82 2.70 1.50"));
        assert!(!busy("0.10 0.20 0.30"));
        assert!(!busy("unknown"));
    }
}
