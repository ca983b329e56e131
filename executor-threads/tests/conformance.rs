//! The conformance suite on `ThreadPool` (4 workers).

use concurrent_futures_testkit::Capabilities;
use concurrent_futures_threads::ThreadPool;

concurrent_futures_testkit::conformance_main! {
    backend: "threads",
    setup: {},
    executor: || ThreadPool::builder().max_workers(4).build().unwrap(),
    capabilities: Capabilities::THREADS,
}
