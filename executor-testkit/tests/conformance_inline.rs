//! The conformance suite on [`InlineExecutor`], which runs tasks inside `submit`: every check
//! that needs a task to block while the check goes on is skipped, with the reason.

use concurrent_futures_testkit::{Capabilities, InlineExecutor};

concurrent_futures_testkit::conformance_main! {
    backend: "inline",
    setup: {},
    executor: InlineExecutor::new,
    capabilities: Capabilities::INLINE,
}
