//! Everything that depends on the operating system: signals, parent-death handling, reaping,
//! descriptor hygiene. The rest of the crate calls only this module's safe functions.
//!
//! Linux is the tested platform; other Unixes compile with weaker guarantees (no parent-death
//! signal, `kill(2)` instead of pidfds), documented on each function.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(unix))]
compile_error!("concurrent-futures-process supports Unix only (Linux is the tested platform)");
