//! Loom models of `wait` (`executor-core/src/wait.rs` and the waiter protocol in `waiter.rs`):
//! installing the waiter on each future, one at a time, against completions and cancellations
//! in other threads, in all three return modes; and a completion racing against the waiter's
//! removal after `wait` returned.
//!
//! Run with `RUSTFLAGS="--cfg executor_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! concurrent-futures-testkit --release --test 'loom_*'`. Without the cfg this file is empty. Every `wait`
//! here has no timeout: a lost wake-up shows up as a loom deadlock.

#[cfg(executor_loom)]
mod tests {
    use concurrent_futures_core::{Future, ReturnWhen, wait};
    use loom::thread;

    type F = Future<u32, &'static str>;

    #[test]
    fn all_completed_against_a_completion_and_a_cancellation() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (_pb, b) = F::pending();
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            let canceller = {
                let b = b.clone();
                thread::spawn(move || assert!(b.cancel()))
            };
            let sets = wait([&a, &b], None, ReturnWhen::AllCompleted);
            assert_eq!(sets.done.len(), 2);
            assert!(sets.not_done.is_empty());
            completer.join().unwrap();
            canceller.join().unwrap();
        });
    }

    #[test]
    fn first_completed_against_one_completion() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (pb, b) = F::pending();
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            let sets = wait([&a, &b], None, ReturnWhen::FirstCompleted);
            assert_eq!(sets.done.len(), 1);
            assert_eq!(sets.done[0].result(), Ok(1));
            assert_eq!(sets.not_done.len(), 1);
            assert!(!sets.not_done[0].done());
            completer.join().unwrap();
            drop(pb);
        });
    }

    #[test]
    fn first_exception_against_an_error_and_a_cancellation() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (_pb, b) = F::pending();
            let (pc, c) = F::pending();
            let failer = thread::spawn(move || pa.set_error("boom").unwrap());
            let canceller = {
                let b = b.clone();
                thread::spawn(move || assert!(b.cancel()))
            };
            // Returns on the error; the cancellation alone would not do.
            let sets = wait([&a, &b, &c], None, ReturnWhen::FirstException);
            assert!(
                sets.done
                    .iter()
                    .any(|f| f.error().is_some_and(|e| !e.is_cancelled()))
            );
            assert!(sets.done.iter().all(|f| f.done()));
            assert!(sets.not_done.iter().any(|f| std::ptr::eq(*f, &c)));
            failer.join().unwrap();
            canceller.join().unwrap();
            drop(pc);
        });
    }

    #[test]
    fn first_exception_does_not_return_on_a_cancellation() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (_pb, b) = F::pending();
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            let canceller = {
                let b = b.clone();
                thread::spawn(move || assert!(b.cancel()))
            };
            // No error ever comes, so it returns only when both are done.
            let sets = wait([&a, &b], None, ReturnWhen::FirstException);
            assert_eq!(sets.done.len(), 2);
            completer.join().unwrap();
            canceller.join().unwrap();
        });
    }

    #[test]
    fn a_late_completion_against_the_waiter_removal() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let (pb, b) = F::pending();
            let first = thread::spawn(move || pa.set_result(1).unwrap());
            let second = thread::spawn(move || pb.set_result(2).unwrap());
            let sets = wait([&a, &b], None, ReturnWhen::FirstCompleted);
            // A partition of the input, and everything in `done` is done.
            assert_eq!(sets.done.len() + sets.not_done.len(), 2);
            assert!(!sets.done.is_empty());
            assert!(sets.done.iter().all(|f| f.done()));
            first.join().unwrap();
            second.join().unwrap();
            // The removed waiter left both futures intact for the next wait.
            let sets = wait([&a, &b], None, ReturnWhen::AllCompleted);
            assert_eq!(sets.done.len(), 2);
        });
    }

    #[test]
    fn two_waits_on_the_same_future() {
        loom::model(|| {
            let (pa, a) = F::pending();
            let other = {
                let a = a.clone();
                thread::spawn(move || wait([&a], None, ReturnWhen::AllCompleted).done.len())
            };
            let completer = thread::spawn(move || pa.set_result(1).unwrap());
            assert_eq!(wait([&a], None, ReturnWhen::AllCompleted).done.len(), 1);
            assert_eq!(other.join().unwrap(), 1);
            completer.join().unwrap();
        });
    }
}
