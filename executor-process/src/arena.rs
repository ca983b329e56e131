//! [`Arena`]: a reusable shared-memory region for large payloads.
//!
//! A fresh shared-memory object per message costs a `memfd_create`, page faults on every page,
//! and unmapping and truncation when it is dropped. Each direction of a worker's connection
//! instead keeps one arena, grown when a message needs more room and otherwise reused, so large
//! payloads cost one copy into pages that are already mapped.
//!
//! Writer and reader never touch the same bytes at the same time, by protocol rather than by
//! locking:
//! - parent to worker: the parent writes a batch's payloads only while the worker is idle (it
//!   answered every task sent before), and the worker reads them only between receiving the
//!   batch and answering its last task;
//! - worker to parent: the worker writes each result at a fresh offset within a batch and only
//!   starts again from offset 0 when it receives the next batch, which the parent sends only
//!   after it copied out every result of the previous one.
//!
//! The message that refers to a range is sent after the range was written, and the socket
//! orders the two.

use std::io;

use crate::frame::Attached;
use crate::sys::Region;

/// Payload bytes per batch beyond which payloads go to per-message shared memory instead.
pub(crate) const MAX_ARENA: usize = 64 << 20;

/// A shared-memory region written by one process and read by the other.
#[derive(Debug)]
pub(crate) struct Arena {
    memory: Region,
}

impl Arena {
    /// A new zeroed arena of at least `needed` bytes (rounded up to a power of two, 1 MiB at
    /// least, so it is rarely replaced).
    pub(crate) fn with_room_for(needed: usize) -> io::Result<Arena> {
        let capacity = needed.max(1 << 20).next_power_of_two();
        Ok(Arena::from_region(Region::new(capacity)?))
    }

    /// Adopts a region received from the other process (checked by `frame.rs`).
    pub(crate) fn from_region(memory: Region) -> Arena {
        Arena { memory }
    }

    /// The region, to send to the other process.
    pub(crate) fn share(&self) -> io::Result<Attached> {
        self.memory.share().map(Attached::Outgoing)
    }

    /// How many bytes it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.memory.len()
    }

    /// Copies `bytes` to `offset`.
    ///
    /// # Safety
    /// The other process must not be reading `offset..offset + bytes.len()` (see the module
    /// docs).
    ///
    /// # Panics
    /// If the range does not fit.
    pub(crate) unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        let end = offset
            .checked_add(bytes.len())
            .expect("arena range overflows");
        assert!(end <= self.capacity(), "arena write out of bounds");
        // SAFETY: the range is within the mapping (checked above) and, by the caller's
        // contract, nobody reads it meanwhile; `bytes` cannot overlap the mapping's range we
        // write, since the caller owns it outside the arena.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.memory.as_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    /// The bytes at `offset..offset + len`, or `None` if the range is outside the arena.
    ///
    /// # Safety
    /// The other process must not write the range while the slice is alive (see the module
    /// docs).
    pub(crate) unsafe fn read(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.capacity() {
            return None;
        }
        // SAFETY: the range is within the mapping, which lives as long as `self`; by the
        // caller's contract nobody writes it while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.memory.as_ptr().add(offset), len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_bytes_read_back_through_another_mapping() {
        let arena = Arena::with_room_for(10).unwrap();
        assert_eq!(arena.capacity(), 1 << 20);
        // SAFETY: single-threaded test, nobody else uses the region.
        unsafe { arena.write(5, b"hello") };
        let Attached::Outgoing(fd) = arena.share().unwrap() else {
            unreachable!("share gives a descriptor to send")
        };
        let region = Region::adopt(fd, crate::sys::Access::Read, 1 << 20).unwrap();
        let other = Arena::from_region(region);
        // SAFETY: as above.
        assert_eq!(unsafe { other.read(5, 5) }, Some(&b"hello"[..]));
        // SAFETY: as above.
        assert_eq!(unsafe { other.read(1 << 20, 1) }, None);
    }
}
