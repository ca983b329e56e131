//! The sweeps of `cargo xtask bench --sweeps` (issue #14 item 5, "how cost grows with work"):
//! one workload measured at several points of one parameter, to show whether its cost per
//! operation stays flat or grows faster than the work.
//!
//! - `t1-submitters`: T1 (100,000 no-op submits, then wait) from 1, 2, 4 and 8 submitting
//!   threads, for ours, `RayonExecutor`, rayon and the peers of [`crate::peers`];
//! - `m1-queued`: M1 (peak RSS per queued future) from 1,000 to 10,000,000 queued, for ours,
//!   rayon and CPython;
//! - `p1-workers`: P1 (20,000 no-op submits, then wait) on a process pool of 1, 2, 4 and 8
//!   workers.
//!
//! This module owns which points each sweep measures and how they are interleaved; each
//! writes one [`SweepFigures`], which [`crate::sweep_report`] turns into `sweeps.md` and a
//! chart per sweep.

use std::collections::HashMap;

use crate::context::{Context, WORKERS, thousands};
use crate::harness::{Contender, Scale, interleave};
use crate::memory;
use crate::ours_process;
use crate::process::P1_TASKS;
use crate::record::{Series, SweepFigures, SweepPoint, Unit};
use crate::stats::Summary;
use crate::threads::{self, T1_TASKS};

/// One runnable sweep.
#[derive(Debug)]
pub struct Sweep {
    /// Its command-line name: `t1-submitters`.
    pub name: &'static str,
    /// Measures it.
    pub run: fn(&Context) -> SweepFigures,
}

/// All sweeps, in report order.
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        name: "t1-submitters",
        run: t1_submitters,
    },
    Sweep {
        name: "m1-queued",
        run: m1_queued,
    },
    Sweep {
        name: "p1-workers",
        run: p1_workers,
    },
];

/// The submitting threads of the T1 sweep, and the worker processes of the P1 sweep.
const THREADS: [usize; 4] = [1, 2, 4, 8];
/// CPython's M1 stops here: above it a point costs minutes and gigabytes (about 1.9 KB per
/// future), and what it shows is already clear.
const CPYTHON_MAX_QUEUED: usize = 1_000_000;
/// Bytes per queued future assumed for a series before its first point is measured (after
/// that, its previous point's figure counts): above the M1 figures of the published run.
const M1_PRIOR_BYTES: &[(&str, f64)] = &[("ours", 250.0), ("rayon", 1000.0), ("cpython", 2500.0)];

/// The sweeps `only` names (comma-separated, or `all`), in report order.
pub fn select(only: &str) -> Result<Vec<&'static Sweep>, String> {
    let words: Vec<String> = only
        .split(',')
        .map(|word| word.trim().to_ascii_lowercase())
        .collect();
    for word in &words {
        if word != "all" && !SWEEPS.iter().any(|sweep| sweep.name == word) {
            let names: Vec<&str> = SWEEPS.iter().map(|sweep| sweep.name).collect();
            return Err(format!(
                "no sweep `{word}`; choose from {}, all",
                names.join(", ")
            ));
        }
    }
    Ok(SWEEPS
        .iter()
        .filter(|sweep| words.iter().any(|word| word == "all" || word == sweep.name))
        .collect())
}

/// Where the sweep `name` stands in the report; unknown ones go last.
pub fn position(name: &str) -> usize {
    SWEEPS
        .iter()
        .position(|sweep| sweep.name == name)
        .unwrap_or(SWEEPS.len())
}

/// The queued futures of the M1 sweep at `scale`.
fn queued_points(scale: Scale) -> Vec<usize> {
    match scale {
        Scale::Full => vec![1_000, 10_000, 100_000, 1_000_000, 10_000_000],
        Scale::Quick => vec![1_000, 10_000, 100_000, 1_000_000],
        Scale::Smoke => vec![100, 1_000],
    }
}

/// What every sweep's figures start with; the points are filled in by the sweep.
fn figures(
    cx: &Context,
    sweep: &str,
    id: &str,
    title: String,
    axis: &str,
    unit: Unit,
) -> SweepFigures {
    SweepFigures {
        sweep: sweep.to_owned(),
        id: id.to_owned(),
        title,
        axis: axis.to_owned(),
        unit,
        scale: cx.scale.name().to_owned(),
        rounds: 0,
        points: Vec::new(),
        notes: Vec::new(),
        // Filled in by the command line, around the whole sweep.
        others: None,
        steal: None,
    }
}

