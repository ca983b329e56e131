//! `?` works on a submit and on its future's outcome in the two usual kinds of fallible function,
//! for a task that is `Send` but not `Sync` (issue #11, point 3).

use std::cell::Cell;
use std::error::Error;

use concurrent_futures_core::{Executor, Shutdown, Submit};
use concurrent_futures_threads::ThreadPool;

fn with_anyhow(pool: &ThreadPool, start: u32) -> anyhow::Result<u32> {
    let cell = Cell::new(start);
    let future = pool.submit(move || {
        cell.set(cell.get() + 1);
        cell.get()
    })?;
    Ok(future.result()?)
}

fn with_boxed_error(pool: &ThreadPool, start: u32) -> Result<u32, Box<dyn Error + Send + Sync>> {
    let cell = Cell::new(start);
    let future = pool.submit(move || {
        cell.set(cell.get() + 1);
        cell.get()
    })?;
    Ok(future.result()?)
}

fn failing_with_anyhow(pool: &ThreadPool) -> anyhow::Result<u32> {
    let future = pool.submit(concurrent_futures_core::fallible(|| "x".parse::<u32>()))?;
    Ok(future.result()?)
}

#[test]
fn question_mark_carries_values_through_anyhow_and_boxed_errors() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    assert_eq!(with_anyhow(&pool, 1).unwrap(), 2);
    assert_eq!(with_boxed_error(&pool, 10).unwrap(), 11);
}

#[test]
fn question_mark_carries_a_refusal_through_anyhow_and_boxed_errors() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    pool.shutdown(Shutdown::default());

    let error = with_anyhow(&pool, 1).unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "task refused: cannot schedule new tasks after shutdown"
    );

    let error = with_boxed_error(&pool, 1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "task refused: cannot schedule new tasks after shutdown"
    );
    assert!(error.source().is_none());
}

#[test]
fn question_mark_carries_a_task_failure_through_anyhow() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let error = failing_with_anyhow(&pool).unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "task failed: invalid digit found in string"
    );
}
