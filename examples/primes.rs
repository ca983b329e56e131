//! The Python docs' `ProcessPoolExecutor` example: checking large primes on the process pool.
//!
//! `cargo run --release --features process --example primes`

use concurrent_futures::{Executor, MapOptions, ProcessPool, Shutdown, Submit, process::Call};

const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let limit = (n as f64).sqrt() as u64;
    (3..=limit).step_by(2).all(|d| n % d != 0)
}
concurrent_futures::remote_fn!(is_prime);

fn main() {
    // In a worker process this runs the worker loop and never returns.
    concurrent_futures::process::init();

    let pool = ProcessPool::builder()
        .build()
        .expect("start the process pool");
    let calls = PRIMES.iter().map(|&n| Call::new(is_prime, n));
    for (n, prime) in PRIMES.iter().zip(pool.map(calls, MapOptions::new())) {
        println!("{n} is prime: {}", prime.expect("the worker answers"));
    }
    pool.shutdown(Shutdown::default());
}
