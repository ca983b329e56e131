//! The value encoding: the only place that knows tasks and results travel as postcard (for
//! every backend that shares the [`task_model`](crate::task_model)).
//!
//! Every call into user `Serialize`/`Deserialize` code goes through here, with panics caught, so
//! a misbehaving implementation fails one task instead of a worker or the parent's threads.

use std::mem::MaybeUninit;
use std::sync::Arc;

use concurrent_futures_core::backend::catch_panic;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`; the error message names the type and the serialiser's complaint.
///
/// Sizes the buffer first, so a large byte string is copied once instead of through a growing
/// vector.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let encode = || {
        let size = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())?;
        postcard::to_extend(value, Vec::with_capacity(size))
    };
    match catch_panic(encode) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(format!("{}: {error}", std::any::type_name::<T>())),
        Err(panic) => Err(format!(
            "{}: the Serialize implementation panicked: {panic}",
            std::any::type_name::<T>()
        )),
    }
}

/// Encodes `value` into a new shared buffer of exactly its size, written in place: one
/// allocation and no copy (a task's payload, which the pool keeps for a resend and the link
/// borrows to send); errors as [`encode`].
pub(crate) fn encode_shared<T: Serialize + ?Sized>(value: &T) -> Result<Arc<[u8]>, String> {
    let encode = || -> postcard::Result<Result<Arc<[u8]>, String>> {
        let size = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())?;
        let mut shared = Arc::<[u8]>::new_uninit_slice(size);
        let room = Arc::get_mut(&mut shared).expect("a new Arc has no other owner");
        let written = postcard::serialize_with_flavor(value, Uninit { room, written: 0 })?;
        if written != size {
            return Ok(Err(format!(
                "the Serialize implementation wrote {size} bytes, then {written}"
            )));
        }
        // SAFETY: `Uninit` writes its bytes in order from the start, and it wrote all `size`.
        Ok(Ok(unsafe { shared.assume_init() }))
    };
    match catch_panic(encode) {
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(message))) => Err(format!("{}: {message}", std::any::type_name::<T>())),
        Ok(Err(error)) => Err(format!("{}: {error}", std::any::type_name::<T>())),
        Err(panic) => Err(format!(
            "{}: the Serialize implementation panicked: {panic}",
            std::any::type_name::<T>()
        )),
    }
}

/// A postcard flavor that fills uninitialised memory from its start; its output is how many
/// bytes it wrote. More than fit is `SerializeBufferFull`.
struct Uninit<'a> {
    room: &'a mut [MaybeUninit<u8>],
    written: usize,
}

impl postcard::ser_flavors::Flavor for Uninit<'_> {
    type Output = usize;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        let end = self.written + bytes.len();
        let Some(target) = self.room.get_mut(self.written..end) else {
            return Err(postcard::Error::SerializeBufferFull);
        };
        for (slot, &byte) in target.iter_mut().zip(bytes) {
            slot.write(byte);
        }
        self.written = end;
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.written)
    }
}

/// Encodes `value` into `buffer`, replacing its contents (a reused buffer saves an allocation
/// per value); errors as [`encode`].
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    buffer: &mut Vec<u8>,
) -> Result<(), String> {
    let mut taken = std::mem::take(buffer);
    taken.clear();
    match catch_panic(move || postcard::to_extend(value, taken)) {
        Ok(Ok(bytes)) => {
            *buffer = bytes;
            Ok(())
        }
        Ok(Err(error)) => Err(format!("{}: {error}", std::any::type_name::<T>())),
        Err(panic) => Err(format!(
            "{}: the Serialize implementation panicked: {panic}",
            std::any::type_name::<T>()
        )),
    }
}

/// Encodes `value` at the start of `room` if it fits: its length, or `None` if it does not
/// fit; errors as [`encode`].
///
/// Does not catch panics, so it can run once per item of a chunk without a guard each: the
/// caller must run it inside [`catch_panic`] and report a panic with [`panicked`].
pub(crate) fn encode_in_place_unguarded<T: Serialize + ?Sized>(
    value: &T,
    room: &mut [u8],
) -> Result<Option<usize>, String> {
    match postcard::to_slice(value, room) {
        Ok(used) => Ok(Some(used.len())),
        Err(postcard::Error::SerializeBufferFull) => Ok(None),
        Err(error) => Err(format!("{}: {error}", std::any::type_name::<T>())),
    }
}

/// The error message for a `Serialize` implementation of `T` that panicked.
pub(crate) fn panicked<T: ?Sized>(panic: &concurrent_futures_core::PanicInfo) -> String {
    format!(
        "{}: the Serialize implementation panicked: {panic}",
        std::any::type_name::<T>()
    )
}

/// Decodes a `T` that must span all of `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match catch_panic(|| postcard::from_bytes::<T>(bytes)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{}: {error}", std::any::type_name::<T>())),
        Err(panic) => Err(format!(
            "{}: the Deserialize implementation panicked: {panic}",
            std::any::type_name::<T>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode(&(1u8, "two".to_string())).unwrap();
        assert_eq!(
            decode::<(u8, String)>(&bytes).unwrap(),
            (1, "two".to_string())
        );
    }

    #[test]
    fn a_shared_encoding_is_the_encoding() {
        let value = (7u64, "seven".to_string(), vec![0u8; 5000]);
        assert_eq!(
            &encode_shared(&value).unwrap()[..],
            &encode(&value).unwrap()[..]
        );
        assert!(encode_shared(&()).unwrap().is_empty());
    }

    #[test]
    fn a_serialize_that_changes_its_mind_is_an_error_not_uninitialised_bytes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Writes one byte more on each call: the size pass is wrong for the real one.
        struct Growing(AtomicUsize);
        impl Serialize for Growing {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let n = self.0.fetch_add(1, Ordering::Relaxed);
                serializer.collect_seq(std::iter::repeat_n(1u8, n))
            }
        }
        // Shrinking is caught too: one byte less on the second call.
        struct Shrinking(AtomicUsize);
        impl Serialize for Shrinking {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let n = self.0.fetch_sub(1, Ordering::Relaxed);
                serializer.collect_seq(std::iter::repeat_n(1u8, n))
            }
        }
        let grew = encode_shared(&Growing(AtomicUsize::new(3))).unwrap_err();
        assert!(grew.contains("Growing"), "{grew}");
        let shrank = encode_shared(&Shrinking(AtomicUsize::new(3))).unwrap_err();
        assert!(shrank.contains("wrote 4 bytes, then 3"), "{shrank}");
    }

    #[test]
    fn errors_name_the_type() {
        let error = decode::<(u64, String)>(&[1]).unwrap_err();
        assert!(error.contains("String"), "{error}");
    }
}
