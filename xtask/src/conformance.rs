//! `cargo xtask conformance`: runs every backend's conformance suite and prints one table of
//! passed, failed and skipped checks per backend and check group.
//!
//! A backend is a workspace test target named `conformance*` (`tests/conformance.rs`,
//! `tests/conformance_rayon.rs`, ...), run with the features it requires. Its name is the one
//! its `conformance_main!` invocation declares (`backend: "threads"`), or else the package name
//! without `concurrent-futures-` (plus the target's suffix). Checks are named `group::check`.
//!
//! Each suite runs with `--test-threads=1`: checks do not compete for the CPU (a check's own
//! watchdog cannot fire because a neighbour is busy), and the time between two result lines is
//! then the time of one check, which is what the table's time column sums. Build time is left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::flags;
use crate::json;
use crate::libtest::{Event, Outcome, Reader, Summary, Tally};
use crate::util::{self, Result};
use crate::workspace::{Package, Target, Workspace};

impl flags::Conformance {
    /// Runs the suites, prints the table and returns the totals; fails if any check failed or
    /// any suite did not run to its end.
    pub(crate) fn run(&self) -> Result<Tally> {
        let workspace = Workspace::load()?;
        let discovered = discover(&workspace);
        let (backends, missing) = select(discovered, self.backend.as_deref())?;
        for package in &missing {
            println!("notice: {package} has no tests/conformance*.rs target yet; skipped");
        }
        if backends.is_empty() {
            println!("conformance: no backend has a conformance suite yet; nothing to run");
        }
        let mut runs = Vec::new();
        for backend in backends {
            util::section(&format!(
                "conformance: {} ({} --test {})",
                backend.name, backend.package, backend.target
            ));
            runs.push(backend.run(self.release)?);
        }
        if let Some(path) = &self.json {
            std::fs::write(path, to_json(&runs, &missing))
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            println!("wrote {}", path.display());
        }
        let tally = runs.iter().fold(Tally::default(), |mut tally, run| {
            tally.add(run.tally());
            tally
        });
        if !runs.is_empty() {
            print!("\n{}", table(&runs));
            println!("{}", tally.closing_line("conformance"));
        }
        let broken: Vec<&str> = runs
            .iter()
            .filter(|run| !run.passed())
            .map(|run| run.backend.name.as_str())
            .collect();
        if broken.is_empty() {
            Ok(tally)
        } else {
            Err(format!("conformance failed for: {}", broken.join(", ")).into())
        }
    }
}

/// One conformance suite: a test target and how to build it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Backend {
    name: String,
    package: String,
    target: String,
    features: Vec<String>,
}

/// What the workspace offers: suites, and backend packages that have none yet.
#[derive(Debug, Default)]
struct Discovered {
    backends: Vec<Backend>,
    /// Packages named `concurrent-futures-*` (other than `concurrent-futures-core`) without a conformance target.
    missing: Vec<String>,
}

fn discover(workspace: &Workspace) -> Discovered {
    let mut found = Discovered::default();
    let targets = workspace.test_targets("conformance");
    for package in &workspace.packages {
        let is_backend_package = package.name.starts_with("concurrent-futures-")
            && package.name != "concurrent-futures-core";
        if is_backend_package && !targets.iter().any(|(owner, _)| owner.name == package.name) {
            found.missing.push(package.name.clone());
        }
    }
    for (package, target) in targets {
        let declared = std::fs::read_to_string(&target.src_path)
            .ok()
            .and_then(|source| declared_backend_name(&source));
        let mut name = declared.unwrap_or_else(|| derived_name(package, target));
        if found.backends.iter().any(|backend| backend.name == name) {
            name = format!("{}/{}", short_name(&package.name), target.name);
        }
        found.backends.push(Backend {
            name,
            package: package.name.clone(),
            target: target.name.clone(),
            features: target.required_features.clone(),
        });
    }
    found
}

/// The `backend: "NAME"` a `conformance_main!` invocation declares.
fn declared_backend_name(source: &str) -> Option<String> {
    let after = &source[source.find("backend:")? + "backend:".len()..];
    let quoted = after.trim_start().strip_prefix('"')?;
    let name = &quoted[..quoted.find('"')?];
    (!name.is_empty()).then(|| name.to_owned())
}

