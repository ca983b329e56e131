//! A panicking task fails only its own future; the worker survives.

mod common;

use concurrent_futures_core::{Submit, TaskError, fallible};
use concurrent_futures_threads::ThreadPool;

#[test]
fn a_panic_fails_only_its_future_with_message_location_and_payload() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let first = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .unwrap();
    let n = std::hint::black_box(42);
    let boom = pool.submit(move || -> u32 { panic!("boom {n}") }).unwrap();
    let info = match boom.result() {
        Err(TaskError::Panicked(info)) => info,
        other => panic!("expected a panic, got {other:?}"),
    };
    assert_eq!(info.message(), "boom 42");
    assert!(info.location().unwrap().file.ends_with("panics.rs"));
    let payload = info
        .take_payload()
        .expect("in-process panics keep the payload");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("boom 42")
    );

    // Same worker, still serving.
    let after = pool
        .submit(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .result()
        .unwrap();
    assert_eq!(after, first);
    assert_eq!(pool.thread_count(), 1);
}

#[test]
fn a_non_string_payload_is_kept() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let f = pool.submit(|| std::panic::panic_any(7u8)).unwrap();
    let info = f.result().unwrap_err().panic_info().cloned().unwrap();
    assert_eq!(info.message(), "Box<dyn Any>");
    assert_eq!(info.take_payload().unwrap().downcast_ref::<u8>(), Some(&7));
}

#[test]
fn many_panics_do_not_wear_the_pool_down() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let futures: Vec<_> = (0..100)
        .map(|i| {
            pool.submit(move || {
                if i % 2 == 0 {
                    panic!("even {i}")
                }
                i
            })
            .unwrap()
        })
        .collect();
    for (i, f) in futures.iter().enumerate() {
        match f.result() {
            Ok(v) => assert_eq!(v, i),
            Err(e) => assert_eq!(e.panic_info().unwrap().message(), format!("even {i}")),
        }
    }
    assert!(pool.thread_count() <= 2);
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
}

#[test]
fn a_task_error_is_its_own_error_not_a_panic() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let f = pool.submit(fallible(|| "x".parse::<u8>())).unwrap();
    assert!(matches!(f.result(), Err(TaskError::Failed(_))));
}
