//! The traits a pool's methods come from, to import in one line: `submit` and `map` are
//! [`Submit`]'s, `shutdown` and `is_shutdown` are [`Executor`]'s (as `rayon::prelude` brings
//! `par_iter` into scope).
//!
//! ```
//! use concurrent_futures::ThreadPool;
//! use concurrent_futures::prelude::*;
//!
//! let pool = ThreadPool::new();
//! let doubled = pool.submit(|| 21 * 2).unwrap();
//! pool.shutdown(concurrent_futures::Shutdown::wait());
//! assert_eq!(doubled.join(), Ok(42));
//! ```

pub use crate::executor::{Executor, Submit};