/// `concurrent-futures-threads` + `conformance_rayon` -> `threads-rayon`; `conformance` alone -> `threads`.
fn derived_name(package: &Package, target: &Target) -> String {
    let short = short_name(&package.name);
    let suffix = target
        .name
        .trim_start_matches("conformance")
        .trim_start_matches(['_', '-']);
    if suffix.is_empty() {
        short.to_owned()
    } else {
        format!("{short}-{suffix}")
    }
}

fn short_name(package: &str) -> &str {
    package
        .strip_prefix("concurrent-futures-")
        .unwrap_or(package)
}

/// The backends `--backend` asks for: an exact backend name, or else every suite of a package
/// (`concurrent-futures-threads` or `threads`). Without a filter, all of them.
fn select(found: Discovered, filter: Option<&str>) -> Result<(Vec<Backend>, Vec<String>)> {
    let Some(wanted) = filter else {
        return Ok((found.backends, found.missing));
    };
    let by_name: Vec<Backend> = found
        .backends
        .iter()
        .filter(|backend| backend.name == wanted)
        .cloned()
        .collect();
    if !by_name.is_empty() {
        return Ok((by_name, Vec::new()));
    }
    let matches_package = |package: &str| package == wanted || short_name(package) == wanted;
    let by_package: Vec<Backend> = found
        .backends
        .iter()
        .filter(|backend| matches_package(&backend.package))
        .cloned()
        .collect();
    if !by_package.is_empty() {
        return Ok((by_package, Vec::new()));
    }
    if found.missing.iter().any(|package| matches_package(package)) {
        return Err(format!("`{wanted}` has no tests/conformance*.rs target yet").into());
    }
    let known: Vec<&str> = found
        .backends
        .iter()
        .map(|backend| backend.name.as_str())
        .collect();
    Err(format!(
        "no backend named `{wanted}`; known backends: {}",
        if known.is_empty() {
            "none yet".to_owned()
        } else {
            known.join(", ")
        }
    )
    .into())
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    name: String,
    outcome: Outcome,
    time: Duration,
}

impl Check {
    /// `wait` for `wait::first_exception`; checks without a group share `(none)`.
    fn group(&self) -> &str {
        self.name
            .split_once("::")
            .map_or("(none)", |(group, _)| group)
    }
}

/// What running one backend's suite produced.
#[derive(Debug)]
struct Run {
    backend: Backend,
    checks: Vec<Check>,
    summary: Option<Summary>,
    /// From `running N tests` to the summary: the suite itself, without the build.
    run_time: Duration,
    /// Why the suite's result cannot be trusted as complete, beyond failed checks.
    problem: Option<String>,
}

impl Backend {
    fn run(&self, release: bool) -> Result<Run> {
        let mut cmd = util::cargo();
        cmd.args(["test", "-p", &self.package, "--test", &self.target]);
        if !self.features.is_empty() {
            cmd.arg("--features").arg(self.features.join(","));
        }
        if release {
            cmd.arg("--release");
        }
        cmd.args(["--", "--test-threads=1"]);

        let mut collector = Collector::default();
        let status = util::stream(&mut cmd, |line, at| collector.feed(line, at))?;
        let mut run = collector.finish(self.clone());
        if run.problem.is_none() && !status.success() && run.failed() == 0 {
            run.problem = Some(format!("`{}` failed ({status})", util::display(&cmd)));
        }
        Ok(run)
    }
}

/// Builds a [`Run`] from a suite's output lines as they arrive.
#[derive(Debug, Default)]
struct Collector {
    reader: Reader,
    expected: Option<u64>,
    started: Option<Instant>,
    last: Option<Instant>,
    checks: Vec<Check>,
    summary: Option<Summary>,
    run_time: Duration,
}

impl Collector {
    fn feed(&mut self, line: &str, at: Instant) {
        match self.reader.feed(line) {
            Some(Event::Running(count)) => {
                self.expected = Some(count);
                self.started = Some(at);
                self.last = Some(at);
            }
            Some(Event::Test(test)) => {
                let since = self.last.unwrap_or(at);
                self.last = Some(at);
                self.checks.push(Check {
                    name: test.name,
                    outcome: test.outcome,
                    time: at.saturating_duration_since(since),
                });
            }
            Some(Event::Summary(summary)) => {
                self.summary = Some(summary);
                if let Some(started) = self.started {
                    self.run_time = at.saturating_duration_since(started);
                }
            }
            None => {}
        }
    }

