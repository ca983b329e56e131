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
        Machine::at(None)
    }

    /// As [`Machine::now`], dated `when` (seconds since the Unix epoch) if given: the time the
    /// figures were written, rather than the time the report is rendered.
    pub fn at(when: Option<u64>) -> Machine {
        let date = match when {
            Some(seconds) => command_line(
                "date",
                &["-u", "-d", &format!("@{seconds}"), "+%Y-%m-%d %H:%M UTC"],
            ),
            None => command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        };
        Machine {
            date,
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

/// CPU time spent on the whole machine and by this process with its reaped children, at one
/// instant: two of them tell how much of the machine other processes used in between.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    at: std::time::Instant,
    /// Seconds every CPU spent running anything (user, nice, system, irq, softirq).
    machine_busy: f64,
    /// Seconds the hypervisor ran something else while a CPU of ours wanted to run.
    steal: f64,
    /// Seconds of CPU used by this process and its children that have been waited for.
    own: f64,
}

/// What other processes took from the machine between two [`CpuSnapshot`]s, in cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interference {
    /// Average number of cores busy with processes other than ours.
    pub others: f64,
    /// Average number of cores stolen by the hypervisor.
    pub steal: f64,
}

impl CpuSnapshot {
    /// Now; `None` where `/proc/stat` cannot be read.
    pub fn now() -> Option<CpuSnapshot> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|field| field.parse().unwrap_or(0.0))
            .collect();
        // user nice system idle iowait irq softirq steal (in USER_HZ: 100 per second).
        let field = |index: usize| ticks.get(index).copied().unwrap_or(0.0) / 100.0;
        let machine_busy = field(0) + field(1) + field(2) + field(5) + field(6);
        Some(CpuSnapshot {
            at: std::time::Instant::now(),
            machine_busy,
            steal: field(7),
            own: own_cpu_seconds(),
        })
    }

    /// What others used from `self` to `later`, averaged over the wall time between them.
    pub fn interference_until(&self, later: &CpuSnapshot) -> Interference {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let others = (later.machine_busy - self.machine_busy) - (later.own - self.own);
        Interference {
            others: (others / wall).max(0.0),
            steal: ((later.steal - self.steal) / wall).max(0.0),
        }
    }
}

/// User and system seconds of this process and of its children that have been waited for.
fn own_cpu_seconds() -> f64 {
    let seconds = |who| {
        // SAFETY: `rusage` is plain data, valid when zeroed.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `getrusage` writes one `rusage` into the valid, exclusively borrowed `usage`.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            return 0.0;
        }
        let time = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        time(usage.ru_utime) + time(usage.ru_stime)
    };
    seconds(libc::RUSAGE_SELF) + seconds(libc::RUSAGE_CHILDREN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interference_is_what_others_used() {
        let Some(before) = CpuSnapshot::now() else {
            return;
        };
        let later = CpuSnapshot {
            at: before.at + std::time::Duration::from_secs(2),
            machine_busy: before.machine_busy + 3.0,
            steal: before.steal + 0.2,
            own: before.own + 2.0,
        };
        let interference = before.interference_until(&later);
        assert!((interference.others - 0.5).abs() < 1e-9);
        assert!((interference.steal - 0.1).abs() < 1e-9);
    }
}
