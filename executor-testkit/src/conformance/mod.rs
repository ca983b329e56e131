//! The conformance suite: every check, the registry that lists them, and the runner behind
//! [`conformance_main!`](crate::conformance_main).
//!
//! Each check is a public function `fn(make: &dyn Fn() -> E, caps: &Capabilities)` generic over
//! the executor; it makes the executors it needs with `make`, asserts observable behaviour and
//! panics with a message naming what went wrong. Checks order events with gates and channels,
//! never with sleeps, bound every wait (a broken backend fails, it does not hang), and shut
//! their executors down before returning.
//!
//! Groups, one module each: [`submit`], [`future_state`], [`callbacks`], [`cancel`], [`wait`],
//! [`as_completed`], [`map`], [`shutdown`], [`panics`], [`errors`], [`concurrency`],
//! [`async_await`], [`crash`].

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use concurrent_futures_core::{Submit, backend::Chunk};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::{Capabilities, Requirement, TestTask};

pub mod as_completed;
pub mod async_await;
pub mod callbacks;
pub mod cancel;
pub mod concurrency;
pub mod crash;
pub mod errors;
pub mod future_state;
pub mod map;
pub mod panics;
pub mod shutdown;
pub mod submit;
mod support;
pub mod wait;

/// An executor the suite can test: it accepts [`TestTask`]s and chunks of them (for `map`).
/// Implemented for every such type.
pub trait TestExecutor: Submit<TestTask> + Submit<Chunk<TestTask>> + 'static {}

impl<E> TestExecutor for E where E: Submit<TestTask> + Submit<Chunk<TestTask>> + 'static {}

/// What a check gets to make fresh executors.
pub type Factory<'a, E> = &'a dyn Fn() -> E;

/// How long a check may run before [`run_check`] reports it as hung.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(30);

/// One check of the suite, for executors of type `E`.
pub struct Check<E> {
    /// Its group, e.g. `"wait"`.
    pub group: &'static str,
    /// Its name within the group, e.g. `"first_exception"`.
    pub name: &'static str,
    /// What it needs from the backend; unmet, it is skipped.
    pub requires: &'static [Requirement],
    /// The check itself.
    pub run: fn(Factory<'_, E>, &Capabilities),
}

impl<E> Check<E> {
    /// `"<group>::<name>"`, the trial's name.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.group, self.name)
    }

    /// Why the check does not apply to a backend with `caps`, or `None` if it does.
    pub fn skip_reason(&self, caps: &Capabilities) -> Option<String> {
        self.requires.iter().find_map(|r| r.unmet(caps))
    }
}

impl<E> Clone for Check<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Check<E> {}

impl<E> std::fmt::Debug for Check<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.full_name())
            .field("requires", &self.requires)
            .finish()
    }
}

/// Lists a group's checks as `fn checks<E>() -> Vec<Check<E>>`, each with its requirements.
macro_rules! checks {
    ($group:literal: $( $name:ident $( [$($req:expr),+ $(,)?] )? ),* $(,)?) => {
        /// Every check of this group.
        pub fn checks<E: $crate::conformance::TestExecutor>() -> Vec<$crate::conformance::Check<E>> {
            vec![$(
                $crate::conformance::Check {
                    group: $group,
                    name: stringify!($name),
                    requires: &[$($($req),+)?],
                    run: $name::<E>,
                }
            ),*]
        }
    };
}
pub(crate) use checks;

