//! `executor-bench`: runs one workload and writes its figures, or renders the report; see
//! [`executor_bench::cli`]. `cargo xtask bench` drives it.

use std::process::ExitCode;

use executor_bench::ours_process::{burn, length, noop, pause, trivial};

// What the process pool's workers may run. Registered here, in the binary the workers run, so
// the linker keeps every entry.
concurrent_futures_process::remote_fn!(noop, trivial, length, burn, pause);

fn main() -> ExitCode {
    // Both process pools start their workers by running this binary again: each hook turns
    // such a process into a worker (and never returns) when its own environment marker is set,
    // and does nothing otherwise. They must come before anything else.
    procspawn::init();
    executor_bench::ours_process::worker_hook();
    // The `blocking` crate's global pool reads its size once, when first used: 2 threads, as
    // every pool of the thread workloads has (see `peers`).
    // SAFETY: nothing has started a thread yet (the hooks above return at once in the bench
    // process), so nothing reads the environment concurrently.
    unsafe { std::env::set_var(executor_bench::peers::BLOCKING_THREADS_ENV, "2") };
    executor_bench::cli::main(std::env::args().skip(1).collect())
}
