//! Ad-hoc T1/T2 comparison against rayon (`spawn` + a crossbeam channel) and a raw crossbeam
//! ping-pong. Not the benchmark harness: a quick sanity check of the design.
//!
//! `cargo run -p concurrent-futures-threads --release --example quick_bench`

use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, Shutdown, Submit};
use concurrent_futures_threads::ThreadPool;

const T1_TASKS: usize = 100_000;
const T2_ROUNDS: usize = 10_000;

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn pool_t1() -> Duration {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let start = Instant::now();
    let futures: Vec<_> = (0..T1_TASKS)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    for f in &futures {
        f.wait();
    }
    let elapsed = start.elapsed();
    pool.shutdown(Shutdown::default());
    elapsed
}

/// T1 with four submitting threads at once (25,000 tasks each), 2 workers.
fn pool_t1_many_submitters() -> Duration {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(5));
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let futures: Vec<_> = (0..T1_TASKS / 4)
                    .map(|i| pool.submit(move || i).unwrap())
                    .collect();
                for f in &futures {
                    f.wait();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for s in submitters {
        s.join().unwrap();
    }
    let elapsed = start.elapsed();
    pool.shutdown(Shutdown::default());
    elapsed
}

/// T3: `map` over 200,000 integers with a trivial function, chunks of 1,000.
fn pool_t3() -> Duration {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let start = Instant::now();
    let sum: u64 = pool
        .map(
            (0..200_000u64).map(|i| move || i * 2),
            concurrent_futures_core::MapOptions::new().chunksize(1_000),
        )
        .map(Result::unwrap)
        .sum();
    let elapsed = start.elapsed();
    assert_eq!(sum, 199_999 * 200_000);
    elapsed
}

fn rayon_t3() -> Duration {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    let sum: u64 = pool.install(|| (0..200_000u64).into_par_iter().map(|i| i * 2).sum());
    let elapsed = start.elapsed();
    assert_eq!(sum, 199_999 * 200_000);
    elapsed
}

fn pool_t2() -> Duration {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    pool.submit(|| 0).unwrap().wait();
    let start = Instant::now();
    for i in 0..T2_ROUNDS {
        assert_eq!(pool.submit(move || i).unwrap().result(), Ok(i));
    }
    let elapsed = start.elapsed();
    assert_eq!(pool.thread_count(), 1);
    pool.shutdown(Shutdown::default());
    elapsed
}

fn rayon_t1() -> Duration {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    let receivers: Vec<_> = (0..T1_TASKS)
        .map(|i| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            pool.spawn(move || tx.send(i).unwrap());
            rx
        })
        .collect();
    for rx in receivers {
        rx.recv().unwrap();
    }
    start.elapsed()
}

fn rayon_t2() -> Duration {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let start = Instant::now();
    for i in 0..T2_ROUNDS {
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.spawn(move || tx.send(i).unwrap());
        assert_eq!(rx.recv().unwrap(), i);
    }
    start.elapsed()
}

fn ping_pong() -> Duration {
    let (to_tx, to_rx) = crossbeam_channel::bounded::<usize>(1);
    let (back_tx, back_rx) = crossbeam_channel::bounded::<usize>(1);
    let echo = std::thread::spawn(move || {
        for i in to_rx {
            back_tx.send(i).unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..T2_ROUNDS {
        to_tx.send(i).unwrap();
        assert_eq!(back_rx.recv().unwrap(), i);
    }
    let elapsed = start.elapsed();
    drop(to_tx);
    echo.join().unwrap();
    elapsed
}

fn main() {
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e9 / n as f64;
    let runs = 5;
    let t1_pool = best_of(runs, pool_t1);
    let t1_rayon = best_of(runs, rayon_t1);
    println!(
        "T1 {T1_TASKS} no-ops, 2 workers: pool {:>8.1?} ({:.0} ns/task), rayon+channel {:>8.1?} ({:.0} ns/task)",
        t1_pool,
        per(t1_pool, T1_TASKS),
        t1_rayon,
        per(t1_rayon, T1_TASKS)
    );
    let t1_many = best_of(runs, pool_t1_many_submitters);
    println!(
        "T1 with 4 submitting threads: pool {:>8.1?} ({:.0} ns/task)",
        t1_many,
        per(t1_many, T1_TASKS)
    );
    let t3_pool = best_of(runs, pool_t3);
    let t3_rayon = best_of(runs, rayon_t3);
    println!(
        "T3 map over 200,000 integers (chunksize 1,000): pool {t3_pool:.1?}, rayon par_iter {t3_rayon:.1?}"
    );
    let t2_pool = best_of(runs, pool_t2);
    let t2_rayon = best_of(runs, rayon_t2);
    let t2_ping = best_of(runs, ping_pong);
    println!(
        "T2 {T2_ROUNDS} round trips: pool {:.2} us, rayon+channel {:.2} us, crossbeam ping-pong {:.2} us",
        per(t2_pool, T2_ROUNDS) / 1e3,
        per(t2_rayon, T2_ROUNDS) / 1e3,
        per(t2_ping, T2_ROUNDS) / 1e3
    );
}
