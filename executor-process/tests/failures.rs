//! The failure matrix: each way a task, its payload or a worker can fail, and what the caller
//! sees. Encoding failures are built with hand-written serde implementations that fail on
//! purpose.

mod common;

use std::error::Error;
use std::time::Duration;

use common::{Gate, Probe, outcome};
use concurrent_futures_core::{CodecStage, Executor, Shutdown, Submit, Task, TaskError};
use concurrent_futures_process::{BuildErrorKind, ProcessPool};
use libtest_mimic::Failed;
use serde::de::{self, Deserializer};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

/// Fails to serialise (in the parent, at submit).
#[derive(Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom("Unencodable refuses to be encoded"))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unencodable)
    }
}

impl Task for Unencodable {
    type Output = u64;
    type Error = String;
    fn run(self) -> Result<u64, String> {
        Ok(0)
    }
}

/// Encodes fine, fails to deserialise (in the worker).
#[derive(Debug)]
struct Undecodable;

impl Serialize for Undecodable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("Undecodable refuses to be decoded"))
    }
}

impl Task for Undecodable {
    type Output = u64;
    type Error = String;
    fn run(self) -> Result<u64, String> {
        Ok(0)
    }
}

/// A result that fails to serialise (in the worker).
#[derive(Debug, Clone, PartialEq)]
struct BadOutput;

impl Serialize for BadOutput {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(ser::Error::custom("BadOutput refuses to be encoded"))
    }
}

impl<'de> Deserialize<'de> for BadOutput {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(BadOutput)
    }
}

/// A result that encodes fine and fails to deserialise (in the parent).
#[derive(Debug, Clone, PartialEq)]
struct UnreadableOutput;

impl Serialize for UnreadableOutput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for UnreadableOutput {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("UnreadableOutput refuses to be decoded"))
    }
}

/// Returns a result that cannot be encoded in the worker.
#[derive(Debug, Serialize, Deserialize)]
struct MakeBadOutput;

impl Task for MakeBadOutput {
    type Output = BadOutput;
    type Error = String;
    fn run(self) -> Result<BadOutput, String> {
        Ok(BadOutput)
    }
}

/// Returns a result that cannot be decoded in the parent.
#[derive(Debug, Serialize, Deserialize)]
struct MakeUnreadableOutput;

impl Task for MakeUnreadableOutput {
    type Output = UnreadableOutput;
    type Error = String;
    fn run(self) -> Result<UnreadableOutput, String> {
        Ok(UnreadableOutput)
    }
}

/// A task type nobody registered.
#[derive(Debug, Serialize, Deserialize)]
struct Unregistered;

impl Task for Unregistered {
    type Output = u64;
    type Error = String;
    fn run(self) -> Result<u64, String> {
        Ok(0)
    }
}

concurrent_futures_process::register_task!(
    Unencodable,
    Undecodable,
    MakeBadOutput,
    MakeUnreadableOutput
);

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("pool starts")
}

fn codec_stage<T: std::fmt::Debug>(result: Result<T, TaskError<String>>) -> (CodecStage, String) {
    match result {
        Err(TaskError::Codec(codec)) => (codec.stage, codec.message),
        other => panic!("expected a codec error, got {other:?}"),
    }
}

/// After a failure the pool still answers, with its workers.
fn assert_pool_fine(pool: &ProcessPool) {
    let futures: Vec<_> = (0..10)
        .map(|i| pool.submit(Probe::Return(i)).unwrap())
        .collect();
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(outcome(future), Ok(i as u64));
    }
    assert!(!pool.is_shutdown());
}

