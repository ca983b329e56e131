//! Reading libtest's default ("pretty") output, as printed by `cargo test` and by libtest-mimic
//! harnesses: the per-test lines and the `test result:` summary.

use std::time::Duration;

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    Failed,
    /// Ignored: shown as skipped. The reason, where the runner printed one.
    Ignored(Option<String>),
}

/// One `test NAME ... OUTCOME` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestLine {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
}

/// The closing `test result: ...` line of one test binary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) ok: bool,
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) ignored: u64,
    pub(crate) filtered_out: u64,
    /// The runner's own `finished in` figure.
    pub(crate) finished_in: Duration,
}

/// What a line of output means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// `running N tests`: a test binary starts.
    Running(u64),
    Test(TestLine),
    Summary(Summary),
}

/// Turns output lines into [`Event`]s.
///
/// libtest-mimic never captures a test's output, so a check that prints splits its line:
/// `test map::order ... noise` and then `ok` on a line of its own. The reader remembers the
/// announced name until an outcome arrives.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    announced: Option<String>,
}

impl Reader {
    /// The event `line` completes, if any.
    pub(crate) fn feed(&mut self, line: &str) -> Option<Event> {
        let line = strip_ansi(line.trim_end_matches(['\r', '\n']));
        if let Some(rest) = line.strip_prefix("test result: ") {
            self.announced = None;
            return parse_summary(rest).map(Event::Summary);
        }
        if let Some(count) = line
            .strip_prefix("running ")
            .and_then(|rest| rest.strip_suffix(" tests").or(rest.strip_suffix(" test")))
            .and_then(|count| count.parse().ok())
        {
            self.announced = None;
            return Some(Event::Running(count));
        }
        if let Some((name, rest)) = line
            .strip_prefix("test ")
            .and_then(|rest| rest.split_once(" ... "))
        {
            let name = strip_kind(name.trim()).to_owned();
            return match parse_outcome(rest) {
                Some(outcome) => {
                    self.announced = None;
                    Some(Event::Test(TestLine { name, outcome }))
                }
                None => {
                    self.announced = Some(name);
                    None
                }
            };
        }
        let outcome = parse_outcome(&line)?;
        let name = self.announced.take()?;
        Some(Event::Test(TestLine { name, outcome }))
    }
}

/// Sums of several summaries: what a whole `cargo test` run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) skipped: u64,
}

impl Tally {
    /// Counts one test.
    pub(crate) fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Ignored(_) => self.skipped += 1,
        }
    }

    pub(crate) fn add_summary(&mut self, summary: &Summary) {
        self.passed += summary.passed;
        self.failed += summary.failed;
        self.skipped += summary.ignored;
    }

    pub(crate) fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// The plain closing line, `label: N passed, N failed, N skipped`.
    pub(crate) fn closing_line(&self, label: &str) -> String {
        format!(
            "{label}: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// `ok`, `FAILED`, `ignored`, `ignored, reason` (libtest) or `ignored (reason)` (libtest-mimic).
fn parse_outcome(text: &str) -> Option<Outcome> {
    let text = text.trim();
    match text {
        "ok" => return Some(Outcome::Passed),
        "FAILED" => return Some(Outcome::Failed),
        "ignored" => return Some(Outcome::Ignored(None)),
        _ => {}
    }
    let reason = text.strip_prefix("ignored")?;
    let reason = reason
        .strip_prefix(", ")
        .or_else(|| reason.strip_prefix(" (")?.strip_suffix(')'))?;
    Some(Outcome::Ignored(Some(reason.to_owned())))
}

/// `ok. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s`
fn parse_summary(text: &str) -> Option<Summary> {
    let (verdict, counts) = text.split_once(". ")?;
    let mut summary = Summary {
        ok: match verdict {
            "ok" => true,
            "FAILED" => false,
            _ => return None,
        },
        passed: 0,
        failed: 0,
        ignored: 0,
        filtered_out: 0,
        finished_in: Duration::ZERO,
    };
    for part in counts.split("; ") {
        if let Some(seconds) = part
            .strip_prefix("finished in ")
            .and_then(|rest| rest.strip_suffix('s'))
        {
            summary.finished_in = Duration::try_from_secs_f64(seconds.parse().ok()?).ok()?;
            continue;
        }
        let (count, what) = part.split_once(' ')?;
        let count: u64 = count.parse().ok()?;
        match what {
            "passed" => summary.passed = count,
            "failed" => summary.failed = count,
            "ignored" => summary.ignored = count,
            "filtered out" => summary.filtered_out = count,
            _ => {}
        }
    }
    Some(summary)
}

/// libtest-mimic prints `[kind] name` for trials with a kind.
fn strip_kind(name: &str) -> &str {
    match name
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, name)) => name.trim_start(),
        None => name,
    }
}

