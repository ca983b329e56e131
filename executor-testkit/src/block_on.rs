//! [`block_on`]: the smallest possible async runtime (std only), to check that futures can be
//! `.await`ed without pulling a real runtime into the suite.
//!
//! The waker unparks the thread that polls; the poller parks between polls. Spurious unparks
//! only cost an extra poll.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Wakes a parked thread.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the current thread.
pub fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unparker(std::thread::current())))
}

/// Polls `future` on this thread until it is ready, parking in between.
///
/// ```
/// let value = concurrent_futures_testkit::block_on(async { 40 + 2 });
/// assert_eq!(value, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    block_on_until(future, None).expect("no deadline")
}

/// Like [`block_on`], but gives up after `timeout` and returns `None`.
///
/// ```
/// use std::time::Duration;
/// let never = std::future::pending::<()>();
/// assert_eq!(concurrent_futures_testkit::block_on_timeout(never, Duration::from_millis(1)), None);
/// ```
pub fn block_on_timeout<F: Future>(future: F, timeout: Duration) -> Option<F::Output> {
    block_on_until(future, Some(Instant::now() + timeout))
}

fn block_on_until<F: Future>(future: F, deadline: Option<Instant>) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return Some(value);
        }
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}
