//! Interleaved measurement: every contender of a workload runs once per round, in turn (A, B,
//! C, then B, C, A, ...), so a burst of noise on a shared machine hits all of them alike and the
//! ratios within one run stay meaningful even when the absolute figures drift.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::record::{Role, Series};

/// How much to run: the published figures, a quick check, or the smallest run that proves
/// every workload works (the smoke test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The sizes of the issues, repeated enough for stable medians.
    Full,
    /// A tenth of the sizes, three rounds: `cargo xtask bench --quick`.
    Quick,
    /// Tiny sizes, one round, no warm-up: the crate's smoke test.
    Smoke,
}

impl Scale {
    /// Parses `full`, `quick` or `smoke`.
    pub fn parse(name: &str) -> Option<Scale> {
        match name {
            "full" => Some(Scale::Full),
            "quick" => Some(Scale::Quick),
            "smoke" => Some(Scale::Smoke),
            _ => None,
        }
    }

    /// The name [`Scale::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Full => "full",
            Scale::Quick => "quick",
            Scale::Smoke => "smoke",
        }
    }

    /// The size of a workload whose full size is `full`.
    pub fn size(self, full: usize) -> usize {
        match self {
            Scale::Full => full,
            Scale::Quick => (full / 10).max(1),
            Scale::Smoke => (full / 1000).clamp(1, 100),
        }
    }

    /// Rounds for a workload that runs `full` rounds at full scale.
    pub fn rounds(self, full: usize) -> usize {
        match self {
            Scale::Full => full,
            Scale::Quick => full.div_ceil(3).clamp(1, 3),
            Scale::Smoke => 1,
        }
    }

    /// Whether each contender runs once unmeasured before the rounds.
    pub fn warm_up(self) -> bool {
        self != Scale::Smoke
    }
}

/// What one measurement returns: one figure per metric of the workload (seconds or bytes).
pub type Measurement = Result<Vec<f64>, String>;

/// One thing measured in a workload: our executor, an anchor, a floor or the serial baseline.
pub struct Contender<'a> {
    key: String,
    label: String,
    role: Role,
    warm_up: bool,
    run: Box<dyn FnMut() -> Measurement + 'a>,
}

impl std::fmt::Debug for Contender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contender")
            .field("key", &self.key)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl<'a> Contender<'a> {
    /// A contender whose `run` measures one figure per metric.
    pub fn new(
        key: &str,
        label: &str,
        role: Role,
        run: impl FnMut() -> Measurement + 'a,
    ) -> Contender<'a> {
        Contender {
            key: key.to_owned(),
            label: label.to_owned(),
            role,
            warm_up: true,
            run: Box::new(run),
        }
    }

    /// One of ours.
    pub fn ours(key: &str, label: &str, run: impl FnMut() -> Measurement + 'a) -> Self {
        Contender::new(key, label, Role::Ours, run)
    }

    /// An anchor (another library, CPython, a floor or the serial baseline).
    pub fn anchor(key: &str, label: &str, run: impl FnMut() -> Measurement + 'a) -> Self {
        Contender::new(key, label, Role::Anchor, run)
    }

    /// Its key: `ours`, `rayon`, `cpython`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The same contender with `@suffix` after its key: the same series at another point of a
    /// sweep, told apart in the progress lines.
    pub fn at_point(mut self, suffix: &str) -> Self {
        self.key = format!("{}@{suffix}", self.key);
        self
    }

    /// Skips the warm-up round: for contenders that are slow and start fresh every time anyway.
    pub fn without_warm_up(mut self) -> Self {
        self.warm_up = false;
        self
    }
}

