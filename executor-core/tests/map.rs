//! `Submit::map` (reference §1.9) through two tiny in-test executors written against the public
//! traits only: results in input order, `chunksize`, `buffersize` pulling exactly `b + k` inputs
//! after `k` calls to `next()`, one failing item not ending the iteration, dropping the iterator
//! cancelling what has not started, the deadline yielding `Timeout` and then ending, and refused
//! submissions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use concurrent_futures_core::{
    Executor, Future, MapOptions, Rejected, Shutdown, Submit, SubmitError, Task, TaskError,
    backend::{Start, run_caught},
    fallible,
};

const BOUND: Duration = Duration::from_secs(30);

/// Runs each task on a new thread, and joins them all when dropped.
#[derive(Default)]
struct ThreadPerTask {
    closed: AtomicBool,
    submitted: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Executor for ThreadPerTask {
    fn shutdown(&self, _how: Shutdown) {
        self.closed.store(true, Ordering::SeqCst);
    }
    fn is_shutdown(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl<T: Task> Submit<T> for ThreadPerTask {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        if self.is_shutdown() {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        }
        self.submitted.fetch_add(1, Ordering::SeqCst);
        let (promise, future) = Future::pending();
        let handle = thread::spawn(move || {
            if let Ok(Start::Run) = promise.start() {
                let _ = promise.set_outcome(run_caught(task));
            }
        });
        self.threads.lock().unwrap().push(handle);
        Ok(future)
    }
}

impl Drop for ThreadPerTask {
    fn drop(&mut self) {
        for handle in self.threads.get_mut().unwrap().drain(..) {
            handle.join().unwrap();
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One worker thread running tasks in submission order: later tasks stay pending while an
/// earlier one runs, so cancellation is observable.
struct OneWorker {
    queue: Mutex<Option<Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl OneWorker {
    fn new() -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let worker = thread::spawn(move || {
            for job in jobs {
                job();
            }
        });
        OneWorker {
            queue: Mutex::new(Some(queue)),
            worker: Mutex::new(Some(worker)),
        }
    }
}

impl Executor for OneWorker {
    fn shutdown(&self, how: Shutdown) {
        drop(self.queue.lock().unwrap().take());
        if how.wait {
            if let Some(worker) = self.worker.lock().unwrap().take() {
                worker.join().unwrap();
            }
        }
    }
    fn is_shutdown(&self) -> bool {
        self.queue.lock().unwrap().is_none()
    }
}

impl<T: Task> Submit<T> for OneWorker {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        let queue = self.queue.lock().unwrap();
        let Some(queue) = queue.as_ref() else {
            return Err(SubmitError::new(Rejected::ShutDown, task));
        };
        let (promise, future) = Future::pending();
        queue
            .send(Box::new(move || {
                if let Ok(Start::Run) = promise.start() {
                    let _ = promise.set_outcome(run_caught(task));
                }
            }))
            .expect("the worker lives until shutdown");
        Ok(future)
    }
}

impl Drop for OneWorker {
    fn drop(&mut self) {
        self.shutdown(Shutdown::default());
    }
}

/// A gate a task blocks on until the test opens it; says when the task reached it.
struct Gate {
    reached: Receiver<()>,
    open: Sender<()>,
}

/// A task that reports it started, then blocks until its gate opens.
fn gated(value: usize) -> (Gate, impl FnOnce() -> usize + Send + 'static) {
    let (reached_tx, reached) = mpsc::channel();
    let (open, open_rx) = mpsc::channel::<()>();
    let task = move || {
        reached_tx.send(()).unwrap();
        open_rx
            .recv_timeout(BOUND)
            .expect("the test opens the gate");
        value
    };
    (Gate { reached, open }, task)
}

#[test]
fn results_come_back_in_input_order_whatever_the_completion_order() {
    // Task i waits for task i + 1 to signal it, so they complete roughly last to first.
    const N: usize = 8;
    let (senders, receivers): (Vec<Sender<()>>, Vec<Receiver<()>>) =
        (0..N).map(|_| mpsc::channel()).unzip();
    senders[N - 1].send(()).unwrap();
    let tasks = receivers.into_iter().enumerate().map(|(i, go)| {
        let next = i.checked_sub(1).map(|j| senders[j].clone());
        move || {
            go.recv_timeout(BOUND).expect("the next task signals");
            if let Some(next) = next {
                next.send(()).unwrap();
            }
            i * 10
        }
    });
    let executor = ThreadPerTask::default();
    let results: Vec<_> = executor
        .map(tasks, MapOptions::new())
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..N).map(|i| i * 10).collect::<Vec<_>>());
}

#[test]
fn chunksize_submits_one_task_per_chunk() {
    for (n, chunksize, submits) in [(10, 3, 4), (9, 3, 3), (1, 5, 1), (0, 2, 0), (4, 1, 4)] {
        let executor = ThreadPerTask::default();
        let results: Vec<_> = executor
            .map(
                (0..n).map(|i| move || i + 1),
                MapOptions::new().chunksize(chunksize),
            )
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            results,
            (1..=n).collect::<Vec<_>>(),
            "n={n} chunksize={chunksize}"
        );
        assert_eq!(executor.submitted.load(Ordering::SeqCst), submits);
    }
}

#[test]
fn a_failing_or_panicking_item_yields_its_own_error_and_the_iteration_goes_on() {
    for chunksize in [1, 3, 10] {
        let executor = ThreadPerTask::default();
        let tasks = (0..8).map(|i| {
            fallible(move || match i {
                4 => Err(format!("item {i} failed")),
                6 => panic!("item {i} panicked"),
                _ => Ok(i),
            })
        });
        let results: Vec<_> = executor
            .map(tasks, MapOptions::new().chunksize(chunksize))
            .collect();
        assert_eq!(results.len(), 8, "chunksize {chunksize}");
        for (i, result) in results.into_iter().enumerate() {
            match i {
                4 => assert_eq!(result, Err(TaskError::Failed("item 4 failed".into()))),
                6 => assert_eq!(
                    result
                        .unwrap_err()
                        .panic_info()
                        .map(|p| p.message().to_string()),
                    Some("item 6 panicked".into())
                ),
                _ => assert_eq!(result, Ok(i)),
            }
        }
    }
}

/// Counts how many inputs `map` has pulled.
fn counted(pulled: Arc<AtomicUsize>) -> impl Iterator<Item = impl FnOnce() -> usize + Send> {
    (0..).map(move |i| {
        pulled.fetch_add(1, Ordering::SeqCst);
        move || i
    })
}

#[test]
fn buffersize_pulls_exactly_b_plus_k_inputs_after_k_next_calls() {
    for b in [1, 2, 5] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let executor = ThreadPerTask::default();
        let mut results = executor.map(counted(pulled.clone()), MapOptions::new().buffersize(b));
        assert_eq!(pulled.load(Ordering::SeqCst), b, "b={b}, during map()");
        for k in 1..=12 {
            assert_eq!(results.next(), Some(Ok(k - 1)), "b={b}");
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                b + k,
                "b={b}, after {k} next()"
            );
        }
    }
}

