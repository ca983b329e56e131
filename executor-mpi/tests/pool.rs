//! Behaviour of the MPI pool beyond the shared suite, under `mpirun -n 3` (see `common`):
//! functions as tasks, registration errors, batching, panics, one registration for both the
//! process pool and MPI, and the end of the session.

mod common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use concurrent_futures_core::{Executor, MapOptions, Rejected, Shutdown, Submit, Task, TaskError};
use concurrent_futures_mpi::{Call, MpiPoolExecutor, Session};
use concurrent_futures_process::ProcessPool;
use serde::{Deserialize, Serialize};

/// How long any one result may take.
const PATIENCE: Duration = Duration::from_secs(30);

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn square(x: u64) -> u64 {
    x * x
}

/// Marks the panics this test causes on purpose (kept off stderr).
const DELIBERATE: &str = "(deliberate)";

fn refuse(x: u64) -> u64 {
    panic!("refusing {x} {DELIBERATE}")
}

/// Keeps the worker busy for `micros` microseconds, then returns them: long enough for a
/// callback to be registered first, short enough for the waiting thread to still be polling
/// for the answer when it comes.
fn busy(micros: u64) -> u64 {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    micros
}

/// `len` bytes of `byte`: a reply as large as asked.
fn filled(byte: u8, len: u64) -> Vec<u8> {
    vec![byte; usize::try_from(len).expect("a test length fits usize")]
}

concurrent_futures_mpi::remote_fn!(add, square, refuse, busy, filled);

/// What an initializer left on its worker.
static PREPARED: AtomicU64 = AtomicU64::new(0);

fn prepare(value: u64) {
    PREPARED.store(value, Ordering::SeqCst);
}

fn prepared() -> u64 {
    PREPARED.load(Ordering::SeqCst)
}

fn prepare_badly(value: u64) {
    panic!("cannot prepare {value} {DELIBERATE}")
}

concurrent_futures_mpi::remote_fn!(prepare, prepared, prepare_badly);

/// An initializer that fails (returns an error).
#[derive(Debug, Serialize, Deserialize)]
struct FailingSetup(String);

impl Task for FailingSetup {
    type Output = ();
    type Error = String;
    fn run(self) -> Result<(), String> {
        Err(self.0)
    }
}

concurrent_futures_mpi::register_task!(FailingSetup);

/// A task type registered through `concurrent_futures_process`: MPI knows it too (one registry).
#[derive(Debug, Serialize, Deserialize)]
struct Checksum(Vec<u8>);

impl Task for Checksum {
    type Output = u32;
    type Error = String;
    fn run(self) -> Result<u32, String> {
        Ok(self.0.iter().map(|&b| u32::from(b)).sum())
    }
}

concurrent_futures_process::register_task!(Checksum);

fn cube(x: u64) -> u64 {
    x * x * x
}

concurrent_futures_process::remote_fn!(cube);

/// A task type deliberately left unregistered.
#[derive(Debug, Serialize, Deserialize)]
struct Unregistered(u64);

impl Task for Unregistered {
    type Output = u64;
    type Error = String;
    fn run(self) -> Result<u64, String> {
        Ok(self.0)
    }
}

fn function_with_two_arguments(pool: &MpiPoolExecutor, _: &Session) {
    let future = pool.call(add, (2, 3)).expect("accepted");
    assert_eq!(future.result_timeout(PATIENCE), Ok(5));
}