/// Runs `rounds` interleaved rounds of `contenders` and returns their series, indexed
/// `[metric][contender]`. A contender that fails or panics keeps its error and is not run
/// again; the others go on. Progress goes to standard error, each first-metric figure shown
/// with `show`.
pub fn interleave(
    workload: &str,
    scale: Scale,
    rounds: usize,
    metrics: usize,
    contenders: Vec<Contender<'_>>,
    show: &dyn Fn(f64) -> String,
) -> Vec<Vec<Series>> {
    let mut contenders = contenders;
    let mut series: Vec<Vec<Series>> = (0..metrics)
        .map(|_| {
            contenders
                .iter()
                .map(|contender| Series {
                    key: contender.key.clone(),
                    label: contender.label.clone(),
                    role: contender.role,
                    samples: Vec::new(),
                    error: None,
                })
                .collect()
        })
        .collect();
    let mut failed: Vec<Option<String>> = vec![None; contenders.len()];

    if scale.warm_up() {
        eprint!("{workload} warm-up:");
        for (index, contender) in contenders.iter_mut().enumerate() {
            if !contender.warm_up {
                continue;
            }
            if let Err(error) = measure(contender, metrics) {
                eprint!(" {} FAILED", contender.key);
                failed[index] = Some(error);
            }
        }
        eprintln!();
    }
    let started = Instant::now();
    for round in 0..rounds {
        eprint!("{workload} round {}/{rounds}:", round + 1);
        let count = contenders.len();
        for offset in 0..count {
            // Rotate the order each round, so no contender always runs first (or right after
            // the slowest one).
            let index = (round + offset) % count;
            if failed[index].is_some() {
                continue;
            }
            match measure(&mut contenders[index], metrics) {
                Ok(figures) => {
                    eprint!(" {}={}", contenders[index].key, show(figures[0]));
                    for (metric, figure) in figures.into_iter().enumerate() {
                        series[metric][index].samples.push(figure);
                    }
                }
                Err(error) => {
                    eprint!(" {} FAILED", contenders[index].key);
                    failed[index] = Some(error);
                }
            }
        }
        eprintln!();
    }
    eprintln!(
        "{workload}: {rounds} rounds in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    for (index, error) in failed.into_iter().enumerate() {
        if let Some(error) = error {
            eprintln!("{workload}: {} failed: {error}", contenders[index].key);
            for metric in &mut series {
                metric[index].error = Some(error.clone());
            }
        }
    }
    series
}

/// One measurement, with a panic turned into an error and the metric count checked.
fn measure(contender: &mut Contender<'_>, metrics: usize) -> Measurement {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (contender.run)()));
    let figures = match outcome {
        Ok(result) => result?,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            return Err(format!("panicked: {message}"));
        }
    };
    if figures.len() != metrics || figures.iter().any(|figure| !figure.is_finite()) {
        return Err(format!(
            "expected {metrics} finite figure(s), got {figures:?}"
        ));
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn rounds_interleave_and_rotate() {
        let order = RefCell::new(Vec::new());
        let contender = |key: &'static str| {
            let order = &order;
            Contender::ours(key, key, move || {
                order.borrow_mut().push(key);
                Ok(vec![1.0])
            })
        };
        let series = interleave(
            "test",
            Scale::Smoke,
            3,
            1,
            vec![contender("a"), contender("b")],
            &|figure| figure.to_string(),
        );
        assert_eq!(*order.borrow(), ["a", "b", "b", "a", "a", "b"]);
        assert_eq!(series[0][0].samples, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn a_failing_contender_stops_alone() {
        let series = interleave(
            "test",
            Scale::Smoke,
            2,
            1,
            vec![
                Contender::ours("ok", "ok", || Ok(vec![2.0])),
                Contender::anchor("bad", "bad", || panic!("boom")),
                Contender::anchor("short", "short", || Ok(vec![])),
            ],
            &|figure| figure.to_string(),
        );
        assert_eq!(series[0][0].samples, [2.0, 2.0]);
        assert_eq!(series[0][1].error.as_deref(), Some("panicked: boom"));
        assert!(
            series[0][2]
                .error
                .as_deref()
                .unwrap()
                .contains("expected 1")
        );
    }

    #[test]
    fn scales_shrink_sizes_and_rounds() {
        assert_eq!(Scale::Full.size(100_000), 100_000);
        assert_eq!(Scale::Quick.size(100_000), 10_000);
        assert_eq!(Scale::Smoke.size(100_000), 100);
        assert_eq!(Scale::Smoke.size(32), 1);
        assert_eq!(Scale::Quick.rounds(10), 3);
        assert_eq!(Scale::Quick.rounds(3), 1);
        assert_eq!(Scale::parse("quick"), Some(Scale::Quick));
    }
}
