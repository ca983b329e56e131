//! The conformance suite on [`ThreadPerTask`], the example backend written against the public
//! traits alone. Its workers are unbounded, so the checks that need a queue are skipped.

use concurrent_futures_testkit::{Capabilities, ThreadPerTask};

concurrent_futures_testkit::conformance_main! {
    backend: "thread-per-task",
    setup: {},
    executor: ThreadPerTask::new,
    capabilities: Capabilities::THREAD_PER_TASK,
}
