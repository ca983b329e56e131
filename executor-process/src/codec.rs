//! The value encoding: the only place that knows tasks and results travel as postcard (for
//! every backend that shares the [`task_model`](crate::task_model)).
//!
//! Every call into user `Serialize`/`Deserialize` code goes through here, with panics caught, so
//! a misbehaving implementation fails one task instead of a worker or the parent's threads.

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
    fn errors_name_the_type() {
        let error = decode::<(u64, String)>(&[1]).unwrap_err();
        assert!(error.contains("String"), "{error}");
    }
}
