//! Micro-benchmarks of the hot paths under the workloads, with divan:
//! `cargo bench -p executor-bench` (add a name to filter: `cargo bench -p executor-bench wake`).
//!
//! - `complete`: create a pending future, complete it, take the result (one thread);
//! - `wake`: a thread parked on a future is woken by another thread completing it;
//! - `submit`: submit a no-op to a started 2-worker `ThreadPool` (workers drain meanwhile);
//! - `submit_wait`: submit a no-op and wait for it (T2's round trip);
//! - `floor_ping_pong`: the crossbeam round trip between two threads, for scale.

use std::convert::Infallible;
use std::thread;

use concurrent_futures_core::{Executor, Future, Shutdown, Submit, backend::Promise};
use concurrent_futures_threads::ThreadPool;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn noop() {}

fn started_pool() -> ThreadPool {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .build()
        .expect("a 2-worker pool");
    let futures: Vec<_> = (0..64)
        .map(|_| pool.submit(noop as fn()).expect("open"))
        .collect();
    futures.iter().for_each(Future::wait);
    pool
}

#[divan::bench]
fn complete(bencher: Bencher) {
    bencher.bench_local(|| {
        let (promise, future) = Future::<u64, Infallible>::pending();
        promise.set_result(black_box(7)).expect("pending");
        future.join()
    });
}

#[divan::bench]
fn wake(bencher: Bencher) {
    let (to_helper, promises) = crossbeam_channel::bounded::<Promise<u64, Infallible>>(1);
    let helper = thread::spawn(move || {
        for promise in promises {
            let _ = promise.set_result(1);
        }
    });
    bencher.bench_local(|| {
        let (promise, future) = Future::<u64, Infallible>::pending();
        to_helper.send(promise).expect("helper alive");
        future.wait();
        future
    });
    drop(to_helper);
    helper.join().expect("helper does not panic");
}

#[divan::bench]
fn submit(bencher: Bencher) {
    let pool = started_pool();
    bencher.bench_local(|| pool.submit(noop as fn()).expect("open"));
    pool.shutdown(Shutdown::default());
}

#[divan::bench]
fn submit_wait(bencher: Bencher) {
    let pool = started_pool();
    bencher.bench_local(|| pool.submit(noop as fn()).expect("open").wait());
    pool.shutdown(Shutdown::default());
}

#[divan::bench]
fn floor_ping_pong(bencher: Bencher) {
    let (to_echo, inbox) = crossbeam_channel::bounded::<u64>(1);
    let (to_main, replies) = crossbeam_channel::bounded::<u64>(1);
    let echo = thread::spawn(move || {
        for value in inbox {
            if to_main.send(value).is_err() {
                break;
            }
        }
    });
    bencher.bench_local(|| {
        to_echo.send(black_box(1)).expect("echo alive");
        replies.recv().expect("echo alive")
    });
    drop(to_echo);
    echo.join().expect("echo does not panic");
}
