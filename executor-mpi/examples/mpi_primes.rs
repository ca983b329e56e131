//! Counts primes on the workers of an MPI job: `submit` of ranges, then `map` of numbers, in
//! either launch mode.
//!
//! ```text
//! cargo build -p concurrent-futures-mpi --example mpi_primes
//! mpirun -n 3 target/debug/examples/mpi_primes                               # pre-launched
//! mpirun -n 1 --oversubscribe target/debug/examples/mpi_primes --spawn 2     # spawned
//! ```
//!
//! With `--spawn N`, rank 0 starts N copies of this binary with `MPI_Comm_spawn`; each runs
//! this `main` again (same arguments) and serves inside `concurrent_futures_mpi::spawn`, which never
//! returns there.

use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit, as_completed};

fn is_prime(n: u64) -> bool {
    n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn primes_in(start: u64, end: u64) -> u64 {
    (start..end).filter(|&n| is_prime(n)).count() as u64
}

concurrent_futures_mpi::remote_fn!(is_prime, primes_in);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spawned = match args.as_slice() {
        [] => None,
        [flag, workers] if flag == "--spawn" => {
            Some(workers.parse().expect("--spawn takes a number of workers"))
        }
        _ => {
            eprintln!("usage: mpi_primes [--spawn N]");
            std::process::exit(2);
        }
    };
    let session = match spawned {
        None => concurrent_futures_mpi::init(),
        Some(workers) => concurrent_futures_mpi::spawn(workers),
    };
    let session = match session {
        Ok(session) => session,
        Err(error) => {
            eprintln!("mpi_primes: {error}");
            std::process::exit(2);
        }
    };
    match spawned {
        None => println!(
            "rank 0 of an MPI job with {} worker ranks",
            session.workers()
        ),
        Some(_) => println!("rank 0 spawned {} worker processes", session.workers()),
    }
    let pool = session.pool();

    // Submit: primes below two million, in 20 ranges, collected as they complete.
    let started = Instant::now();
    let step = 100_000;
    let futures: Vec<_> = (0..20)
        .map(|i| pool.call(primes_in, (i * step, (i + 1) * step)).unwrap())
        .collect();
    let mut total = 0;
    for future in as_completed(&futures) {
        total += future.result().expect("primes_in does not fail");
    }
    println!(
        "{total} primes below {} ({:.2?})",
        20 * step,
        started.elapsed()
    );
    assert_eq!(total, 148_933);

    // Map: which of these numbers are prime, in order, 50 per message.
    let candidates: Vec<u64> = (1_000_000_000..1_000_000_200).collect();
    let tasks = candidates
        .iter()
        .map(|&n| concurrent_futures_mpi::Call::new(is_prime, n));
    let options = MapOptions::new()
        .chunksize(50)
        .timeout(Duration::from_secs(60));
    let primes: Vec<u64> = candidates
        .iter()
        .zip(pool.map(tasks, options))
        .filter(|(_, is_prime)| *is_prime.as_ref().expect("is_prime does not fail"))
        .map(|(n, _)| *n)
        .collect();
    println!("primes in [1e9, 1e9 + 200): {primes:?}");
    assert_eq!(primes.first(), Some(&1_000_000_007));

    pool.shutdown(Shutdown::default());
    session.finalize();
}
