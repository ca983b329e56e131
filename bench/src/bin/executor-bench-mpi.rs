//! `executor-bench-mpi`: the MPI programs of the MPI workloads (MPI1, MPI2), launched by the
//! harness under `mpirun` (see `executor_bench::mpi`). Each one times its own loop after a
//! warm-up, so `mpirun`'s start-up never enters a figure, and rank 0 prints one line per
//! metric in the format [`executor_bench::mpi::Report`] reads.
//!
//! ```text
//! mpirun -n 3 executor-bench-mpi round-trip OPS            ours: submit + result, one at a time
//! mpirun -n 3 executor-bench-mpi throughput TASKS CHUNK    ours: submit each, wait all; map
//! mpirun -n 2 executor-bench-mpi ping-pong OPS BYTES       raw MPI ping-pong (the floor)
//! mpirun -n 3 --enable-recovery executor-bench-mpi death TASKS
//!                                        ours: a worker killed with TASKS queued, until all done
//! ```
//!
//! Built only with the `mpi` feature (it needs MPI and libclang); `cargo xtask bench` builds it
//! when `mpirun` is installed.

use std::process::ExitCode;
use std::time::Instant;

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
use executor_bench::mpi::Report;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::Communicator;

/// The tiny task of MPI1 and MPI2: its argument back.
fn echo(x: u64) -> u64 {
    x
}

/// MPI5's fatal task: aborts the worker that runs it (SIGABRT, as mpi4py's `os.abort`).
fn kill_own_worker(_unused: u8) -> u8 {
    std::process::abort()
}

concurrent_futures_mpi::remote_fn!(echo, kill_own_worker);

/// Round trips run before the clock starts.
const WARM_UP_ROUND_TRIPS: u64 = 200;

