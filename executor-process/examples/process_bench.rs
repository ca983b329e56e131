//! Rough timings of the process pool against a raw ipc-channel ping-pong (the shapes of the
//! benchmark issue's P1-P5 and C1). Run with
//! `cargo run --release -p concurrent-futures-process --example process_bench`.
//!
//! For profiling, `ONLY_P1=1`, `ONLY_P2=1`, `ONLY_P3=1` or `ONLY_P5=1` run one shape in a loop
//! (`ONLY_P3` prints each of 11 runs and their median);
//! `P2_SAMPLES=n` runs the bench's P2 shape n times (a fresh pool, both workers warmed by a
//! 20 ms task, 2,000 round trips) and prints each sample's mean and percentiles; `ROUNDS=n`
//! sets `ONLY_P2`'s count. `SPIN_MICROS=n` sets the pool's spin; `BUSY_WAIT=1` (with
//! `ONLY_P2`) polls the future instead of blocking on it.

use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
use concurrent_futures_process::{Bytes, Call, ProcessPool};
use ipc_channel::ipc::{self, IpcOneShotServer, IpcReceiver, IpcSender};

fn noop(x: u64) -> u64 {
    x
}

fn length(bytes: Bytes) -> u64 {
    bytes.len() as u64
}

/// "p50 .., p90 .., p99 .., max .. us" of round-trip times.
fn percentiles(mut trips: Vec<Duration>) -> String {
    trips.sort();
    let at = |q: f64| trips[((trips.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    format!(
        "p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.0} us",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn pause(millis: u64) {
    std::thread::sleep(Duration::from_millis(millis));
}

fn spin(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iterations {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x100_0000_01B3);
    }
    x
}

concurrent_futures_process::remote_fn!(noop, length, spin, pause);

const PING_ENV: &str = "PROCESS_BENCH_PING_SERVER";

fn main() {
    concurrent_futures_process::init();
    if let Ok(name) = std::env::var(PING_ENV) {
        ping_child(name);
        return;
    }
    let workers = 2;
    let time = |label: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        let elapsed = start.elapsed();
        println!("{label:<58} {:>10.2} ms", elapsed.as_secs_f64() * 1e3);
        elapsed
    };

    // P4: construct a pool, first result, shutdown complete.
    for workers in [1, 2] {
        let start = Instant::now();
        let pool = ProcessPool::builder().max_workers(workers).build().unwrap();
        pool.call(noop, 1).unwrap().result().unwrap();
        let first = start.elapsed();
        pool.shutdown(Shutdown::default());
        let done = start.elapsed();
        println!(
            "{:<58} {:>10.2} ms (shut down: {:.2} ms)",
            format!("P4 {workers}-worker pool: build to first result"),
            first.as_secs_f64() * 1e3,
            done.as_secs_f64() * 1e3
        );
    }

    let spin_micros = std::env::var("SPIN_MICROS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let pool = ProcessPool::builder()
        .max_workers(workers)
        .spin(Duration::from_micros(spin_micros))
        .build()
        .unwrap();
    pool.call(noop, 0).unwrap().result().unwrap();
    if std::env::var_os("ONLY_P5").is_some() {
        let start = Instant::now();
        for _ in 0..5 {
            let futures: Vec<_> = (0..200)
                .map(|_| pool.call(length, Bytes(vec![1u8; 1 << 20])).unwrap())
                .collect();
            for f in &futures {
                assert_eq!(f.result().unwrap(), 1 << 20);
            }
        }
        let elapsed = start.elapsed().as_secs_f64() / 5.0;
        println!(
            "P5 x5: {:.1} ms per 200 MiB = {:.0} MB/s",
            elapsed * 1e3,
            200.0 * 1.048576 / elapsed
        );
        pool.shutdown(Shutdown::default());
        return;
    }
    if std::env::var_os("ONLY_P3").is_some() {
        let mut runs: Vec<f64> = (0..11)
            .map(|_| {
                let start = Instant::now();
                let sum: u64 = pool
                    .map(
                        (0..1_000_000u64).map(|i| Call::new(noop, i)),
                        MapOptions::new().chunksize(1000),
                    )
                    .map(Result::unwrap)
                    .sum();
                assert_eq!(sum, 999_999 * 1_000_000 / 2);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!("P3 runs (ms): {runs:.1?}");
        runs.sort_by(f64::total_cmp);
        println!(
            "P3 x11: median {:.1} ms per 1,000,000 items (= ns/item), min {:.1} ms",
            runs[5], runs[0]
        );
        pool.shutdown(Shutdown::default());
        return;
    }
    if std::env::var_os("ONLY_P1").is_some() {
        let start = Instant::now();
        for _ in 0..10 {
            let futures: Vec<_> = (0..20_000).map(|i| pool.call(noop, i).unwrap()).collect();
            for f in &futures {
                f.result().unwrap();
            }
        }
        println!(
            "P1 x10: {:.1} ms per 20000",
            start.elapsed().as_secs_f64() * 1e3 / 10.0
        );
        pool.shutdown(Shutdown::default());
        return;
    }
    if let Some(samples) = std::env::var("P2_SAMPLES")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        // The bench's P2 shape: a fresh pool per sample, both workers warmed by a 20 ms task,
        // then 2,000 round trips.
        for _ in 0..samples {
            let pool = ProcessPool::builder().max_workers(workers).build().unwrap();
            let warm: Vec<_> = (0..workers)
                .map(|_| pool.call(pause, 20).unwrap())
                .collect();
            for f in warm {
                f.result().unwrap();
            }
            let mut trips = Vec::with_capacity(2000);
            let start = Instant::now();
            for i in 0..2000 {
                let trip = Instant::now();
                pool.call(noop, i).unwrap().result().unwrap();
                trips.push(trip.elapsed());
            }
            let mean = start.elapsed().as_secs_f64() * 1e6 / 2000.0;
            println!("sample: {mean:.1} us ({})", percentiles(trips));
            pool.shutdown(Shutdown::default());
        }
        return;
    }
    if std::env::var_os("ONLY_P2").is_some() {
        let start = Instant::now();
        let busy = std::env::var_os("BUSY_WAIT").is_some();
        let rounds: u64 = std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(20_000);
        let mut trips = Vec::with_capacity(rounds as usize);
        for i in 0..rounds {
            let trip = Instant::now();
            let f = pool.call(noop, i).unwrap();
            if busy {
                while !f.done() {
                    std::hint::spin_loop();
                }
            }
            f.result().unwrap();
            trips.push(trip.elapsed());
        }
        println!(
            "P2 x{rounds}: {:.1} us per round trip ({})",
            start.elapsed().as_secs_f64() * 1e6 / rounds as f64,
            percentiles(trips)
        );
        pool.shutdown(Shutdown::default());
        return;
    }

    // P1: 20,000 no-op tasks via submit, then wait.
    time("P1 20,000 no-op submits, then wait", &mut || {
        let futures: Vec<_> = (0..20_000).map(|i| pool.call(noop, i).unwrap()).collect();
        for f in &futures {
            f.result().unwrap();
        }
    });

    // P2: sequential submit + result.
    let elapsed = time("P2 2,000 sequential submit + result", &mut || {
        for i in 0..2_000 {
            pool.call(noop, i).unwrap().result().unwrap();
        }
    });
    println!(
        "   = {:.1} us per round trip",
        elapsed.as_secs_f64() * 1e6 / 2000.0
    );

    // P3: map over 1,000,000 integers, chunksize 1000.
    time(
        "P3 map over 1,000,000 integers, chunksize 1000",
        &mut || {
            let sum: u64 = pool
                .map(
                    (0..1_000_000u64).map(|i| Call::new(noop, i)),
                    MapOptions::new().chunksize(1000),
                )
                .map(Result::unwrap)
                .sum();
            assert_eq!(sum, 999_999 * 1_000_000 / 2);
        },
    );

    // P5: 200 tasks, each a 1 MiB byte argument, returning its length.
    let elapsed = time("P5 200 x 1 MiB byte arguments", &mut || {
        let futures: Vec<_> = (0..200)
            .map(|_| pool.call(length, Bytes(vec![1u8; 1 << 20])).unwrap())
            .collect();
        for f in &futures {
            assert_eq!(f.result().unwrap(), 1 << 20);
        }
    });
    println!("   = {:.0} MB/s", 200.0 * 1.048576 / elapsed.as_secs_f64());

    // C1: 32 CPU-bound tasks of about 50 ms.
    let iterations = calibrate_spin(Duration::from_millis(50));
    let serial = time(
        "C1 serial reference (4 tasks in this thread) x 8",
        &mut || {
            for _ in 0..4 {
                std::hint::black_box(spin(iterations));
            }
        },
    ) * 8;
    let parallel = time("C1 32 x 50 ms CPU tasks on 2 workers", &mut || {
        let futures: Vec<_> = (0..32)
            .map(|_| pool.call(spin, iterations).unwrap())
            .collect();
        for f in &futures {
            f.result().unwrap();
        }
    });
    println!(
        "   = speedup {:.2}",
        serial.as_secs_f64() / parallel.as_secs_f64()
    );
    pool.shutdown(Shutdown::default());

    // The P4 anchor: start one child, one round trip, child exit.
    time(
        "raw: start one child + one ipc-channel round trip",
        &mut || ping_parent(1),
    );

    // The anchor: a raw blocking ipc-channel ping-pong with a child process.
    let elapsed = time(
        "raw ipc-channel blocking ping-pong, 2,000 round trips",
        &mut || ping_parent(2_000),
    );
    println!(
        "   = {:.1} us per round trip",
        elapsed.as_secs_f64() * 1e6 / 2000.0
    );
}

fn calibrate_spin(target: Duration) -> u64 {
    let mut iterations = 1_000_000;
    loop {
        let start = Instant::now();
        std::hint::black_box(spin(iterations));
        let elapsed = start.elapsed();
        if elapsed >= target / 4 {
            return (iterations as f64 * target.as_secs_f64() / elapsed.as_secs_f64()) as u64;
        }
        iterations *= 4;
    }
}

/// What the ping child sends: first the sender for pings, then one pong per ping.
#[derive(serde::Serialize, serde::Deserialize)]
enum FromChild {
    Hello(IpcSender<u64>),
    Pong(u64),
}

fn ping_parent(round_trips: u64) {
    let (server, name) = IpcOneShotServer::<FromChild>::new().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(PING_ENV, name)
        .spawn()
        .unwrap();
    let (pongs, hello): (IpcReceiver<FromChild>, FromChild) = server.accept().unwrap();
    let FromChild::Hello(pings) = hello else {
        panic!("the child did not say hello")
    };
    for i in 0..round_trips {
        pings.send(i).unwrap();
        match pongs.recv().unwrap() {
            FromChild::Pong(j) => assert_eq!(i, j),
            FromChild::Hello(_) => panic!("a second hello"),
        }
    }
    drop(pings);
    child.wait().unwrap();
}

fn ping_child(name: String) {
    let pongs = IpcSender::<FromChild>::connect(name).unwrap();
    let (pings_tx, pings) = ipc::channel::<u64>().unwrap();
    pongs.send(FromChild::Hello(pings_tx)).unwrap();
    while let Ok(i) = pings.recv() {
        pongs.send(FromChild::Pong(i)).unwrap();
    }
}
