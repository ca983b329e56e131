//! A test binary with the default libtest harness: the documented pattern for users whose
//! tests cannot own `main` (`libtest_worker!` at the crate root, `.libtest_worker()` on the
//! builder).

use concurrent_futures_core::{Executor, Shutdown};
use concurrent_futures_process::ProcessPool;

fn triple(n: u64) -> u64 {
    n * 3
}

concurrent_futures_process::remote_fn!(triple);
concurrent_futures_process::libtest_worker!();

#[test]
fn a_pool_inside_a_libtest_test() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .libtest_worker()
        .build()
        .unwrap();
    let futures: Vec<_> = (0..10).map(|i| pool.call(triple, i).unwrap()).collect();
    for (i, future) in (0..).zip(&futures) {
        assert_eq!(
            future.result_timeout(std::time::Duration::from_secs(60)),
            Ok(i * 3)
        );
    }
    let pid = std::process::id();
    assert!(pool.worker_pids().iter().all(|&p| p != pid));
    pool.shutdown(Shutdown::default());
}
