//! `cargo xtask loom`: model-checks the concurrency protocols by running every `loom*` test
//! target in the workspace under `--cfg executor_loom`.
//!
//! The run is `--release` (loom explores thousands of interleavings) with
//! `LOOM_MAX_PREEMPTIONS` bounded (default 2, as tokio and crossbeam run it in CI), and builds
//! into `<target>/loom`: the changed `RUSTFLAGS` would otherwise throw away the normal build.

use std::ffi::OsString;

use crate::flags;
use crate::libtest::{Event, Reader, Tally};
use crate::util::{self, Result};
use crate::workspace::{Target, Workspace};

/// The cfg every crate's `sync` shim switches to loom on.
const LOOM_CFG: [&str; 2] = ["--cfg", "executor_loom"];

impl flags::Loom {
    /// Runs the loom targets package by package and returns the totals; fails, naming the
    /// command, if any of them failed.
    pub(crate) fn run(&self) -> Result<Tally> {
        let workspace = Workspace::load()?;
        let mut by_package: Vec<(&str, Vec<&Target>)> = Vec::new();
        for (package, target) in workspace.test_targets("loom") {
            match by_package
                .iter_mut()
                .find(|(name, _)| *name == package.name)
            {
                Some((_, targets)) => targets.push(target),
                None => by_package.push((&package.name, vec![target])),
            }
        }
        if by_package.is_empty() {
            println!("loom: no loom* test targets in the workspace yet; nothing to run");
            return Ok(Tally::default());
        }

        let target_dir = workspace.target_directory.join("loom");
        // Cargo reads CARGO_ENCODED_RUSTFLAGS (flags split by 0x1f) instead of RUSTFLAGS when
        // it is set; add the cfg to whichever the caller uses.
        let rustflags = match std::env::var_os("CARGO_ENCODED_RUSTFLAGS") {
            Some(encoded) => (
                "CARGO_ENCODED_RUSTFLAGS",
                with_loom_cfg(Some(encoded), "\x1f"),
            ),
            None => (
                "RUSTFLAGS",
                with_loom_cfg(std::env::var_os("RUSTFLAGS"), " "),
            ),
        };
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        for (package, targets) in by_package {
            util::section(&format!("loom: {package}"));
            let mut cmd = util::cargo();
            cmd.env(rustflags.0, &rustflags.1)
                .env("LOOM_MAX_PREEMPTIONS", self.preemptions.to_string())
                .env("CARGO_TARGET_DIR", &target_dir)
                .args(["test", "--release", "-p", package]);
            let mut features: Vec<&str> = Vec::new();
            for target in &targets {
                cmd.args(["--test", &target.name]);
                for feature in &target.required_features {
                    if !features.contains(&feature.as_str()) {
                        features.push(feature);
                    }
                }
            }
            if !features.is_empty() {
                cmd.arg("--features").arg(features.join(","));
            }

            let mut reader = Reader::default();
            let status = util::stream(&mut cmd, |line, _| {
                if let Some(Event::Summary(summary)) = reader.feed(line) {
                    tally.add_summary(&summary);
                }
            })?;
            if let Err(error) = util::check(&cmd, status) {
                failures.push(error.to_string());
            }
        }
        println!("{}", tally.closing_line("loom"));
        if failures.is_empty() {
            Ok(tally)
        } else {
            Err(failures.join("\n").into())
        }
    }
}

/// The caller's flags with the loom cfg added (`-D warnings` and the like still apply), joined
/// by `separator`.
fn with_loom_cfg(existing: Option<OsString>, separator: &str) -> OsString {
    let mut flags = existing.unwrap_or_default();
    for word in LOOM_CFG {
        if !flags.is_empty() {
            flags.push(separator);
        }
        flags.push(word);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_callers_rustflags() {
        assert_eq!(with_loom_cfg(None, " "), "--cfg executor_loom");
        assert_eq!(with_loom_cfg(Some("".into()), " "), "--cfg executor_loom");
        assert_eq!(
            with_loom_cfg(Some("-D warnings".into()), " "),
            "-D warnings --cfg executor_loom"
        );
        assert_eq!(
            with_loom_cfg(Some("-Dwarnings".into()), "\x1f"),
            "-Dwarnings\x1f--cfg\x1fexecutor_loom"
        );
    }
}
