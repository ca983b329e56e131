//! The command line of `cargo xtask`, parsed by hand: one struct per command, one `match` arm each.

use std::collections::VecDeque;
use std::path::PathBuf;

/// What `cargo xtask help` prints, and what a usage error is followed by.
pub(crate) const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  conformance [--backend NAME] [--json PATH] [--release]
        build and run every backend's conformance suite (tests/conformance*.rs) and print a
        table of passed / failed / skipped checks per backend and check group
  loom [--preemptions N]
        run every loom_* test target under --cfg executor_loom, in release, in <target>/loom
        (LOOM_MAX_PREEMPTIONS=N, default 2)
  bench [--quick] [--only WORKLOAD[,...]] [--no-python] [--sweeps]
        build bench/ in release and run every workload (T1-T3, P1-P5, C1, M1-M2, MPI1-MPI5)
        beside CPython, rayon, procspawn, mpi4py.futures and the raw floors; print the
        table; a full run waits for a quiet machine before each workload and, when it
        runs everything, writes docs/bench/latest.md and ratios.svg; others write
        <target>/bench/
        (--only: t1 ... m2, mpi1 ... mpi5, threads, process, memory, mpi, c1;
        mpi3-mpi5 run across a simulated two-host cluster, root only)
        --sweeps: how cost grows with work instead: T1 from 1, 2, 4, 8 submitting threads,
        M1 from 1,000 to 10,000,000 queued futures, P1 on 1, 2, 4, 8 worker processes;
        a full run of all three writes docs/bench/sweeps.md and a chart per sweep,
        keeping its hand-written analysis (--only: t1-submitters, m1-queued, p1-workers;
        --quick: under two minutes, up to 1,000,000 queued)
  fuzz [--iterations N] [--seed S]
        the hostile-worker fuzz of the process pool (executor-process/tests/hostile.rs) at
        length, in release: N randomly mutated result frames (default 100000), each of which
        must end typed while the pool keeps serving
  soak [--tasks N] [--workers W] [--seed S]
        the process pool's soak (executor-process/tests/soak.rs) at length, in release: N tasks
        (default 200000) on W workers (default 2), a random mix of values, panics, aborts,
        segfaults and time limits; reports outcomes by kind, lost futures (must be 0), and
        descriptors, threads, RSS and zombies before and after
  cluster check|up|down [--name NAME]
        the simulated two-host MPI cluster of scripts/cluster.sh (root, iproute2): hosts
        NAMEa and NAMEb (default NAME: cf), each its own network and UTS namespace, joined
        by TCP; `check` says whether namespaces can be made here, `down` removes the
        namespaces and kills what runs in them
  ci    the exact sequence .ci/run runs: fmt, clippy, tests, conformance, loom, with timings
  tidy  the repository rules that `cargo test -p xtask` also enforces
  help  this text";

/// One parsed invocation.
#[derive(Debug)]
pub(crate) enum Xtask {
    Help,
    Conformance(Conformance),
    Loom(Loom),
    Bench(Bench),
    Ci(Ci),
    Tidy(Tidy),
    Fuzz(Fuzz),
    Soak(Soak),
    Cluster(Cluster),
}

/// `cargo xtask cluster`.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// `check`, `up` or `down`.
    pub(crate) action: ClusterAction,
    /// The cluster's name: its hosts are `NAMEa` and `NAMEb`.
    pub(crate) name: String,
}

/// What `cargo xtask cluster` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterAction {
    Check,
    Up,
    Down,
}

/// `cargo xtask soak`.
#[derive(Debug)]
pub(crate) struct Soak {
    /// How many tasks.
    pub(crate) tasks: u64,
    /// How many workers.
    pub(crate) workers: u64,
    /// The seed of the mix.
    pub(crate) seed: u64,
}

impl Default for Soak {
    fn default() -> Self {
        Self {
            tasks: 200_000,
            workers: 2,
            seed: 1,
        }
    }
}

/// `cargo xtask fuzz`.
#[derive(Debug)]
pub(crate) struct Fuzz {
    /// How many mutated frames.
    pub(crate) iterations: u64,
    /// The seed; each iteration's case seed is derived from it.
    pub(crate) seed: u64,
}

impl Default for Fuzz {
    fn default() -> Self {
        Self {
            iterations: 100_000,
            seed: 1,
        }
    }
}

/// `cargo xtask conformance`.
#[derive(Debug, Default)]
pub(crate) struct Conformance {
    /// Run only the backend with this name (or every backend of this package).
    pub(crate) backend: Option<String>,
    /// Also write the results as JSON to this file.
    pub(crate) json: Option<PathBuf>,
    /// Build the suites with `--release`.
    pub(crate) release: bool,
}

