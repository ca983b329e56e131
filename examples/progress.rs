//! A progress bar over `as_completed`: it is an `ExactSizeIterator`, so indicatif knows the total.
//!
//! `cargo run --release --example progress`

use concurrent_futures::{Executor, Shutdown, Submit, ThreadPool, as_completed};
use indicatif::ProgressIterator;

fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn main() {
    let pool = ThreadPool::new();
    let futures: Vec<_> = (0..200u64)
        .map(|i| {
            pool.submit(move || {
                let start = 1 + i * 50_000;
                (start..start + 50_000)
                    .map(collatz_steps)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap()
        })
        .collect();

    let mut longest = 0;
    for future in as_completed(&futures).progress() {
        longest = longest.max(future.result().unwrap());
    }
    println!(
        "longest Collatz chain below {}: {longest} steps",
        200 * 50_000
    );
    pool.shutdown(Shutdown {
        wait: true,
        cancel_futures: false,
    });
}