/// Every check of the suite, group by group.
pub fn all_checks<E: TestExecutor>() -> Vec<Check<E>> {
    [
        submit::checks::<E>(),
        future_state::checks(),
        callbacks::checks(),
        cancel::checks(),
        wait::checks(),
        as_completed::checks(),
        map::checks(),
        shutdown::checks(),
        panics::checks(),
        errors::checks(),
        concurrency::checks(),
        async_await::checks(),
        crash::checks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The check named `"<group>::<name>"`, if there is one.
pub fn find_check<E: TestExecutor>(full_name: &str) -> Option<Check<E>> {
    all_checks::<E>()
        .into_iter()
        .find(|c| c.full_name() == full_name)
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// It passed.
    Passed,
    /// It failed, with this message.
    Failed(String),
    /// The capabilities exclude it, for this reason.
    Skipped(String),
}

/// Runs one check on a thread of its own under a watchdog.
///
/// A panic in the check is a failure with the panic's message; a check still running after
/// `watchdog` is a failure `"check hung after ...: <name>"` (its thread is left behind).
pub fn run_check<E: TestExecutor>(
    check: Check<E>,
    make: Arc<dyn Fn() -> E + Send + Sync>,
    caps: Capabilities,
    watchdog: Duration,
) -> CheckOutcome {
    if let Some(reason) = check.skip_reason(&caps) {
        return CheckOutcome::Skipped(reason);
    }
    let name = check.full_name();
    let (done, outcome) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let result =
                concurrent_futures_core::backend::catch_panic(|| (check.run)(&*make, &caps));
            let _ = done.send(result.map_err(|panic| match panic.location() {
                Some(at) => format!("{} (at {}:{})", panic.message(), at.file, at.line),
                None => panic.message().to_string(),
            }));
        });
    if let Err(error) = spawned {
        return CheckOutcome::Failed(format!("cannot spawn a thread for {name}: {error}"));
    }
    match outcome.recv_timeout(watchdog) {
        Ok(Ok(())) => CheckOutcome::Passed,
        Ok(Err(message)) => CheckOutcome::Failed(message),
        Err(mpsc::RecvTimeoutError::Timeout) => CheckOutcome::Failed(format!(
            "check hung after {}s: {name}",
            watchdog.as_secs_f64()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            CheckOutcome::Failed(format!("check thread of {name} died without reporting"))
        }
    }
}

/// What the suite's deliberate panics say; [`quiet_deliberate_panics`] keeps them off stderr.
pub const DELIBERATE: &str = "(conformance check)";

/// Keeps the suite's deliberate panics (in tasks and callbacks) from cluttering the output;
/// every other panic is reported as before. [`conformance_main!`](crate::conformance_main)
/// calls it first thing in `main`, before the backend's setup, so that core's panic hook (which
/// records panic locations) is installed on top of it and still sees every panic.
pub fn quiet_deliberate_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !concurrent_futures_core::backend::payload_message(info.payload()).contains(DELIBERATE) {
            previous(info);
        }
    }));
    concurrent_futures_core::set_callback_panic_hook(|info| {
        if !info.message().contains(DELIBERATE) {
            eprintln!("executor: a done-callback panicked: {info}");
        }
    });
    // Install core's location-recording hook now, on top of ours.
    let _ = concurrent_futures_core::backend::catch_panic(|| ());
}

/// The `main` of a backend's `tests/conformance.rs`: one libtest-mimic trial per check, named
/// `"<group>::<check>"`, skipped ones reported as ignored with the reason. Exits the process.
///
/// Use it through [`conformance_main!`](crate::conformance_main).
pub fn run_main<E, F>(backend: &str, make: F, caps: Capabilities, watchdog: Duration) -> !
where
    E: TestExecutor,
    F: Fn() -> E + Send + Sync + 'static,
{
    let args = Arguments::from_args();
    let make: Arc<dyn Fn() -> E + Send + Sync> = Arc::new(make);
    let trials = all_checks::<E>()
        .into_iter()
        .map(|check| {
            let make = make.clone();
            let backend = backend.to_string();
            Trial::ignorable_test(check.full_name(), move || {
                match run_check(check, make, caps, watchdog) {
                    CheckOutcome::Passed => Ok(Completion::Completed),
                    CheckOutcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
                    CheckOutcome::Failed(message) => Err(Failed::from(format!(
                        "[{backend}] {}: {message}",
                        check.full_name()
                    ))),
                }
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}
