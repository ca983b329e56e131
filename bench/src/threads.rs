//! The thread-pool workloads of the threads issue: T1, T2, T3 and C1 (threads), for our
//! `ThreadPool` and `RayonExecutor` beside rayon, CPython's `ThreadPoolExecutor`, the crossbeam
//! ping-pong floor and the serial baseline.
//!
//! Every pool has 2 workers, is created and has its workers running before the clock starts,
//! and is shut down after it stops.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit, Task, backend::Chunk};
use concurrent_futures_threads::{RayonExecutor, ThreadPool};
use rayon::prelude::*;
use serde_json::json;

use crate::context::{Context, WORKERS, goal, thousands};
use crate::cpu;
use crate::floors;
use crate::harness::{Contender, Measurement, Scale};
use crate::peers;
use crate::record::{Figures, Unit};

/// T1's tasks, also the submitters sweep's.
pub(crate) const T1_TASKS: usize = 100_000;
const T2_ROUNDS: usize = 10_000;
const T3_ITEMS: usize = 200_000;
/// The chunk size of the extra T3 series: what a user would pass for a trivial function.
const T3_CHUNKSIZE: usize = 1000;
const C1_TASKS: usize = 32;
const C1_TASK_TIME: Duration = Duration::from_millis(50);

/// A 2-worker `ThreadPool` with both workers started.
fn thread_pool() -> ThreadPool {
    let pool = ThreadPool::builder()
        .max_workers(WORKERS)
        .build()
        .expect("2 workers is a valid pool");
    start_workers(&pool);
    pool
}

/// A 2-thread `RayonExecutor` with its own rayon pool.
fn rayon_executor() -> RayonExecutor {
    let executor =
        RayonExecutor::from_builder(rayon::ThreadPoolBuilder::new().num_threads(WORKERS))
            .expect("a 2-thread rayon pool");
    start_workers(&executor);
    executor
}

/// A plain 2-thread rayon pool.
fn rayon_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .expect("a 2-thread rayon pool")
}

/// Runs one task per worker that waits for all the others: every worker thread exists after.
fn start_workers<X: Submit<Box<dyn FnOnce() + Send>>>(executor: &X) {
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    let futures: Vec<_> = (0..WORKERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let task: Box<dyn FnOnce() + Send> = Box::new(move || {
                barrier.wait();
            });
            executor.submit(task).expect("a fresh pool accepts work")
        })
        .collect();
    barrier.wait();
    for future in futures {
        future.wait();
    }
}

fn finish(executor: &impl Executor, started: Instant) -> Measurement {
    let elapsed = started.elapsed().as_secs_f64();
    executor.shutdown(Shutdown::default());
    Ok(vec![elapsed])
}

/// T1 for any of our executors: submit `tasks` no-ops, then wait for all.
fn submit_all<X: Submit<fn()>>(executor: X, tasks: usize) -> Measurement {
    let started = Instant::now();
    let futures: Vec<_> = (0..tasks)
        .map(|_| executor.submit(noop as fn()).expect("the pool is open"))
        .collect();
    for future in &futures {
        future.wait();
    }
    let figures = finish(&executor, started);
    drop(futures);
    figures
}

fn noop() {}

/// T1 from `submitters` threads at once, for any of our executors: each submits its share of
/// `tasks` no-ops, then waits for its futures.
fn submit_all_from<X>(executor: X, tasks: usize, submitters: usize) -> Measurement
where
    X: Submit<fn()> + Sync,
{
    let (elapsed, futures) = spread(submitters, tasks, |share| {
        let futures: Vec<_> = (0..share)
            .map(|_| executor.submit(noop as fn()).expect("the pool is open"))
            .collect();
        for future in &futures {
            future.wait();
        }
        Ok(futures)
    })?;
    executor.shutdown(Shutdown::default());
    // As in `submit_all`: the futures are dropped after the clock stops.
    drop(futures);
    Ok(vec![elapsed])
}