/// `cargo xtask loom`.
#[derive(Debug)]
pub(crate) struct Loom {
    /// `LOOM_MAX_PREEMPTIONS`: how many preemptions loom explores per execution.
    pub(crate) preemptions: u32,
}

impl Default for Loom {
    fn default() -> Self {
        Self { preemptions: 2 }
    }
}

/// `cargo xtask bench`.
#[derive(Debug, Default)]
pub(crate) struct Bench {
    /// A tenth of the sizes and fewer rounds: a check that finishes in under two minutes.
    pub(crate) quick: bool,
    /// Only these workloads or groups (comma-separated), as `executor-bench list` names them.
    pub(crate) only: Option<String>,
    /// Skip the CPython anchors.
    pub(crate) no_python: bool,
    /// Run the sweeps (`docs/bench/sweeps.md`) instead of the workloads.
    pub(crate) sweeps: bool,
}

/// `cargo xtask ci`.
#[derive(Debug, Default)]
pub(crate) struct Ci;

/// `cargo xtask tidy`.
#[derive(Debug, Default)]
pub(crate) struct Tidy;

impl Xtask {
    /// Parses the arguments after the program name.
    pub(crate) fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut args = Args(args.into_iter().collect());
        let Some(command) = args.0.pop_front() else {
            return Ok(Self::Help);
        };
        let parsed = match command.as_str() {
            "help" | "--help" | "-h" => Self::Help,
            "conformance" => {
                let mut cmd = Conformance::default();
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--backend" => cmd.backend = Some(args.value(&flag)?),
                        "--json" => {
                            // Relative to where the user stands: main moves to the root later.
                            let path = args.value(&flag)?;
                            cmd.json = Some(
                                std::path::absolute(&path)
                                    .map_err(|error| format!("--json {path}: {error}"))?,
                            );
                        }
                        "--release" => cmd.release = true,
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Conformance(cmd)
            }
            "loom" => {
                let mut cmd = Loom::default();
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--preemptions" => {
                            let value = args.value(&flag)?;
                            cmd.preemptions = value.parse().map_err(|_| {
                                format!("--preemptions takes a whole number, not `{value}`")
                            })?;
                        }
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Loom(cmd)
            }
            "bench" => {
                let mut cmd = Bench::default();
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--quick" => cmd.quick = true,
                        "--only" => cmd.only = Some(args.value(&flag)?),
                        "--no-python" => cmd.no_python = true,
                        "--sweeps" => cmd.sweeps = true,
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Bench(cmd)
            }
            "fuzz" => {
                let mut cmd = Fuzz::default();
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--iterations" => cmd.iterations = args.number(&flag)?,
                        "--seed" => cmd.seed = args.number(&flag)?,
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Fuzz(cmd)
            }
            "soak" => {
                let mut cmd = Soak::default();
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--tasks" => cmd.tasks = args.number(&flag)?,
                        "--workers" => cmd.workers = args.number(&flag)?,
                        "--seed" => cmd.seed = args.number(&flag)?,
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Soak(cmd)
            }
            "cluster" => {
                let action = match args.0.pop_front().as_deref() {
                    Some("check") => ClusterAction::Check,
                    Some("up") => ClusterAction::Up,
                    Some("down") => ClusterAction::Down,
                    other => {
                        return Err(format!("`cluster` takes check, up or down, not {other:?}"));
                    }
                };
                let mut cmd = Cluster {
                    action,
                    name: "cf".to_owned(),
                };
                while let Some(flag) = args.next_flag()? {
                    match flag.as_str() {
                        "--name" => cmd.name = args.value(&flag)?,
                        _ => return Err(unknown(&command, &flag)),
                    }
                }
                Self::Cluster(cmd)
            }
            "ci" => {
                args.no_flags(&command)?;
                Self::Ci(Ci)
            }
            "tidy" => {
                args.no_flags(&command)?;
                Self::Tidy(Tidy)
            }
            other => return Err(format!("unknown command `{other}`")),
        };
        Ok(parsed)
    }
}

fn unknown(command: &str, flag: &str) -> String {
    format!("`{command}` does not take `{flag}`")
}

/// The arguments after the command name; `--flag=value` is split into flag and value.
struct Args(VecDeque<String>);

