//! Turning a panicking task into a [`PanicInfo`] with its message and location.
//!
//! `catch_unwind` gives the payload but not the location, so the first call installs a process-wide
//! panic hook that records the location of panics raised inside [`catch_panic`] in a thread-local,
//! then defers to the hook that was there before (so panics are still printed as usual).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{PanicInfo, PanicLocation};

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static LAST_LOCATION: RefCell<Option<PanicLocation>> = const { RefCell::new(None) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let location = info.location().map(|l| PanicLocation {
                    file: l.file().to_string(),
                    line: l.line(),
                    column: l.column(),
                });
                LAST_LOCATION.with(|slot| *slot.borrow_mut() = location);
            }
            previous(info);
        }));
    });
}

/// Runs `f`, turning a panic into a [`PanicInfo`] that keeps the message, the location and the
/// payload. Backends call this around every task and callback.
///
/// ```
/// let caught = concurrent_futures::backend::catch_panic(|| -> u32 { panic!("boom") }).unwrap_err();
/// assert_eq!(caught.message(), "boom");
/// assert!(caught.location().unwrap().file.ends_with(".rs"));
/// assert_eq!(concurrent_futures::backend::catch_panic(|| 7).unwrap(), 7);
/// ```
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, PanicInfo> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let location = LAST_LOCATION.with(|slot| slot.borrow_mut().take());
        PanicInfo::new(payload_message(&*payload), location).with_payload(payload)
    })
}

/// The text of a panic payload: the `&str` or `String` it carries, or a placeholder.
pub fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}
