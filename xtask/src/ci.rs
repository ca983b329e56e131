//! `cargo xtask ci`: the exact sequence `.ci/run` runs, so anyone can reproduce CI locally.
//!
//! `.ci/run` installs what a fresh machine lacks and then runs these same commands; a test
//! below keeps the two lists in step.

use std::time::{Duration, Instant};

use crate::flags;
use crate::libtest::{Event, Reader, Tally};
use crate::util::{self, Result};

/// What a step does.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// `cargo` with the words of the step's command after `cargo`.
    Cargo,
    /// `cargo` as [`Action::Cargo`], reading the libtest summaries it prints into the tally.
    CargoTest,
    /// `cargo xtask conformance`, run in this process.
    Conformance,
    /// `cargo xtask loom`, run in this process.
    Loom,
}

/// One CI step.
#[derive(Debug)]
struct Step {
    name: &'static str,
    /// The command exactly as `.ci/run` spells it.
    command: &'static str,
    action: Action,
}

/// CI, in order. The test command is the README's.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        command: "cargo fmt --all --check",
        action: Action::Cargo,
    },
    Step {
        name: "clippy",
        command: "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        action: Action::Cargo,
    },
    Step {
        name: "test",
        command: "cargo test --workspace --all-features",
        action: Action::CargoTest,
    },
    Step {
        name: "conformance",
        command: "cargo xtask conformance",
        action: Action::Conformance,
    },
    Step {
        name: "loom",
        command: "cargo xtask loom",
        action: Action::Loom,
    },
    // Why these flags: see `.ci/run`.
    Step {
        name: "package",
        command: "cargo package --workspace --exclude xtask --exclude executor-bench --allow-dirty",
        action: Action::Cargo,
    },
];

impl flags::Ci {
    /// Runs every step, stopping at the first failure as CI does, then prints the time each
    /// step took and the test totals.
    pub(crate) fn run(&self) -> Result<()> {
        let mut tally = Tally::default();
        let mut timings: Vec<(&str, &str, Duration)> = Vec::new();
        for (index, step) in STEPS.iter().enumerate() {
            util::section(&format!(
                "ci {}/{} {}: {}",
                index + 1,
                STEPS.len(),
                step.name,
                step.command
            ));
            let started = Instant::now();
            let result = step.run(&mut tally);
            let verdict = if result.is_ok() { "ok" } else { "FAILED" };
            timings.push((step.name, verdict, started.elapsed()));
            if let Err(error) = result {
                print_timings(&timings);
                return Err(format!("ci step `{}` failed: {error}", step.name).into());
            }
        }
        print_timings(&timings);
        println!("{}", tally.closing_line("ci"));
        Ok(())
    }
}

impl Step {
    fn run(&self, tally: &mut Tally) -> Result<()> {
        match self.action {
            Action::Cargo => util::run(&mut self.cargo()),
            Action::CargoTest => {
                let mut cmd = self.cargo();
                let mut reader = Reader::default();
                let status = util::stream(&mut cmd, |line, _| {
                    if let Some(Event::Summary(summary)) = reader.feed(line) {
                        tally.add_summary(&summary);
                    }
                })?;
                util::check(&cmd, status)
            }
            // The suites already ran (and were counted) in the test step; this is their table.
            Action::Conformance => flags::Conformance::default().run().map(drop),
            Action::Loom => {
                tally.add(flags::Loom::default().run()?);
                Ok(())
            }
        }
    }

    fn cargo(&self) -> std::process::Command {
        let mut words = self.command.split_whitespace();
        assert_eq!(
            words.next(),
            Some("cargo"),
            "a cargo step starts with `cargo`"
        );
        let mut cmd = util::cargo();
        cmd.args(words);
        cmd
    }
}

fn print_timings(timings: &[(&str, &str, Duration)]) {
    println!("\nci step      result      time");
    for (name, verdict, time) in timings {
        println!(
            "{name:<12} {verdict:<6} {:>9}",
            util::format_duration(*time)
        );
    }
    let total: Duration = timings.iter().map(|(_, _, time)| *time).sum();
    println!(
        "{:<12} {:<6} {:>9}",
        "total",
        "",
        util::format_duration(total)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.ci/run` must run every step, spelled the same way, in the same order.
    #[test]
    fn ci_script_runs_the_same_steps_in_the_same_order() {
        let path = util::project_root().join(".ci/run");
        let script = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let mut from = 0;
        for step in STEPS {
            let found = script[from..].find(step.command).unwrap_or_else(|| {
                panic!(
                    "{} does not run `{}` after the previous step",
                    path.display(),
                    step.command
                )
            });
            from += found + step.command.len();
        }
    }

    #[test]
    fn cargo_steps_pass_their_words_to_cargo() {
        let clippy = STEPS.iter().find(|step| step.name == "clippy").unwrap();
        let args: Vec<_> = clippy
            .cargo()
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings"
            ]
        );
    }
}
