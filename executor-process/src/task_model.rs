//! The task model shared by backends that carry tasks to other processes: what a task is on
//! the wire, and how a worker finds and runs it. The process pool uses it, and so does
//! `concurrent-futures-mpi`, so one task definition runs on threads, processes and MPI ranks alike: a
//! type registered once with [`register_task!`](crate::register_task) (or a function with
//! [`remote_fn!`](crate::remote_fn)) is known to every backend of the binary.
//!
//! How a backend uses it:
//!
//! - parent side: [`Registry::get`]`().`[`lookup::<T>()`](Registry::lookup) gives the entry
//!   [`index`](Registered::index) to send and the [`decode`](Registered::decode) function for
//!   the outcome (or `None`: fail the future with [`not_registered`]); the task itself is
//!   [`encode`]d; [`prepare`] does both, encoding in place into an [`EncodedTask`] to keep and
//!   send without a copy, and gives the error to fail the future with;
//! - worker side: [`Registry::runner`] turns the index back into a [`RunFn`], which decodes
//!   the task, runs it with panics caught and encodes its outcome ([`RunResult`]);
//! - both sides compare [`Registry::fingerprint`] before any task travels, so a worker of
//!   another build is refused instead of running the wrong entry.
//!
//! Everything travels as postcard through [`encode`] and [`decode`], which catch panics of
//! user `Serialize`/`Deserialize` implementations.
//!
//! ```
//! use concurrent_futures::{Task, TaskError};
//! use concurrent_futures::process::task_model::{Registry, encode};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Double(u64);
//! impl Task for Double {
//!     type Output = u64;
//!     type Error = String;
//!     fn run(self) -> Result<u64, String> { Ok(self.0 * 2) }
//! }
//! concurrent_futures::register_task!(Double);
//!
//! fn main() {
//!     // What a backend does with a task, minus the transport between parent and worker.
//!     let registry = Registry::get();
//!     let entry = registry.lookup::<Double>().expect("registered");
//!     let payload = encode(&Double(21)).unwrap();
//!     let run = registry.runner(entry.index).expect("same binary, same registry");
//!     let reply = run(&payload).into_result().expect("the outcome encodes");
//!     let outcome = (entry.decode)(&reply).unwrap();
//!     let outcome = outcome.downcast::<Result<u64, TaskError<String>>>().unwrap();
//!     assert_eq!(*outcome, Ok(42));
//! }
//! ```

pub use crate::codec::{decode, encode};
pub use crate::registry::{
    DecodeFn, EncodedTask, REGISTRY_SALT_ENV, Registered, Registry, RunFn, RunResult,
    not_registered, prepare,
};
pub use crate::remote_fn::{Call, RemoteFn};
