//! The process-pool workloads of the process issue: P1-P5 and C1 (processes), beside CPython's
//! `ProcessPoolExecutor` (fork and spawn), procspawn's `Pool` and the raw floors.
//!
//! Every pool has 2 workers, started before the clock starts and shut down after it stops,
//! except in P4, whose figures are exactly that start-up and shut-down.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::context::{Context, WORKERS, goal, thousands};
use crate::cpu;
use crate::floors;
use crate::harness::{Contender, Measurement};
use crate::ours_process;
use crate::record::{Figures, Goal, Unit};
use crate::shm_floor;
use crate::threads::c1_shape;

/// P1's tasks, also the workers sweep's.
pub(crate) const P1_TASKS: usize = 20_000;
const P2_ROUNDS: usize = 2_000;
const P3_ITEMS: usize = 1_000_000;
const P3_CHUNKSIZE: usize = 1000;
const P5_TASKS: usize = 200;
const P5_PAYLOAD: usize = 1 << 20;

// ---- procspawn ------------------------------------------------------------------------------

fn procspawn_noop(_: ()) {}

fn procspawn_sleep(millis: u64) {
    std::thread::sleep(Duration::from_millis(millis));
}

fn procspawn_burn(iterations: u64) -> u64 {
    cpu::burn(iterations)
}

fn procspawn_length(payload: Vec<u8>) -> usize {
    payload.len()
}

fn procspawn_chunk(items: Vec<u64>) -> Vec<u64> {
    items.into_iter().map(trivial).collect()
}

/// P3's trivial function.
pub fn trivial(item: u64) -> u64 {
    item + 1
}

/// A started 2-worker procspawn pool: each worker has run a task.
fn procspawn_pool() -> Result<procspawn::Pool, String> {
    let pool = procspawn::Pool::new(WORKERS).map_err(|error| error.to_string())?;
    let warm: Vec<_> = (0..WORKERS)
        .map(|_| pool.spawn(20, procspawn_sleep))
        .collect();
    for handle in warm {
        handle.join().map_err(|error| error.to_string())?;
    }
    Ok(pool)
}

/// How many procspawn tasks may be queued at once: each holds three file descriptors until it
/// runs (two ipc channels per task), and the soft descriptor limit is what it is.
fn procspawn_window() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed `limit`.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur as usize
    } else {
        1024
    };
    (soft.saturating_sub(256) / 4).clamp(64, 100_000)
}

/// Submits `count` tasks made by `args` to a procspawn pool, at most `window` in flight, and
/// joins every one; returns the seconds.
fn procspawn_submit_all<A, R>(
    pool: &procspawn::Pool,
    count: usize,
    window: usize,
    mut args: impl FnMut() -> A,
    function: fn(A) -> R,
) -> Result<f64, String>
where
    A: serde::Serialize + serde::de::DeserializeOwned,
    R: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let started = Instant::now();
    let mut in_flight = VecDeque::new();
    for _ in 0..count {
        if in_flight.len() == window {
            let handle: procspawn::JoinHandle<R> = in_flight.pop_front().expect("non-empty");
            black_box(handle.join().map_err(|error| error.to_string())?);
        }
        in_flight.push_back(pool.spawn(args(), function));
    }
    for handle in in_flight {
        black_box(handle.join().map_err(|error| error.to_string())?);
    }
    Ok(started.elapsed().as_secs_f64())
}

fn procspawn_note(count: usize) -> Option<String> {
    let window = procspawn_window();
    (count > window).then(|| {
        format!(
            "procspawn: at most {} tasks in flight (each queued task holds 3 file descriptors \
             and the soft limit here is {}); the rest are submitted as earlier ones are joined.",
            thousands(window),
            thousands(window * 4 + 256)
        )
    })
}

// ---- CPython --------------------------------------------------------------------------------

/// CPython's `ProcessPoolExecutor` with the fork and with the spawn start method.
fn cpython_both<'a>(
    cx: &'a Context,
    request: serde_json::Value,
    notes: &mut Vec<String>,
) -> Vec<Contender<'a>> {
    ["fork", "spawn"]
        .into_iter()
        .filter_map(|method| {
            let mut request = request.clone();
            request["start_method"] = json!(method);
            request["workers"] = json!(WORKERS);
            cx.cpython(
                &format!("cpython-{method}"),
                &format!("ProcessPoolExecutor, {method}"),
                request,
                notes,
            )
        })
        .collect()
}

/// The same goal against both CPython start methods.
fn against_cpython(min_ratio: f64, text: &str) -> Vec<Goal> {
    ["cpython-fork", "cpython-spawn"]
        .into_iter()
        .map(|anchor| goal("ours", anchor, min_ratio, text))
        .collect()
}

fn seconds(result: Result<f64, String>) -> Measurement {
    result.map(|seconds| vec![seconds])
}

// ---- workloads ------------------------------------------------------------------------------

