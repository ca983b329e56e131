//! The handle model as a user meets it through the facade: values that are not `Clone` move out
//! of the future `submit` returns, by `.await` or `join`; several readers share explicitly.

#![cfg(feature = "threads")]

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use concurrent_futures::{Future, SharedFuture, Submit, TaskError, ThreadPool, fallible};

/// Long enough for any task here on a loaded machine; a miss is a hang, reported as such.
const BOUND: Duration = Duration::from_secs(30);

fn read_config(line: u32) -> Result<Vec<u8>, io::Error> {
    if line == 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad config value on line 3",
        ));
    }
    Ok(vec![line as u8; 4])
}

#[tokio::test(flavor = "current_thread")]
async fn await_moves_a_value_and_an_error_that_are_not_clone_out() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let good: Future<Vec<u8>, io::Error> = pool.submit(fallible(|| read_config(1))).unwrap();
    let bad = pool.submit(fallible(|| read_config(3))).unwrap();
    let bytes = tokio::time::timeout(BOUND, good).await.expect("in time");
    assert_eq!(bytes.unwrap(), [1, 1, 1, 1]);
    match tokio::time::timeout(BOUND, bad).await.expect("in time") {
        Err(TaskError::Failed(error)) => {
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert_eq!(error.to_string(), "bad config value on line 3");
        }
        other => panic!("expected the task's io::Error, got {other:?}"),
    }
}

#[test]
fn join_moves_the_value_out_without_a_runtime() {
    let pool = ThreadPool::new();
    let future = pool.submit(fallible(|| read_config(2))).unwrap();
    assert!(future.wait_timeout(BOUND), "the task did not finish");
    assert_eq!(future.join().unwrap(), [2, 2, 2, 2]);
}

#[test]
fn shared_futures_give_every_reader_a_copy() {
    let pool = ThreadPool::new();
    let (release, gate) = mpsc::channel::<()>();
    let shared: SharedFuture<u64> = pool
        .submit(move || {
            gate.recv().unwrap();
            7
        })
        .unwrap()
        .share();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let reader = shared.clone();
            std::thread::spawn(move || reader.result_timeout(BOUND))
        })
        .collect();
    release.send(()).unwrap();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), Ok(7));
    }
    assert_eq!(shared.result(), Ok(7), "reading does not consume");
}

#[test]
fn a_cancel_handle_travels_apart_from_the_future() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let busy = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        })
        .unwrap();
    started.recv_timeout(BOUND).expect("the first task starts");
    let queued = pool.submit(|| vec![0u8; 16]).unwrap();
    let canceller = queued.cancel_handle();
    assert!(
        std::thread::spawn(move || canceller.cancel())
            .join()
            .unwrap()
    );
    assert_eq!(queued.join(), Err(TaskError::Cancelled));
    release.send(()).unwrap();
    assert!(busy.wait_timeout(BOUND));
}
