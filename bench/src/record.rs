//! What a run writes and the report reads: the samples of every series of one workload, the
//! goals that compare them, and notes. Stored as JSON, one file per workload run.
//!
//! Every sample is "lower is better" (seconds, or bytes), so every ratio is
//! `anchor median / our median`: above 1 means we are faster (or smaller) by that factor.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// The figures of one workload metric (P4 has two metrics, so its run writes two of these).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// The workload that measured it, as `executor-bench list` names it: `p4`.
    pub workload: String,
    /// Short name, as the issues spell it: `T1`, `P4a`, `M1`.
    pub id: String,
    /// What was measured, in a few words.
    pub title: String,
    /// How a sample is shown.
    pub unit: Unit,
    /// `full`, `quick` or `smoke`.
    pub scale: String,
    /// Rounds measured per series (after one warm-up round, unless the scale is `smoke`).
    pub rounds: usize,
    /// Ours first, then the anchors, in the order they ran within a round.
    pub series: Vec<Series>,
    /// The goals of the issues, each a minimum ratio between one of ours and one anchor.
    pub goals: Vec<Goal>,
    /// Caveats worth a footnote: skipped anchors, workarounds, sizes.
    pub notes: Vec<String>,
    /// Cores other processes kept busy while the workload ran, on average (our own process
    /// tree excluded): near 0 on a quiet machine.
    #[serde(default)]
    pub others: Option<f64>,
    /// Cores the hypervisor stole while the workload ran, on average.
    #[serde(default)]
    pub steal: Option<f64>,
}

/// The figures of one sweep (`cargo xtask bench --sweeps`): one workload measured at several
/// sizes of one parameter, every series at every point, to show how its cost grows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFigures {
    /// The sweep that measured it, as `executor-bench sweep list` names it: `t1-submitters`.
    pub sweep: String,
    /// Short name: `T1 × submitters`.
    pub id: String,
    /// What was measured, in a few words.
    pub title: String,
    /// What the points are: `submitting threads`, `queued futures`.
    pub axis: String,
    /// How a sample is shown; the same at every point (a per-operation unit counts the same
    /// operations at every point).
    pub unit: Unit,
    /// `full`, `quick` or `smoke`.
    pub scale: String,
    /// Rounds measured per series at each point.
    pub rounds: usize,
    /// The points, in increasing order of the parameter.
    pub points: Vec<SweepPoint>,
    /// Caveats, skipped points among them.
    pub notes: Vec<String>,
    /// Cores other processes kept busy while the sweep ran, on average (as in [`Figures`]).
    #[serde(default)]
    pub others: Option<f64>,
    /// Cores the hypervisor stole while the sweep ran, on average.
    #[serde(default)]
    pub steal: Option<f64>,
}

/// One point of a sweep: the parameter's value and every series measured there (a series
/// skipped at this point is absent, and a note says why).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The parameter: 4 submitting threads, 1,000,000 queued futures.
    pub at: usize,
    /// The series measured at this point, ours first.
    pub series: Vec<Series>,
}

/// Whose figure a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// One of our executors.
    Ours,
    /// What we compare with: another library, CPython, a raw floor or the serial baseline.
    Anchor,
}

/// One contender's samples for one metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    /// Stable identifier, used by [`Goal`]s: `ours`, `rayon`, `cpython-fork`.
    pub key: String,
    /// What the table shows.
    pub label: String,
    /// Ours or an anchor.
    pub role: Role,
    /// One figure per round (seconds or bytes: lower is better).
    pub samples: Vec<f64>,
    /// Why the series stopped, if it failed.
    pub error: Option<String>,
}

impl Series {
    /// Median, min and max of the samples; `None` if there are none.
    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.samples)
    }
}

/// A goal from the issues: `anchor median / ours median >= min_ratio`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    /// Key of our series.
    pub ours: String,
    /// Key of the anchor series.
    pub anchor: String,
    /// The ratio that meets the goal.
    pub min_ratio: f64,
    /// The goal in the words, short: "≥ 50× CPython".
    pub text: String,
}

