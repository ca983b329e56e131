//! Plain functions as tasks: [`RemoteFn`], [`Call`] and the [`remote_fn!`](crate::remote_fn) macro.
//!
//! A function is identified by its own (zero-sized) type, so `pool.call(is_prime, 17)` needs no
//! name strings and no table: `remote_fn!(is_prime)` registers the type, and the worker calls
//! the very same function item. Arguments are one value (`pool.call(f, x)`) or a tuple for
//! functions of several arguments (`pool.call(add, (1, 2))`).

use std::any::TypeId;
use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

use concurrent_futures_core::{CodecError, Task, TaskError, backend::Chunk};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use crate::registry::{self, ItemSink, Never, RunResult};

/// A function that can run in a worker with arguments `Args`; `Marker` tells arities apart and
/// is always inferred.
///
/// Implemented for every `Copy` function of up to four arguments. Only function items that were
/// registered with [`remote_fn!`](crate::remote_fn) can actually be submitted; others fail their
/// future with a clear "not registered" error.
pub trait RemoteFn<Args, Marker>: Copy + Send + 'static {
    /// What it returns.
    type Output: Send + 'static;

    /// Calls it.
    fn apply(self, args: Args) -> Self::Output;
}

impl<F, R> RemoteFn<(), fn() -> R> for F
where
    F: Fn() -> R + Copy + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn apply(self, _args: ()) -> R {
        self()
    }
}

impl<F, A, R> RemoteFn<A, fn(A) -> R> for F
where
    F: Fn(A) -> R + Copy + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn apply(self, a: A) -> R {
        self(a)
    }
}

impl<F, A, B, R> RemoteFn<(A, B), fn(A, B) -> R> for F
where
    F: Fn(A, B) -> R + Copy + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn apply(self, (a, b): (A, B)) -> R {
        self(a, b)
    }
}

impl<F, A, B, C, R> RemoteFn<(A, B, C), fn(A, B, C) -> R> for F
where
    F: Fn(A, B, C) -> R + Copy + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn apply(self, (a, b, c): (A, B, C)) -> R {
        self(a, b, c)
    }
}

impl<F, A, B, C, D, R> RemoteFn<(A, B, C, D), fn(A, B, C, D) -> R> for F
where
    F: Fn(A, B, C, D) -> R + Copy + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn apply(self, (a, b, c, d): (A, B, C, D)) -> R {
        self(a, b, c, d)
    }
}

/// A call of a registered function with its arguments: a [`Task`] a process pool (or any
/// backend sharing the [`task_model`](crate::task_model), such as `concurrent-futures-mpi`) can carry.
///
/// Made by [`Call::new`] or [`ProcessPool::call`](crate::ProcessPool::call). Only the arguments
/// are serialised; the function is identified by its type.
///
/// ```no_run
/// use concurrent_futures::Submit;
/// use concurrent_futures::process::{Call, ProcessPool};
///
/// fn is_prime(n: u64) -> bool { n > 1 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0) }
/// concurrent_futures::remote_fn!(is_prime);
///
/// fn main() {
///     concurrent_futures::process::init();
///     let pool = ProcessPool::builder().build().unwrap();
///     assert_eq!(pool.submit(Call::new(is_prime, 17)).unwrap().result(), Ok(true));
/// }
/// ```
pub struct Call<F, Args, M> {
    function: F,
    args: Args,
    marker: PhantomData<fn() -> M>,
}

impl<F, Args, M> Call<F, Args, M>
where
    F: RemoteFn<Args, M>,
{
    /// `function(args)`, to be run in a worker.
    pub fn new(function: F, args: Args) -> Self {
        Call {
            function,
            args,
            marker: PhantomData,
        }
    }

    /// The arguments back.
    pub fn into_args(self) -> Args {
        self.args
    }
}

impl<F, Args, M> Task for Call<F, Args, M>
where
    F: RemoteFn<Args, M>,
    Args: Send + 'static,
    M: 'static,
{
    type Output = F::Output;
    type Error = Infallible;

    fn run(self) -> Result<F::Output, Infallible> {
        Ok(self.function.apply(self.args))
    }
}

impl<F, Args: Serialize, M> Serialize for Call<F, Args, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.args.serialize(serializer)
    }
}

impl<F, Args: fmt::Debug, M> fmt::Debug for Call<F, Args, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("function", &std::any::type_name::<F>())
            .field("args", &self.args)
            .finish()
    }
}

/// Helpers for the `remote_fn!` expansion: each takes the function item only to infer types.
#[doc(hidden)]
pub mod expand {
    use super::*;