/// Runs `body(share)` on `submitters` threads at once, the shares of `tasks` differing by at
/// most one; returns the seconds from releasing the threads to the last one finishing, and
/// what each returned (dropped by the caller, after the clock).
///
/// The threads are started and parked on a barrier before the clock starts, so thread creation
/// is not measured; a panic in `body` becomes an error rather than a hang at the barrier.
pub fn spread<R: Send>(
    submitters: usize,
    tasks: usize,
    body: impl Fn(usize) -> Result<R, String> + Sync,
) -> Result<(f64, Vec<R>), String> {
    let submitters = submitters.max(1);
    let start = Barrier::new(submitters + 1);
    let end = Barrier::new(submitters + 1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..submitters)
            .map(|index| {
                let share = tasks / submitters + usize::from(index < tasks % submitters);
                let (start, end, body) = (&start, &end, &body);
                scope.spawn(move || {
                    start.wait();
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(share)))
                        .unwrap_or_else(|_| Err("a submitting thread panicked".to_owned()));
                    end.wait();
                    outcome
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        end.wait();
        let elapsed = started.elapsed().as_secs_f64();
        let returned = threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("a submitting thread panicked".to_owned()))
            })
            .collect::<Result<Vec<R>, String>>()?;
        Ok((elapsed, returned))
    })
}

/// T1's rayon anchor: `tasks` spawns, each sending its result over its own channel, then every
/// result received; the receivers are returned so the caller drops them after the clock.
fn rayon_submit_all(
    pool: &rayon::ThreadPool,
    tasks: usize,
) -> Result<Vec<crossbeam_channel::Receiver<()>>, String> {
    let receivers: Vec<_> = (0..tasks)
        .map(|_| {
            let (sender, receiver) = crossbeam_channel::bounded(1);
            pool.spawn(move || {
                let _ = sender.send(());
            });
            receiver
        })
        .collect();
    for receiver in &receivers {
        receiver.recv().map_err(|error| error.to_string())?;
    }
    Ok(receivers)
}

/// T1 from `submitters` threads at once (the submitters sweep): ours, `RayonExecutor`, rayon
/// and the peers, the `tasks` split between the threads, each thread waiting for its own.
pub fn t1_from<'a>(tasks: usize, submitters: usize) -> Vec<Contender<'a>> {
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", move || {
            submit_all_from(thread_pool(), tasks, submitters)
        }),
        Contender::ours("ours-rayon", "RayonExecutor", move || {
            submit_all_from(rayon_executor(), tasks, submitters)
        }),
        Contender::anchor("rayon", "rayon spawn + crossbeam channel", move || {
            let pool = rayon_pool();
            let (elapsed, receivers) =
                spread(submitters, tasks, |share| rayon_submit_all(&pool, share))?;
            drop(receivers);
            Ok(vec![elapsed])
        }),
    ];
    contenders.extend(peers::t1_from(tasks, submitters));
    contenders
}

/// T2 for any of our executors: `rounds` times, submit a no-op and wait for its result.
fn round_trips<X: Submit<fn()>>(executor: X, rounds: usize) -> Measurement {
    let started = Instant::now();
    for _ in 0..rounds {
        executor
            .submit(noop as fn())
            .expect("the pool is open")
            .join()
            .map_err(|error| format!("a no-op failed: {error}"))?;
    }
    finish(&executor, started)
}

/// T3's trivial function.
fn trivial(item: u64) -> u64 {
    item + 1
}

/// T3's task: [`trivial`] of one item. A named type (what `move || trivial(item)` would be,
/// with a name), so that the generic helper below needs no boxing.
struct Trivial(u64);

impl Task for Trivial {
    type Output = u64;
    type Error = Infallible;

    fn run(self) -> Result<u64, Infallible> {
        Ok(trivial(self.0))
    }
}

/// T3 for any of our executors: `map` over `items` integers.
fn map_items<X>(executor: X, items: usize, options: MapOptions) -> Measurement
where
    X: Submit<Trivial> + Submit<Chunk<Trivial>>,
{
    let started = Instant::now();
    let tasks = (0..items as u64).map(Trivial);
    let mut sum = 0u64;
    for outcome in executor.map(tasks, options) {
        sum = sum.wrapping_add(outcome.map_err(|error| format!("an item failed: {error}"))?);
    }
    black_box(sum);
    finish(&executor, started)
}

/// C1 for any of our executors: `tasks` CPU-bound tasks of `iterations` each, wait for all.
fn cpu_tasks<X: Submit<Box<dyn FnOnce() -> u64 + Send>>>(
    executor: X,
    tasks: usize,
    iterations: u64,
) -> Measurement {
    let started = Instant::now();
    let futures: Vec<_> = (0..tasks)
        .map(|_| {
            let task: Box<dyn FnOnce() -> u64 + Send> = Box::new(move || cpu::burn(iterations));
            executor.submit(task).expect("the pool is open")
        })
        .collect();
    for future in futures {
        black_box(future.join().map_err(|error| error.to_string())?);
    }
    finish(&executor, started)
}

