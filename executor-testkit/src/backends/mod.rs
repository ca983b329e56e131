//! Backends written against the public core traits only: [`ThreadPerTask`] (the documented
//! example of how to write one), [`InlineExecutor`], [`FixedPool`], and the deliberately
//! broken fixture [`BrokenCancel`]. Each runs the conformance suite in this crate's tests.

mod broken_cancel;
mod fixed_pool;
mod inline;
mod thread_per_task;

pub use broken_cancel::BrokenCancel;
pub use fixed_pool::FixedPool;
pub use inline::InlineExecutor;
pub use thread_per_task::ThreadPerTask;
