//! Loom models of `ThreadPool::scope`'s completion counting: a scope returns only once every
//! closure submitted in it is gone (run, or dropped unrun by a cancelling shutdown) and its
//! future is done, its effects are visible to the caller when it returns, a closure submitted by a running task is
//! counted before that task's own count is released, and a worker waiting for a scope runs the
//! scope's jobs itself, woken for each one its scope submits.
//!
//! Run with `cargo xtask loom`, or alone:
//! `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p concurrent-futures-threads --release --test loom_scope`
//!
//! The closures write with `Relaxed` stores and the caller reads with `Relaxed` loads after
//! `scope` returned: loom lets such a load see a stale value unless the count's
//! release/acquire (or the gate's mutex) orders the write before it. A lost wake-up of the
//! waiting caller shows as loom's deadlock error.

#[cfg(executor_loom)]
mod tests {
    use concurrent_futures_core::{Executor, Shutdown, State, Submit};
    use concurrent_futures_threads::ThreadPool;
    use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use loom::thread;

    fn pool(max_workers: usize) -> ThreadPool {
        ThreadPool::builder()
            .max_workers(max_workers)
            .build()
            .unwrap()
    }

    /// Counts its drops: proves a closure's captures are gone.
    struct DropCount<'a>(&'a AtomicUsize);

    impl Drop for DropCount<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    /// Two scoped closures on a two-worker pool: when `scope` returns, both ran, their writes
    /// and the drops of their captures are visible to the caller, and their futures are done.
    #[test]
    fn scope_returns_after_its_closures_and_sees_their_writes() {
        loom::model(|| {
            let pool = pool(2);
            let (hits, drops) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let futures = pool.scope(|s| {
                (0..2)
                    .map(|_| {
                        let token = DropCount(&drops);
                        s.submit(|| {
                            let _token = token;
                            hits.fetch_add(1, Relaxed);
                        })
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            });
            for future in &futures {
                assert_eq!(future.state(), State::Finished);
            }
            assert_eq!(hits.load(Relaxed), 2);
            assert_eq!(drops.load(Relaxed), 2);
            pool.shutdown(Shutdown::wait());
        });
    }

    /// A running task submits another closure to its scope: the count cannot reach zero
    /// between the two, so the caller sees both.
    #[test]
    fn a_closure_submitted_by_a_task_is_counted_in_time() {
        loom::model(|| {
            let pool = pool(1);
            let hits = AtomicUsize::new(0);
            pool.scope(|s| {
                s.submit(|| {
                    s.submit(|| hits.fetch_add(1, Relaxed)).unwrap();
                    hits.fetch_add(1, Relaxed);
                })
                .unwrap();
            });
            assert_eq!(hits.load(Relaxed), 2);
            pool.shutdown(Shutdown::wait());
        });
    }

    /// `shutdown(cancel_futures)` from another thread races with the worker: the closure
    /// either ran or was dropped unrun, and either way it is gone when `scope` returns.
    #[test]
    fn a_cancelling_shutdown_racing_the_worker_leaves_no_closure_behind() {
        loom::model(|| {
            let pool = pool(1);
            let (ran, drops) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let canceller = {
                let pool = pool.clone();
                thread::spawn(move || pool.shutdown(Shutdown::no_wait().cancel_futures(true)))
            };
            let future = pool.scope(|s| {
                let token = DropCount(&drops);
                s.submit(|| {
                    let _token = token;
                    ran.fetch_add(1, Relaxed);
                })
                .ok()
            });
            assert_eq!(drops.load(Relaxed), 1);
            // Done when `scope` returned, whichever way it went: no waiting here.
            match future.map(|f| f.state()) {
                Some(State::Finished) => assert_eq!(ran.load(Relaxed), 1),
                Some(State::Cancelled) | None => assert_eq!(ran.load(Relaxed), 0),
                Some(state) => panic!("{state} after its scope returned"),
            }
            canceller.join().unwrap();
            pool.shutdown(Shutdown::wait());
        });
    }

    /// A task of a one-worker pool opens a scope: the only worker is the one waiting, so it
    /// must run the scoped job itself (or be woken to do so), never sleep past it.
    #[test]
    fn a_worker_waiting_for_its_scope_runs_the_scoped_job() {
        loom::model(|| {
            let pool = pool(1);
            let inner = pool.clone();
            let future = pool
                .submit(move || {
                    let hits = AtomicUsize::new(0);
                    inner.scope(|s| {
                        s.submit(|| hits.fetch_add(1, Relaxed)).unwrap();
                    });
                    hits.load(Relaxed)
                })
                .unwrap();
            assert_eq!(future.result(), Ok(1));
            pool.shutdown(Shutdown::wait());
        });
    }

    /// Two workers: one opens a scope and waits for it, the other may run the scoped task,
    /// which submits a second one and waits for it. Whichever worker holds what, the second
    /// task gets run: if the other worker is blocked in the first task, the waiting one must
    /// wake up for the new job (a submit to the scope wakes its helping waiter).
    #[test]
    fn a_helping_waiter_wakes_for_a_job_submitted_by_its_scope() {
        loom::model(|| {
            let pool = pool(2);
            let inner = pool.clone();
            let future = pool
                .submit(move || {
                    inner.scope(|s| s.submit(|| s.submit(|| 2u8).unwrap().result()).unwrap())
                })
                .unwrap();
            let first = future.join().unwrap();
            assert_eq!(first.join(), Ok(Ok(2)));
            pool.shutdown(Shutdown::wait());
        });
    }
}