/// C1's task count and task length at `scale`: the full 32 x 50 ms, half the tasks when quick,
/// a token run for the smoke test.
pub fn c1_shape(scale: Scale) -> (usize, Duration) {
    match scale {
        Scale::Full => (C1_TASKS, C1_TASK_TIME),
        Scale::Quick => (C1_TASKS / 2, C1_TASK_TIME),
        Scale::Smoke => (WORKERS * 2, Duration::from_millis(1)),
    }
}

/// T1: submit 100,000 no-op tasks, then wait for all.
pub fn t1(cx: &Context) -> Vec<Figures> {
    let tasks = cx.scale.size(T1_TASKS);
    let mut notes = Vec::new();
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", || submit_all(thread_pool(), tasks)),
        Contender::ours("ours-rayon", "RayonExecutor", || {
            submit_all(rayon_executor(), tasks)
        }),
        Contender::anchor("rayon", "rayon spawn + crossbeam channel", || {
            let pool = rayon_pool();
            let started = Instant::now();
            let receivers = rayon_submit_all(&pool, tasks)?;
            let elapsed = started.elapsed().as_secs_f64();
            drop(receivers);
            Ok(vec![elapsed])
        }),
    ];
    contenders.extend(peers::t1(tasks));
    contenders.extend(cx.cpython(
        "cpython",
        "ThreadPoolExecutor",
        json!({"workload": "t1", "size": tasks, "workers": WORKERS}),
        &mut notes,
    ));
    cx.measure(
        15,
        vec![(
            "T1",
            format!("{} no-op submits, then wait for all", thousands(tasks)),
            Unit::PerOp {
                ops: tasks as f64,
                name: "task".into(),
            },
            vec![
                goal("ours", "rayon", 1.0, "≥ rayon"),
                goal("ours", "cpython", 50.0, "≥ 50× CPython"),
                goal("ours", "tokio", 1.0, "≥ tokio spawn_blocking"),
                goal("ours", "blocking", 1.0, "≥ blocking::unblock"),
                goal("ours", "threadpool", 1.0, "≥ threadpool"),
            ],
        )],
        contenders,
        notes,
    )
}

/// T2: submit one no-op and wait for its result, 10,000 times.
pub fn t2(cx: &Context) -> Vec<Figures> {
    let rounds = cx.scale.size(T2_ROUNDS);
    let mut notes = Vec::new();
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", || round_trips(thread_pool(), rounds)),
        Contender::ours("ours-rayon", "RayonExecutor", || {
            round_trips(rayon_executor(), rounds)
        }),
        Contender::anchor("rayon", "rayon spawn + crossbeam channel", || {
            let pool = rayon_pool();
            let started = Instant::now();
            for _ in 0..rounds {
                let (sender, receiver) = crossbeam_channel::bounded(1);
                pool.spawn(move || {
                    let _ = sender.send(());
                });
                receiver.recv().map_err(|error| error.to_string())?;
            }
            Ok(vec![started.elapsed().as_secs_f64()])
        }),
        Contender::anchor("ping-pong", "floor: crossbeam ping-pong, 2 threads", || {
            Ok(vec![floors::crossbeam_ping_pong(rounds)])
        }),
    ];
    contenders.extend(peers::t2(rounds));
    contenders.extend(cx.cpython(
        "cpython",
        "ThreadPoolExecutor",
        json!({"workload": "t2", "size": rounds, "workers": WORKERS}),
        &mut notes,
    ));
    cx.measure(
        20,
        vec![(
            "T2",
            format!("{} sequential submit + result", thousands(rounds)),
            Unit::PerOp {
                ops: rounds as f64,
                name: "round trip".into(),
            },
            vec![
                goal("ours", "rayon", 1.0, "≥ rayon"),
                goal("ours", "ping-pong", 1.0 / 3.0, "within 3× ping-pong"),
                goal("ours", "cpython", 30.0, "≥ 30× CPython"),
                goal("ours", "tokio", 3.0, "≥ 3× tokio spawn_blocking"),
                goal("ours", "blocking", 3.0, "≥ 3× blocking::unblock"),
                goal("ours", "threadpool", 3.0, "≥ 3× threadpool"),
            ],
        )],
        contenders,
        notes,
    )
}

