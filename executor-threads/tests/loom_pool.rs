//! Loom models of the pool's protocols: submit against shutdown, idle/wake, the
//! `cancel_futures` drain, and a breaking initializer.
//!
//! Run with (about a minute on 2 cores):
//! `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p concurrent-futures-threads --release --test loom_pool`
//!
//! Under the cfg the pool's queue is a `Mutex<VecDeque>`, its atomics, mutexes, condvars and
//! threads are loom's, and idle workers spin one round before they park (`src/sync.rs`), so
//! loom explores the real submit, dispatch, idle, park, wake, shutdown and join code. A lost
//! wake-up shows as loom's deadlock error; a lost task as a future still pending after
//! `shutdown(wait = true)` joined every thread.

#[cfg(executor_loom)]
mod tests {
    use concurrent_futures_core::{Executor, Future, Rejected, Shutdown, State, Submit, TaskError};
    use concurrent_futures_threads::ThreadPool;
    use loom::thread;

    fn pool(max_workers: usize) -> ThreadPool {
        ThreadPool::builder()
            .max_workers(max_workers)
            .build()
            .unwrap()
    }

    /// A pool whose one thread has run a task and is idle (spinning, or parked).
    fn pool_with_an_idle_thread(max_workers: usize) -> ThreadPool {
        let pool = pool(max_workers);
        assert_eq!(pool.submit(|| 0u8).unwrap().result(), Ok(0));
        pool
    }

