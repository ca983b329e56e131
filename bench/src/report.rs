//! The report: every workload's figures as one markdown table (ours, each anchor, the ratio,
//! the goal and whether it is met), with the machine and the notes, plus the list of goal
//! comparisons the chart draws.

use std::fmt::Write;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::catalog;
use crate::machine::Machine;
use crate::record::{Figures, Role, Series};
use crate::stats::{self, Summary};

/// One goal as judged on this run: what the chart draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// `T1 ThreadPool vs rayon`.
    pub label: String,
    /// The goal's own words.
    pub goal_text: String,
    /// The ratio that meets it.
    pub goal: f64,
    /// This run's ratio, if both sides were measured.
    pub ratio: Option<f64>,
}

impl Judged {
    /// Met, missed, or not measured (`None`).
    pub fn met(&self) -> Option<bool> {
        self.ratio.map(|ratio| ratio >= self.goal)
    }
}

/// When the newest `*.json` file of `dir` was written, in seconds since the Unix epoch.
pub fn written(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .path()
                .extension()
                .is_some_and(|extension| extension == "json")
        })
        .filter_map(|entry| entry.metadata().ok()?.modified().ok())
        .max()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|since| since.as_secs())
}

/// Reads every `*.json` file of `dir` (each a list of [`Figures`]), in report order.
pub fn load(dir: &Path) -> Result<Vec<Figures>, String> {
    let mut all: Vec<Figures> = read_all(dir)?;
    all.sort_by_key(|figures| (catalog::position(&figures.workload), figures.id.clone()));
    Ok(all)
}

/// Every item of every `*.json` file of `dir`, each file a list of `T`, in no set order.
pub fn read_all<T: DeserializeOwned>(dir: &Path) -> Result<Vec<T>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|error| format!("reading {}: {error}", dir.display()))?;
    let mut all = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            let text = std::fs::read_to_string(&path)
                .map_err(|error| format!("reading {}: {error}", path.display()))?;
            let items: Vec<T> = serde_json::from_str(&text)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            all.extend(items);
        }
    }
    Ok(all)
}

/// Every goal of `all`, judged.
pub fn judge(all: &[Figures]) -> Vec<Judged> {
    let mut judged = Vec::new();
    for figures in all {
        for goal in &figures.goals {
            let ours = find(figures, &goal.ours);
            let anchor = find(figures, &goal.anchor);
            let ratio = match (
                ours.and_then(Series::summary),
                anchor.and_then(Series::summary),
            ) {
                (Some(ours), Some(anchor)) => Some(stats::ratio(&ours, &anchor)),
                _ => None,
            };
            judged.push(Judged {
                label: format!(
                    "{} {} vs {}",
                    figures.id,
                    ours.map_or(goal.ours.as_str(), |series| series.label.as_str()),
                    anchor.map_or(goal.anchor.as_str(), |series| short_label(&series.label))
                ),
                goal_text: goal.text.clone(),
                goal: goal.min_ratio,
                ratio,
            });
        }
    }
    judged
}

fn find<'a>(figures: &'a Figures, key: &str) -> Option<&'a Series> {
    figures.series.iter().find(|series| series.key == key)
}

/// A label without its parenthesised detail: `ThreadPoolExecutor (CPython 3.11.7)` reads
/// `ThreadPoolExecutor`.
fn short_label(label: &str) -> &str {
    label.split(" (").next().unwrap_or(label).trim()
}

/// `66×`, `1.43×`, `0.21×`, `0.0013×`: two significant digits at least.
pub fn show_ratio(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{ratio:.0}×")
    } else if ratio >= 10.0 {
        format!("{ratio:.1}×")
    } else if ratio >= 0.1 || ratio <= 0.0 || !ratio.is_finite() {
        format!("{ratio:.2}×")
    } else {
        // 0.0x needs 3 decimals, 0.00x needs 4, ...
        let decimals = (-ratio.log10()).ceil() as usize + 1;
        format!("{ratio:.decimals$}×")
    }
}