/// P1: 20,000 no-op tasks via submit, then wait.
pub fn p1(cx: &Context) -> Vec<Figures> {
    let tasks = cx.scale.size(P1_TASKS);
    let mut notes = Vec::new();
    let mut contenders = ours_process::p1(tasks, &mut notes);
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool",
        move || {
            let pool = procspawn_pool()?;
            let figure =
                procspawn_submit_all(&pool, tasks, procspawn_window(), || (), procspawn_noop);
            pool.shutdown();
            seconds(figure)
        },
    ));
    notes.extend(procspawn_note(tasks));
    contenders.extend(cpython_both(
        cx,
        json!({"workload": "p1", "size": tasks}),
        &mut notes,
    ));
    let mut goals = against_cpython(20.0, "≥ 20× CPython");
    goals.push(goal("ours", "procspawn", 10.0, "≥ 10× procspawn"));
    cx.measure(
        15,
        vec![(
            "P1",
            format!("{} no-op submits, then wait for all", thousands(tasks)),
            Unit::PerOp {
                ops: tasks as f64,
                name: "task".into(),
            },
            goals,
        )],
        contenders,
        notes,
    )
}

/// P2: sequential submit + result, 2,000 times.
pub fn p2(cx: &Context) -> Vec<Figures> {
    let rounds = cx.scale.size(P2_ROUNDS);
    let mut notes = Vec::new();
    let mut contenders = ours_process::p2(rounds, &mut notes);
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool",
        move || {
            let pool = procspawn_pool()?;
            let started = Instant::now();
            for _ in 0..rounds {
                pool.spawn((), procspawn_noop)
                    .join()
                    .map_err(|error| error.to_string())?;
            }
            let elapsed = started.elapsed().as_secs_f64();
            pool.shutdown();
            Ok(vec![elapsed])
        },
    ));
    contenders.push(Contender::anchor(
        "ipc-ping-pong",
        "floor: ipc-channel ping-pong, 2 processes",
        move || seconds(floors::ipc_ping_pong(rounds)),
    ));
    contenders.push(Contender::anchor(
        "shm-ping-pong",
        "floor: shared-memory ping-pong, 2 processes (spin 50 µs, then futex)",
        move || seconds(shm_floor::shm_ping_pong(rounds)),
    ));
    contenders.extend(cpython_both(
        cx,
        json!({"workload": "p2", "size": rounds}),
        &mut notes,
    ));
    let mut goals = against_cpython(10.0, "≥ 10× CPython");
    goals.push(goal("ours", "ipc-ping-pong", 1.0, "≥ ipc ping-pong"));
    goals.push(goal(
        "ours",
        "shm-ping-pong",
        1.0 / 3.0,
        "within 3× the shared-memory ping-pong",
    ));
    cx.measure(
        20,
        vec![(
            "P2",
            format!("{} sequential submit + result", thousands(rounds)),
            Unit::PerOp {
                ops: rounds as f64,
                name: "round trip".into(),
            },
            goals,
        )],
        contenders,
        notes,
    )
}

/// P3: `map` over 1,000,000 integers with chunksize 1000.
pub fn p3(cx: &Context) -> Vec<Figures> {
    let items = cx.scale.size(P3_ITEMS);
    let chunksize = P3_CHUNKSIZE.min(items);
    let mut notes = vec![format!(
        "P3: procspawn has no `map`; its row submits the {}-item chunks by hand, one task each.",
        thousands(chunksize)
    )];
    let mut contenders = ours_process::p3(items, chunksize, &mut notes);
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool, chunks by hand",
        move || {
            let pool = procspawn_pool()?;
            let mut next = 0u64;
            let chunks = items.div_ceil(chunksize);
            let figure = procspawn_submit_all(
                &pool,
                chunks,
                procspawn_window(),
                || {
                    let end = (next + chunksize as u64).min(items as u64);
                    let chunk: Vec<u64> = (next..end).collect();
                    next = end;
                    chunk
                },
                procspawn_chunk,
            );
            pool.shutdown();
            seconds(figure)
        },
    ));
    contenders.extend(cpython_both(
        cx,
        json!({"workload": "p3", "size": items, "chunksize": chunksize}),
        &mut notes,
    ));
    cx.measure(
        15,
        vec![(
            "P3",
            format!(
                "map over {} integers, chunksize {}",
                thousands(items),
                thousands(chunksize)
            ),
            Unit::PerOp {
                ops: items as f64,
                name: "item".into(),
            },
            against_cpython(3.0, "≥ 3× CPython"),
        )],
        contenders,
        notes,
    )
}

