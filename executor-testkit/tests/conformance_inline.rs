//! The conformance suite on [`InlineExecutor`], which runs tasks inside `submit`: every check
//! that needs a task to block while the check goes on is skipped, with the reason.

use executor_testkit::{Capabilities, InlineExecutor};

executor_testkit::conformance_main! {
    backend: "inline",
    setup: {},
    executor: InlineExecutor::new,
    capabilities: Capabilities::INLINE,
}