/// The whole report as markdown.
pub fn markdown(all: &[Figures], machine: &Machine, load_before: Option<&str>) -> String {
    let mut out = String::new();
    let judged = judge(all);
    let met = judged
        .iter()
        .filter(|goal| goal.met() == Some(true))
        .count();
    let missed = judged
        .iter()
        .filter(|goal| goal.met() == Some(false))
        .count();
    let unmeasured = judged.iter().filter(|goal| goal.met().is_none()).count();
    let scales: Vec<String> = dedup(all.iter().map(|figures| figures.scale.clone()));

    let _ = writeln!(out, "# Benchmarks\n");
    measured_on(&mut out, "cargo xtask bench", &scales, machine, load_before);
    let _ = writeln!(
        out,
        "\nEvery contender of a workload runs once per round, in turn, after one unmeasured \
         warm-up round (CPython and the memory figures skip it); figures are the median with \
         the min–max range over the rounds. The ratio is the anchor's median over ours: above \
         1× we are faster (or smaller) by that factor. The machine is shared and noisy: ratios \
         within the run are what count, absolute figures are context.\n"
    );
    let _ = writeln!(
        out,
        "Goals met: **{met} of {}**{}{}.\n",
        judged.len(),
        if missed > 0 {
            format!(", missed: {missed}")
        } else {
            String::new()
        },
        if unmeasured > 0 {
            format!(", not measured: {unmeasured}")
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "![Ratios against the goals](ratios.svg)\n");
    let _ = writeln!(
        out,
        "| Workload | Ours | Our figure | Compared with | Its figure | Ratio | Goal | Met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---:|---|---|");
    for figures in all {
        table_rows(&mut out, figures);
    }

    let notes: Vec<String> = dedup(all.iter().flat_map(|figures| figures.notes.clone()));
    let errors: Vec<String> = all
        .iter()
        .flat_map(|figures| {
            figures.series.iter().filter_map(move |series| {
                series
                    .error
                    .as_ref()
                    .map(|error| format!("{} {} failed: {error}", figures.id, series.label))
            })
        })
        .collect();
    let notes: Vec<String> = notes.into_iter().chain(dedup(errors)).collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    let rounds: Vec<String> = all
        .iter()
        .map(|figures| format!("{} {}", figures.id, figures.rounds))
        .collect();
    let _ = writeln!(out, "\nRounds per series: {}.", rounds.join(", "));
    busy_line(
        &mut out,
        "workload",
        machine,
        all.iter()
            .map(|figures| (figures.id.as_str(), figures.others, figures.steal)),
    );
    out
}

/// The lines under a report's title: what measured it, at which scales, on which machine.
pub fn measured_on(
    out: &mut String,
    command: &str,
    scales: &[String],
    machine: &Machine,
    load_before: Option<&str>,
) {
    let _ = writeln!(
        out,
        "Measured {} with `{command}`{} on:\n",
        machine.date,
        if scales == ["full"] {
            String::new()
        } else {
            format!(" (scale: {}; not for publication)", scales.join(", "))
        }
    );
    let _ = writeln!(out, "- `{}`", machine.uname);
    let _ = writeln!(out, "- CPU: {}, {} cores", machine.cpu, machine.cores);
    let _ = writeln!(
        out,
        "- load average (1, 5, 15 min): {} before the run, {} after",
        load_before.unwrap_or("unknown"),
        machine.load
    );
}

/// The paragraph of how many cores other processes kept busy during each `(id, others, steal)`
/// (each a `what`: workload, sweep), if any was measured.
pub fn busy_line<'a>(
    out: &mut String,
    what: &str,
    machine: &Machine,
    measured: impl Iterator<Item = (&'a str, Option<f64>, Option<f64>)>,
) {
    let busy: Vec<String> = measured
        .filter_map(|(id, others, steal)| {
            let others = others?;
            let steal = steal.unwrap_or(0.0);
            Some(format!(
                "{id} {others:.2}{}",
                if steal >= 0.01 {
                    format!(" (+{steal:.2} stolen)")
                } else {
                    String::new()
                }
            ))
        })
        .collect();
    if !busy.is_empty() {
        let _ = writeln!(
            out,
            "\nCores kept busy by other processes while each {what} ran, on average (of {}; \
             our own processes excluded, near 0 on a quiet machine): {}.",
            machine.cores,
            busy.join(", ")
        );
    }
}

/// The rows of one workload: for each of ours, one row per anchor.
fn table_rows(out: &mut String, figures: &Figures) {
    let ours: Vec<&Series> = figures
        .series
        .iter()
        .filter(|series| series.role == Role::Ours)
        .collect();
    let anchors: Vec<&Series> = figures
        .series
        .iter()
        .filter(|series| series.role == Role::Anchor)
        .collect();
    let workload = format!("**{}** {}", figures.id, figures.title);
    let show = |series: &Series| -> (String, Option<Summary>) {
        match (series.summary(), &series.error) {
            (Some(summary), _) => (figures.unit.show_summary(&summary), Some(summary)),
            (None, Some(_)) => ("failed (see notes)".to_owned(), None),
            (None, None) => ("not measured".to_owned(), None),
        }
    };
    let mut first_row = true;
    let mut row =
        |ours_cell: (&str, &str), anchor: Option<&Series>, ratio: String, goal: (&str, &str)| {
            let (anchor_label, anchor_figure) = anchor
                .map_or((String::new(), String::new()), |a| {
                    (a.label.clone(), show(a).0)
                });
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                if first_row { workload.as_str() } else { "" },
                ours_cell.0,
                ours_cell.1,
                anchor_label,
                anchor_figure,
                ratio,
                goal.0,
                goal.1
            );
            first_row = false;
        };
    if ours.is_empty() && anchors.is_empty() {
        // Nothing could run here (no MPI, say): the notes say why.
        row(("—", "skipped (see notes)"), None, "—".to_owned(), ("", ""));
        return;
    }
    if ours.is_empty() {
        for anchor in &anchors {
            row(
                ("—", "not measured"),
                Some(anchor),
                "—".to_owned(),
                goal_cells(figures, None, &anchor.key, None),
            );
        }
        return;
    }
    for series in ours {
        let (figure, summary) = show(series);
        let mut first_of_ours = true;
        for anchor in &anchors {
            let ratio = match (&summary, anchor.summary()) {
                (Some(ours), Some(theirs)) => Some(stats::ratio(ours, &theirs)),
                _ => None,
            };
            let ours_cell = if first_of_ours {
                (series.label.as_str(), figure.as_str())
            } else {
                ("", "")
            };
            row(
                ours_cell,
                Some(anchor),
                ratio.map_or_else(|| "—".to_owned(), show_ratio),
                goal_cells(figures, Some(&series.key), &anchor.key, ratio),
            );
            first_of_ours = false;
        }
        if anchors.is_empty() {
            row(
                (series.label.as_str(), figure.as_str()),
                None,
                String::new(),
                ("", ""),
            );
        }
    }
}