#[test]
fn buffersize_counts_chunks_not_items() {
    // b = 2 chunks of 3: 6 inputs during map(); each next() that opens a new chunk pulls 3 more.
    let pulled = Arc::new(AtomicUsize::new(0));
    let executor = ThreadPerTask::default();
    let mut results = executor.map(
        counted(pulled.clone()),
        MapOptions::new().buffersize(2).chunksize(3),
    );
    assert_eq!(pulled.load(Ordering::SeqCst), 6);
    let expected_pulled = [9, 9, 9, 12, 12, 12, 15];
    for (k, expected) in expected_pulled.into_iter().enumerate() {
        assert_eq!(results.next(), Some(Ok(k)));
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            expected,
            "after {} next()",
            k + 1
        );
    }
}

#[test]
fn without_buffersize_every_input_is_submitted_during_map() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let executor = ThreadPerTask::default();
    let results = executor.map(
        counted(pulled.clone()).take(20),
        MapOptions::new().chunksize(3),
    );
    assert_eq!(pulled.load(Ordering::SeqCst), 20, "before any next()");
    assert_eq!(executor.submitted.load(Ordering::SeqCst), 7);
    assert_eq!(results.count(), 20);
}

#[test]
fn endless_input_runs_with_buffersize() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let executor = ThreadPerTask::default();
    let first: Vec<_> = executor
        .map(counted(pulled.clone()), MapOptions::new().buffersize(3))
        .take(50)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, (0..50).collect::<Vec<_>>());
    assert!(pulled.load(Ordering::SeqCst) <= 53);
}