/// How a sample (seconds or bytes) is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Unit {
    /// Seconds for `ops` operations, shown per operation: `213 ns/task`.
    PerOp {
        /// Operations per sample.
        ops: f64,
        /// What one operation is called: `task`, `round trip`, `item`.
        name: String,
    },
    /// Seconds, shown as they are: `12.3 ms`.
    Total,
    /// Seconds to move `bytes` bytes, shown as MB/s (10^6 bytes per second).
    Throughput {
        /// Bytes moved per sample.
        bytes: f64,
    },
    /// Bytes, already divided per item by the measurement: `97 B/future`.
    BytesEach {
        /// What one item is called.
        name: String,
    },
    /// Bytes, shown in MiB.
    Bytes,
}

impl Unit {
    /// One sample, shown in this unit.
    pub fn show(&self, sample: f64) -> String {
        match self {
            Unit::PerOp { ops, name } => format!("{}/{name}", seconds(sample / ops)),
            Unit::Total => seconds(sample),
            Unit::Throughput { bytes } => format!("{} MB/s", significant(bytes / sample / 1e6)),
            Unit::BytesEach { name } => format!("{} B/{name}", significant(sample)),
            Unit::Bytes => format!("{} MiB", significant(sample / (1024.0 * 1024.0))),
        }
    }

    /// A summary shown as `median (min–max)`, the range in display order.
    pub fn show_summary(&self, summary: &Summary) -> String {
        let (low, high) = match self {
            // Less time is more throughput: the fastest sample is the top of the range.
            Unit::Throughput { .. } => (summary.max, summary.min),
            _ => (summary.min, summary.max),
        };
        format!(
            "{} ({}–{})",
            self.show(summary.median),
            self.show_bare(low),
            self.show_bare(high)
        )
    }

    /// A sample as the figure [`Unit::show`] displays, as a number (seconds per operation,
    /// MB/s, bytes): what a chart plots.
    pub fn displayed(&self, sample: f64) -> f64 {
        match self {
            Unit::PerOp { ops, .. } => sample / ops,
            Unit::Throughput { bytes } => bytes / sample / 1e6,
            Unit::Total | Unit::BytesEach { .. } | Unit::Bytes => sample,
        }
    }

    /// As [`Unit::show`], without the `/item` suffix (for ranges and chart axes).
    pub fn show_bare(&self, sample: f64) -> String {
        let shown = self.show(sample);
        match shown.split_once('/') {
            Some((value, _)) if !matches!(self, Unit::Throughput { .. }) => value.to_owned(),
            _ => shown,
        }
    }
}

/// Seconds with a unit that keeps three significant digits: `213 ns`, `4.56 µs`, `1.20 s`.
pub fn seconds(value: f64) -> String {
    let (scaled, unit) = if value >= 1.0 {
        (value, "s")
    } else if value >= 1e-3 {
        (value * 1e3, "ms")
    } else if value >= 1e-6 {
        (value * 1e6, "µs")
    } else {
        (value * 1e9, "ns")
    };
    format!("{} {unit}", significant(scaled))
}

/// Three significant digits, no exponent: `0.123`, `4.56`, `78.9`, `1234`.
pub fn significant(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_show_readable_figures() {
        let per_task = Unit::PerOp {
            ops: 1000.0,
            name: "task".into(),
        };
        assert_eq!(per_task.show(0.000_213), "213 ns/task");
        assert_eq!(Unit::Total.show(0.0123), "12.3 ms");
        assert_eq!(Unit::Throughput { bytes: 2e9 }.show(1.0), "2000 MB/s");
        assert_eq!(Unit::Bytes.show(3.0 * 1024.0 * 1024.0), "3.00 MiB");
        let summary = Summary::of(&[0.002, 0.001, 0.004]).unwrap();
        assert_eq!(
            per_task.show_summary(&summary),
            "2.00 µs/task (1.00 µs–4.00 µs)"
        );
        let throughput = Unit::Throughput { bytes: 1e6 };
        assert_eq!(
            throughput.show_summary(&summary),
            "500 MB/s (250 MB/s–1000 MB/s)"
        );
    }
}