    fn finish(self, backend: Backend) -> Run {
        // A suite that stopped early ran until its last line.
        let run_time = match (self.summary, self.started, self.last) {
            (None, Some(started), Some(last)) => last.saturating_duration_since(started),
            _ => self.run_time,
        };
        let mut run = Run {
            backend,
            checks: self.checks,
            summary: self.summary,
            run_time,
            problem: None,
        };
        let counted = run.tally();
        run.problem = match (self.expected, run.summary) {
            (None, _) => Some(
                "the suite never started (a build error, or a harness that prints no libtest \
                 output); see the output above"
                    .to_owned(),
            ),
            (Some(0), _) => Some("the suite has no checks".to_owned()),
            (Some(_), None) => Some(format!(
                "the suite stopped before its summary after {} checks (did the test binary \
                 crash?)",
                run.checks.len()
            )),
            (Some(_), Some(summary))
                if (summary.passed, summary.failed, summary.ignored)
                    != (counted.passed, counted.failed, counted.skipped) =>
            {
                Some(format!(
                    "the runner reported {} passed, {} failed, {} ignored, but xtask read {} \
                     passed, {} failed, {} skipped from its check lines",
                    summary.passed,
                    summary.failed,
                    summary.ignored,
                    counted.passed,
                    counted.failed,
                    counted.skipped
                ))
            }
            _ => None,
        };
        run
    }
}

impl Run {
    fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for check in &self.checks {
            tally.record(&check.outcome);
        }
        tally
    }

    fn failed(&self) -> u64 {
        self.tally().failed
    }

    fn passed(&self) -> bool {
        self.problem.is_none() && self.failed() == 0
    }

    fn status(&self) -> &'static str {
        if self.problem.is_some() {
            "error"
        } else if self.failed() > 0 {
            "failed"
        } else {
            "passed"
        }
    }

    /// Per check group, in name order: counts and summed check time.
    fn groups(&self) -> BTreeMap<&str, (Tally, Duration)> {
        let mut groups: BTreeMap<&str, (Tally, Duration)> = BTreeMap::new();
        for check in &self.checks {
            let (tally, time) = groups.entry(check.group()).or_default();
            tally.record(&check.outcome);
            *time += check.time;
        }
        groups
    }
}

/// The table: one row per backend and group, a total per backend, a total overall, and then
/// what went wrong, by name.
fn table(runs: &[Run]) -> String {
    let mut rows: Vec<[String; 6]> = Vec::new();
    let row = |backend: &str, group: &str, tally: Tally, time: Duration| {
        [
            backend.to_owned(),
            group.to_owned(),
            tally.passed.to_string(),
            tally.failed.to_string(),
            tally.skipped.to_string(),
            util::format_duration(time),
        ]
    };
    let mut total = Tally::default();
    let mut total_time = Duration::ZERO;
    for run in runs {
        let mut name = run.backend.name.as_str();
        for (group, (tally, time)) in run.groups() {
            rows.push(row(name, group, tally, time));
            name = "";
        }
        let verdict = format!("= {}", run.status());
        rows.push(row(name, &verdict, run.tally(), run.run_time));
        total.add(run.tally());
        total_time += run.run_time;
    }
    rows.push(row("all backends", "", total, total_time));

    let header = ["backend", "group", "passed", "failed", "skipped", "time"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 6]| {
        let text = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {:>w5$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5],
        );
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in &rows {
        if row[0] == "all backends" {
            let rule = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            line(["-".repeat(rule).as_str(), "", "", "", "", ""]);
        }
        line(row.each_ref().map(String::as_str));
    }
    let _ = writeln!(
        out,
        "time: each check's own run time (checks run one at a time); builds not included"
    );
    for run in runs {
        for check in &run.checks {
            if check.outcome == Outcome::Failed {
                let _ = writeln!(out, "FAILED  {}  {}", run.backend.name, check.name);
            }
        }
        if let Some(problem) = &run.problem {
            let _ = writeln!(out, "ERROR   {}  {problem}", run.backend.name);
        }
    }
    out
}

