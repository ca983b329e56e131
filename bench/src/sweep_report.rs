//! The sweeps' report: `sweeps.md`, with, for each sweep, a table of every series at every
//! point and its growth from the first point to the last, and a table of the ratios peer ÷ ours
//! at each point; and one chart per sweep, `sweep-NAME.svg`, beside it.
//!
//! The analysis of a run is written by hand: a `## Analysis` section at the end of an existing
//! `sweeps.md` is kept, as it is, when the report is rendered again.

use std::fmt::Write;
use std::path::Path;

use crate::chart::{self, Line};
use crate::context::thousands;
use crate::machine::Machine;
use crate::record::{Role, Series, SweepFigures, Unit, seconds, significant};
use crate::report::{busy_line, dedup, measured_on, read_all, show_ratio};
use crate::stats::{self, Summary};
use crate::sweeps;

/// The heading the hand-written analysis starts with.
pub const ANALYSIS: &str = "## Analysis";

/// Reads every `*.json` file of `dir` (each a list of [`SweepFigures`]), in report order.
pub fn load(dir: &Path) -> Result<Vec<SweepFigures>, String> {
    let mut all: Vec<SweepFigures> = read_all(dir)?;
    all.sort_by_key(|sweep| sweeps::position(&sweep.sweep));
    Ok(all)
}

/// The file name of the chart of the sweep `name`.
pub fn chart_file(name: &str) -> String {
    format!("sweep-{name}.svg")
}

/// The hand-written analysis at the end of `existing` (a previous `sweeps.md`), if any.
pub fn analysis_of(existing: &str) -> Option<&str> {
    existing
        .find(&format!("\n{ANALYSIS}\n"))
        .map(|start| existing[start + 1..].trim_end())
}

/// Every series key of `sweep`, in order of first appearance, with its label and role.
fn keys(sweep: &SweepFigures) -> Vec<(String, String, Role)> {
    let mut keys: Vec<(String, String, Role)> = Vec::new();
    for series in sweep.points.iter().flat_map(|point| &point.series) {
        if !keys.iter().any(|(key, ..)| *key == series.key) {
            keys.push((series.key.clone(), series.label.clone(), series.role));
        }
    }
    keys
}

/// The series `key` at every point of `sweep`.
fn at_points<'a>(sweep: &'a SweepFigures, key: &str) -> Vec<Option<&'a Series>> {
    sweep
        .points
        .iter()
        .map(|point| point.series.iter().find(|series| series.key == key))
        .collect()
}

/// The last measured median of a series over its first, and the point it ends at.
fn growth(sweep: &SweepFigures, key: &str) -> Option<(f64, usize)> {
    let measured: Vec<(usize, Summary)> = sweep
        .points
        .iter()
        .zip(at_points(sweep, key))
        .filter_map(|(point, series)| Some((point.at, series?.summary()?)))
        .collect();
    let (_, first) = measured.first()?;
    let (last_at, last) = measured.last()?;
    (measured.len() > 1).then(|| (last.median / first.median, *last_at))
}

/// A figure already per operation (what [`Unit::displayed`] gives), shown in `unit`'s terms.
fn show_displayed(unit: &Unit, value: f64) -> String {
    match unit {
        Unit::PerOp { .. } | Unit::Total => seconds(value),
        Unit::Throughput { .. } => format!("{} MB/s", significant(value)),
        Unit::BytesEach { .. } => format!("{} B", significant(value)),
        Unit::Bytes => Unit::Bytes.show(value),
    }
}

/// What the chart's vertical axis says.
fn y_desc(unit: &Unit) -> String {
    match unit {
        Unit::PerOp { name, .. } => format!("time per {name} (log scale)"),
        Unit::BytesEach { name } => format!("bytes per {name} (log scale)"),
        Unit::Throughput { .. } => "MB/s (log scale)".to_owned(),
        Unit::Total => "seconds (log scale)".to_owned(),
        Unit::Bytes => "bytes (log scale)".to_owned(),
    }
}

