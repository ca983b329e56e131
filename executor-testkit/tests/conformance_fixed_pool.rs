//! The conformance suite on [`FixedPool`], a minimal bounded pool: it covers the checks that
//! need a queue (cancelling pending tasks, `shutdown(cancel_futures)`, `map`'s early drop).

use concurrent_futures_testkit::{Capabilities, FixedPool};

concurrent_futures_testkit::conformance_main! {
    backend: "fixed-pool",
    setup: {},
    executor: || FixedPool::new(4),
    capabilities: Capabilities::THREADS,
}
