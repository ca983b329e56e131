//! The command line of `executor-bench`, which `cargo xtask bench` drives:
//!
//! ```text
//! executor-bench list [ONLY]                            workload names, one per line
//! executor-bench run WORKLOAD [--scale full|quick|smoke] [--no-python] --out FILE.json
//! executor-bench report --results DIR --md FILE --svg FILE [--load-before "1.0 0.8 0.5"]
//! executor-bench __child MODE ...                       internal: floors' and memory children
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalog;
use crate::context::Context;
use crate::harness::Scale;
use crate::machine::{CpuSnapshot, Machine};
use crate::{chart, floors, memory, report};

const USAGE: &str = "\
usage: executor-bench list [WORKLOAD,GROUP,...]
       executor-bench run WORKLOAD [--scale full|quick|smoke] [--no-python] --out FILE.json
       executor-bench report --results DIR --md FILE --svg FILE [--load-before LOAD]
(normally run by `cargo xtask bench`)";

/// Runs the command in `args` (without the program name).
pub fn main(args: Vec<String>) -> ExitCode {
    match dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("executor-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: Vec<String>) -> Result<(), String> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("list") => {
            let only = args.next().unwrap_or_else(|| "all".to_owned());
            for workload in catalog::select(&only)? {
                println!("{}", workload.name);
            }
            Ok(())
        }
        Some("run") => run(args.collect()),
        Some("report") => report_command(args.collect()),
        Some("__child") => child(args.collect()),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

/// Flags of the form `--name value` and `--switch`.
struct Flags {
    positional: Vec<String>,
    pairs: Vec<(String, Option<String>)>,
}

impl Flags {
    fn parse(args: Vec<String>, switches: &[&str]) -> Result<Flags, String> {
        let mut flags = Flags {
            positional: Vec::new(),
            pairs: Vec::new(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with("--") {
                flags.positional.push(arg);
            } else if switches.contains(&arg.as_str()) {
                flags.pairs.push((arg, None));
            } else {
                let value = args
                    .next()
                    .ok_or_else(|| format!("`{arg}` needs a value"))?;
                flags.pairs.push((arg, Some(value)));
            }
        }
        Ok(flags)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(flag, _)| flag == name)
            .and_then(|(_, value)| value.as_deref())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name)
            .ok_or_else(|| format!("`{name}` is required\n{USAGE}"))
    }

    fn switch(&self, name: &str) -> bool {
        self.pairs.iter().any(|(flag, _)| flag == name)
    }

    fn only_known(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(flag, _)| !known.contains(&flag.as_str()))
        {
            Some((flag, _)) => Err(format!("unknown flag `{flag}`\n{USAGE}")),
            None => Ok(()),
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let flags = Flags::parse(args, &["--no-python"])?;
    flags.only_known(&["--scale", "--no-python", "--out"])?;
    let [name] = flags.positional.as_slice() else {
        return Err(format!("`run` takes one workload name\n{USAGE}"));
    };
    let workloads = catalog::select(name)?;
    let scale_name = flags.value("--scale").unwrap_or("full");
    let scale = Scale::parse(scale_name).ok_or_else(|| format!("unknown scale `{scale_name}`"))?;
    let out = PathBuf::from(flags.required("--out")?);
    let mut figures = Vec::new();
    for workload in workloads {
        let before = CpuSnapshot::now();
        // A context per workload: dropping it reaps the CPython interpreter, so its CPU time
        // counts as ours below, not as someone else's.
        let measured = {
            let cx = Context::new(scale, !flags.switch("--no-python"));
            (workload.run)(&cx)
        };
        let interference = before
            .zip(CpuSnapshot::now())
            .map(|(before, after)| before.interference_until(&after));
        for mut metric in measured {
            metric.workload = workload.name.to_owned();
            metric.others = interference.map(|found| found.others);
            metric.steal = interference.map(|found| found.steal);
            figures.push(metric);
        }
    }
    let json = serde_json::to_string_pretty(&figures).map_err(|error| error.to_string())?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    std::fs::write(&out, json).map_err(|error| format!("writing {}: {error}", out.display()))
}

fn report_command(args: Vec<String>) -> Result<(), String> {
    let flags = Flags::parse(args, &[])?;
    flags.only_known(&["--results", "--md", "--svg", "--load-before"])?;
    let results = PathBuf::from(flags.required("--results")?);
    let all = report::load(&results)?;
    if all.is_empty() {
        return Err("no results to report".to_owned());
    }
    let machine = Machine::at(report::written(&results));
    let markdown = report::markdown(&all, &machine, flags.value("--load-before"));
    let svg = chart::svg(
        &report::judge(&all),
        &format!("executor: ratios against the goals ({})", machine.date),
    )?;
    for (flag, text) in [("--md", &markdown), ("--svg", &svg)] {
        let path = PathBuf::from(flags.required(flag)?);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("creating {}: {error}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
    }
    println!("{markdown}");
    Ok(())
}

/// The internal child modes: `exit`, `ipc-echo SERVER`, `ipc-bytes SERVER`, `m1 ...`, `m2 ...`.
fn child(args: Vec<String>) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("exit") => Ok(()),
        Some("ipc-echo") => floors::echo_child(args.get(1).ok_or("ipc-echo needs a server")?),
        Some("ipc-bytes") => floors::bytes_child(args.get(1).ok_or("ipc-bytes needs a server")?),
        Some("m1" | "m2") => memory::child_main(&args),
        _ => Err(format!("unknown child mode {args:?}")),
    }
}