/// The chart of one sweep, as an SVG document.
pub fn chart(sweep: &SweepFigures) -> Result<String, String> {
    let at: Vec<String> = sweep
        .points
        .iter()
        .map(|point| thousands(point.at))
        .collect();
    let lines: Vec<Line> = keys(sweep)
        .into_iter()
        .map(|(key, label, role)| Line {
            label,
            ours: role == Role::Ours,
            points: at_points(sweep, &key)
                .into_iter()
                .map(|series| {
                    let summary = series?.summary()?;
                    let shown = |sample| sweep.unit.displayed(sample);
                    Some((
                        shown(summary.median),
                        shown(summary.min),
                        shown(summary.max),
                    ))
                })
                .collect(),
        })
        .collect();
    chart::lines(
        &format!("{}: {}", sweep.id, sweep.title),
        &at,
        &sweep.axis,
        &y_desc(&sweep.unit),
        &lines,
        &|value| show_displayed(&sweep.unit, value),
    )
}

/// The whole report as markdown, ending with `analysis` (see [`analysis_of`]) if given.
pub fn markdown(
    all: &[SweepFigures],
    machine: &Machine,
    load_before: Option<&str>,
    analysis: Option<&str>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Sweeps: how cost grows with work\n");
    let scales = dedup(all.iter().map(|sweep| sweep.scale.clone()));
    measured_on(
        &mut out,
        "cargo xtask bench --sweeps",
        &scales,
        machine,
        load_before,
    );
    let _ = writeln!(
        out,
        "\nEach sweep measures one workload of [latest.md](latest.md) at several points of one \
         parameter. The timing sweeps run every series at every point once per round, in turn, \
         after one unmeasured warm-up round; the memory sweep runs its points in increasing \
         order, a fresh process per measurement. Figures are the median with the min–max range \
         over the rounds. `last ÷ first` is a series' median at its last point over its median \
         at its first: 1× means the cost per operation does not change along the sweep; above \
         1× it grows with the parameter (for M1, memory growing faster than the number of \
         futures; for T1 and P1, the same work costing more per task as threads or processes \
         are added). The ratios are peer ÷ ours at the same \
         point: above 1× ours is cheaper by that factor. The machine is shared and noisy: \
         ratios within the run are what count, absolute figures are context.\n"
    );
    for sweep in all {
        section(&mut out, sweep);
    }
    busy_line(
        &mut out,
        "sweep",
        machine,
        all.iter()
            .map(|sweep| (sweep.id.as_str(), sweep.others, sweep.steal)),
    );
    if let Some(analysis) = analysis {
        let _ = writeln!(out, "\n{analysis}");
    }
    out
}