/// The same data as the table, check by check, for other tools.
fn to_json(runs: &[Run], missing: &[String]) -> String {
    let strings = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| json::string(item)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let counts = |tally: Tally, time: Duration| {
        format!(
            "\"passed\": {}, \"failed\": {}, \"skipped\": {}, \"seconds\": {:.3}",
            tally.passed,
            tally.failed,
            tally.skipped,
            time.as_secs_f64()
        )
    };
    let mut out = String::from("{\n  \"backends\": [");
    let mut total = Tally::default();
    let mut total_time = Duration::ZERO;
    for (index, run) in runs.iter().enumerate() {
        total.add(run.tally());
        total_time += run.run_time;
        let _ = write!(
            out,
            "{}\n    {{\n      \"name\": {},\n      \"package\": {},\n      \"target\": {},\n      \
             \"features\": {},\n      \"status\": {},\n      \"problem\": {},\n      {},\n      \
             \"groups\": [",
            if index == 0 { "" } else { "," },
            json::string(&run.backend.name),
            json::string(&run.backend.package),
            json::string(&run.backend.target),
            strings(&run.backend.features),
            json::string(run.status()),
            run.problem
                .as_deref()
                .map_or("null".to_owned(), json::string),
            counts(run.tally(), run.run_time),
        );
        let groups = run.groups();
        for (index, (group, (tally, time))) in groups.into_iter().enumerate() {
            let _ = write!(
                out,
                "{}\n        {{\"name\": {}, {}}}",
                if index == 0 { "" } else { "," },
                json::string(group),
                counts(tally, time)
            );
        }
        out.push_str("\n      ],\n      \"checks\": [");
        for (index, check) in run.checks.iter().enumerate() {
            let (outcome, reason) = match &check.outcome {
                Outcome::Passed => ("passed", None),
                Outcome::Failed => ("failed", None),
                Outcome::Ignored(reason) => ("skipped", reason.as_deref()),
            };
            let _ = write!(
                out,
                "{}\n        {{\"name\": {}, \"group\": {}, \"outcome\": \"{outcome}\", \
                 \"reason\": {}, \"seconds\": {:.3}}}",
                if index == 0 { "" } else { "," },
                json::string(&check.name),
                json::string(check.group()),
                reason.map_or("null".to_owned(), json::string),
                check.time.as_secs_f64()
            );
        }
        out.push_str("\n      ]\n    }");
    }
    let _ = write!(
        out,
        "\n  ],\n  \"missing\": {},\n  \"total\": {{{}}}\n}}\n",
        strings(missing),
        counts(total, total_time)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Value;

    const PASSING: &str = "
running 4 tests
test future::cancel_pending ... ok
test future::result_twice ... ok
test process::abort_isolated ... ignored (backend does not isolate crashes)
test wait::first_exception ... ok

test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.03s
";

    fn backend(name: &str) -> Backend {
        Backend {
            name: name.into(),
            package: format!("concurrent-futures-{name}"),
            target: "conformance".into(),
            features: Vec::new(),
        }
    }

    /// Feeds `output` one line per millisecond, so check times are exact.
    fn collect(name: &str, output: &str) -> Run {
        let start = Instant::now();
        let mut collector = Collector::default();
        for (index, line) in output.lines().enumerate() {
            collector.feed(line, start + Duration::from_millis(index as u64));
        }
        collector.finish(backend(name))
    }

    #[test]
    fn a_passing_suite_is_grouped_and_timed_per_check() {
        let run = collect("threads", PASSING);
        assert_eq!(run.problem, None);
        assert!(run.passed());
        let groups = run.groups();
        assert_eq!(
            groups.keys().copied().collect::<Vec<_>>(),
            ["future", "process", "wait"]
        );
        let (future, time) = groups["future"];
        assert_eq!((future.passed, future.failed, future.skipped), (2, 0, 0));
        // `running` is line 1, the two future checks lines 2 and 3.
        assert_eq!(time, Duration::from_millis(2));
        assert_eq!(groups["process"].0.skipped, 1);
        assert_eq!(run.run_time, Duration::from_millis(6));
    }

    #[test]
    fn a_failed_check_fails_the_backend_and_is_named() {
        let output = PASSING
            .replace(
                "wait::first_exception ... ok",
                "wait::first_exception ... FAILED",
            )
            .replace("ok. 3 passed; 0 failed", "FAILED. 2 passed; 1 failed");
        let run = collect("threads", &output);
        assert_eq!(run.problem, None);
        assert!(!run.passed());
        assert_eq!(run.status(), "failed");
        let table = table(&[run]);
        assert!(
            table.contains("FAILED  threads  wait::first_exception"),
            "{table}"
        );
    }

    #[test]
    fn a_suite_that_never_started_or_never_finished_is_an_error() {
        let never = collect("process", "error[E0425]: cannot find value `x`\n");
        assert!(never.problem.unwrap().contains("never started"));

        let crashed = collect(
            "process",
            "running 3 tests\ntest future::cancel_pending ... ok\n",
        );
        assert_eq!(crashed.status(), "error");
        assert_eq!(crashed.run_time, Duration::from_millis(1));
        assert!(crashed.problem.unwrap().contains("after 1 checks"));

        let empty = collect(
            "process",
            "running 0 tests\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n",
        );
        assert!(empty.problem.unwrap().contains("no checks"));
    }

    #[test]
    fn lines_the_reader_missed_make_the_counts_disagree_loudly() {
        let output = PASSING.replace("test future::result_twice ... ok\n", "");
        let run = collect("threads", &output);
        assert!(run.problem.unwrap().contains("xtask read 2 passed"));
    }

    #[test]
    fn table_has_a_row_per_group_a_total_per_backend_and_overall() {
        let table = table(&[collect("threads", PASSING), collect("process", PASSING)]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("backend"), "{table}");
        assert!(lines[1].starts_with("threads") && lines[1].contains("future"));
        assert!(lines[4].contains("= passed"), "{table}");
        assert!(lines[5].starts_with("process"), "{table}");
        let all = lines
            .iter()
            .find(|line| line.starts_with("all backends"))
            .unwrap();
        let numbers: Vec<&str> = all.split_whitespace().skip(2).collect();
        assert_eq!(numbers, ["6", "0", "2", "0.01s"], "{table}");
    }

    #[test]
    fn json_holds_the_same_data_and_parses() {
        let runs = [collect("threads", PASSING)];
        let value = json::parse(&to_json(&runs, &["concurrent-futures-mpi".to_owned()])).unwrap();
        let backend = &value.get("backends").unwrap().items()[0];
        assert_eq!(
            backend.get("status").and_then(Value::as_str),
            Some("passed")
        );
        assert_eq!(backend.get("skipped"), Some(&Value::Number(1.0)));
        assert_eq!(backend.get("groups").unwrap().items().len(), 3);
        let skipped = &backend.get("checks").unwrap().items()[2];
        assert_eq!(
            skipped.get("reason").and_then(Value::as_str),
            Some("backend does not isolate crashes")
        );
        assert_eq!(
            value.get("missing").unwrap().strings(),
            ["concurrent-futures-mpi"]
        );
        assert_eq!(
            value.get("total").unwrap().get("passed"),
            Some(&Value::Number(3.0))
        );
    }

    #[test]
    fn names_come_from_the_macro_or_from_the_package_and_target() {
        let source =
            "concurrent_futures_testkit::conformance_main! {\n    backend: \"thread-per-task\",\n}";
        assert_eq!(
            declared_backend_name(source).as_deref(),
            Some("thread-per-task")
        );
        assert_eq!(declared_backend_name("fn main() {}"), None);
        let package = Package {
            name: "concurrent-futures-threads".into(),
            targets: Vec::new(),
        };
        let target = |name: &str| Target {
            name: name.into(),
            kinds: vec!["test".into()],
            src_path: "/nowhere.rs".into(),
            required_features: Vec::new(),
        };
        assert_eq!(derived_name(&package, &target("conformance")), "threads");
        assert_eq!(
            derived_name(&package, &target("conformance_rayon")),
            "threads-rayon"
        );
    }

    #[test]
    fn backend_filter_takes_a_name_or_a_package() {
        let found = || Discovered {
            backends: vec![
                backend("threads"),
                Backend {
                    name: "rayon".into(),
                    ..backend("threads")
                },
            ],
            missing: vec!["concurrent-futures-process".into()],
        };
        let names = |filter| {
            select(found(), Some(filter)).map(|(backends, _)| {
                backends
                    .into_iter()
                    .map(|backend| backend.name)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names("rayon").unwrap(), ["rayon"]);
        assert_eq!(
            names("concurrent-futures-threads").unwrap(),
            ["threads", "rayon"]
        );
        assert!(names("process").unwrap_err().to_string().contains("yet"));
        assert!(
            names("gpu")
                .unwrap_err()
                .to_string()
                .contains("threads, rayon")
        );
        let (all, missing) = select(found(), None).unwrap();
        assert_eq!((all.len(), missing.len()), (2, 1));
    }
}
