//! What every workload gets: the scale, the CPython anchor (if there is a `python3`), and the
//! helpers that turn a workload's pieces into [`Figures`].

use std::cell::RefCell;

use serde_json::Value;

use crate::harness::{Contender, Scale, interleave};
use crate::python::Python;
use crate::record::{Figures, Goal, Unit};

/// Workers for every pool in every workload, as the issues say: "2 workers unless said".
pub const WORKERS: usize = 2;

/// The run-wide state a workload reads.
#[derive(Debug)]
pub struct Context {
    /// How much to run.
    pub scale: Scale,
    python: Option<RefCell<Python>>,
    /// Why CPython is missing, if it is.
    python_missing: Option<String>,
}

impl Context {
    /// A context at `scale`; starts the CPython anchor unless `with_python` is false.
    pub fn new(scale: Scale, with_python: bool) -> Context {
        let (python, python_missing) = if with_python {
            match Python::start() {
                Ok(python) => (Some(RefCell::new(python)), None),
                Err(error) => (None, Some(format!("CPython anchors skipped: {error}"))),
            }
        } else {
            (
                None,
                Some("CPython anchors skipped (--no-python)".to_owned()),
            )
        };
        if let Some(notice) = &python_missing {
            eprintln!("notice: {notice}");
        }
        Context {
            scale,
            python,
            python_missing,
        }
    }

    /// The CPython version, if CPython runs.
    pub fn python_version(&self) -> Option<String> {
        self.python
            .as_ref()
            .map(|python| python.borrow().version().to_owned())
    }

    /// Whether CPython runs and is at least `major.minor`.
    pub fn python_at_least(&self, major: u32, minor: u32) -> bool {
        self.python
            .as_ref()
            .is_some_and(|python| python.borrow().at_least(major, minor))
    }

    /// A CPython contender answering `request` in the warm interpreter, or `None` (the notice
    /// goes into `notes`) when there is no CPython.
    pub fn cpython<'a>(
        &'a self,
        key: &str,
        label: &str,
        request: Value,
        notes: &mut Vec<String>,
    ) -> Option<Contender<'a>> {
        let Some(python) = &self.python else {
            self.note_missing(notes);
            return None;
        };
        let label = format!("{label} (CPython {})", python.borrow().version());
        Some(
            Contender::anchor(key, &label, move || python.borrow_mut().measure(&request))
                // The interpreter is warm already, and CPython rounds are the slow ones.
                .without_warm_up(),
        )
    }

    /// Adds the "CPython skipped" notice to `notes`, once.
    pub fn note_missing(&self, notes: &mut Vec<String>) {
        if let Some(notice) = &self.python_missing {
            if !notes.contains(notice) {
                notes.push(notice.clone());
            }
        }
    }

    /// Runs `contenders` interleaved for `full_rounds` (scaled) and builds one [`Figures`] per
    /// metric, `metrics[i] = (id, title, unit, goals)`.
    pub fn measure(
        &self,
        full_rounds: usize,
        metrics: Vec<(&str, String, Unit, Vec<Goal>)>,
        contenders: Vec<Contender<'_>>,
        notes: Vec<String>,
    ) -> Vec<Figures> {
        let rounds = self.scale.rounds(full_rounds);
        let name = metrics
            .iter()
            .map(|(id, ..)| *id)
            .collect::<Vec<_>>()
            .join("+");
        let unit = metrics.first().map(|(_, _, unit, _)| unit.clone());
        let show = |figure: f64| {
            unit.as_ref()
                .map_or(figure.to_string(), |unit| unit.show(figure))
        };
        let series = interleave(&name, self.scale, rounds, metrics.len(), contenders, &show);
        metrics
            .into_iter()
            .zip(series)
            .map(|((id, title, unit, goals), series)| Figures {
                // Filled in by the command line, which knows the workload's name.
                workload: String::new(),
                id: id.to_owned(),
                title,
                unit,
                scale: self.scale.name().to_owned(),
                rounds,
                series,
                goals,
                notes: notes.clone(),
                // Filled in by the command line, around the whole workload.
                others: None,
                steal: None,
            })
            .collect()
    }
}

/// A goal: `anchor / ours >= min_ratio`.
pub fn goal(ours: &str, anchor: &str, min_ratio: f64, text: &str) -> Goal {
    Goal {
        ours: ours.to_owned(),
        anchor: anchor.to_owned(),
        min_ratio,
        text: text.to_owned(),
    }
}

/// `1,000,000`: sizes in titles read better with separators.
pub fn thousands(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
