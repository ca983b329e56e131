//! Every workload and every sweep runs end to end at its smallest scale, and the reports
//! render: proof that the harness works, with no timing assertion (speed is for
//! `cargo xtask bench`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use executor_bench::record::{Figures, Role, SweepFigures};

const BINARY: &str = env!("CARGO_BIN_EXE_executor-bench");
/// The MPI programs, when this test is built with the `mpi` feature; otherwise the MPI rows of
/// ours are skipped (with a note).
#[cfg(feature = "mpi")]
const MPI_PROGRAM: &str = env!("CARGO_BIN_EXE_executor-bench-mpi");
#[cfg(not(feature = "mpi"))]
const MPI_PROGRAM: &str = "";
/// Far above what the smoke run needs (seconds), so only a hang trips it.
const LIMIT: Duration = Duration::from_secs(600);

/// Runs the benchmark binary with `args`, failing with its output if it fails or outlives
/// [`LIMIT`].
fn bench(args: &[&str]) -> String {
    bench_with(args, &[])
}

/// [`bench`] with extra environment variables.
fn bench_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let child = Command::new(BINARY)
        .args(args)
        .env(executor_bench::mpi::PROGRAM_ENV, MPI_PROGRAM)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the benchmark binary starts");
    let pid = child.id();
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match outcome.recv_timeout(LIMIT) {
        Ok(output) => output.expect("waiting for the benchmark binary"),
        Err(_) => {
            // SAFETY: `kill` with a pid and a signal number has no memory-safety preconditions;
            // the pid is our own unreaped child, so it cannot have been reused.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!(
                "`executor-bench {}` did not finish within {LIMIT:?}",
                args.join(" ")
            );
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`executor-bench {}` failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Whether `mpirun` is on `PATH`.
fn mpirun_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("mpirun").is_file()))
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn every_workload_runs_and_the_report_renders() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let results = dir.path().join("results");
    let names = bench(&["list"]);
    let names: Vec<&str> = names.lines().collect();
    assert!(names.contains(&"t1") && names.contains(&"m2"), "{names:?}");

    for name in &names {
        let out = results.join(format!("{name}.json"));
        bench(&["run", name, "--scale", "smoke", "--out", path(&out)]);
        let text = std::fs::read_to_string(&out).expect("the run wrote its figures");
        let figures: Vec<Figures> = serde_json::from_str(&text).expect("valid figures");
        assert!(!figures.is_empty(), "{name} wrote no figures");
        for metric in &figures {
            assert_eq!(metric.workload, *name);
            for series in &metric.series {
                assert_eq!(series.error, None, "{} {} failed", metric.id, series.label);
                assert_eq!(
                    series.samples.len(),
                    metric.rounds,
                    "{} {}",
                    metric.id,
                    series.key
                );
            }
            // Our pools are measured wherever they exist; the MPI rows of ours are missing
            // without MPI or without the `mpi` feature, and then a note says so.
            let ours = metric.series.iter().any(|series| series.role == Role::Ours);
            let explained = metric
                .notes
                .iter()
                .any(|note| note.contains("not landed") || note.contains("MPI rows skipped"));
            assert!(
                ours || explained,
                "{}: no series of ours and no note",
                metric.id
            );
            // With MPI and the MPI programs built, the MPI rows of ours must really run.
            if name.starts_with("mpi") && !MPI_PROGRAM.is_empty() && mpirun_installed() {
                assert!(ours, "{}: ours did not run: {:?}", metric.id, metric.notes);
            }
        }
    }

    let markdown = dir.path().join("report/latest.md");
    let svg = dir.path().join("report/ratios.svg");
    let table = bench(&[
        "report",
        "--results",
        path(&results),
        "--md",
        path(&markdown),
        "--svg",
        path(&svg),
    ]);
    assert!(table.contains("| **T1**"), "{table}");
    assert!(table.contains("| **M2**"), "{table}");
    assert!(table.contains("| **MPI2a**"), "{table}");
    assert_eq!(
        std::fs::read_to_string(&markdown).unwrap().trim(),
        table.trim()
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn without_mpirun_the_mpi_rows_are_skipped_with_a_notice() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("mpi1.json");
    bench_with(
        &["run", "mpi1", "--scale", "smoke", "--out", path(&out)],
        &[(executor_bench::mpi::MPIRUN_ENV, "")],
    );
    let text = std::fs::read_to_string(&out).expect("the run wrote its figures");
    let figures: Vec<Figures> = serde_json::from_str(&text).expect("valid figures");
    assert_eq!(figures.len(), 1);
    assert!(figures[0].series.is_empty(), "{:?}", figures[0].series);
    assert!(
        figures[0]
            .notes
            .iter()
            .any(|note| note.contains("`mpirun` is not installed")),
        "{:?}",
        figures[0].notes
    );
}

#[test]
fn every_sweep_runs_and_its_report_renders() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let results = dir.path().join("results");
    let names = bench(&["sweep", "list"]);
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names, ["t1-submitters", "m1-queued", "p1-workers"]);
    for name in &names {
        let out = results.join(format!("{name}.json"));
        bench(&[
            "sweep",
            "run",
            name,
            "--scale",
            "smoke",
            "--out",
            path(&out),
        ]);
        let text = std::fs::read_to_string(&out).expect("the sweep wrote its figures");
        let sweeps: Vec<SweepFigures> = serde_json::from_str(&text).expect("valid figures");
        assert_eq!(sweeps.len(), 1, "{name}");
        let sweep = &sweeps[0];
        assert_eq!(sweep.sweep, *name);
        assert!(sweep.points.len() >= 2, "{name}: {:?}", sweep.points);
        for point in &sweep.points {
            assert!(
                point.series.iter().any(|series| series.role == Role::Ours),
                "{name} at {}: no series of ours",
                point.at
            );
            for series in &point.series {
                assert_eq!(series.error, None, "{name} {} failed", series.label);
                assert_eq!(series.samples.len(), sweep.rounds, "{name} {}", series.key);
            }
        }
    }

    // A hand-written analysis at the end of the previous report survives a new one.
    let markdown = dir.path().join("report/sweeps.md");
    std::fs::create_dir_all(markdown.parent().unwrap()).unwrap();
    std::fs::write(&markdown, "# old\n\n## Analysis\n\nWhy it grows.\n").unwrap();
    let table = bench(&[
        "sweep",
        "report",
        "--results",
        path(&results),
        "--md",
        path(&markdown),
    ]);
    assert!(table.contains("## T1 × submitters"), "{table}");
    assert!(table.contains("## M1 × queued"), "{table}");
    assert!(table.contains("## P1 × workers"), "{table}");
    assert!(
        table.trim_end().ends_with("## Analysis\n\nWhy it grows."),
        "{table}"
    );
    for name in &names {
        let chart = dir.path().join(format!("report/sweep-{name}.svg"));
        assert!(std::fs::read_to_string(&chart).unwrap().starts_with("<svg"));
    }
}
