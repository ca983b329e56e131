//! Measures the MPI pool's round trip (submit + result of a tiny task, one at a time) and the
//! throughput of 10,000 small tasks, in either launch mode.
//!
//! ```text
//! cargo build --release -p concurrent-futures-mpi --example mpi_round_trip
//! mpirun -n 3 target/release/examples/mpi_round_trip                        # pre-launched
//! mpirun -n 1 --oversubscribe target/release/examples/mpi_round_trip spawn  # 2 spawned workers
//! ```

use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit, as_completed};

fn echo(x: u64) -> u64 {
    x
}

concurrent_futures_mpi::remote_fn!(echo);

fn main() {
    let spawned = std::env::args().nth(1).as_deref() == Some("spawn");
    let started = if spawned {
        concurrent_futures_mpi::spawn(2)
    } else {
        concurrent_futures_mpi::init()
    };
    let session = match started {
        Ok(session) => session,
        Err(error) => {
            eprintln!("mpi_round_trip: {error}");
            std::process::exit(2);
        }
    };
    let pool = session.pool();
    for i in 0..200 {
        assert_eq!(pool.call(echo, i).unwrap().result(), Ok(i));
    }
    let mut times: Vec<Duration> = (0..2_000)
        .map(|i| {
            let started = Instant::now();
            assert_eq!(pool.call(echo, i).unwrap().result(), Ok(i));
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "round trip (submit + result, {} {} workers): median {:.1?}, p90 {:.1?}",
        session.workers(),
        if spawned { "spawned" } else { "pre-launched" },
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );

    for per_worker in [1, 64] {
        let pool = session.builder().tasks_per_worker(per_worker).build();
        let started = Instant::now();
        let futures: Vec<_> = (0..10_000).map(|i| pool.call(echo, i).unwrap()).collect();
        assert_eq!(as_completed(&futures).count(), 10_000);
        let elapsed = started.elapsed();
        println!(
            "10,000 submits, batches of at most {per_worker}: {elapsed:.2?} ({:.0} tasks/s)",
            10_000.0 / elapsed.as_secs_f64()
        );
        pool.shutdown(Shutdown::default());
    }

    let started = Instant::now();
    let tasks = (0..10_000).map(|i| concurrent_futures_mpi::Call::new(echo, i));
    let count = pool
        .map(tasks, MapOptions::new().chunksize(500))
        .filter(Result::is_ok)
        .count();
    assert_eq!(count, 10_000);
    println!("10,000 by map (chunksize 500): {:.2?}", started.elapsed());
    pool.shutdown(Shutdown::default());
}
