//! Our process pool's contenders for P1-P5 and C1 (processes).
//!
//! `executor-process` is still being built; until its pool lands, every function here returns
//! no contender and adds a note, so the table shows the anchors and says which rows are missing.

use crate::harness::Contender;

const NOT_LANDED: &str = "executor-process: the process pool has not landed yet; \
     the `ours` figures of P1-P5 and C1 (processes) are missing from this run.";

fn missing(notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    notes.push(NOT_LANDED.to_owned());
    Vec::new()
}

/// P1: submit `tasks` no-ops, then wait for all.
pub fn p1(_tasks: usize, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// P2: `rounds` sequential submit + result.
pub fn p2(_rounds: usize, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// P3: `map` over `items` integers with `chunksize`.
pub fn p3(_items: usize, _chunksize: usize, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// P4: construct to first result, and to shutdown complete (two figures).
pub fn p4(notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// P5: `tasks` tasks with a `payload`-byte argument, returning its length.
pub fn p5(_tasks: usize, _payload: usize, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// C1: `tasks` CPU-bound tasks of `iterations` each.
pub fn c1(_tasks: usize, _iterations: u64, notes: &mut Vec<String>) -> Vec<Contender<'static>> {
    missing(notes)
}

/// The hook that must run first in `main`: turns this process into a pool worker when it was
/// started as one (nothing to do until the pool lands).
pub fn worker_hook() {}