    /// Races a submit of `value` from another thread against `shutdown(wait)` on `pool`: the
    /// submit is refused as shut down, or its task has run when shutdown has joined the
    /// threads: none is lost, none runs after.
    fn submit_races_shutdown(pool: ThreadPool, value: u8) {
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(move || value))
        };
        pool.shutdown(Shutdown::default());
        assert_eq!(pool.thread_count(), 0);
        match submitter.join().unwrap() {
            Ok(future) => {
                assert_eq!(future.state(), State::Finished);
                assert_eq!(future.result(), Ok(value));
            }
            Err(err) => assert_eq!(err.reason(), &Rejected::ShutDown),
        }
    }

    /// Submits `waiters` tasks waiting for a gate, then the task that opens it, quickly, to a
    /// pool of `waiters + 1` whose one thread is idle: each task needs a thread of its own.
    fn waiters_then_their_opener(waiters: usize) {
        let pool = pool_with_an_idle_thread(waiters + 1);
        let (release, gate) = Future::<()>::pending();
        let gate = gate.share();
        let waiting: Vec<_> = (0..waiters)
            .map(|_| {
                let gate = gate.clone();
                pool.submit(move || gate.wait()).unwrap()
            })
            .collect();
        let opener = pool
            .submit(move || release.set_result(()).unwrap())
            .unwrap();
        for future in &waiting {
            future.wait();
        }
        opener.wait();
        assert!(pool.thread_count() <= waiters + 1);
        pool.shutdown(Shutdown::default());
        assert_eq!(pool.thread_count(), 0);
    }

    /// Every submit racing with `shutdown(wait)` is either refused or done once shutdown has
    /// joined the threads: none is lost, none runs after.
    #[test]
    fn submit_against_shutdown_loses_no_task() {
        loom::model(|| submit_races_shutdown(pool(1), 7));
    }

    /// A worker that went idle (and possibly parked) is woken by the next submit, and a
    /// submit-then-wait loop uses one thread.
    #[test]
    fn an_idle_worker_is_woken_for_the_next_task() {
        loom::model(|| {
            let pool = pool(2);
            for i in 0..3u8 {
                assert_eq!(pool.submit(move || i).unwrap().result(), Ok(i));
            }
            // Submit-then-wait never needs a second thread, even in a pool of two.
            assert_eq!(pool.thread_count(), 1);
            pool.shutdown(Shutdown::default());
        });
    }

    /// Two submitters race for one idle worker: both tasks run (no claim is lost) and
    /// neither spawns a second thread while the first is idle... or if it was busy, within
    /// `max_workers`.
    #[test]
    fn concurrent_submits_to_an_idle_worker_both_run() {
        loom::model(|| {
            let pool = pool_with_an_idle_thread(2);
            let other = {
                let pool = pool.clone();
                thread::spawn(move || pool.submit(|| 1u8).unwrap().result())
            };
            assert_eq!(pool.submit(|| 2u8).unwrap().result(), Ok(2));
            assert_eq!(other.join().unwrap(), Ok(1));
            assert!(pool.thread_count() <= 2);
            pool.shutdown(Shutdown::default());
            assert_eq!(pool.thread_count(), 0);
        });
    }

    /// Two quick submits to a pool whose one thread is idle: the first task waits for the
    /// second, so the second must get a thread of its own (the idle worker is claimed once).
    #[test]
    fn two_quick_submits_to_one_idle_worker_both_start() {
        loom::model(|| waiters_then_their_opener(1));
    }

    /// Three quick submits to a pool of three whose one thread is idle, the first two waiting
    /// for the third: every task gets a thread, however many of the submits counted on the
    /// idle worker (the workers that take their jobs start threads for the rest, in a chain).
    #[test]
    fn quick_submits_to_one_idle_worker_all_start() {
        // Four threads: one preemption keeps the model to seconds (two take minutes).
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(1);
        model.check(|| waiters_then_their_opener(2));
    }

    /// A submit racing with shutdown while the one worker is idle (spinning or parked) and
    /// about to exit: the job runs, or the submit is refused.
    #[test]
    fn a_submit_racing_an_exiting_idle_worker_runs_or_is_refused() {
        loom::model(|| submit_races_shutdown(pool_with_an_idle_thread(1), 9));
    }

    /// Two workers (one possibly still idle-spinning, one parked) race a submit against
    /// shutdown: an exiting worker never takes a token that a submit already claimed.
    #[test]
    fn workers_exiting_on_shutdown_never_strand_a_claimed_task() {
        loom::model(|| {
            let pool = pool(2);
            let (release, gate) = Future::<()>::pending();
            let blocked = pool.submit(move || gate.wait()).unwrap();
            // The first worker is busy (or not even started): this one gets a second thread.
            assert_eq!(pool.submit(|| 0u8).unwrap().result(), Ok(0));
            release.set_result(()).unwrap();
            blocked.wait();
            submit_races_shutdown(pool, 9);
        });
    }

    /// `shutdown(cancel_futures)` racing with the worker: each queued future ends cancelled
    /// or finished, and is done (its waiters woken) when shutdown returns.
    #[test]
    fn cancel_futures_drain_leaves_every_future_done() {
        loom::model(|| {
            let pool = pool(1);
            let first = pool.submit(|| 1u8).unwrap().share();
            let second = pool.submit(|| 2u8).unwrap().share();
            let waiter = {
                let second = second.clone();
                thread::spawn(move || second.result())
            };
            pool.shutdown(Shutdown::wait().cancel_futures(true));
            for (future, value) in [(&first, 1), (&second, 2)] {
                match future.state() {
                    State::Finished => assert_eq!(future.result(), Ok(value)),
                    State::Cancelled => assert_eq!(future.result(), Err(TaskError::Cancelled)),
                    state => panic!("{state} after shutdown"),
                }
            }
            assert!(matches!(
                waiter.join().unwrap(),
                Ok(2) | Err(TaskError::Cancelled)
            ));
            assert_eq!(pool.thread_count(), 0);
        });
    }

    /// An initializer failure racing with a submit: the task is refused or fails with the
    /// broken-pool error; nothing hangs and the threads exit.
    #[test]
    fn a_failing_initializer_fails_or_refuses_queued_work() {
        loom::model(|| {
            let pool = ThreadPool::builder()
                .max_workers(1)
                .initializer(|| -> Result<(), &'static str> { Err("no") })
                .build()
                .unwrap();
            let first = pool.submit(|| 1u8).unwrap();
            let late = pool.submit(|| 2u8);
            assert!(matches!(first.result(), Err(TaskError::Broken(_))));
            match late {
                Ok(future) => assert!(matches!(future.result(), Err(TaskError::Broken(_)))),
                Err(err) => assert!(matches!(err.reason(), Rejected::Broken(_))),
            }
            pool.shutdown(Shutdown::default());
            assert_eq!(pool.thread_count(), 0);
        });
    }
}
