//! The command line of `executor-bench`, which `cargo xtask bench` drives:
//!
//! ```text
//! executor-bench list [ONLY]                            workload names, one per line
//! executor-bench run WORKLOAD [--scale full|quick|smoke] [--no-python] --out FILE.json
//! executor-bench report --results DIR --md FILE --svg FILE [--load-before "1.0 0.8 0.5"]
//! executor-bench sweep list [ONLY]                      sweep names, one per line
//! executor-bench sweep run SWEEP [--scale ...] [--no-python] --out FILE.json
//! executor-bench sweep report --results DIR --md FILE [--load-before LOAD]
//! executor-bench __child MODE ...                       internal: floors' and memory children
//! ```
//!
//! `sweep report` writes each sweep's chart beside the markdown file and keeps the hand-written
//! analysis at the end of the previous one (see [`crate::sweep_report`]).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalog;
use crate::context::Context;
use crate::harness::Scale;
use crate::machine::{CpuSnapshot, Interference, Machine};
use crate::{chart, floors, memory, report, shm_floor, sweep_report, sweeps};

const USAGE: &str = "\
usage: executor-bench list [WORKLOAD,GROUP,...]
       executor-bench run WORKLOAD [--scale full|quick|smoke] [--no-python] --out FILE.json
       executor-bench report --results DIR --md FILE --svg FILE [--load-before LOAD]
       executor-bench sweep list [SWEEP,...]
       executor-bench sweep run SWEEP [--scale full|quick|smoke] [--no-python] --out FILE.json
       executor-bench sweep report --results DIR --md FILE [--load-before LOAD]
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
        Some("sweep") => match args.next().as_deref() {
            Some("list") => {
                let only = args.next().unwrap_or_else(|| "all".to_owned());
                for sweep in sweeps::select(&only)? {
                    println!("{}", sweep.name);
                }
                Ok(())
            }
            Some("run") => sweep_run(args.collect()),
            Some("report") => sweep_report_command(args.collect()),
            other => Err(format!(
                "`sweep` takes list, run or report, not {other:?}\n{USAGE}"
            )),
        },
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

/// What `run` and `sweep run` read: the one name, the scale, whether CPython runs, the output.
struct RunFlags {
    name: String,
    scale: Scale,
    with_python: bool,
    out: PathBuf,
}

impl RunFlags {
    fn parse(args: Vec<String>, command: &str) -> Result<RunFlags, String> {
        let flags = Flags::parse(args, &["--no-python"])?;
        flags.only_known(&["--scale", "--no-python", "--out"])?;
        let [name] = flags.positional.as_slice() else {
            return Err(format!("`{command}` takes one name\n{USAGE}"));
        };
        let scale_name = flags.value("--scale").unwrap_or("full");
        Ok(RunFlags {
            name: name.clone(),
            scale: Scale::parse(scale_name)
                .ok_or_else(|| format!("unknown scale `{scale_name}`"))?,
            with_python: !flags.switch("--no-python"),
            out: PathBuf::from(flags.required("--out")?),
        })
    }

    /// Runs `measure` with a fresh context, and says how busy other processes kept the CPUs
    /// meanwhile (`others`, `steal`).
    fn measure<T>(&self, measure: impl FnOnce(&Context) -> T) -> (T, Option<Interference>) {
        let before = CpuSnapshot::now();
        // A context per workload: dropping it reaps the CPython interpreter, so its CPU time
        // counts as ours below, not as someone else's.
        let measured = {
            let cx = Context::new(self.scale, self.with_python);
            measure(&cx)
        };
        let interference = before
            .zip(CpuSnapshot::now())
            .map(|(before, after)| before.interference_until(&after));
        (measured, interference)
    }

    fn write(&self, figures: &impl serde::Serialize) -> Result<(), String> {
        let json = serde_json::to_string_pretty(figures).map_err(|error| error.to_string())?;
        write_file(&self.out, &json)
    }
}

/// Writes `text` to `path`, making its directory if needed.
fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|error| format!("writing {}: {error}", path.display()))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let flags = RunFlags::parse(args, "run")?;
    let workloads = catalog::select(&flags.name)?;
    let mut figures = Vec::new();
    for workload in workloads {
        let (measured, interference) = flags.measure(workload.run);
        for mut metric in measured {
            metric.workload = workload.name.to_owned();
            metric.others = interference.map(|found| found.others);
            metric.steal = interference.map(|found| found.steal);
            figures.push(metric);
        }
    }
    flags.write(&figures)
}

fn sweep_run(args: Vec<String>) -> Result<(), String> {
    let flags = RunFlags::parse(args, "sweep run")?;
    let mut figures = Vec::new();
    for sweep in sweeps::select(&flags.name)? {
        let (mut measured, interference) = flags.measure(sweep.run);
        measured.others = interference.map(|found| found.others);
        measured.steal = interference.map(|found| found.steal);
        figures.push(measured);
    }
    flags.write(&figures)
}

fn sweep_report_command(args: Vec<String>) -> Result<(), String> {
    let flags = Flags::parse(args, &[])?;
    flags.only_known(&["--results", "--md", "--load-before"])?;
    let results = PathBuf::from(flags.required("--results")?);
    let all = sweep_report::load(&results)?;
    if all.is_empty() {
        return Err("no sweeps to report".to_owned());
    }
    let markdown_path = PathBuf::from(flags.required("--md")?);
    let previous = std::fs::read_to_string(&markdown_path).unwrap_or_default();
    let machine = Machine::at(report::written(&results));
    let markdown = sweep_report::markdown(
        &all,
        &machine,
        flags.value("--load-before"),
        sweep_report::analysis_of(&previous),
    );
    let dir = markdown_path.parent().unwrap_or(std::path::Path::new("."));
    for sweep in &all {
        let svg = sweep_report::chart(sweep)?;
        write_file(&dir.join(sweep_report::chart_file(&sweep.sweep)), &svg)?;
    }
    write_file(&markdown_path, &markdown)?;
    println!("{markdown}");
    Ok(())
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
        write_file(&PathBuf::from(flags.required(flag)?), text)?;
    }
    println!("{markdown}");
    Ok(())
}

/// The internal child modes: `exit`, `ipc-echo SERVER`, `ipc-bytes SERVER`, `shm-echo`, `m1 ...`,
/// `m2 ...`.
fn child(args: Vec<String>) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("exit") => Ok(()),
        Some("ipc-echo") => floors::echo_child(args.get(1).ok_or("ipc-echo needs a server")?),
        Some("ipc-bytes") => floors::bytes_child(args.get(1).ok_or("ipc-bytes needs a server")?),
        Some("shm-echo") => shm_floor::echo_child(),
        Some("m1" | "m2") => memory::child_main(&args),
        _ => Err(format!("unknown child mode {args:?}")),
    }
}
