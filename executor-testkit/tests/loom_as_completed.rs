//! Loom models of `as_completed` (`executor-core/src/as_completed.rs`): registration against
//! completions and cancellations, each future yielded exactly once, and dropping the iterator
//! early against a completion.
//!
//! Run with `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! concurrent-futures-testkit --release --test 'loom_*'`. Without the cfg this file is empty. Only the
//! deadline-free `as_completed` is modelled: loom does not model time.

#[cfg(executor_loom)]
mod tests {
    use concurrent_futures_core::{Future, ReturnWhen, as_completed, wait};
    use loom::thread;

    type F = Future<u32>;

    #[test]
    fn registration_against_completion_and_cancellation() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (_pb, b) = F::pending();
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            let canceller = {
                let b = b.clone();
                thread::spawn(move || assert!(b.cancel()))
            };
            let mut iter = as_completed([&a, &b]);
            let first = iter.next().unwrap();
            let second = iter.next().unwrap();
            assert!(iter.next().is_none());
            assert!(!std::ptr::eq(first, second), "each future once");
            completer.join().unwrap();
            canceller.join().unwrap();
        });
    }

    #[test]
    fn two_iterators_on_the_same_futures() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let b = F::ready(2);
            let other = {
                let (a, b) = (a.clone(), b.clone());
                thread::spawn(move || as_completed([&a, &b]).count())
            };
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            assert_eq!(as_completed([&b, &a]).count(), 2);
            assert_eq!(other.join().unwrap(), 2);
            completer.join().unwrap();
        });
    }

    #[test]
    fn completions_in_one_thread_are_yielded_in_order() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (pb, b) = F::pending();
            // Registered before anything completes (futures done at registration come first,
            // in input order, which is the other model's business).
            let iter = as_completed([&a, &b]);
            let completer = thread::spawn(move || {
                pb.set_result(2).unwrap();
                pa.set_result(1).unwrap();
            });
            let order: Vec<u32> = iter.map(|f| f.result().unwrap()).collect();
            assert_eq!(order, [2, 1]);
            completer.join().unwrap();
        });
    }

    #[test]
    fn dropping_early_against_a_completion() {
        loom::model(|| {
            let a = F::ready(1);
            let (pb, b) = F::pending();
            let completer = thread::spawn(move || pb.set_result(2).unwrap());
            {
                let mut iter = as_completed([&a, &b]);
                assert_eq!(iter.next().unwrap().result(), Ok(1));
                // Dropped here: unregisters from `b`, possibly while `b` notifies it.
            }
            completer.join().unwrap();
            assert_eq!(wait([&b], None, ReturnWhen::AllCompleted).done.len(), 1);
            assert_eq!(as_completed([&a, &b]).count(), 2);
        });
    }
}