#[test]
fn dropping_the_iterator_cancels_what_has_not_started() {
    let executor = OneWorker::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let (gate, first) = gated(0);
    let mut tasks: Vec<Box<dyn FnOnce() -> usize + Send>> = vec![Box::new(first)];
    for i in 1..6 {
        let ran = ran.clone();
        tasks.push(Box::new(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            i
        }));
    }
    let results = executor.map(tasks, MapOptions::new());
    gate.reached
        .recv_timeout(BOUND)
        .expect("the first task starts");
    drop(results);
    gate.open.send(()).unwrap();
    executor.shutdown(Shutdown::default());
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the queued tasks were cancelled"
    );
}

#[test]
fn dropping_after_some_results_cancels_the_rest() {
    let executor = OneWorker::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let (gate, blocker) = gated(2);
    let mut tasks: Vec<Box<dyn FnOnce() -> usize + Send>> =
        vec![Box::new(|| 0), Box::new(|| 1), Box::new(blocker)];
    for i in 3..8 {
        let ran = ran.clone();
        tasks.push(Box::new(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            i
        }));
    }
    let mut results = executor.map(tasks, MapOptions::new().buffersize(4));
    assert_eq!(results.next(), Some(Ok(0)));
    assert_eq!(results.next(), Some(Ok(1)));
    gate.reached
        .recv_timeout(BOUND)
        .expect("the third task starts");
    drop(results);
    gate.open.send(()).unwrap();
    executor.shutdown(Shutdown::default());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn the_deadline_yields_timeout_then_ends_and_cancels_the_rest() {
    for chunksize in [1, 2] {
        let executor = OneWorker::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let (gate, first) = gated(0);
        let mut tasks: Vec<Box<dyn FnOnce() -> usize + Send>> = vec![Box::new(first)];
        for i in 1..6 {
            let ran = ran.clone();
            tasks.push(Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                i
            }));
        }
        let mut results = executor.map(
            tasks,
            MapOptions::new()
                .timeout(Duration::ZERO)
                .chunksize(chunksize),
        );
        gate.reached
            .recv_timeout(BOUND)
            .expect("the first task starts");
        assert_eq!(
            results.next(),
            Some(Err(TaskError::Timeout)),
            "chunksize {chunksize}"
        );
        assert_eq!(
            results.next(),
            None,
            "the iteration ends after the deadline"
        );
        assert_eq!(results.next(), None);
        gate.open.send(()).unwrap();
        drop(results);
        executor.shutdown(Shutdown::default());
        // With chunksize 2 the second task shares the running chunk: the chunk runs in this
        // process, sees the map's stop flag and skips it.
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "chunksize {chunksize}: an item of a cancelled map ran"
        );
    }
}

#[test]
fn a_deadline_that_is_not_reached_changes_nothing() {
    let executor = ThreadPerTask::default();
    let results: Vec<_> = executor
        .map((0..10).map(|i| move || i), MapOptions::new().timeout(BOUND))
        .collect();
    assert_eq!(results, (0..10).map(Ok).collect::<Vec<_>>());
}

#[test]
fn an_executor_that_refuses_yields_rejected_and_stops_reading() {
    let executor = ThreadPerTask::default();
    executor.shutdown(Shutdown::default());
    let pulled = Arc::new(AtomicUsize::new(0));
    let results: Vec<_> = executor
        .map(
            counted(pulled.clone()).take(10),
            MapOptions::new().chunksize(2),
        )
        .collect();
    assert_eq!(
        results,
        [
            Err(TaskError::Rejected(Rejected::ShutDown)),
            Err(TaskError::Rejected(Rejected::ShutDown))
        ],
        "one error per item of the refused chunk"
    );
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        2,
        "nothing after the refused chunk is read"
    );
}

/// gh-146392: in CPython a shutdown during a buffered map loses the buffered results. Here they
/// are yielded, then the refused refill yields `Rejected`.
#[test]
fn a_shutdown_during_a_buffered_map_keeps_the_buffered_results() {
    let executor = ThreadPerTask::default();
    let mut results = executor.map((0..5).map(|i| move || i), MapOptions::new().buffersize(2));
    assert_eq!(results.next(), Some(Ok(0)));
    executor.shutdown(Shutdown::default());
    assert_eq!(results.next(), Some(Ok(1)));
    assert_eq!(results.next(), Some(Ok(2)));
    assert_eq!(
        results.next(),
        Some(Err(TaskError::Rejected(Rejected::ShutDown)))
    );
    assert_eq!(results.next(), None);
}

