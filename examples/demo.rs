//! The main job: the thread pool and the process pool doing real work, and what happens when
//! work goes wrong (a task that aborts its process, one that hangs, one that panics).
//!
//! `cargo run --release --example demo --features process`

use std::time::{Duration, Instant};

use concurrent_futures::process::Call;
use concurrent_futures::{
    Executor, MapOptions, ProcessPool, ReturnWhen, Shutdown, Submit, SubmitOptions, TaskError,
    ThreadPool, as_completed, wait,
};

/// Trial division: deliberately CPU-bound.
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

/// Stands in for native code that crashes its process.
fn crash(_: ()) -> u64 {
    std::process::abort()
}

/// Stands in for a call that never returns.
fn hang(_: ()) -> u64 {
    loop {
        std::thread::park();
    }
}

/// Counts the primes in `[start, start + len)`.
fn count_primes(start: u64, len: u64) -> u64 {
    (start..start + len).filter(|&n| is_prime(n)).count() as u64
}

concurrent_futures::remote_fn!(is_prime, crash, hang, count_primes);

fn main() {
    // In a worker process this runs the worker loop and never returns.
    concurrent_futures::process::init();
    // One task below panics on purpose. Say so in one line rather than with the default message
    // (and a backtrace under RUST_BACKTRACE) in the middle of the output. Set before any task
    // runs, so the hook the pools install to record where a task panicked defers to this one.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = (payload.downcast_ref::<&str>().copied())
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a non-string payload");
        println!("   (a task panicked, as planned: '{message}'; its future holds the error)");
    }));
    let started = Instant::now();

    println!("== process pool: large primes (the Python docs' example)");
    let pool = ProcessPool::builder()
        .max_workers(2)
        .build()
        .expect("start the process pool");
    let primes = [
        112_272_535_095_293,
        112_582_705_942_171,
        115_280_095_190_773,
        1_099_726_899_285_419,
    ];
    let checks = pool.map(
        primes.iter().map(|&n| Call::new(is_prime, n)),
        MapOptions::new(),
    );
    for (n, prime) in primes.iter().zip(checks) {
        println!("   {n} is prime: {}", prime.expect("a worker answers"));
    }

    println!("== process pool: isolation");
    let doomed = pool.call(crash, ()).unwrap();
    let stuck = pool
        .submit_with(
            Call::new(hang, ()),
            SubmitOptions::new().timeout(Duration::from_millis(300)),
        )
        .unwrap();
    let counts: Vec<_> = (0..8)
        .map(|i| pool.call(count_primes, (i * 250_000, 250_000)).unwrap())
        .collect();
    match doomed.result() {
        Err(TaskError::WorkerLost(exit)) => println!("   crashing task: {exit}; pool replaced it"),
        other => println!("   crashing task: unexpected {other:?}"),
    }
    match stuck.result() {
        Err(error @ TaskError::Expired { .. }) => println!("   hanging task: {error}"),
        other => println!("   hanging task: unexpected {other:?}"),
    }
    let total: u64 = counts
        .iter()
        .map(|f| f.result().expect("healthy tasks finish"))
        .sum();
    println!("   meanwhile, 8 healthy tasks counted {total} primes below 2,000,000");
    pool.shutdown(Shutdown::default());

    println!("== thread pool: blocking work, as it completes");
    let threads = ThreadPool::builder()
        .max_workers(4)
        .thread_name_prefix("demo")
        .build()
        .unwrap();
    let sleepers: Vec<_> = [300u64, 100, 200, 50]
        .into_iter()
        .map(|ms| {
            threads
                .submit(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    format!(
                        "{ms} ms on {}",
                        std::thread::current().name().unwrap_or("?")
                    )
                })
                .unwrap()
        })
        .collect();
    for future in as_completed(&sleepers) {
        println!("   done: {}", future.result().unwrap());
    }

    println!("== thread pool: a panic fails only its own future");
    let panicky = threads.submit(|| -> u32 { panic!("bad input") }).unwrap();
    let fine = threads.submit(|| 42).unwrap();
    let sets = wait([&panicky, &fine], None, ReturnWhen::AllCompleted);
    println!(
        "   {} done; panicking task: {}",
        sets.done.len(),
        panicky.result().unwrap_err()
    );
    println!("   its neighbour returned {}", fine.result().unwrap());

    println!("== thread pool: shutdown(cancel_futures) never strands a waiter");
    let gate = std::sync::Arc::new(std::sync::Barrier::new(5));
    let (started_tx, running) = std::sync::mpsc::channel();
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            threads
                .submit(move || {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    -1
                })
                .unwrap()
        })
        .collect();
    // All four workers are now busy, so these six stay queued.
    (0..4).for_each(|_| running.recv().unwrap());
    let queued: Vec<_> = (0..6).map(|i| threads.submit(move || i).unwrap()).collect();
    let stopper = threads.clone();
    let shutdown = std::thread::spawn(move || {
        stopper.shutdown(Shutdown {
            wait: true,
            cancel_futures: true,
        })
    });
    // The queued futures are cancelled (and done) while the busy ones still run.
    let sets = wait(&queued, None, ReturnWhen::AllCompleted);
    println!(
        "   wait() returned: {} queued futures done while all workers were busy",
        sets.done.len()
    );
    gate.wait();
    shutdown.join().unwrap();
    let cancelled = queued.iter().filter(|f| f.cancelled()).count();
    let sets = wait(
        busy.iter().chain(&queued),
        Some(Duration::ZERO),
        ReturnWhen::AllCompleted,
    );
    println!(
        "   {cancelled} of them cancelled; after shutdown {} of 10 are done",
        sets.done.len()
    );

    println!("== finished in {:.2?}", started.elapsed());
}