/// One sweep's heading, chart, tables and notes.
fn section(out: &mut String, sweep: &SweepFigures) {
    let _ = writeln!(out, "## {}: {}\n", sweep.id, sweep.title);
    let _ = writeln!(out, "![{}]({})\n", sweep.id, chart_file(&sweep.sweep));
    let at: Vec<String> = sweep
        .points
        .iter()
        .map(|point| thousands(point.at))
        .collect();
    let _ = writeln!(
        out,
        "{} rounds per series and point; columns: {}.\n",
        sweep.rounds, sweep.axis
    );
    let _ = writeln!(out, "| Series | {} | last ÷ first |", at.join(" | "));
    let _ = writeln!(out, "|---|{}---:|", "---|".repeat(at.len()));
    let keys = keys(sweep);
    let last_at = sweep.points.last().map(|point| point.at);
    for (key, label, _) in &keys {
        let cells: Vec<String> = at_points(sweep, key)
            .into_iter()
            .map(|series| match series {
                None => "skipped".to_owned(),
                Some(series) => match (series.summary(), &series.error) {
                    (Some(summary), _) => sweep.unit.show_summary(&summary),
                    (None, Some(_)) => "failed (see notes)".to_owned(),
                    (None, None) => "not measured".to_owned(),
                },
            })
            .collect();
        let growth = match growth(sweep, key) {
            Some((factor, end)) if Some(end) == last_at => show_ratio(factor),
            Some((factor, end)) => format!("{} (to {})", show_ratio(factor), thousands(end)),
            None => "—".to_owned(),
        };
        let _ = writeln!(out, "| {label} | {} | {growth} |", cells.join(" | "));
    }

    let ours: Vec<&(String, String, Role)> = keys
        .iter()
        .filter(|(.., role)| *role == Role::Ours)
        .collect();
    let peers: Vec<&(String, String, Role)> = keys
        .iter()
        .filter(|(.., role)| *role == Role::Anchor)
        .collect();
    if !ours.is_empty() && !peers.is_empty() {
        let _ = writeln!(
            out,
            "\nPeer ÷ ours at each point (above 1×: ours is cheaper):\n"
        );
        let _ = writeln!(out, "| Ours | Peer | {} |", at.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---:|".repeat(at.len()));
        for (our_key, our_label, _) in &ours {
            for (peer_key, peer_label, _) in &peers {
                let cells: Vec<String> = at_points(sweep, our_key)
                    .into_iter()
                    .zip(at_points(sweep, peer_key))
                    .map(|(ours, peer)| {
                        match (
                            ours.and_then(Series::summary),
                            peer.and_then(Series::summary),
                        ) {
                            (Some(ours), Some(peer)) => show_ratio(stats::ratio(&ours, &peer)),
                            _ => "—".to_owned(),
                        }
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "| {our_label} | {peer_label} | {} |",
                    cells.join(" | ")
                );
            }
        }
    }

    let errors = sweep.points.iter().flat_map(|point| {
        point.series.iter().filter_map(move |series| {
            series.error.as_ref().map(|error| {
                format!(
                    "{} at {}: {} failed: {error}",
                    sweep.id,
                    thousands(point.at),
                    series.label
                )
            })
        })
    });
    let notes = dedup(sweep.notes.iter().cloned().chain(errors));
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SweepPoint;
    use crate::report::tests::{blank_machine, series};

    fn sweep() -> SweepFigures {
        SweepFigures {
            sweep: "t1-submitters".into(),
            id: "T1 × submitters".into(),
            title: "demo".into(),
            axis: "submitting threads".into(),
            unit: Unit::PerOp {
                ops: 1000.0,
                name: "task".into(),
            },
            scale: "full".into(),
            rounds: 2,
            points: vec![
                SweepPoint {
                    at: 1,
                    series: vec![
                        series("ours", Role::Ours, &[0.001, 0.001]),
                        series("peer", Role::Anchor, &[0.004, 0.004]),
                    ],
                },
                SweepPoint {
                    at: 8,
                    series: vec![series("ours", Role::Ours, &[0.003, 0.003])],
                },
            ],
            notes: vec!["a note".into()],
            others: Some(0.1),
            steal: None,
        }
    }

    #[test]
    fn tables_show_points_growth_and_ratios() {
        let text = markdown(
            &[sweep()],
            &blank_machine(),
            None,
            Some("## Analysis\n\nkept"),
        );
        assert!(text.contains("| Series | 1 | 8 | last ÷ first |"), "{text}");
        assert!(
            text.contains(
                "| OURS | 1.00 µs/task (1.00 µs–1.00 µs) | 3.00 µs/task (3.00 µs–3.00 µs) | 3.00× |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| PEER | 4.00 µs/task (4.00 µs–4.00 µs) | skipped | — |"),
            "{text}"
        );
        assert!(text.contains("| OURS | PEER | 4.00× | — |"), "{text}");
        assert!(text.contains("- a note"), "{text}");
        assert!(text.contains("T1 × submitters 0.10."), "{text}");
        assert!(text.trim_end().ends_with("## Analysis\n\nkept"), "{text}");
    }

    #[test]
    fn the_analysis_is_found_at_the_end() {
        let existing = "# Sweeps\n\n| a |\n\n## Analysis\n\nT1 grows.\n";
        assert_eq!(analysis_of(existing), Some("## Analysis\n\nT1 grows."));
        assert_eq!(analysis_of("# Sweeps\n"), None);
    }

    #[test]
    fn the_chart_plots_per_task_figures() {
        let svg = chart(&sweep()).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("OURS") && svg.contains("µs"), "{svg}");
    }
}
