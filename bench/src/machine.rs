//! Where and when the figures were taken: date, `uname -a`, CPU model, cores and load.

use std::process::Command;

/// The facts the report prints above the table.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `2026-05-01 14:36 UTC`.
    pub date: String,
    /// `uname -a`.
    pub uname: String,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// `/proc/loadavg`'s three load averages, now.
    pub load: String,
}

impl Machine {
    /// Reads them now; what cannot be read says so.
    pub fn now() -> Machine {
        Machine {
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            uname: command_line("uname", &["-a"]),
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            load: load_average(),
        }
    }
}

/// The first line a command prints, or `unknown (why)`.
fn command_line(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        Ok(output) => format!("unknown (`{program}` failed: {})", output.status),
        Err(error) => format!("unknown (`{program}`: {error})"),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The 1, 5 and 15 minute load averages: `1.82 2.70 1.50`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}
