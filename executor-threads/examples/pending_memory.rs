//! Bytes per pending future: submits 1,000,000 no-op tasks to a pool whose only worker is
//! blocked, and counts the live heap bytes they hold (the future's cell with the task inside,
//! and the queue slot).
//!
//! `cargo run -p concurrent-futures-threads --release --example pending_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::mpsc;

use concurrent_futures_core::{Executor, Shutdown, Submit};
use concurrent_futures_threads::ThreadPool;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through to `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through to `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 1_000_000;

fn main() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.submit(move || gate.recv().unwrap()).unwrap();
    let mut futures = Vec::with_capacity(N);
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..N {
        futures.push(pool.submit(move || i).unwrap());
    }
    let after = LIVE.load(Ordering::Relaxed);
    let handles = (N * std::mem::size_of::<concurrent_futures_core::Future<usize>>()) as isize;
    let per_future = (after - before - handles) as f64 / N as f64;
    println!(
        "{N} pending futures (closure capturing a usize, output usize): {per_future:.1} bytes each \
         on the heap (future cell with the task inside + queue slot), plus the {}-byte handle the caller keeps",
        std::mem::size_of::<concurrent_futures_core::Future<usize>>()
    );
    release.send(()).unwrap();
    blocker.wait();
    pool.shutdown(Shutdown::default());
    assert!(futures.iter().all(|f| f.done()));
}