/// Runs the contenders of every point in one interleaved run (every series at every point
/// once per round, so a burst of noise cannot bend one point alone), and sorts the series
/// back into their points.
fn interleaved(
    id: &str,
    unit: &Unit,
    scale: Scale,
    rounds: usize,
    points: Vec<(usize, Vec<Contender<'_>>)>,
) -> Vec<SweepPoint> {
    let mut contenders = Vec::new();
    let mut at = Vec::new();
    let mut measured: Vec<SweepPoint> = Vec::new();
    for (point, of_point) in points {
        for contender in of_point {
            contenders.push(contender.at_point(&point.to_string()));
            at.push(measured.len());
        }
        measured.push(SweepPoint {
            at: point,
            series: Vec::new(),
        });
    }
    let series = interleave(id, scale, rounds, 1, contenders, &|figure| {
        unit.show(figure)
    });
    let all = series.into_iter().next().unwrap_or_default();
    for (series, index) in all.into_iter().zip(at) {
        measured[index].series.push(without_point(series));
    }
    measured
}

/// The series with its key's `@point` suffix (see [`Contender::at_point`]) taken off again.
fn without_point(mut series: Series) -> Series {
    if let Some((key, _)) = series.key.rsplit_once('@') {
        series.key = key.to_owned();
    }
    series
}

/// Seconds for `tasks` tasks, shown per task.
fn per_task(tasks: usize) -> Unit {
    Unit::PerOp {
        ops: tasks as f64,
        name: "task".into(),
    }
}

/// The machine's cores, for the notes: the sweeps run more threads than that.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// T1 from 1, 2, 4 and 8 submitting threads.
pub fn t1_submitters(cx: &Context) -> SweepFigures {
    let tasks = cx.scale.size(T1_TASKS);
    let mut sweep = figures(
        cx,
        "t1-submitters",
        "T1 × submitters",
        format!(
            "{} no-op submits split across the submitting threads, each then waiting for its own",
            thousands(tasks)
        ),
        "submitting threads",
        per_task(tasks),
    );
    sweep.notes.push(format!(
        "T1 × submitters: every pool keeps {WORKERS} workers; the submitting threads are started \
         and parked on a barrier before the clock starts, and the clock stops when the last of \
         them has all its results. This machine has {} cores, and {WORKERS} workers plus \
         {} submitting thread(s) are more threads than cores: from there on the figure includes \
         their contention for the CPUs, as it would in a program that submits from several \
         threads.",
        cores(),
        (cores() + 1).saturating_sub(WORKERS).max(1)
    ));
    over_threads(cx, sweep, |submitters| threads::t1_from(tasks, submitters))
}

/// P1 on 1, 2, 4 and 8 worker processes.
pub fn p1_workers(cx: &Context) -> SweepFigures {
    let tasks = cx.scale.size(P1_TASKS);
    let mut sweep = figures(
        cx,
        "p1-workers",
        "P1 × workers",
        format!(
            "{} no-op submits to a ProcessPool, then wait for all",
            thousands(tasks)
        ),
        "worker processes",
        per_task(tasks),
    );
    sweep.notes.push(format!(
        "P1 × workers: the pool's workers are all running before the clock starts. This \
         machine has {} cores: more workers cannot make no-op tasks faster here, so the \
         question is only whether the cost per task grows with the workers (the dispatcher \
         serving more pipes, more processes to wake).",
        cores()
    ));
    over_threads(cx, sweep, |workers| {
        vec![ours_process::p1_on(tasks, workers)]
    })
}

/// A timing sweep over [`THREADS`]: the contenders `make` gives for each count, all points in
/// one interleaved run.
fn over_threads<'a>(
    cx: &Context,
    mut sweep: SweepFigures,
    make: impl Fn(usize) -> Vec<Contender<'a>>,
) -> SweepFigures {
    sweep.rounds = cx.scale.rounds(21);
    let points = THREADS.iter().map(|&count| (count, make(count))).collect();
    sweep.points = interleaved(&sweep.id, &sweep.unit, cx.scale, sweep.rounds, points);
    sweep
}

