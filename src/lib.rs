//! `executor`: Python's `concurrent.futures`, done right in Rust.
//!
//! This facade re-exports [`executor_core`] and the backends chosen with Cargo features:
//! `threads` (default), `rayon`, `process`.

pub use executor_core::*;
