//! Running done-callbacks: each exactly once, panics caught and reported, never under a lock.
//!
//! A callback that panics must not stop the callbacks after it, nor unwind into the worker or the
//! thread that cancelled the future. Its panic is handed to the process-wide report hook set with
//! [`set_callback_panic_hook`]; the default prints it to standard error.

use std::sync::RwLock;

use crate::error::PanicInfo;
use crate::future::Future;
use crate::panic::catch_panic;
use crate::state::Callback;

type Hook = Box<dyn Fn(&PanicInfo) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Replaces what happens when a done-callback panics (the default prints to standard error).
///
/// The hook is process-wide and runs in the thread that ran the callback.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
///
/// concurrent_futures::set_callback_panic_hook(|info| {
///     if info.message() == "doh!" { SEEN.fetch_add(1, Ordering::SeqCst); }
/// });
/// let (promise, future) = concurrent_futures::Future::<()>::pending();
/// future.add_done_callback(|_| panic!("doh!"));
/// promise.set_result(()).unwrap();
/// assert_eq!(SEEN.load(Ordering::SeqCst), 1);
/// ```
pub fn set_callback_panic_hook(hook: impl Fn(&PanicInfo) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
}

pub(crate) fn run<T, E>(callback: Callback<T, E>, future: &Future<T, E>) {
    if let Err(panic) = catch_panic(move || callback(future)) {
        let hook = HOOK.read().unwrap_or_else(|p| p.into_inner());
        match hook.as_ref() {
            Some(hook) => hook(&panic),
            None => eprintln!("executor: a done-callback panicked: {panic}"),
        }
    }
}
