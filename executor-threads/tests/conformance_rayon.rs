//! The conformance suite on `RayonExecutor`, over its own 4-thread rayon pool.

use executor_testkit::Capabilities;
use executor_threads::RayonExecutor;

executor_testkit::conformance_main! {
    backend: "rayon",
    setup: {},
    executor: || {
        RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(4)).unwrap()
    },
    capabilities: Capabilities::THREADS,
}
