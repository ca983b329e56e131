//! Awaiting pool futures from async code: blocking work goes to the thread pool, the runtime's
//! threads stay free, and `.await` gives the result.
//!
//! `cargo run --release --example tokio_await`

use std::time::Duration;

use concurrent_futures::{Executor, Shutdown, Submit, ThreadPool};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();

    // A blocking call the runtime must not run on its own thread.
    let slow = pool
        .submit(|| {
            std::thread::sleep(Duration::from_millis(100));
            "slept on a pool thread"
        })
        .unwrap();
    let sums: Vec<_> = (1..=4u64)
        .map(|k| {
            pool.submit(move || (1..=k * 1_000_000).sum::<u64>())
                .unwrap()
        })
        .collect();

    // The runtime keeps serving other work meanwhile.
    let ticker = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        "the runtime stayed responsive"
    });

    println!("{}", slow.await.unwrap());
    for (k, sum) in sums.into_iter().enumerate() {
        println!("sum 1..={}M = {}", k + 1, sum.await.unwrap());
    }
    println!("{}", ticker.await.unwrap());
    pool.shutdown(Shutdown::default());
}
