//! The shared conformance suite on the process pool (4 workers).

use concurrent_futures_process::ProcessPool;
use concurrent_futures_testkit::{Capabilities, TestTask};

concurrent_futures_process::register_task!(TestTask);

concurrent_futures_testkit::conformance_main! {
    backend: "process",
    setup: { concurrent_futures_process::init(); },
    executor: || ProcessPool::builder().max_workers(4).build().expect("the process pool starts"),
    capabilities: Capabilities::PROCESS,
}
