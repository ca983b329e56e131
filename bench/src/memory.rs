//! The memory figures: peak RSS growth (VmHWM in `/proc/self/status`) while 1,000,000 no-op
//! futures wait in a thread pool's queue (M1), and while `map` with `buffersize` runs over
//! 10,000,000 items (M2).
//!
//! The M1 sweep (`crate::sweeps`, 1,000 to 10,000,000 queued) runs the same contenders.
//!
//! Each measurement runs in a fresh child process (`executor-bench __child m1 ...`), so one
//! measurement's peak cannot hide the next one's, and the figure is the growth of the peak over
//! the child's own baseline just before the workload.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};

use concurrent_futures_core::{Executor, MapOptions, Shutdown, Submit};
use concurrent_futures_threads::ThreadPool;
use serde_json::json;

use crate::context::{Context, WORKERS, thousands};
use crate::harness::{Contender, Measurement};
use crate::python::Python;
use crate::record::{Figures, Unit};

const M1_FUTURES: usize = 1_000_000;
const M2_ITEMS: usize = 10_000_000;
/// M2's map options: one item per task as in CPython's default, and at most this many tasks
/// submitted ahead of the consumer.
const M2_BUFFERSIZE: usize = 64;

/// The peak resident set size of this process so far, in bytes.
pub fn peak_rss() -> Result<f64, String> {
    status_kib("VmHWM:").map(|kib| kib * 1024.0)
}

/// Runs `executor-bench __child <args>` and reads the figures it prints.
fn in_child(args: &[String]) -> Measurement {
    let exe =
        std::env::current_exe().map_err(|error| format!("cannot find this binary: {error}"))?;
    let output = Command::new(exe)
        .arg("__child")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot start a child: {error}"))?;
    if !output.status.success() {
        return Err(format!("child {args:?} failed: {}", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let reply: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|error| format!("child printed no JSON ({error}): {text}"))?;
    reply["values"]
        .as_array()
        .ok_or_else(|| format!("child printed no values: {text}"))?
        .iter()
        .map(|value| {
            value
                .as_f64()
                .ok_or_else(|| format!("not a number: {value}"))
        })
        .collect()
}

/// The child side: `m1 ours|rayon SIZE` or `m2 SIZE BUFFERSIZE|none`; prints
/// `{"values": [...]}`.
pub fn child_main(args: &[String]) -> Result<(), String> {
    let number = |index: usize| -> Result<usize, String> {
        args.get(index)
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("memory child: bad arguments {args:?}"))
    };
    let figure = match args.first().map(String::as_str) {
        Some("m1") => match args.get(1).map(String::as_str) {
            Some("ours") => queued_futures(number(2)?)?,
            Some("rayon") => queued_rayon(number(2)?)?,
            _ => return Err(format!("memory child: bad arguments {args:?}")),
        },
        Some("m2") => {
            let buffersize = match args.get(2).map(String::as_str) {
                Some("none") => None,
                _ => Some(number(2)?),
            };
            bounded_map(number(1)?, buffersize)?
        }
        _ => return Err(format!("memory child: bad arguments {args:?}")),
    };
    println!("{}", json!({ "values": [figure] }));
    Ok(())
}

/// Blocks every worker of `submit` on a gate; returns the gate's key.
fn block_workers(submit: impl Fn(Box<dyn FnOnce() + Send>)) -> crossbeam_channel::Sender<()> {
    let started = Arc::new(Barrier::new(WORKERS + 1));
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    for _ in 0..WORKERS {
        let started = Arc::clone(&started);
        let gate = gate.clone();
        submit(Box::new(move || {
            started.wait();
            let _ = gate.recv();
        }));
    }
    started.wait();
    open
}

/// M1, ours: bytes of peak RSS per queued no-op future (the caller holds every future).
fn queued_futures(count: usize) -> Result<f64, String> {
    let pool = ThreadPool::builder()
        .max_workers(WORKERS)
        .build()
        .map_err(|error| error.to_string())?;
    let gate = block_workers(|task| drop(pool.submit(task).expect("the pool is open")));
    let before = peak_rss()?;
    let futures: Vec<_> = (0..count)
        .map(|_| pool.submit(|| ()).expect("the pool is open"))
        .collect();
    let after = peak_rss()?;
    drop(gate);
    pool.shutdown(Shutdown::wait().cancel_futures(true));
    drop(futures);
    Ok((after - before) / count as f64)
}

/// M1, rayon: bytes of peak RSS per queued `spawn` whose result comes back over a crossbeam
/// channel (the caller holds every receiver).
fn queued_rayon(count: usize) -> Result<f64, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .map_err(|error| error.to_string())?;
    let gate = block_workers(|task| pool.spawn(task));
    let before = peak_rss()?;
    let receivers: Vec<_> = (0..count)
        .map(|_| {
            let (sender, receiver) = crossbeam_channel::bounded::<()>(1);
            pool.spawn(move || {
                let _ = sender.send(());
            });
            receiver
        })
        .collect();
    let after = peak_rss()?;
    drop(gate);
    for receiver in &receivers {
        receiver.recv().map_err(|error| error.to_string())?;
    }
    Ok((after - before) / count as f64)
}

/// The resident set size of this process now, in bytes.
fn current_rss() -> Result<f64, String> {
    status_kib("VmRSS:").map(|kib| kib * 1024.0)
}

/// A `kB` figure of `/proc/self/status`.
fn status_kib(field: &str) -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("reading /proc/self/status: {error}"))?;
    kib_field(&status, field)
}