    pub fn name<F: RemoteFn<A, M>, A, M>(_: F) -> &'static str {
        std::any::type_name::<F>()
    }

    pub fn chunk_name<F: RemoteFn<A, M>, A: 'static, M: 'static>(_: F) -> &'static str {
        std::any::type_name::<Chunk<Call<F, A, M>>>()
    }

    pub fn type_id<F: RemoteFn<A, M>, A: 'static, M: 'static>(_: F) -> TypeId {
        TypeId::of::<Call<F, A, M>>()
    }

    pub fn chunk_type_id<F: RemoteFn<A, M>, A: 'static, M: 'static>(_: F) -> TypeId {
        TypeId::of::<Chunk<Call<F, A, M>>>()
    }

    pub fn run<F, A, M>(function: F, bytes: &[u8]) -> RunResult
    where
        F: RemoteFn<A, M>,
        A: DeserializeOwned,
        F::Output: Serialize,
    {
        registry::run_with(bytes, move |args| function.apply(args))
    }

    pub fn run_chunk<F, A, M>(function: F, bytes: &[u8]) -> RunResult
    where
        F: RemoteFn<A, M>,
        A: DeserializeOwned,
        F::Output: Serialize,
    {
        registry::run_chunk_with(bytes, move |args| function.apply(args))
    }

    pub fn run_chunk_items<F, A, M>(
        function: F,
        bytes: &[u8],
        start: usize,
        sink: &mut dyn ItemSink,
    ) -> Result<(), CodecError>
    where
        F: RemoteFn<A, M>,
        A: DeserializeOwned,
        F::Output: Serialize,
    {
        registry::run_items_with::<A, _, Never>(bytes, start, sink, move |args| {
            concurrent_futures_core::backend::catch_panic(|| function.apply(args))
                .map_err(TaskError::Panicked)
        })
    }

    pub fn decode<F, A, M>(_: F, bytes: &[u8]) -> Result<Box<dyn std::any::Any + Send>, String>
    where
        F: RemoteFn<A, M>,
        F::Output: DeserializeOwned,
    {
        registry::decode_with::<F::Output>(bytes)
    }

    pub fn decode_chunk<F, A, M>(
        _: F,
        bytes: &[u8],
    ) -> Result<Box<dyn std::any::Any + Send>, String>
    where
        F: RemoteFn<A, M>,
        F::Output: DeserializeOwned,
    {
        registry::decode_chunk_with::<F::Output>(bytes)
    }
}

/// Registers functions so workers can run them: one line per function (or one for several).
///
/// The function must be a plain `fn` item (not a closure or a function pointer) whose arguments
/// and result implement serde's `Serialize` and `Deserialize`. Invoke it at module level, in the
/// same binary that calls [`init`](crate::init).
///
/// One registration serves every backend of the binary that shares the
/// [`task_model`](crate::task_model): the process pool and `concurrent-futures-mpi`, which re-exports this
/// macro as `concurrent_futures_mpi::remote_fn!`.
///
/// ```
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// fn shout(s: String) -> String { s.to_uppercase() }
/// concurrent_futures::remote_fn!(add, shout);
/// ```
#[macro_export]
macro_rules! remote_fn {
    ($($function:path),+ $(,)?) => {$(
        const _: () = {
            fn name() -> &'static str {
                $crate::__private::expand::name($function)
            }
            fn chunk_name() -> &'static str {
                $crate::__private::expand::chunk_name($function)
            }
            fn type_id() -> ::std::any::TypeId {
                $crate::__private::expand::type_id($function)
            }
            fn chunk_type_id() -> ::std::any::TypeId {
                $crate::__private::expand::chunk_type_id($function)
            }
            fn run(bytes: &[u8]) -> $crate::__private::RunResult {
                $crate::__private::expand::run($function, bytes)
            }
            fn run_chunk(bytes: &[u8]) -> $crate::__private::RunResult {
                $crate::__private::expand::run_chunk($function, bytes)
            }
            fn run_chunk_items(
                bytes: &[u8],
                start: usize,
                sink: &mut dyn $crate::__private::ItemSink,
            ) -> ::std::result::Result<(), $crate::__private::CodecError> {
                $crate::__private::expand::run_chunk_items($function, bytes, start, sink)
            }
            fn decode(
                bytes: &[u8],
            ) -> ::std::result::Result<::std::boxed::Box<dyn ::std::any::Any + Send>, String> {
                $crate::__private::expand::decode($function, bytes)
            }
            fn decode_chunk(
                bytes: &[u8],
            ) -> ::std::result::Result<::std::boxed::Box<dyn ::std::any::Any + Send>, String> {
                $crate::__private::expand::decode_chunk($function, bytes)
            }
            $crate::__private::inventory::submit! {
                $crate::__private::TaskEntry::from_parts(name, type_id, run, decode)
            }
            $crate::__private::inventory::submit! {
                $crate::__private::TaskEntry::from_parts(
                    chunk_name, chunk_type_id, run_chunk, decode_chunk,
                )
                .with_items(run_chunk_items)
            }
        };
    )+};
}

/// Registers task types so workers can run them (and `Chunk`s of them, for `map`).
///
/// A task type implements [`Task`](concurrent_futures_core::Task) and serde's `Serialize` and
/// `Deserialize`, with an output and error that do too. Invoke it at module level, in the same
/// binary that calls [`init`](crate::init); it works for types from other crates.
///
/// One registration serves every backend of the binary that shares the
/// [`task_model`](crate::task_model): the process pool and `concurrent-futures-mpi`, which re-exports this
/// macro as `concurrent_futures_mpi::register_task!`.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Square(u64);
///
/// impl concurrent_futures::Task for Square {
///     type Output = u64;
///     type Error = String;
///     fn run(self) -> Result<u64, String> { Ok(self.0 * self.0) }
/// }
///
/// concurrent_futures::register_task!(Square);
/// ```
#[macro_export]
macro_rules! register_task {
    ($($task:ty),+ $(,)?) => {$(
        $crate::__private::inventory::submit! {
            $crate::__private::TaskEntry::task::<$task>()
        }
        $crate::__private::inventory::submit! {
            $crate::__private::TaskEntry::chunk::<$task>()
        }
    )+};
}