/// P4: construct a 2-worker pool to the first result (P4a) and to shutdown complete (P4b).
pub fn p4(cx: &Context) -> Vec<Figures> {
    let mut notes = vec![
        "P4: the floor starts this benchmark binary as a child, connects an ipc-channel, makes \
         one round trip (P4a), then hangs up and reaps it (P4b); `floor: start one child` is \
         spawn-to-reaped of the same binary exiting at once."
            .to_owned(),
    ];
    let mut contenders = ours_process::p4(&mut notes);
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool",
        || -> Measurement {
            let started = Instant::now();
            let pool = procspawn::Pool::new(WORKERS).map_err(|error| error.to_string())?;
            pool.spawn((), procspawn_noop)
                .join()
                .map_err(|error| error.to_string())?;
            let first = started.elapsed().as_secs_f64();
            pool.shutdown();
            Ok(vec![first, started.elapsed().as_secs_f64()])
        },
    ));
    contenders.push(Contender::anchor(
        "floor",
        "floor: one child + one ipc round trip",
        floors::child_round_trip,
    ));
    contenders.push(Contender::anchor(
        "child-start",
        "floor: start one child",
        || floors::child_start().map(|seconds| vec![seconds, seconds]),
    ));
    contenders.extend(cpython_both(cx, json!({"workload": "p4"}), &mut notes));
    let goals = |_stage: &str| {
        vec![
            goal("ours", "floor", 1.0 / 1.5, "within 1.5× the floor"),
            goal("ours", "cpython-fork", 4.0, "≥ 4× CPython fork"),
        ]
    };
    cx.measure(
        20,
        vec![
            (
                "P4a",
                "2-worker pool: construct to first result".to_owned(),
                Unit::Total,
                goals("first"),
            ),
            (
                "P4b",
                "2-worker pool: construct to shutdown complete".to_owned(),
                Unit::Total,
                goals("shutdown"),
            ),
        ],
        contenders,
        notes,
    )
}

/// P5: 200 tasks, each taking a 1 MiB byte argument and returning its length.
pub fn p5(cx: &Context) -> Vec<Figures> {
    let tasks = cx.scale.size(P5_TASKS * 100) / 100;
    let tasks = tasks.max(2);
    let mut notes = vec![format!(
        "P5: procspawn deadlocks with more 1 MiB arguments in flight than workers (`spawn` \
         blocks sending the argument of a queued task while the finished results wait for a \
         `join`), so its row keeps at most {WORKERS} tasks in flight."
    )];
    let mut contenders = ours_process::p5(tasks, P5_PAYLOAD, &mut notes);
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool",
        move || {
            let pool = procspawn_pool()?;
            let payload = vec![0xA5u8; P5_PAYLOAD];
            // More than one 1 MiB argument per worker in flight deadlocks procspawn: `spawn` blocks
            // sending the argument of a queued task while each worker's finished result waits on
            // a rendezvous channel for a `join` that the blocked caller cannot reach.
            let figure =
                procspawn_submit_all(&pool, tasks, WORKERS, || payload.clone(), procspawn_length);
            pool.shutdown();
            seconds(figure)
        },
    ));
    contenders.push(Contender::anchor(
        "ipc-bytes",
        "floor: ipc-channel bytes channel, 2 processes",
        move || seconds(floors::ipc_bytes(tasks, P5_PAYLOAD)),
    ));
    contenders.extend(cpython_both(
        cx,
        json!({"workload": "p5", "size": tasks, "payload_bytes": P5_PAYLOAD}),
        &mut notes,
    ));
    cx.measure(
        15,
        vec![(
            "P5",
            format!("{tasks} tasks with a 1 MiB byte argument, returning its length"),
            Unit::Throughput {
                bytes: (tasks * P5_PAYLOAD) as f64,
            },
            against_cpython(2.5, "≥ 2.5× CPython MB/s"),
        )],
        contenders,
        notes,
    )
}

/// C1 (processes): 32 tasks of about 50 ms of pure CPU; speedup over running them serially.
pub fn c1(cx: &Context) -> Vec<Figures> {
    let (tasks, task_time) = c1_shape(cx.scale);
    let iterations = cpu::iterations_for(task_time);
    let mut notes = vec![format!(
        "C1 processes: each task runs {iterations} iterations of a pure-CPU loop, calibrated to {} ms \
         on this machine at the start of the run; the ratio to `serial` is the speedup.",
        task_time.as_millis()
    )];
    let mut contenders = ours_process::c1(tasks, iterations, &mut notes);
    contenders.push(Contender::anchor(
        "serial",
        "serial, in this process",
        move || {
            let started = Instant::now();
            for _ in 0..tasks {
                black_box(cpu::burn(iterations));
            }
            Ok(vec![started.elapsed().as_secs_f64()])
        },
    ));
    contenders.push(Contender::anchor(
        "procspawn",
        "procspawn Pool",
        move || {
            let pool = procspawn_pool()?;
            let figure = procspawn_submit_all(
                &pool,
                tasks,
                procspawn_window(),
                || iterations,
                procspawn_burn,
            );
            pool.shutdown();
            seconds(figure)
        },
    ));
    cx.measure(
        7,
        vec![(
            "C1 processes",
            format!(
                "{tasks} CPU-bound tasks of ~{} ms, 2 worker processes",
                task_time.as_millis()
            ),
            Unit::Total,
            vec![goal("ours", "serial", 1.9, "speedup ≥ 1.9")],
        )],
        contenders,
        notes,
    )
}
