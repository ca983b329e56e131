//! Time and heap allocations per task of the bench's T1, T2 and T3 loops (no-op submits then
//! wait; submit-and-wait round trips; `map` over integers at chunksize 1), on a started
//! 2-worker pool: a quick probe to compare two builds without the full bench harness.
//!
//! `cargo run -p concurrent-futures-threads --release --example per_task_cost [ROUNDS [T1,T2,T3]]`
//!
//! Prints the median and the minimum over the rounds; the allocation count is exact (a counting
//! global allocator), the times are as noisy as the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
use concurrent_futures_threads::ThreadPool;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through to `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed through to `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through to `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const T1_TASKS: usize = 100_000;
const T2_ROUNDS: usize = 10_000;
const T3_ITEMS: usize = 200_000;

/// A 2-worker pool with both workers started.
fn started_pool() -> ThreadPool {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait();
            })
            .unwrap()
        })
        .collect();
    barrier.wait();
    futures.iter().for_each(|f| f.wait());
    pool
}

fn noop() {}

/// Runs `body` on a fresh pool; returns (seconds per item, allocations per item).
fn measure(items: usize, body: impl FnOnce(&ThreadPool)) -> (f64, f64) {
    let pool = started_pool();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    body(&pool);
    let elapsed = started.elapsed().as_secs_f64();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations;
    pool.shutdown(Shutdown::default());
    (elapsed / items as f64, allocations as f64 / items as f64)
}

fn t1(pool: &ThreadPool) {
    let futures: Vec<_> = (0..T1_TASKS)
        .map(|_| pool.submit(noop as fn()).unwrap())
        .collect();
    futures.iter().for_each(|f| f.wait());
}

fn t2(pool: &ThreadPool) {
    for _ in 0..T2_ROUNDS {
        pool.submit(noop as fn()).unwrap().join().unwrap();
    }
}

fn t3(pool: &ThreadPool) {
    let tasks = (0..T3_ITEMS as u64).map(|i| move || i + 1);
    let sum = pool
        .map(tasks, MapOptions::new())
        .fold(0u64, |sum, outcome| sum.wrapping_add(outcome.unwrap()));
    black_box(sum);
}

/// A workload's name, its item count and its loop.
type Workload = (&'static str, usize, fn(&ThreadPool));

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(15, |n| n.parse().expect("ROUNDS is a number"));
    let only = std::env::args().nth(2).unwrap_or_else(|| "T1,T2,T3".into());
    let workloads: [Workload; 3] = [
        ("T1", T1_TASKS, t1),
        ("T2", T2_ROUNDS, t2),
        ("T3", T3_ITEMS, t3),
    ];
    let mut times = vec![Vec::new(); workloads.len()];
    let mut allocations = vec![0.0; workloads.len()];
    for _ in 0..rounds {
        for (i, (name, items, body)) in workloads.iter().enumerate() {
            if !only.split(',').any(|o| o.eq_ignore_ascii_case(name)) {
                continue;
            }
            let (time, allocs) = measure(*items, body);
            times[i].push(time);
            allocations[i] = allocs;
        }
    }
    for (i, (name, _, _)) in workloads.iter().enumerate() {
        let series = &mut times[i];
        if series.is_empty() {
            continue;
        }
        series.sort_by(f64::total_cmp);
        println!(
            "{name}: median {:.0} ns, min {:.0} ns, {:.2} allocations per item",
            series[series.len() / 2] * 1e9,
            series[0] * 1e9,
            allocations[i]
        );
    }
}