/// T3: `map` over 200,000 integers with a trivial function.
pub fn t3(cx: &Context) -> Vec<Figures> {
    let items = cx.scale.size(T3_ITEMS);
    let mut notes = vec![format!(
        "T3: `ThreadPool` and `RayonExecutor` are the default call, whose chunk size adapts to the \
         measured pace of the items; `chunksize 1` is the per-task path (one task per item, as \
         CPython's call); `chunksize {T3_CHUNKSIZE}` is what a user would pass for a trivial \
         function. CPython's ThreadPoolExecutor ignores chunksize, so the goals are judged on \
         the default call."
    )];
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", || {
            map_items(thread_pool(), items, MapOptions::new())
        }),
        Contender::ours("ours-single", "ThreadPool, chunksize 1", || {
            map_items(thread_pool(), items, MapOptions::new().chunksize(1))
        }),
        Contender::ours(
            "ours-chunked",
            &format!("ThreadPool, chunksize {T3_CHUNKSIZE}"),
            || {
                map_items(
                    thread_pool(),
                    items,
                    MapOptions::new().chunksize(T3_CHUNKSIZE),
                )
            },
        ),
        Contender::ours("ours-rayon", "RayonExecutor", || {
            map_items(rayon_executor(), items, MapOptions::new())
        }),
        Contender::anchor("rayon", "rayon par_iter", || {
            let pool = rayon_pool();
            let started = Instant::now();
            let out: Vec<u64> = pool.install(|| {
                (0..items as u64)
                    .into_par_iter()
                    .map(trivial)
                    .collect::<Vec<_>>()
            });
            let elapsed = started.elapsed().as_secs_f64();
            black_box(out);
            Ok(vec![elapsed])
        }),
    ];
    contenders.extend(cx.cpython(
        "cpython",
        "ThreadPoolExecutor.map",
        json!({"workload": "t3", "size": items, "workers": WORKERS}),
        &mut notes,
    ));
    cx.measure(
        15,
        vec![(
            "T3",
            format!("map over {} integers, trivial function", thousands(items)),
            Unit::PerOp {
                ops: items as f64,
                name: "item".into(),
            },
            vec![
                goal("ours", "cpython", 100.0, "≥ 100× CPython"),
                goal("ours", "rayon", 0.1, "within 10× rayon par_iter"),
            ],
        )],
        contenders,
        notes,
    )
}

/// C1 (threads): 32 tasks of about 50 ms of pure CPU; speedup over running them serially.
pub fn c1(cx: &Context) -> Vec<Figures> {
    let (tasks, task_time) = c1_shape(cx.scale);
    let iterations = cpu::iterations_for(task_time);
    let notes = vec![format!(
        "C1 threads: each task runs {iterations} iterations of a pure-CPU loop, calibrated to {} ms \
         on this machine at the start of the run; the ratio to `serial` is the speedup.",
        task_time.as_millis()
    )];
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", || {
            cpu_tasks(thread_pool(), tasks, iterations)
        }),
        Contender::ours("ours-rayon", "RayonExecutor", || {
            cpu_tasks(rayon_executor(), tasks, iterations)
        }),
        Contender::anchor("serial", "serial, on the calling thread", || {
            let started = Instant::now();
            for _ in 0..tasks {
                black_box(cpu::burn(iterations));
            }
            Ok(vec![started.elapsed().as_secs_f64()])
        }),
        Contender::anchor("rayon", "rayon spawn + crossbeam channel", || {
            let pool = rayon_pool();
            let started = Instant::now();
            let receivers: Vec<_> = (0..tasks)
                .map(|_| {
                    let (sender, receiver) = crossbeam_channel::bounded(1);
                    pool.spawn(move || {
                        let _ = sender.send(cpu::burn(iterations));
                    });
                    receiver
                })
                .collect();
            for receiver in receivers {
                black_box(receiver.recv().map_err(|error| error.to_string())?);
            }
            Ok(vec![started.elapsed().as_secs_f64()])
        }),
    ];
    contenders.extend(peers::c1(tasks, iterations));
    cx.measure(
        7,
        vec![(
            "C1 threads",
            format!(
                "{tasks} CPU-bound tasks of ~{} ms, 2 workers",
                task_time.as_millis()
            ),
            Unit::Total,
            vec![goal("ours", "serial", 1.9, "speedup ≥ 1.9")],
        )],
        contenders,
        notes,
    )
}