/// The `kB` figure on the line of `text` that starts with `field`.
fn kib_field(text: &str, field: &str) -> Result<f64, String> {
    let line = text
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| format!("no {field} line"))?;
    line.split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| format!("unreadable line: {line}"))
}

/// M2: the peak RSS of this whole process (pool included) after `map` over `items` integers,
/// with `buffersize` if given. VmHWM is only refreshed by the kernel at some events, so a
/// sampler thread also reads VmRSS every few milliseconds and the larger figure counts.
fn bounded_map(items: usize, buffersize: Option<usize>) -> Result<f64, String> {
    let pool = ThreadPool::builder()
        .max_workers(WORKERS)
        .build()
        .map_err(|error| error.to_string())?;
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0f64;
        while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(std::time::Duration::from_millis(5))
        {
            peak = peak.max(current_rss().unwrap_or(0.0));
        }
        peak
    });
    let options = match buffersize {
        Some(buffersize) => MapOptions::new().buffersize(buffersize),
        None => MapOptions::new(),
    };
    let mut sum = 0u64;
    let tasks = (0..items as u64).map(|item| move || item.wrapping_mul(3));
    for outcome in pool.map(tasks, options) {
        sum = sum.wrapping_add(outcome.map_err(|error| error.to_string())?);
    }
    black_box(sum);
    drop(stop);
    let sampled = sampler.join().map_err(|_| "the RSS sampler panicked")?;
    let peak = peak_rss()?.max(sampled);
    pool.shutdown(Shutdown::default());
    Ok(peak)
}

/// M1's contenders with `count` futures queued: ours, rayon, and CPython of version
/// `python` if given; each measurement in a fresh process.
pub fn m1_contenders<'a>(count: usize, python: Option<&str>) -> Vec<Contender<'a>> {
    let mut contenders = vec![
        Contender::ours("ours", "ThreadPool", move || {
            in_child(&["m1".into(), "ours".into(), count.to_string()])
        })
        .without_warm_up(),
        Contender::anchor("rayon", "rayon spawn + crossbeam channel", move || {
            in_child(&["m1".into(), "rayon".into(), count.to_string()])
        })
        .without_warm_up(),
    ];
    if let Some(version) = python {
        contenders.push(
            Contender::anchor(
                "cpython",
                &format!("ThreadPoolExecutor (CPython {version})"),
                move || {
                    Python::measure_once(
                        &json!({"workload": "m1", "size": count, "workers": WORKERS}),
                    )
                },
            )
            .without_warm_up(),
        );
    }
    contenders
}

/// `MemAvailable` of `/proc/meminfo`, in bytes: what the memory sweep may use.
pub fn mem_available() -> Result<f64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|error| format!("reading /proc/meminfo: {error}"))?;
    kib_field(&meminfo, "MemAvailable:").map(|kib| kib * 1024.0)
}

/// M1: 1,000,000 queued no-op futures.
pub fn m1(cx: &Context) -> Vec<Figures> {
    let count = cx.scale.size(M1_FUTURES);
    let mut notes = vec![
        "M1: every measurement runs in a fresh process: the growth of VmHWM (peak RSS) from \
         just before the first submit to just after the last, divided by the number of \
         futures; the 2 workers are blocked meanwhile, so every task waits in the queue and the \
         caller holds every future (rayon: every receiver)."
            .to_owned(),
    ];
    let python = cx.python_version();
    if python.is_none() {
        cx.note_missing(&mut notes);
    }
    let contenders = m1_contenders(count, python.as_deref());
    cx.measure(
        3,
        vec![(
            "M1",
            format!(
                "peak RSS per queued no-op future, {} queued",
                thousands(count)
            ),
            Unit::BytesEach {
                name: "future".into(),
            },
            Vec::new(),
        )],
        contenders,
        notes,
    )
}

/// M2: `map` with `buffersize` over 10,000,000 items.
pub fn m2(cx: &Context) -> Vec<Figures> {
    let items = cx.scale.size(M2_ITEMS);
    let tenth = (items / 10).max(1);
    let mut notes = vec![format!(
        "M2: the peak RSS of a fresh process running the pool and one `map` with the default \
         chunksize (1) and `buffersize({M2_BUFFERSIZE})`; the comparisons are the same map over \
         a tenth of the items (equal figures: memory does not grow with the input) and over a \
         tenth of the items without `buffersize` (every future at once)."
    )];
    if !cx.python_at_least(3, 14) {
        notes.push(
            "M2: no CPython anchor: `Executor.map(buffersize=...)` needs CPython 3.14; without \
             it CPython submits every item at once."
                .to_owned(),
        );
    }
    let child = |items: usize, buffersize: Option<usize>| {
        move || {
            in_child(&[
                "m2".into(),
                items.to_string(),
                buffersize.map_or("none".to_owned(), |size| size.to_string()),
            ])
        }
    };
    let contenders = vec![
        Contender::ours(
            "ours",
            &format!("ThreadPool, {} items", thousands(items)),
            child(items, Some(M2_BUFFERSIZE)),
        )
        .without_warm_up(),
        Contender::anchor(
            "ours-tenth",
            &format!("same map over {} items", thousands(tenth)),
            child(tenth, Some(M2_BUFFERSIZE)),
        )
        .without_warm_up(),
        Contender::anchor(
            "ours-unbounded",
            &format!("{} items without buffersize", thousands(tenth)),
            child(tenth, None),
        )
        .without_warm_up(),
    ];
    cx.measure(
        3,
        vec![(
            "M2",
            format!(
                "peak RSS, map over {} items with buffersize {M2_BUFFERSIZE}",
                thousands(items)
            ),
            Unit::Bytes,
            Vec::new(),
        )],
        contenders,
        notes,
    )
}
