//! Loom models of [`Job`](concurrent_futures_core::backend::Job), the task kept inside its future's cell
//! (`executor-core/src/job.rs`): a worker running the job against the owner cancelling it and a
//! blocked reader; a pool draining the job (cancel or fail) against the owner cancelling it; a
//! job dropped unrun against a reader; and a done-callback registered against the run.
//!
//! Run with `cargo xtask loom`. Without `--cfg executor_loom` this file is empty. No model uses
//! a timed wait: a lost wake-up shows up as a loom deadlock.

#[cfg(executor_loom)]
mod tests {
    use std::convert::Infallible;

    use concurrent_futures_core::{BrokenExecutor, State, TaskError, backend::Job};
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// A task that counts its runs and, separately, the drops of its captures.
    struct Counted {
        runs: Arc<AtomicUsize>,
        drops: Arc<AtomicUsize>,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl concurrent_futures_core::Task for Counted {
        type Output = u32;
        type Error = Infallible;

        fn run(self) -> Result<u32, Infallible> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        }
    }

    fn counted() -> (Counted, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let task = Counted {
            runs: runs.clone(),
            drops: drops.clone(),
        };
        (task, runs, drops)
    }

    #[test]
    fn run_against_cancel_against_a_blocked_reader() {
        loom::model(|| {
            let (task, runs, drops) = counted();
            let (job, future) = Job::new(task);
            let worker = thread::spawn(move || job.run());
            let canceller = {
                let future = future.clone();
                thread::spawn(move || future.cancel())
            };
            let outcome = future.result();
            let cancelled = canceller.join().unwrap();
            worker.join().unwrap();
            let ran = runs.load(Ordering::SeqCst);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "the task is dropped exactly once"
            );
            if cancelled {
                assert_eq!(outcome, Err(TaskError::Cancelled));
                assert_eq!(ran, 0, "a cancelled job never runs its task");
            } else {
                assert_eq!(outcome, Ok(7));
                assert_eq!(ran, 1);
            }
        });
    }

    #[test]
    fn drain_against_cancel() {
        loom::model(|| {
            let (task, runs, drops) = counted();
            let (job, future) = Job::new(task);
            let (task2, _, drops2) = counted();
            let (job2, future2) = Job::new(task2);
            let pool = thread::spawn(move || {
                let cancelled = job.cancel();
                let failed = job2.fail(TaskError::Broken(BrokenExecutor::new("gone")));
                (cancelled.is_ok(), failed.is_ok())
            });
            let owner_cancelled = future.cancel();
            let owner_cancelled2 = future2.cancel();
            let (pool_cancelled, pool_failed) = pool.join().unwrap();
            assert!(owner_cancelled, "a job that never runs cannot be started");
            assert_eq!(future.result(), Err(TaskError::Cancelled));
            assert_eq!(future.state(), State::Cancelled);
            // Exactly one side completed each future.
            assert!(pool_cancelled || owner_cancelled);
            assert_eq!(owner_cancelled2, !pool_failed);
            if pool_failed {
                assert!(matches!(future2.result(), Err(TaskError::Broken(_))));
            } else {
                assert_eq!(future2.result(), Err(TaskError::Cancelled));
            }
            assert_eq!(runs.load(Ordering::SeqCst), 0);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert_eq!(drops2.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn a_dropped_job_abandons_its_blocked_reader() {
        loom::model(|| {
            let (task, runs, drops) = counted();
            let (job, future) = Job::new(task);
            let dropper = thread::spawn(move || drop(job));
            assert_eq!(future.result(), Err(TaskError::Abandoned));
            dropper.join().unwrap();
            assert_eq!(runs.load(Ordering::SeqCst), 0);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn run_against_add_done_callback() {
        loom::model(|| {
            let (task, _, _) = counted();
            let (job, future) = Job::new(task);
            let calls = Arc::new(AtomicUsize::new(0));
            let before = Arc::new(AtomicUsize::new(0));
            let worker = {
                let before = before.clone();
                thread::spawn(move || {
                    job.run_with(|| {
                        before.fetch_add(1, Ordering::SeqCst);
                    })
                })
            };
            let counter = calls.clone();
            let seen_before = before.clone();
            future.add_done_callback(move |f| {
                assert_eq!(f.result(), Ok(7));
                // The hook runs before the future completes, so before any callback.
                assert_eq!(seen_before.load(Ordering::SeqCst), 1);
                counter.fetch_add(1, Ordering::SeqCst);
            });
            worker.join().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(future.result(), Ok(7));
        });
    }
}