/// Removes terminal colour codes (`ESC [ ... m`), in case a runner forces colour.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a libtest-mimic 0.8 harness run with `--test-threads=1`: a failure, a
    /// statically ignored trial, a trial that prints, and a trial with a kind.
    const MIMIC: &str = "
running 5 tests
test           future::cancel_pending   ... ok
test           wait::first_exception    ... FAILED
test           process::abort_isolated  ... ignored
test           map::order               ... noise from a check
ok
test [threads] shutdown::cancel_futures ... ok

failures:

---- wait::first_exception ----
check hung: wait did not return within 10s


failures:
    wait::first_exception

test result: FAILED. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

    /// Captured from a `#[test]` binary (libtest of Rust 1.95), panic backtrace shortened.
    const LIBTEST: &str = "
running 4 tests
test ignored_plain ... ignored
test ignored_reason ... ignored, needs a server
test passes ... ok
test fails ... FAILED

failures:

---- fails stdout ----

thread 'fails' (19487) panicked at tests/plain.rs:4:22:
boom
stack backtrace:
   0: __rustc::rust_begin_unwind
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    fails

test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.07s
";

    fn events(output: &str) -> Vec<Event> {
        let mut reader = Reader::default();
        output
            .lines()
            .filter_map(|line| reader.feed(line))
            .collect()
    }

    fn test(name: &str, outcome: Outcome) -> Event {
        Event::Test(TestLine {
            name: name.into(),
            outcome,
        })
    }

    #[test]
    fn reads_a_libtest_mimic_harness() {
        assert_eq!(
            events(MIMIC),
            [
                Event::Running(5),
                test("future::cancel_pending", Outcome::Passed),
                test("wait::first_exception", Outcome::Failed),
                test("process::abort_isolated", Outcome::Ignored(None)),
                test("map::order", Outcome::Passed),
                test("shutdown::cancel_futures", Outcome::Passed),
                Event::Summary(Summary {
                    ok: false,
                    passed: 3,
                    failed: 1,
                    ignored: 1,
                    filtered_out: 0,
                    finished_in: Duration::ZERO,
                }),
            ]
        );
    }

    #[test]
    fn reads_libtest_with_ignore_reasons() {
        assert_eq!(
            events(LIBTEST),
            [
                Event::Running(4),
                test("ignored_plain", Outcome::Ignored(None)),
                test(
                    "ignored_reason",
                    Outcome::Ignored(Some("needs a server".into()))
                ),
                test("passes", Outcome::Passed),
                test("fails", Outcome::Failed),
                Event::Summary(Summary {
                    ok: false,
                    passed: 1,
                    failed: 1,
                    ignored: 2,
                    filtered_out: 0,
                    finished_in: Duration::from_millis(70),
                }),
            ]
        );
    }

    #[test]
    fn reads_runtime_ignore_reasons_colour_and_doctests() {
        let output = "running 1 test\n\
            test process::segfault ... \u{1b}[33mignored (backend does not isolate crashes)\u{1b}[0m\n\
            test executor-core/src/lib.rs - (line 10) ... ok\r\n\
            test result: \u{1b}[32mok\u{1b}[0m. 12 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 1.50s\n";
        let events = events(output);
        assert_eq!(
            events[1],
            test(
                "process::segfault",
                Outcome::Ignored(Some("backend does not isolate crashes".into()))
            )
        );
        assert_eq!(
            events[2],
            test("executor-core/src/lib.rs - (line 10)", Outcome::Passed)
        );
        let Event::Summary(summary) = events[3] else {
            panic!("expected a summary, got {:?}", events[3]);
        };
        assert!(summary.ok);
        assert_eq!((summary.passed, summary.filtered_out), (12, 3));
        assert_eq!(summary.finished_in, Duration::from_millis(1500));
    }

    #[test]
    fn ignores_lines_that_only_look_like_outcomes() {
        // A bare `ok` with no announced test, and a failure message mentioning `test`.
        assert!(events("ok\ntest harness said hello\nFAILED\n").is_empty());
    }

    #[test]
    fn tallies_summaries_into_a_closing_line() {
        let mut tally = Tally::default();
        for event in events(MIMIC).iter().chain(&events(LIBTEST)) {
            if let Event::Summary(summary) = event {
                tally.add_summary(summary);
            }
        }
        assert_eq!(
            tally.closing_line("ci"),
            "ci: 4 passed, 2 failed, 3 skipped"
        );
    }
}