/// M1 from 1,000 to 10,000,000 queued futures. Unlike the timing sweeps, a point runs after
/// the previous one, so each series' figure there bounds its memory at the next: a point whose
/// estimate exceeds half of `MemAvailable` is skipped, with a note.
pub fn m1_queued(cx: &Context) -> SweepFigures {
    let points = queued_points(cx.scale);
    let mut sweep = figures(
        cx,
        "m1-queued",
        "M1 × queued",
        "peak RSS per queued no-op future".to_owned(),
        "queued futures",
        Unit::BytesEach {
            name: "future".into(),
        },
    );
    sweep.notes.push(
        "M1 × queued: as M1, every measurement in a fresh process: the growth of VmHWM (peak \
         RSS) from just before the first submit to just after the last, divided by the number \
         of futures, with the 2 workers blocked meanwhile. VmHWM moves in whole pages and the \
         heap grows in steps of 128 KiB or more, so the smallest points are coarse."
            .to_owned(),
    );
    let python = cx.python_version();
    if python.is_none() {
        cx.note_missing(&mut sweep.notes);
    }
    let rounds = cx.scale.rounds(5);
    let mut per_future: HashMap<String, f64> = M1_PRIOR_BYTES
        .iter()
        .map(|(key, bytes)| ((*key).to_owned(), *bytes))
        .collect();
    let mut said_cpython_cap = false;
    for &queued in &points {
        let available = memory::mem_available();
        let contenders: Vec<Contender<'_>> = memory::m1_contenders(queued, python.as_deref())
            .into_iter()
            .filter(|contender| {
                let key = contender.key();
                if key == "cpython" && queued > CPYTHON_MAX_QUEUED {
                    if !said_cpython_cap {
                        sweep.notes.push(format!(
                            "M1 × queued: CPython runs up to {} queued futures only (at \
                                 about 1.9 KB and 10-20 µs per future, a larger point costs \
                                 minutes and gigabytes per round).",
                            thousands(CPYTHON_MAX_QUEUED)
                        ));
                        said_cpython_cap = true;
                    }
                    return false;
                }
                let estimate = per_future.get(key).copied().unwrap_or(0.0) * queued as f64;
                match &available {
                    Ok(available) if estimate > available / 2.0 => {
                        sweep.notes.push(format!(
                            "M1 × queued: {key} skipped at {} queued: its estimate, {:.1} \
                                 GB, exceeds half of MemAvailable ({:.1} GB of {:.1} GB).",
                            thousands(queued),
                            estimate / 1e9,
                            available / 2e9,
                            available / 1e9
                        ));
                        false
                    }
                    _ => true,
                }
            })
            .collect();
        let id = format!("M1 × {}", thousands(queued));
        let mut measured = interleaved(
            &id,
            &sweep.unit,
            cx.scale,
            rounds,
            vec![(queued, contenders)],
        );
        let point = measured.pop().expect("one point");
        for measured in &point.series {
            if let Some(summary) = measured.summary() {
                // The next point's estimate: this one's worst figure, with a tenth to spare for
                // growth (the sweep is there to find it; a tenfold jump would be news).
                per_future.insert(measured.key.clone(), summary.max * 1.1);
            }
        }
        sweep.points.push(point);
    }
    sweep.rounds = rounds;
    sweep
}

/// The median of the series `key` at every point of `sweep` (`None` where it is missing).
pub fn medians(sweep: &SweepFigures, key: &str) -> Vec<Option<Summary>> {
    sweep
        .points
        .iter()
        .map(|point| {
            point
                .series
                .iter()
                .find(|series| series.key == key)
                .and_then(Series::summary)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_name_and_all() {
        let names = |only: &str| -> Vec<&str> {
            select(only)
                .unwrap()
                .iter()
                .map(|sweep| sweep.name)
                .collect()
        };
        assert_eq!(names("all"), ["t1-submitters", "m1-queued", "p1-workers"]);
        assert_eq!(
            names("P1-workers,t1-submitters"),
            ["t1-submitters", "p1-workers"]
        );
        assert!(select("t1").is_err());
        assert_eq!(position("m1-queued"), 1);
    }

    #[test]
    fn points_grow_by_tenfold_and_quick_stops_at_a_million() {
        assert_eq!(queued_points(Scale::Full).last(), Some(&10_000_000));
        assert_eq!(queued_points(Scale::Quick).last(), Some(&1_000_000));
    }

    #[test]
    fn a_series_loses_its_point_suffix() {
        let series = Series {
            key: "ours-rayon@8".into(),
            label: "RayonExecutor".into(),
            role: crate::record::Role::Ours,
            samples: vec![1.0],
            error: None,
        };
        assert_eq!(without_point(series).key, "ours-rayon");
    }
}
