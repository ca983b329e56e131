//! Loom models of the async consumers (`executor-core/src/as_completed.rs` as a `Stream`,
//! `wait_async` in `wait.rs`, the waker slot in `waiter.rs`): a poll leaving its waker against
//! completions, a later poll replacing that waker, and dropping a pending stream against a
//! completion.
//!
//! Run with `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! concurrent-futures-testkit --release --test loom_stream`. Without the cfg this file is empty. A lost
//! wake-up shows as a failed assertion: after the completing thread is joined, the waker of the
//! last poll that returned `Pending` must have been woken.

#[cfg(executor_loom)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc as StdArc;
    use std::task::{Context, Poll, Wake, Waker};

    use concurrent_futures_core::{Future, ReturnWhen, as_completed, wait_async};
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::thread;

    type F = Future<u32>;

    /// A waker that records that it was woken.
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: StdArc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Waker, StdArc<Flag>) {
        let flag = StdArc::new(Flag(AtomicBool::new(false)));
        (Waker::from(flag.clone()), flag)
    }

    fn poll<T: std::future::Future + Unpin>(future: &mut T, waker: &Waker) -> Poll<T::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn polls_with_changing_wakers_against_completions() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (pb, b) = F::pending();
            let mut completed = as_completed([&a, &b]);
            let completer = thread::spawn(move || {
                pa.set_result(1).unwrap();
                pb.set_result(2).unwrap();
            });
            let mut yielded = 0;
            let mut last_pending = None;
            for _ in 0..2 {
                let (waker, flag) = flag();
                match poll(&mut completed.next_async(), &waker) {
                    Poll::Ready(Some(_)) => yielded += 1,
                    Poll::Ready(None) => unreachable!("two futures"),
                    Poll::Pending => last_pending = Some((waker, flag)),
                }
            }
            completer.join().unwrap();
            if yielded < 2 {
                let (waker, flag) = last_pending.expect("not all yielded, so one poll waited");
                assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
                while let Poll::Ready(Some(_)) = poll(&mut completed.next_async(), &waker) {
                    yielded += 1;
                }
            }
            assert_eq!(yielded, 2);
        });
    }

    #[test]
    fn wait_async_against_completion() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (_pb, b) = F::pending();
            let mut waiting = wait_async([&a, &b], ReturnWhen::FirstCompleted);
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            let (waker, flag) = flag();
            let first = poll(&mut waiting, &waker);
            completer.join().unwrap();
            let sets = match first {
                Poll::Ready(sets) => sets,
                Poll::Pending => {
                    assert!(flag.0.load(Ordering::SeqCst), "lost wake-up");
                    match poll(&mut waiting, &waker) {
                        Poll::Ready(sets) => sets,
                        Poll::Pending => panic!("woken but not ready"),
                    }
                }
            };
            assert_eq!(sets.done.len(), 1);
            assert!(std::ptr::eq(sets.done[0], &a));
        });
    }

    #[test]
    fn dropping_a_pending_stream_against_a_completion() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (waker, flag) = flag();
            let mut completed = as_completed([&a]);
            assert!(poll(&mut completed.next_async(), &waker).is_pending());
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            drop(completed);
            completer.join().unwrap();
            // Only the test's own two handles remain: neither the future nor a half-finished
            // notification kept the dropped stream's waker.
            assert_eq!(StdArc::strong_count(&flag), 2);
            assert_eq!(a.result(), Ok(1));
        });
    }
}
