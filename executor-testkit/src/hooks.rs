//! In-process hooks: closures a check registers so that a [`TestTask::Hook`](crate::TestTask)
//! can run them inside a worker, for example to submit to or shut down the executor that runs
//! it. The registry is per process, so hooks only work on backends that run tasks in the
//! caller's process ([`Capabilities::in_process`](crate::Capabilities::in_process)).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::TestTask;

type Hook = Box<dyn FnOnce() -> Result<u64, String> + Send>;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static HOOKS: Mutex<Option<HashMap<u64, Hook>>> = Mutex::new(None);

/// Registers `hook` and returns the task that runs it, once.
///
/// ```
/// use concurrent_futures_core::Task;
/// let task = concurrent_futures_testkit::hooks::register(|| Ok(5));
/// assert_eq!(task.clone().run(), Ok(5));
/// assert!(task.run().is_err()); // a hook runs once
/// ```
pub fn register(hook: impl FnOnce() -> Result<u64, String> + Send + 'static) -> TestTask {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    HOOKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(id, Box::new(hook));
    TestTask::Hook(id)
}

/// Runs (and forgets) the hook registered under `id`.
pub(crate) fn run(id: u64) -> Result<u64, String> {
    let hook = HOOKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
        .and_then(|hooks| hooks.remove(&id));
    match hook {
        Some(hook) => hook(),
        None => Err(format!(
            "no hook {id} in process {}: hooks run once, and only in the process that registered them",
            std::process::id()
        )),
    }
}
