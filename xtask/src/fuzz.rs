//! `cargo xtask fuzz`: the long run of the process pool's hostile-worker fuzz.
//!
//! The test suite runs the same fuzz bounded (1,000 mutated result frames in
//! `executor-process/tests/hostile.rs`, a couple of seconds); this runs it in release with as
//! many iterations and whichever seed are asked, through the same test, so there is one fuzz
//! and one set of assertions.

use crate::flags;
use crate::util::{self, Result};

impl flags::Fuzz {
    /// Runs the fuzz; fails, naming the command, if any frame did not end typed.
    pub(crate) fn run(&self) -> Result<()> {
        util::section(&format!(
            "fuzz: {} mutated result frames, seed {}",
            self.iterations, self.seed
        ));
        util::run_process_test(
            "hostile",
            &["--exact", "mutated_results_end_typed"],
            &[
                ("HOSTILE_FUZZ_ITERATIONS", self.iterations),
                ("HOSTILE_FUZZ_SEED", self.seed),
            ],
        )
    }
}