fn main() -> ExitCode {
    // Every rank parses the same arguments before MPI starts: worker ranks never return from
    // `concurrent_futures_mpi::init`, so the mode must be known first.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Result<Vec<u64>, _> = args.iter().skip(1).map(|arg| arg.parse()).collect();
    let outcome = match (args.first().map(String::as_str), numbers.as_deref()) {
        (Some("round-trip"), Ok(&[ops])) => round_trip(ops),
        (Some("throughput"), Ok(&[tasks, chunksize])) => throughput(tasks, chunksize),
        (Some("ping-pong"), Ok(&[ops, bytes])) => ping_pong(ops, bytes),
        (Some("death"), Ok(&[tasks])) => death(tasks),
        _ => Err(format!(
            "usage: executor-bench-mpi round-trip OPS | throughput TASKS CHUNKSIZE | \
             ping-pong OPS BYTES | death TASKS (got {args:?})"
        )),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("executor-bench-mpi: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Rank 0's session and a pool on the other ranks (which serve inside `init` until the end).
fn session() -> Result<concurrent_futures_mpi::Session, String> {
    concurrent_futures_mpi::init().map_err(|error| format!("concurrent_futures_mpi::init: {error}"))
}

/// MPI1, ours: `ops` sequential submit + result of `echo`.
fn round_trip(ops: u64) -> Result<(), String> {
    let session = session()?;
    let pool = session.pool();
    let one = |i: u64| -> Result<(), String> {
        match pool
            .call(echo, i)
            .map_err(|error| error.to_string())?
            .result()
        {
            Ok(echoed) if echoed == i => Ok(()),
            other => Err(format!("echo({i}) gave {other:?}")),
        }
    };
    for i in 0..WARM_UP_ROUND_TRIPS {
        one(i)?;
    }
    let started = Instant::now();
    for i in 0..ops {
        one(i)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", Report::new("round-trip", ops, seconds));
    pool.shutdown(Shutdown::default());
    session.finalize();
    Ok(())
}

/// MPI2, ours: `tasks` submits of `echo`, then wait for all; then `map` over as many items
/// with `chunksize`.
fn throughput(tasks: u64, chunksize: u64) -> Result<(), String> {
    let session = session()?;
    let pool = session.pool();
    let submit_all = |count: u64| -> Result<f64, String> {
        let started = Instant::now();
        let futures = (0..count)
            .map(|i| pool.call(echo, i).map_err(|error| error.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        for future in &futures {
            future.wait();
        }
        let seconds = started.elapsed().as_secs_f64();
        for (i, future) in (0..count).zip(&futures) {
            if future.result() != Ok(i) {
                return Err(format!("echo({i}) gave {:?}", future.result()));
            }
        }
        Ok(seconds)
    };
    let map_all = |count: u64| -> Result<f64, String> {
        let started = Instant::now();
        let tasks = (0..count).map(|i| concurrent_futures_mpi::Call::new(echo, i));
        let options = MapOptions::new().chunksize(chunksize as usize);
        let mut expected = 0;
        for outcome in pool.map(tasks, options) {
            if outcome != Ok(expected) {
                return Err(format!("map: item {expected} gave {outcome:?}"));
            }
            expected += 1;
        }
        if expected != count {
            return Err(format!("map gave {expected} items of {count}"));
        }
        Ok(started.elapsed().as_secs_f64())
    };
    // Warm-up: the workers have run tasks and the pool has measured their time.
    let warm_up = (tasks / 10).clamp(1, 1000);
    submit_all(warm_up)?;
    map_all(warm_up)?;
    let submitted = submit_all(tasks)?;
    let mapped = map_all(tasks)?;
    println!("{}", Report::new("submit-wait", tasks, submitted));
    println!("{}", Report::new("map", tasks, mapped));
    pool.shutdown(Shutdown::default());
    session.finalize();
    Ok(())
}

/// MPI5, ours: after a warm-up, a task that kills its worker and `tasks` echo tasks behind
/// it; the time from that submit until every future is done (the loss noticed, the fatal task
/// failed `WorkerLost`, the rest run on the surviving worker), with the session's defaults.
fn death(tasks: u64) -> Result<(), String> {
    let session = session()?;
    let pool = session.pool();
    for i in 0..WARM_UP_ROUND_TRIPS {
        pool.call(echo, i)
            .map_err(|error| error.to_string())?
            .wait();
    }
    let started = Instant::now();
    let fatal = pool
        .call(kill_own_worker, 0)
        .map_err(|error| error.to_string())?;
    let futures = (0..tasks)
        .map(|i| pool.call(echo, i).map_err(|error| error.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    fatal.wait();
    for future in &futures {
        future.wait();
    }
    let seconds = started.elapsed().as_secs_f64();
    match fatal.result() {
        Err(concurrent_futures_core::TaskError::WorkerLost(_)) => {}
        other => return Err(format!("the fatal task gave {other:?}, not WorkerLost")),
    }
    for (i, future) in (0..tasks).zip(&futures) {
        if future.result() != Ok(i) {
            return Err(format!("echo({i}) gave {:?}", future.result()));
        }
    }
    println!("{}", Report::new("death", 1, seconds));
    pool.shutdown(Shutdown::default());
    session.finalize();
    Ok(())
}

/// MPI1's floor: a blocking MPI ping-pong of `bytes` bytes between ranks 0 and 1, `ops`
/// times.
fn ping_pong(ops: u64, bytes: u64) -> Result<(), String> {
    let universe = mpi::initialize().ok_or("MPI_Init failed")?;
    let world = universe.world();
    if world.size() != 2 {
        return Err(format!("ping-pong needs 2 ranks, got {}", world.size()));
    }
    let message = vec![7u8; bytes as usize];
    let warm_up = WARM_UP_ROUND_TRIPS.max(ops / 10);
    if world.rank() == 0 {
        let peer = world.process_at_rank(1);
        let exchange = || -> Result<(), String> {
            peer.send(&message[..]);
            let (echo, _) = peer.receive_vec::<u8>();
            if echo.len() == message.len() {
                Ok(())
            } else {
                Err(format!(
                    "echo of {} bytes, sent {}",
                    echo.len(),
                    message.len()
                ))
            }
        };
        for _ in 0..warm_up {
            exchange()?;
        }
        let started = Instant::now();
        for _ in 0..ops {
            exchange()?;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("{}", Report::new("ping-pong", ops, seconds));
    } else {
        let peer = world.process_at_rank(0);
        for _ in 0..warm_up + ops {
            let (echo, _) = peer.receive_vec::<u8>();
            peer.send(&echo[..]);
        }
    }
    Ok(())
}
