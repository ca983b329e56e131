//! [`Task`]: a unit of work an executor can run, whatever carries it there.
//!
//! In-process backends accept any closure (every `FnOnce() -> R` is a `Task`). Backends whose
//! tasks cross a process or machine boundary accept only the task types they can carry (plain
//! serialisable values, such as `concurrent-futures-testkit`'s `TestTask`); the trait is the same, so the same
//! generic code and the same conformance suite run on all of them.

use std::convert::Infallible;
use std::fmt;

use crate::error::TaskError;
use crate::panic::catch_panic;

/// A unit of work that produces a value or its own error.
///
/// ```
/// use concurrent_futures::Task;
///
/// struct Double(u32);
/// impl Task for Double {
///     type Output = u32;
///     type Error = std::convert::Infallible;
///     fn run(self) -> Result<u32, Self::Error> { Ok(self.0 * 2) }
/// }
/// assert_eq!(Double(21).run(), Ok(42));
/// // Every closure is a task too:
/// assert_eq!((|| "hi").run(), Ok("hi"));
/// ```
pub trait Task: Send + 'static {
    /// The value it produces.
    type Output: Send + 'static;
    /// Its own error type (`Infallible` if it has none).
    type Error: Send + 'static;

    /// Runs it, in whatever thread or process the executor chose.
    fn run(self) -> Result<Self::Output, Self::Error>;
}

impl<F, R> Task for F
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = R;
    type Error = Infallible;

    fn run(self) -> Result<R, Infallible> {
        Ok(self())
    }
}

/// A closure returning `Result<T, E>` whose error becomes the future's [`TaskError::Failed`]
/// instead of part of its value. Made by [`fallible`].
#[derive(Clone, Copy)]
pub struct Fallible<F>(F);

/// Marks a closure that returns `Result<T, E>` as a task failing with `E`.
///
/// ```
/// use concurrent_futures::{fallible, Task, TaskError};
///
/// let task = fallible(|| "x".parse::<u8>());
/// assert!(task.run().is_err());
/// ```
pub fn fallible<F, T, E>(f: F) -> Fallible<F>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    Fallible(f)
}

impl<F, T, E> Task for Fallible<F>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = T;
    type Error = E;

    fn run(self) -> Result<T, E> {
        (self.0)()
    }
}

impl<F> fmt::Debug for Fallible<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fallible(..)")
    }
}

/// Runs `task`, turning its error and any panic into a [`TaskError`].
///
/// ```
/// use concurrent_futures::backend::run_caught;
/// assert!(run_caught(|| -> u8 { panic!("no") }).unwrap_err().is_panic());
/// ```
pub fn run_caught<T: Task>(task: T) -> Result<T::Output, TaskError<T::Error>> {
    match catch_panic(move || task.run()) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(TaskError::Failed(error)),
        Err(panic) => Err(TaskError::Panicked(panic)),
    }
}
