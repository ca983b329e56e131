//! `cargo xtask soak`: the long run of the process pool's soak.
//!
//! The test suite runs the same soak bounded (3,000 tasks in `executor-process/tests/soak.rs`,
//! a few seconds); this runs it in release at the size asked, through the same test, so there
//! is one soak, one report and one set of assertions.

use crate::flags;
use crate::util::{self, Result};

impl flags::Soak {
    /// Runs the soak; fails, naming the command, if a future was lost or something leaked.
    pub(crate) fn run(&self) -> Result<()> {
        util::section(&format!(
            "soak: {} tasks on {} workers, seed {}",
            self.tasks, self.workers, self.seed
        ));
        util::run_process_test(
            "soak",
            &[],
            &[
                ("SOAK_TASKS", self.tasks),
                ("SOAK_WORKERS", self.workers),
                ("SOAK_SEED", self.seed),
            ],
        )
    }
}