fn unregistered_type_fails_its_future(pool: &MpiPoolExecutor, _: &Session) {
    let future = pool.submit(Unregistered(1)).expect("accepted");
    match future.result_timeout(PATIENCE) {
        Err(TaskError::Backend(error)) => {
            assert!(error.to_string().contains("not registered"), "{error}")
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

fn panic_is_carried_back(pool: &MpiPoolExecutor, _: &Session) {
    let future = pool.call(refuse, 7).expect("accepted");
    match future.result_timeout(PATIENCE) {
        Err(TaskError::Panicked(panic)) => {
            assert_eq!(panic.message(), format!("refusing 7 {DELIBERATE}"))
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // The worker carries on.
    assert_eq!(
        pool.call(square, 4).unwrap().result_timeout(PATIENCE),
        Ok(16)
    );
}

fn one_registration_serves_processes_and_mpi(pool: &MpiPoolExecutor, _: &Session) {
    // Registered with `concurrent_futures_process::register_task!`/`remote_fn!`, run on MPI ranks...
    let on_mpi = pool.submit(Checksum(vec![1, 2, 3])).expect("accepted");
    assert_eq!(on_mpi.result_timeout(PATIENCE), Ok(6));
    assert_eq!(pool.call(cube, 3).unwrap().result_timeout(PATIENCE), Ok(27));
    // ... and registered with `concurrent_futures_mpi::remote_fn!`, run in a process pool.
    let processes = ProcessPool::builder().max_workers(1).build().expect("pool");
    let in_process = processes.submit(Checksum(vec![4, 5])).expect("accepted");
    assert_eq!(in_process.result_timeout(PATIENCE), Ok(9));
    assert_eq!(
        processes.call(square, 5).unwrap().result_timeout(PATIENCE),
        Ok(25)
    );
    processes.shutdown(Shutdown::default());
}

fn map_of_calls_in_chunks_keeps_order(pool: &MpiPoolExecutor, _: &Session) {
    let tasks = (0..100u64).map(|x| Call::new(square, x));
    let options = MapOptions::new().chunksize(7).timeout(PATIENCE);
    let squares: Vec<u64> = pool
        .map(tasks, options)
        .map(|r| r.expect("square does not fail"))
        .collect();
    assert_eq!(squares, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
}

fn many_small_tasks_in_batches(pool: &MpiPoolExecutor, _: &Session) {
    let futures: Vec<_> = (0..5_000u64)
        .map(|x| pool.call(square, x).expect("accepted"))
        .collect();
    for (x, future) in (0..5_000u64).zip(&futures) {
        assert_eq!(future.result_timeout(PATIENCE), Ok(x * x));
    }
}

/// The transport's receive posted in advance holds 64 KiB; larger messages take another tag
/// and are announced on the first. Lengths straddle that size (a message adds a few bytes of
/// framing to its payload), one task per message, so small and large messages alternate on
/// the wire both ways and each must still reach its own future.
fn messages_around_and_above_the_posted_receive_keep_their_order(
    _: &MpiPoolExecutor,
    session: &Session,
) {
    const POSTED: u64 = 64 * 1024;
    let pool = session.builder().tasks_per_worker(1).build();
    let lengths = (POSTED - 40..POSTED + 40).chain([1, 3 * POSTED, 17, 40 * POSTED, 2]);
    let mut futures = Vec::new();
    for (i, len) in lengths.enumerate() {
        let byte = u8::try_from(i % 251).expect("below 251");
        let sum = u32::try_from(len).expect("small") * u32::from(byte);
        let checksum = pool.submit(Checksum(filled(byte, len))).expect("accepted");
        let reply = pool.call(filled, (byte, len)).expect("accepted");
        let small = pool.call(square, len).expect("accepted");
        futures.push((len, byte, sum, checksum, reply, small));
    }
    for (len, byte, sum, checksum, reply, small) in futures {
        assert_eq!(
            checksum.result_timeout(PATIENCE),
            Ok(sum),
            "checksum of {len} bytes"
        );
        let reply = reply
            .result_timeout(PATIENCE)
            .expect("filled does not fail");
        assert_eq!(reply.len() as u64, len);
        assert!(
            reply.iter().all(|&b| b == byte),
            "a reply of {len} bytes of {byte} came back altered"
        );
        assert_eq!(small.result_timeout(PATIENCE), Ok(len * len));
    }
    pool.shutdown(Shutdown::default());
}

fn one_task_per_message_also_works(_: &MpiPoolExecutor, session: &Session) {
    let pool = session.builder().tasks_per_worker(1).build();
    assert_eq!(pool.tasks_per_worker(), 1);
    let futures: Vec<_> = (0..200u64)
        .map(|x| pool.call(square, x).expect("accepted"))
        .collect();
    for (x, future) in (0..200u64).zip(&futures) {
        assert_eq!(future.result_timeout(PATIENCE), Ok(x * x));
    }
    pool.shutdown(Shutdown::default());
}

fn session_counts_the_worker_ranks(pool: &MpiPoolExecutor, session: &Session) {
    assert_eq!(session.workers(), 2);
    assert_eq!(pool.max_workers(), 2);
}

fn initializer_runs_before_the_pools_tasks(_: &MpiPoolExecutor, session: &Session) {
    let pool = session
        .builder()
        .initializer(Call::new(prepare, 4242))
        .build();
    // Enough tasks for both workers; each sees what the initializer left.
    let futures: Vec<_> = (0..200)
        .map(|_| pool.call(prepared, ()).expect("accepted"))
        .collect();
    for future in &futures {
        assert_eq!(future.result_timeout(PATIENCE), Ok(4242));
    }
    pool.shutdown(Shutdown::default());
    // Another pool's initializer runs for that pool.
    let other = session.builder().initializer(Call::new(prepare, 7)).build();
    assert_eq!(
        other.call(prepared, ()).unwrap().result_timeout(PATIENCE),
        Ok(7)
    );
    other.shutdown(Shutdown::default());
}

/// The pool is broken by its initializer: its task fails with `Broken` naming `expected`,
/// later submits are refused, and another pool still works.
fn assert_broken_by_initializer(pool: &MpiPoolExecutor, session: &Session, expected: &str) {
    let futures: Vec<_> = (0..10)
        .map(|x| {
            pool.call(square, x)
                .expect("accepted before the failure is known")
        })
        .collect();
    for future in &futures {
        match future.result_timeout(PATIENCE) {
            Err(TaskError::Broken(broken)) => {
                let reason = broken.to_string();
                assert!(reason.contains("initializer"), "{reason}");
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("expected a broken pool, got {other:?}"),
        }
    }
    common::assert_refused_as_broken(pool.call(square, 2));
    let healthy = session.pool();
    assert_eq!(
        healthy.call(square, 3).unwrap().result_timeout(PATIENCE),
        Ok(9)
    );
    healthy.shutdown(Shutdown::default());
}

fn failing_initializer_breaks_only_its_pool(_: &MpiPoolExecutor, session: &Session) {
    let pool = session
        .builder()
        .initializer(FailingSetup("no database".into()))
        .build();
    assert_broken_by_initializer(&pool, session, "no database");
}

fn panicking_initializer_breaks_only_its_pool(_: &MpiPoolExecutor, session: &Session) {
    let pool = session
        .builder()
        .initializer(Call::new(prepare_badly, 5))
        .build();
    assert_broken_by_initializer(&pool, session, "cannot prepare 5");
}

fn unregistered_initializer_breaks_the_pool_at_once(_: &MpiPoolExecutor, session: &Session) {
    let pool = session.builder().initializer(Unregistered(1)).build();
    match pool.call(square, 2) {
        Err(refused) => match refused.reason() {
            Rejected::Broken(broken) => {
                assert!(broken.to_string().contains("not registered"), "{broken}")
            }
            other => panic!("expected a broken pool, got {other:?}"),
        },
        Ok(future) => panic!("a broken pool accepted a task: {future:?}"),
    }
}

/// Clones share one pool; the last one's drop waits for what the pool accepted, even after a
/// `shutdown` that did not wait (the suite's watchdog bounds that wait).
fn clones_share_one_pool_and_the_last_drop_waits(_: &MpiPoolExecutor, session: &Session) {
    let pool = session.pool();
    let other = pool.clone();
    drop(pool);
    assert!(
        !other.is_shutdown(),
        "dropping one clone shut the pool down"
    );
    let futures: Vec<_> = (0..50u64)
        .map(|x| other.call(square, x).expect("accepted"))
        .collect();
    other.shutdown(Shutdown::no_wait());
    drop(other);
    for (x, future) in (0u64..).zip(&futures) {
        assert!(
            future.done(),
            "task {x} was not done when the last drop returned"
        );
        assert_eq!(future.result(), Ok(x * x));
    }
}

/// A done-callback may wait for another task of the session: the thread that runs it (the
/// progress thread, or a thread that drove the first task to its end) makes the progress the
/// second one needs. Before waiting threads drove MPI themselves, this waited forever on the
/// progress thread.
fn a_done_callback_can_wait_for_another_task(pool: &MpiPoolExecutor, _: &Session) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let first = pool.call(square, 3).expect("accepted");
    let inner = pool.clone();
    first.add_done_callback(move |_| {
        let second = inner.call(square, 4).expect("accepted").result();
        let _ = sender.send(second);
    });
    assert_eq!(first.result(), Ok(9));
    assert_eq!(
        receiver.recv_timeout(PATIENCE).expect("the callback ran"),
        Ok(16),
        "the task the callback waited for"
    );
}

/// A done-callback that shuts its pool down with `wait` returns at once, on whichever thread
/// runs it (the task whose callback it is ends only after it). Each round's task outlasts the
/// callback's registration, and its answer mostly comes while this thread still polls for it
/// in `result()`, so the callback runs here rather than on the progress thread.
fn a_done_callback_can_shut_its_pool_down(_: &MpiPoolExecutor, session: &Session) {
    for _ in 0..20 {
        let pool = session.pool();
        let (sender, receiver) = std::sync::mpsc::channel();
        let future = pool.call(busy, 50).expect("accepted");
        let inner = pool.clone();
        future.add_done_callback(move |_| {
            inner.shutdown(Shutdown::default());
            let _ = sender.send(inner.is_shutdown());
        });
        assert_eq!(future.result(), Ok(50));
        assert_eq!(receiver.recv_timeout(PATIENCE), Ok(true));
    }
}

type Check = fn(&MpiPoolExecutor, &Session);

const CHECKS: &[(&str, Check)] = &[
    ("function_with_two_arguments", function_with_two_arguments),
    (
        "unregistered_type_fails_its_future",
        unregistered_type_fails_its_future,
    ),
    ("panic_is_carried_back", panic_is_carried_back),
    (
        "one_registration_serves_processes_and_mpi",
        one_registration_serves_processes_and_mpi,
    ),
    (
        "map_of_calls_in_chunks_keeps_order",
        map_of_calls_in_chunks_keeps_order,
    ),
    ("many_small_tasks_in_batches", many_small_tasks_in_batches),
    (
        "one_task_per_message_also_works",
        one_task_per_message_also_works,
    ),
    (
        "messages_around_and_above_the_posted_receive_keep_their_order",
        messages_around_and_above_the_posted_receive_keep_their_order,
    ),
    (
        "session_counts_the_worker_ranks",
        session_counts_the_worker_ranks,
    ),
    (
        "initializer_runs_before_the_pools_tasks",
        initializer_runs_before_the_pools_tasks,
    ),
    (
        "failing_initializer_breaks_only_its_pool",
        failing_initializer_breaks_only_its_pool,
    ),
    (
        "panicking_initializer_breaks_only_its_pool",
        panicking_initializer_breaks_only_its_pool,
    ),
    (
        "unregistered_initializer_breaks_the_pool_at_once",
        unregistered_initializer_breaks_the_pool_at_once,
    ),
    (
        "clones_share_one_pool_and_the_last_drop_waits",
        clones_share_one_pool_and_the_last_drop_waits,
    ),
    (
        "a_done_callback_can_wait_for_another_task",
        a_done_callback_can_wait_for_another_task,
    ),
    (
        "a_done_callback_can_shut_its_pool_down",
        a_done_callback_can_shut_its_pool_down,
    ),
];

fn main() -> ExitCode {
    // The process pool of `one_registration_serves_processes_and_mpi` restarts this binary as
    // its workers: they serve in here and never reach MPI.
    concurrent_futures_process::init();
    common::main("pool", run_checks)
}

fn run_checks() -> ExitCode {
    // On every rank (workers serve inside `init`): hide the deliberate panics.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !concurrent_futures_core::backend::payload_message(info.payload()).contains(DELIBERATE) {
            previous(info);
        }
    }));
    let session = concurrent_futures_mpi::init().expect("the MPI session starts");
    let started = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    println!("\nrunning {} tests", CHECKS.len() + 1);
    for (name, check) in CHECKS {
        let pool = session.pool();
        let outcome = concurrent_futures_core::backend::catch_panic(|| check(&pool, &session));
        pool.shutdown(Shutdown::default());
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(panic) => {
                failed += 1;
                println!("test {name} ... FAILED\n    {panic}");
            }
        }
    }
    // Last: once the session is finalised, pools refuse tasks as broken.
    let pool = session.pool();
    session.finalize();
    let name = "finalised_session_refuses_tasks";
    match pool.call(square, 2) {
        Err(refused) if matches!(refused.reason(), Rejected::Broken(_)) => {
            passed += 1;
            println!("test {name} ... ok");
        }
        other => {
            failed += 1;
            println!("test {name} ... FAILED\n    expected a refusal, got {other:?}");
        }
    }
    common::summary(passed, failed, 0, started)
}
