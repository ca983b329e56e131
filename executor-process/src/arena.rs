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

use ipc_channel::ipc::IpcSharedMemory;

/// Payload bytes per batch beyond which payloads go to per-message shared memory instead.
pub(crate) const MAX_ARENA: usize = 64 << 20;

/// A shared-memory region written by one process and read by the other.
#[derive(Debug)]
pub(crate) struct Arena {
    memory: IpcSharedMemory,
    base: *mut u8,
    capacity: usize,
}

// SAFETY: `base` points into the mapping owned by `memory`, which lives as long as `self`; who
// may read or write which bytes when is the protocol described in the module docs.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// A new zeroed arena of at least `needed` bytes (rounded up to a power of two, 1 MiB at
    /// least, so it is rarely replaced).
    pub(crate) fn with_room_for(needed: usize) -> Arena {
        let capacity = needed.max(1 << 20).next_power_of_two();
        Arena::from_memory(IpcSharedMemory::from_byte(0, capacity))
    }

    /// Adopts a region received from the other process.
    pub(crate) fn from_memory(mut memory: IpcSharedMemory) -> Arena {
        // SAFETY: only a raw pointer is kept; the bytes are then accessed through `write` and
        // `read`, whose callers uphold the protocol.
        let bytes = unsafe { memory.deref_mut() };
        let base = bytes.as_mut_ptr();
        let capacity = bytes.len();
        Arena {
            memory,
            base,
            capacity,
        }
    }

    /// The region, to send to the other process.
    pub(crate) fn share(&self) -> IpcSharedMemory {
        self.memory.clone()
    }

    /// How many bytes it holds.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
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
        assert!(end <= self.capacity, "arena write out of bounds");
        // SAFETY: the range is within the mapping (checked above) and, by the caller's
        // contract, nobody reads it meanwhile; `bytes` cannot overlap the mapping's range we
        // write, since the caller owns it outside the arena.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(offset), bytes.len());
        }
    }

    /// The bytes at `offset..offset + len`, or `None` if the range is outside the arena.
    ///
    /// # Safety
    /// The other process must not write the range while the slice is alive (see the module
    /// docs).
    pub(crate) unsafe fn read(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len)?;
        if end > self.capacity {
            return None;
        }
        // SAFETY: the range is within the mapping, which lives as long as `self`; by the
        // caller's contract nobody writes it while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(offset), len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_bytes_read_back_through_another_mapping() {
        let arena = Arena::with_room_for(10);
        assert_eq!(arena.capacity(), 1 << 20);
        // SAFETY: single-threaded test, nobody else uses the region.
        unsafe { arena.write(5, b"hello") };
        let other = Arena::from_memory(arena.share());
        // SAFETY: as above.
        assert_eq!(unsafe { other.read(5, 5) }, Some(&b"hello"[..]));
        // SAFETY: as above.
        assert_eq!(unsafe { other.read(1 << 20, 1) }, None);
    }
}
