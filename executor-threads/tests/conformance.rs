//! The conformance suite on `ThreadPool` (4 workers).

use executor_testkit::Capabilities;
use executor_threads::ThreadPool;

executor_testkit::conformance_main! {
    backend: "threads",
    setup: {},
    executor: || ThreadPool::builder().max_workers(4).build().unwrap(),
    capabilities: Capabilities::THREADS,
}
