//! The shared conformance suite on the process pool (4 workers).

use executor_process::ProcessPool;
use executor_testkit::{Capabilities, TestTask};

executor_process::register_task!(TestTask);

executor_testkit::conformance_main! {
    backend: "process",
    setup: { executor_process::init(); },
    executor: || ProcessPool::builder().max_workers(4).build().expect("the process pool starts"),
    capabilities: Capabilities::PROCESS,
}