fn argument_fails_to_encode() -> Result<(), Failed> {
    let pool = pool(1);
    let future = pool.submit(Unencodable).unwrap();
    let (stage, message) = codec_stage(outcome(&future));
    assert_eq!(stage, CodecStage::EncodeTask);
    assert!(message.contains("Unencodable"), "{message}");
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn argument_fails_to_decode_in_the_worker() -> Result<(), Failed> {
    let pool = pool(1);
    let pid = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    let future = pool.submit(Undecodable).unwrap();
    let (stage, message) = codec_stage(outcome(&future));
    assert_eq!(stage, CodecStage::DecodeTask);
    assert!(message.contains("Undecodable"), "{message}");
    assert_pool_fine(&pool);
    let same = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    assert_eq!(pid, same, "the worker survived");
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn result_fails_to_encode_in_the_worker() -> Result<(), Failed> {
    let pool = pool(1);
    let future = pool.submit(MakeBadOutput).unwrap();
    let (stage, message) = codec_stage(outcome(&future));
    assert_eq!(stage, CodecStage::EncodeResult);
    assert!(message.contains("BadOutput"), "{message}");
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn result_fails_to_decode_in_the_parent() -> Result<(), Failed> {
    let pool = pool(1);
    let future = pool.submit(MakeUnreadableOutput).unwrap();
    let neighbour = pool.submit(Probe::Return(9)).unwrap();
    let (stage, message) = codec_stage(outcome(&future));
    assert_eq!(stage, CodecStage::DecodeResult);
    assert!(message.contains("UnreadableOutput"), "{message}");
    assert_eq!(outcome(&neighbour), Ok(9));
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn unregistered_task_fails_its_future() -> Result<(), Failed> {
    let pool = pool(1);
    match outcome(&pool.submit(Unregistered).unwrap()) {
        Err(TaskError::Backend(error)) => {
            assert!(error.message().contains("Unregistered"), "{error}")
        }
        other => return Err(format!("expected Backend, got {other:?}").into()),
    }
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn task_panics_and_the_worker_survives() -> Result<(), Failed> {
    let pool = pool(1);
    let pid = outcome(&pool.submit(Probe::Pid).unwrap()).unwrap();
    let panic = outcome(&pool.submit(Probe::Panic("deliberate".into())).unwrap()).unwrap_err();
    let info = panic.panic_info().expect("a panic");
    assert_eq!(info.message(), "deliberate");
    assert!(info.location().is_some());
    assert_eq!(outcome(&pool.submit(Probe::Pid).unwrap()), Ok(pid));
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn worker_crashes_mid_task() -> Result<(), Failed> {
    let pool = pool(2);
    for crash in [
        Probe::Abort,
        Probe::Segfault,
        Probe::Exit(4),
        Probe::KillSelf,
    ] {
        let mut gate = Gate::new();
        let neighbour = pool.submit(gate.task(1)).unwrap();
        gate.wait_started(1);
        let crashed = pool.submit(crash.clone()).unwrap();
        assert!(
            matches!(outcome(&crashed), Err(TaskError::WorkerLost(_))),
            "{crash:?}"
        );
        gate.release_all();
        assert_eq!(outcome(&neighbour), Ok(1));
    }
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn worker_crashes_between_tasks() -> Result<(), Failed> {
    let pool = pool(2);
    // Both workers run a task, so both are up; then both are idle.
    let mut gate = Gate::new();
    let both: Vec<_> = (0..2).map(|i| pool.submit(gate.task(i)).unwrap()).collect();
    gate.wait_started(2);
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    gate.release_all();
    for future in &both {
        outcome(future).unwrap();
    }
    // SAFETY: kill with a pid of one of our (idle) workers and a signal number.
    unsafe {
        libc::kill(pids[0] as libc::pid_t, libc::SIGKILL);
    }
    // Whether or not the pool noticed yet, nothing submitted now is lost.
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    assert!(common::process_gone(pids[0]));
    Ok(())
}

fn initializer_fails() -> Result<(), Failed> {
    for initializer in [
        Probe::Fail("no database".into()),
        Probe::Panic("bad init".into()),
    ] {
        let pool = ProcessPool::builder()
            .max_workers(2)
            .initializer(initializer.clone())
            .build()
            .unwrap();
        let future = pool.submit(Probe::Return(1));
        // Submitted before the breakage was noticed: the future fails; after: refused.
        if let Ok(future) = future {
            match outcome(&future) {
                Err(TaskError::Broken(broken)) => {
                    assert!(broken.reason.contains("initializer"), "{broken}")
                }
                other => return Err(format!("expected Broken, got {other:?}").into()),
            }
        }
        assert!(pool.is_shutdown());
        match pool.submit(Probe::Return(2)) {
            Err(refused) => {
                let reason = refused.reason().to_string();
                assert!(
                    reason.contains("no database") || reason.contains("bad init"),
                    "{reason}"
                );
            }
            Ok(_) => return Err("a broken pool accepted a task".into()),
        }
        pool.shutdown(Shutdown::default());
    }
    let pool = ProcessPool::builder()
        .max_workers(1)
        .initializer(Probe::Return(0))
        .build()
        .unwrap();
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

/// The pool's `Broken` reason says what happened at start-up (issue #12, item 7): a worker killed
/// by its initializer is not asked whether `init()` is called; a program that exits without
/// ever answering is.
fn start_up_failures_say_what_happened() -> Result<(), Failed> {
    let broken_reason = |pool: ProcessPool| -> Result<String, Failed> {
        let reason = match pool.submit(Probe::Return(1)) {
            Ok(future) => match outcome(&future) {
                Err(TaskError::Broken(broken)) => broken.reason.clone(),
                other => return Err(format!("expected Broken, got {other:?}").into()),
            },
            Err(refused) => refused.reason().to_string(),
        };
        pool.shutdown(Shutdown::default());
        Ok(reason)
    };
    let aborting = ProcessPool::builder()
        .max_workers(1)
        .initializer(Probe::Abort)
        .build()
        .unwrap();
    let reason = broken_reason(aborting)?;
    assert!(
        reason.contains("died while running the initializer"),
        "{reason}"
    );
    assert!(reason.contains("signal 6"), "{reason}");
    assert!(!reason.contains("init()"), "no misleading hint: {reason}");

    let not_a_worker = ProcessPool::builder()
        .max_workers(1)
        .worker_executable("/bin/true")
        .build()
        .unwrap();
    let reason = broken_reason(not_a_worker)?;
    assert!(reason.contains("exited before its handshake"), "{reason}");
    assert!(
        reason.contains("init()"),
        "the hint where it applies: {reason}"
    );
    Ok(())
}

fn timeout_expires() -> Result<(), Failed> {
    let pool = pool(1);
    let gate = Gate::new();
    let limit = Duration::from_millis(50);
    let future = pool
        .submit_with(
            gate.task(1),
            concurrent_futures_process::SubmitOptions::new().timeout(limit),
        )
        .unwrap();
    assert_eq!(outcome(&future), Err(TaskError::Expired { limit }));
    assert_pool_fine(&pool);
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn worker_binary_cannot_start() -> Result<(), Failed> {
    let error = ProcessPool::builder()
        .max_workers(2)
        .worker_executable("/nonexistent/executor-process-worker")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), BuildErrorKind::Spawn, "{error}");
    assert_eq!(error.to_string(), "could not start a worker process");
    assert!(error.source().is_some(), "the OS error is the source");
    Ok(())
}

fn worker_binary_is_not_a_worker() -> Result<(), Failed> {
    // A program that exits without the handshake.
    let pool = ProcessPool::builder()
        .max_workers(1)
        .worker_executable("/bin/true")
        .build()
        .unwrap();
    match pool.submit(Probe::Return(1)) {
        Ok(future) => match outcome(&future) {
            Err(TaskError::Broken(broken)) => {
                assert!(broken.reason.contains("init()"), "{broken}")
            }
            other => return Err(format!("expected Broken, got {other:?}").into()),
        },
        Err(refused) => assert!(refused.reason().to_string().contains("init()")),
    }
    pool.shutdown(Shutdown::default());
    // A program that never answers: the start-up deadline ends it.
    let pool = ProcessPool::builder()
        .max_workers(1)
        .worker_executable("/bin/sleep")
        .worker_args(["600"])
        .start_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    if let Ok(future) = pool.submit(Probe::Return(1)) {
        match outcome(&future) {
            Err(TaskError::Broken(broken)) => {
                assert!(
                    broken.reason.contains("did not finish starting"),
                    "{broken}"
                )
            }
            other => return Err(format!("expected Broken, got {other:?}").into()),
        }
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

fn worker_binary_does_not_match() -> Result<(), Failed> {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .worker_env(
            concurrent_futures_process::task_model::REGISTRY_SALT_ENV,
            "another build",
        )
        .build()
        .unwrap();
    match pool.submit(Probe::Return(1)) {
        Ok(future) => match outcome(&future) {
            Err(TaskError::Broken(broken)) => {
                assert!(broken.reason.contains("does not match"), "{broken}")
            }
            other => return Err(format!("expected Broken, got {other:?}").into()),
        },
        Err(refused) => assert!(refused.reason().to_string().contains("does not match")),
    }
    pool.shutdown(Shutdown::default());
    Ok(())
}

test_main!(
    argument_fails_to_encode,
    argument_fails_to_decode_in_the_worker,
    result_fails_to_encode_in_the_worker,
    result_fails_to_decode_in_the_parent,
    unregistered_task_fails_its_future,
    task_panics_and_the_worker_survives,
    worker_crashes_mid_task,
    worker_crashes_between_tasks,
    initializer_fails,
    start_up_failures_say_what_happened,
    timeout_expires,
    worker_binary_cannot_start,
    worker_binary_is_not_a_worker,
    worker_binary_does_not_match,
);