#[test]
fn an_empty_input_yields_nothing() {
    let executor = ThreadPerTask::default();
    let mut results = executor.map(
        std::iter::empty::<fn() -> u8>(),
        MapOptions::new().buffersize(2),
    );
    assert_eq!(results.next(), None);
    assert_eq!(executor.submitted.load(Ordering::SeqCst), 0);
}

/// Runs each task inside `submit`, on the caller's thread, and numbers the submissions, so a
/// task can tell which submission (which chunk) carried it.
#[derive(Default)]
struct Inline {
    submits: Arc<AtomicUsize>,
}

impl Executor for Inline {
    fn shutdown(&self, _how: Shutdown) {}
    fn is_shutdown(&self) -> bool {
        false
    }
    fn parallelism(&self) -> Option<std::num::NonZeroUsize> {
        std::num::NonZeroUsize::new(2)
    }
}

impl<T: Task> Submit<T> for Inline {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        let (promise, future) = Future::pending();
        if let Ok(Start::Run) = promise.start() {
            let _ = promise.set_outcome(run_caught(task));
        }
        Ok(future)
    }
}

#[test]
fn adaptive_chunks_start_at_one_and_at_most_double_as_items_finish() {
    const N: usize = 100_000;
    let executor = Inline::default();
    let tasks = (0..N).map(|i| {
        let submits = executor.submits.clone();
        move || (i, submits.load(Ordering::SeqCst))
    });
    let carried_by: Vec<usize> = executor
        .map(tasks, MapOptions::new())
        .enumerate()
        .map(|(i, result)| {
            let (item, submission) = result.unwrap();
            assert_eq!(item, i, "input order");
            submission
        })
        .collect();
    // Lengths of the runs of equal submission numbers: the chunk sizes, in order.
    let mut sizes: Vec<usize> = Vec::new();
    for (i, submission) in carried_by.iter().enumerate() {
        if i > 0 && carried_by[i - 1] == *submission {
            *sizes.last_mut().unwrap() += 1;
        } else {
            sizes.push(1);
        }
    }
    assert_eq!(
        sizes[0], 1,
        "nothing measured before the first item: {sizes:?}"
    );
    let mut largest = 0;
    for (k, &size) in sizes.iter().enumerate().skip(1) {
        largest = largest.max(sizes[k - 1]);
        assert!(
            size <= 2 * largest,
            "chunk {k} of {size} items after at most {largest}: {sizes:?}"
        );
    }
    assert!(
        sizes.len() <= N / 50,
        "{} chunks for {N} trivial items: the size did not adapt: {:?}",
        sizes.len(),
        &sizes[..20]
    );
}

/// Keeps every task until `run_all`: nothing finishes while `map` submits.
#[derive(Default)]
struct Deferred {
    jobs: Mutex<Vec<Job>>,
}

impl Deferred {
    fn run_all(&self) {
        for job in std::mem::take(&mut *self.jobs.lock().unwrap()) {
            job();
        }
    }
}

impl Executor for Deferred {
    fn shutdown(&self, _how: Shutdown) {}
    fn is_shutdown(&self) -> bool {
        false
    }
}

impl<T: Task> Submit<T> for Deferred {
    fn submit(&self, task: T) -> Result<Future<T::Output, T::Error>, SubmitError<T>> {
        let (promise, future) = Future::pending();
        self.jobs.lock().unwrap().push(Box::new(move || {
            if let Ok(Start::Run) = promise.start() {
                let _ = promise.set_outcome(run_caught(task));
            }
        }));
        Ok(future)
    }
}

#[test]
fn adaptive_chunks_stay_single_while_nothing_has_finished() {
    let executor = Deferred::default();
    let results = executor.map((0..1000).map(|i| move || i), MapOptions::new());
    assert_eq!(
        executor.jobs.lock().unwrap().len(),
        1000,
        "items of unknown cost must go one by one"
    );
    executor.run_all();
    assert_eq!(
        results.map(Result::unwrap).collect::<Vec<_>>(),
        (0..1000).collect::<Vec<_>>()
    );
}

#[test]
fn a_buffersize_without_a_chunksize_keeps_items_single() {
    let executor = Inline::default();
    let results: Vec<_> = executor
        .map(
            (0..1000).map(|i| move || i),
            MapOptions::new().buffersize(8),
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..1000).collect::<Vec<_>>());
    assert_eq!(executor.submits.load(Ordering::SeqCst), 1000);
}
