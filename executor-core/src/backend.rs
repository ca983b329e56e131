//! What only backend authors need: the other side of a [`Future`](crate::Future), and the
//! helpers to run tasks the way every backend must.
//!
//! Users of a pool never name these; the crate root holds what they use. A backend takes a
//! [`Promise`] (from [`Future::pending`](crate::Future::pending), or a [`Job`] that packs the task
//! with its future's cell), calls [`Promise::start`] and, unless it says [`Start::Cancelled`],
//! runs the task with [`run_caught`] and completes the promise. [`Chunk`] is how
//! [`Submit::map`](crate::Submit::map) batches tasks; `concurrent-futures-testkit`'s conformance suite
//! checks the result.
//!
//! ```
//! use concurrent_futures::backend::{Promise, Start, run_caught};
//! use concurrent_futures::{Future, Task};
//!
//! fn run_on_new_thread<T: Task>(task: T) -> Future<T::Output, T::Error> {
//!     let (promise, future): (Promise<_, _>, _) = Future::pending();
//!     std::thread::spawn(move || {
//!         if promise.start() == Ok(Start::Run) {
//!             let _ = promise.set_outcome(run_caught(task));
//!         }
//!     });
//!     future
//! }
//! assert_eq!(run_on_new_thread(|| 6 * 7).join(), Ok(42));
//! ```

pub use crate::chunk::{Chunk, ChunkOutput, Outcomes, OutcomesIter};
pub use crate::drive::Drive;
pub use crate::error::InvalidStateError;
pub use crate::job::Job;
pub use crate::panic::{catch_panic, payload_message};
pub use crate::promise::Promise;
pub use crate::state::Start;
pub use crate::task::run_caught;
#[doc(hidden)]
pub use crate::waiter::WatchHandle;