impl Args {
    fn next_flag(&mut self) -> Result<Option<String>, String> {
        let Some(arg) = self.0.pop_front() else {
            return Ok(None);
        };
        if !arg.starts_with("--") {
            return Err(format!("unexpected argument `{arg}`"));
        }
        match arg.split_once('=') {
            Some((flag, value)) => {
                self.0.push_front(value.to_owned());
                Ok(Some(flag.to_owned()))
            }
            None => Ok(Some(arg)),
        }
    }

    fn value(&mut self, flag: &str) -> Result<String, String> {
        self.0
            .pop_front()
            .ok_or_else(|| format!("`{flag}` needs a value"))
    }

    /// The value of `flag`, as a whole number.
    fn number(&mut self, flag: &str) -> Result<u64, String> {
        let value = self.value(flag)?;
        value
            .parse()
            .map_err(|_| format!("{flag} takes a whole number, not `{value}`"))
    }

    fn no_flags(&mut self, command: &str) -> Result<(), String> {
        match self.0.pop_front() {
            None => Ok(()),
            Some(arg) => Err(format!("`{command}` takes no arguments, got `{arg}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Xtask, String> {
        Xtask::from_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn conformance_flags_in_both_spellings() {
        let Ok(Xtask::Conformance(cmd)) = parse(&[
            "conformance",
            "--backend",
            "threads",
            "--json=out.json",
            "--release",
        ]) else {
            panic!("expected a conformance command");
        };
        assert_eq!(cmd.backend.as_deref(), Some("threads"));
        assert_eq!(
            cmd.json,
            Some(std::env::current_dir().unwrap().join("out.json"))
        );
        assert!(cmd.release);
    }

    #[test]
    fn loom_preemptions_default_and_explicit() {
        let Ok(Xtask::Loom(cmd)) = parse(&["loom"]) else {
            panic!("expected a loom command");
        };
        assert_eq!(cmd.preemptions, 2);
        let Ok(Xtask::Loom(cmd)) = parse(&["loom", "--preemptions", "3"]) else {
            panic!("expected a loom command");
        };
        assert_eq!(cmd.preemptions, 3);
        assert!(parse(&["loom", "--preemptions", "many"]).is_err());
    }

    #[test]
    fn bench_flags() {
        let Ok(Xtask::Bench(cmd)) = parse(&["bench", "--quick", "--only=t1,p2"]) else {
            panic!("expected a bench command");
        };
        assert!(cmd.quick && !cmd.no_python && !cmd.sweeps);
        assert_eq!(cmd.only.as_deref(), Some("t1,p2"));
        assert!(parse(&["bench", "--only"]).is_err());
        let Ok(Xtask::Bench(cmd)) = parse(&["bench", "--sweeps", "--only", "m1-queued"]) else {
            panic!("expected a bench command");
        };
        assert!(cmd.sweeps && !cmd.quick);
        assert_eq!(cmd.only.as_deref(), Some("m1-queued"));
    }

    #[test]
    fn fuzz_flags() {
        let Xtask::Fuzz(cmd) = parse(&["fuzz"]).unwrap() else {
            panic!("fuzz");
        };
        assert_eq!((cmd.iterations, cmd.seed), (100_000, 1));
        let Xtask::Fuzz(cmd) = parse(&["fuzz", "--iterations", "5", "--seed=9"]).unwrap() else {
            panic!("fuzz");
        };
        assert_eq!((cmd.iterations, cmd.seed), (5, 9));
        assert!(parse(&["fuzz", "--iterations", "many"]).is_err());
    }

    #[test]
    fn cluster_flags() {
        let Xtask::Cluster(cmd) = parse(&["cluster", "up", "--name", "t1"]).unwrap() else {
            panic!("cluster");
        };
        assert_eq!((cmd.action, cmd.name.as_str()), (ClusterAction::Up, "t1"));
        assert!(parse(&["cluster"]).is_err());
        assert!(parse(&["cluster", "sideways"]).is_err());
    }

    #[test]
    fn soak_flags() {
        let Xtask::Soak(cmd) = parse(&["soak", "--tasks", "10", "--workers", "4"]).unwrap() else {
            panic!("soak");
        };
        assert_eq!((cmd.tasks, cmd.workers, cmd.seed), (10, 4, 1));
        assert!(parse(&["soak", "--workers"]).is_err());
    }

    #[test]
    fn mistakes_are_errors_not_guesses() {
        assert!(parse(&["conformance", "--backend"]).is_err());
        assert!(parse(&["conformance", "--bogus"]).is_err());
        assert!(parse(&["conformance", "stray"]).is_err());
        assert!(parse(&["ci", "--fast"]).is_err());
        assert!(parse(&["deploy"]).is_err());
        assert!(matches!(parse(&[]), Ok(Xtask::Help)));
    }
}
