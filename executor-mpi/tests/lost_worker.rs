//! A spawned worker that dies breaks the session instead of hanging it, under
//! `mpirun -n 1 --enable-recovery` (see `common`): the task that killed it fails with
//! `TaskError::Broken`, so does every task still queued, later submits are refused, and the
//! session still finalises and the program exits cleanly.

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use concurrent_futures_core::{Rejected, TaskError};

/// How long any one result may take (the loss is noticed within milliseconds).
const PATIENCE: Duration = Duration::from_secs(60);

/// Ends the worker process abruptly, as a crashing task would.
fn exit_worker(code: i32) -> u32 {
    std::process::exit(code)
}

fn echo(x: u64) -> u64 {
    x
}

concurrent_futures_mpi::remote_fn!(exit_worker, echo);

fn main() -> ExitCode {
    common::main_with("lost_worker", common::SPAWNED, run_checks)
}

fn run_checks() -> ExitCode {
    let session = concurrent_futures_mpi::spawn(common::SPAWNED_WORKERS)
        .expect("MPI spawns the worker processes");
    let started = Instant::now();
    println!("\nrunning 1 test");
    let name = "lost_worker_breaks_the_session";
    let outcome = concurrent_futures_core::backend::catch_panic(|| {
        let pool = session.pool();
        assert_eq!(pool.call(echo, 1).unwrap().result_timeout(PATIENCE), Ok(1));
        let fatal = pool.call(exit_worker, 3).expect("accepted");
        // Queued behind it: some may finish on the other worker first; none may hang. Once the
        // loss is noticed (it may be during this loop), submits are refused as broken.
        let mut others = Vec::new();
        for x in 0..1_000u64 {
            match pool.call(echo, x) {
                Ok(future) => others.push((x, future)),
                Err(refused) => {
                    assert!(
                        matches!(refused.reason(), Rejected::Broken(_)),
                        "{:?}",
                        refused.reason()
                    );
                    break;
                }
            }
        }
        match fatal.result_timeout(PATIENCE) {
            Err(TaskError::Broken(broken)) => {
                let reason = broken.to_string();
                assert!(reason.contains("died"), "{reason}");
                assert!(reason.contains("pid"), "{reason}");
            }
            other => panic!("expected a broken executor, got {other:?}"),
        }
        for (x, future) in &others {
            let x = *x;
            match future.result_timeout(PATIENCE) {
                Ok(echoed) => assert_eq!(echoed, x),
                Err(TaskError::Broken(_)) => {}
                other => panic!("task {x}: expected its value or a broken executor, got {other:?}"),
            }
        }
        common::assert_refused_as_broken(pool.call(echo, 2));
        // A new pool of the broken session refuses too.
        assert!(session.pool().call(echo, 3).is_err());
    });
    // Must not hang on the dead worker (the launcher's timeout would say so).
    session.finalize();
    match outcome {
        Ok(()) => {
            println!("test {name} ... ok");
            common::summary(1, 0, 0, started)
        }
        Err(panic) => {
            println!("test {name} ... FAILED\n    {panic}");
            common::summary(0, 1, 0, started)
        }
    }
}
