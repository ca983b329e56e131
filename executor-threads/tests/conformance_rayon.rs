//! The conformance suite on `RayonExecutor`, over its own 4-thread rayon pool.

use concurrent_futures_testkit::Capabilities;
use concurrent_futures_threads::RayonExecutor;

concurrent_futures_testkit::conformance_main! {
    backend: "rayon",
    setup: {},
    executor: || {
        RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(4)).unwrap()
    },
    capabilities: Capabilities::THREADS,
}