/// The goal and met cells for the pair (`ours`, `anchor`).
fn goal_cells<'a>(
    figures: &'a Figures,
    ours: Option<&str>,
    anchor: &str,
    ratio: Option<f64>,
) -> (&'a str, &'static str) {
    let goal = figures
        .goals
        .iter()
        .find(|goal| goal.anchor == anchor && ours.is_none_or(|ours| goal.ours == ours));
    match (goal, ratio) {
        (None, _) => ("", ""),
        (Some(goal), Some(ratio)) if ratio >= goal.min_ratio => (&goal.text, "yes"),
        (Some(goal), Some(_)) => (&goal.text, "**no**"),
        (Some(goal), None) => (&goal.text, "not measured"),
    }
}

/// `items` without repeats, in first-seen order.
pub fn dedup(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{Goal, Unit};

    /// A series keyed `key`, labelled in capitals.
    pub(crate) fn series(key: &str, role: Role, samples: &[f64]) -> Series {
        Series {
            key: key.into(),
            label: key.to_uppercase(),
            role,
            samples: samples.to_vec(),
            error: None,
        }
    }

    fn figures() -> Figures {
        Figures {
            workload: "t1".into(),
            id: "T1".into(),
            title: "demo".into(),
            unit: Unit::Total,
            scale: "full".into(),
            rounds: 2,
            series: vec![
                series("ours", Role::Ours, &[1.0, 1.0]),
                series("fast", Role::Anchor, &[0.5, 0.5]),
                series("slow", Role::Anchor, &[60.0, 60.0]),
            ],
            goals: vec![
                Goal {
                    ours: "ours".into(),
                    anchor: "fast".into(),
                    min_ratio: 1.0,
                    text: "≥ fast".into(),
                },
                Goal {
                    ours: "ours".into(),
                    anchor: "slow".into(),
                    min_ratio: 50.0,
                    text: "≥ 50× slow".into(),
                },
            ],
            notes: vec!["a note".into()],
            others: Some(0.25),
            steal: Some(0.0),
        }
    }

    #[test]
    fn goals_are_judged_on_the_ratio_of_medians() {
        let judged = judge(&[figures()]);
        assert_eq!(judged.len(), 2);
        assert_eq!(judged[0].met(), Some(false));
        assert_eq!(judged[0].ratio, Some(0.5));
        assert_eq!(judged[1].met(), Some(true));
        assert_eq!(judged[1].label, "T1 OURS vs SLOW");
    }

    /// A machine description with nothing in it, for tests about other parts of the report.
    pub(crate) fn blank_machine() -> Machine {
        Machine {
            date: String::new(),
            uname: String::new(),
            cpu: String::new(),
            cores: 1,
            load: String::new(),
        }
    }

    #[test]
    fn table_has_one_row_per_anchor_and_the_verdicts() {
        let machine = Machine {
            date: "today".into(),
            uname: "Linux".into(),
            cpu: "cpu".into(),
            cores: 2,
            load: "0.00 0.00 0.00".into(),
        };
        let text = markdown(&[figures()], &machine, Some("0.10 0.20 0.30"));
        assert!(text.contains("Goals met: **1 of 2**, missed: 1."), "{text}");
        assert!(
            text.contains("| **T1** demo | OURS | 1.00 s (1.00 s–1.00 s) | FAST |"),
            "{text}"
        );
        assert!(text.contains("| 0.50× | ≥ fast | **no** |"), "{text}");
        assert!(text.contains("| 60.0× | ≥ 50× slow | yes |"), "{text}");
        assert!(text.contains("- a note"), "{text}");
        assert!(text.contains("(of 2; our own"), "{text}");
        assert!(text.contains("): T1 0.25."), "{text}");
    }

    #[test]
    fn ratios_keep_two_significant_digits() {
        assert_eq!(show_ratio(1103.4), "1103×");
        assert_eq!(show_ratio(46.63), "46.6×");
        assert_eq!(show_ratio(0.58), "0.58×");
        assert_eq!(show_ratio(0.0412), "0.041×");
        assert_eq!(show_ratio(0.00128), "0.0013×");
    }

    #[test]
    fn a_missing_side_is_not_measured() {
        let mut figures = figures();
        figures.series.retain(|series| series.key != "ours");
        let judged = judge(&[figures.clone()]);
        assert_eq!(judged[0].met(), None);
        let machine = blank_machine();
        let text = markdown(&[figures], &machine, None);
        assert!(text.contains("| — | not measured | FAST |"), "{text}");
        assert!(text.contains("not measured: 2"), "{text}");
    }

    #[test]
    fn a_workload_that_could_not_run_still_has_a_row() {
        let mut figures = figures();
        figures.series.clear();
        let machine = blank_machine();
        let text = markdown(&[figures], &machine, None);
        assert!(
            text.contains("| **T1** demo | — | skipped (see notes) |  |  | — |  |  |"),
            "{text}"
        );
        assert!(text.contains("- a note"), "{text}");
    }
}
