//! The conformance suite every `concurrent-futures` backend must pass, including yours.
//!
//! The promise of `concurrent-futures` is that backends are interchangeable: the same code gets the same
//! behaviour from a thread pool, a process pool or your own backend. This crate keeps that
//! promise. It holds:
//!
//! - [`conformance`]: over ninety checks in thirteen groups (`submit`, `future_state`, `callbacks`,
//!   `cancel`, `wait`, `as_completed`, `map`, `shutdown`, `panics`, `errors`, `concurrency`,
//!   `async_await`, `crash`), each asserting observable behaviour of Python's
//!   `concurrent.futures` model (with its known bugs fixed);
//! - [`TestTask`]: the checks' tasks, plain serialisable values, so the same checks run where
//!   closures cannot travel (process pools, other machines);
//! - [`Gate`]: a latch over a Unix socket that holds tasks until released and tells how many
//!   started, in this process or another, so checks order events without sleeping;
//! - [`Capabilities`]: what your backend declares about itself; checks it excludes are
//!   reported as ignored, with the reason, never silently passed;
//! - [`conformance_main!`]: one line per backend to run the whole suite;
//! - [`backends`]: small backends written against the public traits only: [`ThreadPerTask`]
//!   (the worked example of writing a backend), [`InlineExecutor`], [`FixedPool`], and a
//!   deliberately broken one proving the suite can fail.
//!
//! # Running the suite on your backend
//!
//! Your executor type must implement `Submit<TestTask> + Submit<Chunk<TestTask>>` (an
//! in-process backend that accepts every [`Task`](concurrent_futures_core::Task) already does). Add the
//! testkit as a dev-dependency and a test target without the default harness:
//!
//! ```toml
//! [dev-dependencies]
//! concurrent-futures-testkit = "0.1"
//!
//! [[test]]
//! name = "conformance"
//! harness = false
//! ```
//!
//! and `tests/conformance.rs`:
//!
//! ```no_run
//! use concurrent_futures_testkit::Capabilities;
//! use concurrent_futures_testkit::backends::FixedPool; // your executor here
//!
//! concurrent_futures_testkit::conformance_main! {
//!     backend: "fixed-pool",
//!     setup: {},                                 // runs first in main (e.g. a worker-mode hook)
//!     executor: || FixedPool::new(4),           // a fresh executor per use
//!     capabilities: Capabilities::THREADS,       // 4 bounded in-process workers
//! }
//! ```
//!
//! `cargo test --test conformance` then prints one line per check, in libtest's format:
//!
//! ```text
//! test wait::first_exception ... ok
//! test cancel::queued_task_never_runs ... ok
//! test crash::abort_fails_only_its_task ... ignored (a crashing task would take the test process down)
//! test result: ok. 86 passed; 0 failed; 7 ignored; 0 measured; 0 filtered out
//! ```
//!
//! The usual libtest arguments work (`cargo test --test conformance -- wait::` runs one group).
//! Each check runs under a watchdog (30 s, or `watchdog: Duration::from_secs(N)` as a last
//! field of the macro): a check that does not finish fails with `check hung after 30s: <name>`
//! instead of hanging the suite.
//!
//! To run single checks from your own tests, use [`conformance::find_check`] and
//! [`conformance::run_check`], or call a check function directly, e.g.
//! `concurrent_futures_testkit::conformance::wait::first_exception(&|| FixedPool::new(4), &caps)`.

pub mod backends;
mod block_on;
mod capabilities;
pub mod conformance;
mod gate;
pub mod hooks;
mod tasks;

pub use crate::backends::{FixedPool, InlineExecutor, ThreadPerTask};
pub use crate::block_on::{block_on, block_on_timeout, thread_waker};
pub use crate::capabilities::{Capabilities, Requirement};
pub use crate::conformance::TestExecutor;
pub use crate::gate::{Gate, GateTimeout};
pub use crate::tasks::TestTask;

/// The future of a submitted [`TestTask`].
pub type TestFuture = concurrent_futures_core::Future<u64, String>;

/// Writes `fn main` for a backend's conformance test target (`harness = false`): one
/// libtest-mimic trial per check, named `"<group>::<check>"`, checks the capabilities exclude
/// reported as ignored with the reason, each check under a watchdog.
///
/// ```no_run
/// use concurrent_futures_testkit::{Capabilities, ThreadPerTask};
///
/// concurrent_futures_testkit::conformance_main! {
///     backend: "thread-per-task",
///     setup: {},
///     executor: ThreadPerTask::new,
///     capabilities: Capabilities::THREAD_PER_TASK,
///     watchdog: std::time::Duration::from_secs(60), // optional; 30 s by default
/// }
/// ```
///
/// - `backend`: the name failures are reported under;
/// - `setup`: a block run first in `main`, before arguments are parsed (a process backend's
///   worker-mode hook goes here);
/// - `executor`: a factory (`Fn() -> E + Send + Sync + 'static`) called for every fresh
///   executor a check needs; `E: Submit<TestTask> + Submit<Chunk<TestTask>> + 'static`;
/// - `capabilities`: the backend's [`Capabilities`].
#[macro_export]
macro_rules! conformance_main {
    (
        backend: $backend:expr,
        setup: $setup:block,
        executor: $executor:expr,
        capabilities: $capabilities:expr
        $(, watchdog: $watchdog:expr)?
        $(,)?
    ) => {
        fn main() {
            $crate::conformance::quiet_deliberate_panics();
            $setup
            #[allow(unused_mut, unused_assignments)]
            let mut watchdog = $crate::conformance::DEFAULT_WATCHDOG;
            $( watchdog = $watchdog; )?
            $crate::conformance::run_main($backend, $executor, $capabilities, watchdog)
        }
    };
}
