//! [`Region`]: shared memory passed between the parent and a worker as a sealed `memfd`.
//!
//! A peer's region is never trusted: before mapping one, [`Region::adopt`] checks that it is
//! sealed against shrinking (so the peer cannot truncate it under our mapping and turn a read
//! into `SIGBUS`), and reads its size from the kernel (`fstat`), never from a message, bounded
//! by what the caller allows. Regions that carry one payload are also sealed against writing
//! ([`Region::sealed_copy`]): once received, their bytes cannot change.
//!
//! Sealing needs `memfd_create` (Linux, FreeBSD); this module is compiled on Linux only, where
//! the pool is tested.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// Seals on every region: its size is fixed, and no more seals can be added or removed.
const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// A mapped shared-memory region.
#[derive(Debug)]
pub(crate) struct Region {
    fd: OwnedFd,
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by `self` and lives until drop; who may read or write which bytes
// when is the protocol of each user (`Arena`, `Progress`, payloads), documented there.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

/// What [`Region::adopt`] maps a received region for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read only, and the region must be sealed against writes: its bytes never change.
    Frozen,
    /// Read only; the peer may still write it (an arena: the protocol says when).
    Read,
    /// Read and write (the progress page, in the worker).
    ReadWrite,
}

impl Region {
    /// A new zeroed region of `len` bytes (at least 1), sealed at that size, mapped read-write.
    pub(crate) fn new(len: usize) -> io::Result<Region> {
        let fd = memfd(len.max(1))?;
        seal(&fd, SIZE_SEALS)?;
        map(fd, len.max(1), libc::PROT_READ | libc::PROT_WRITE)
    }

    /// A region holding a copy of `bytes`, sealed against any change, as a descriptor to send
    /// (it is not mapped here).
    pub(crate) fn sealed_copy(bytes: &[u8]) -> io::Result<OwnedFd> {
        let fd = memfd(0)?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        let fd = OwnedFd::from(file);
        seal(&fd, SIZE_SEALS | libc::F_SEAL_WRITE)?;
        Ok(fd)
    }

    /// A region holding `bytes`, with only the seals asked for (for the fault tests, which send
    /// what the protocol forbids).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn for_tests(bytes: &[u8], seal_size: bool, freeze: bool) -> io::Result<OwnedFd> {
        let fd = memfd(0)?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        let fd = OwnedFd::from(file);
        let mut seals = 0;
        if seal_size {
            seals |= libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
        }
        if freeze {
            seals |= libc::F_SEAL_WRITE;
        }
        if seals != 0 {
            seal(&fd, seals)?;
        }
        Ok(fd)
    }

    /// Maps a region received from the peer, checking it first: it must be sealed against
    /// shrinking (and against writes for [`Access::Frozen`]) and hold between 1 and `max_len`
    /// bytes. `Err` says what was wrong; the descriptor is closed.
    pub(crate) fn adopt(fd: OwnedFd, access: Access, max_len: usize) -> Result<Region, String> {
        // SAFETY: fcntl(F_GET_SEALS) only reads the descriptor's seals (EINVAL if it has none,
        // for example because it is not a memfd).
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 {
            return Err("a descriptor that is not sealable shared memory".to_string());
        }
        if seals & libc::F_SEAL_SHRINK == 0 {
            return Err("shared memory that is not sealed against shrinking".to_string());
        }
        if access == Access::Frozen && seals & libc::F_SEAL_WRITE == 0 {
            return Err("a payload region that is not sealed against writing".to_string());
        }
        let len = File::from(fd.try_clone().map_err(|e| e.to_string())?)
            .metadata()
            .map_err(|e| format!("shared memory whose size cannot be read ({e})"))?
            .len();
        if len == 0 || len > max_len as u64 {
            return Err(format!(
                "shared memory of {len} bytes (at most {max_len} are allowed here)"
            ));
        }
        let protection = match access {
            Access::Frozen | Access::Read => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        map(fd, len as usize, protection).map_err(|e| format!("mapping shared memory failed ({e})"))
    }

    /// The start of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Its size.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A new descriptor for the same region, to send.
    pub(crate) fn share(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// The bytes.
    ///
    /// # Safety
    /// Nobody may write the region while the slice lives (always true of an
    /// [`Access::Frozen`] region).
    pub(crate) unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes owned by `self`; by the caller's contract
        // nothing writes them while the slice lives.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl AsFd for Region {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` describe the mapping made in `map`, which nothing uses once
        // `self` is dropped (every slice into it borrows `self`).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

fn memfd(len: usize) -> io::Result<OwnedFd> {
    // SAFETY: the name is a valid NUL-terminated string; flags are constants.
    let fd = unsafe {
        libc::memfd_create(
            c"concurrent-futures".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor that nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if len > 0 {
        File::from(fd.try_clone()?).set_len(len as u64)?;
    }
    Ok(fd)
}

fn seal(fd: &OwnedFd, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: fcntl(F_ADD_SEALS) takes an int of seal flags; no memory is passed.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn map(fd: OwnedFd, len: usize, protection: libc::c_int) -> io::Result<Region> {
    // SAFETY: a fresh shared mapping of `len` bytes of `fd` (which holds at least that many:
    // the caller sized it or read its size, and its seals keep it from shrinking); the kernel
    // picks the address.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            protection,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base =
        NonNull::new(address.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
    Ok(Region { fd, base, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_copy_is_frozen_and_sized_by_the_kernel() {
        let fd = Region::sealed_copy(b"payload").unwrap();
        let region = Region::adopt(fd, Access::Frozen, 1024).unwrap();
        // SAFETY: the region is sealed against writes.
        assert_eq!(unsafe { region.bytes() }, b"payload");
    }

    #[test]
    fn a_region_the_peer_could_shrink_or_that_is_too_large_is_refused() {
        let fd = memfd(4096).unwrap();
        let refused = Region::adopt(fd, Access::Read, 1 << 20).unwrap_err();
        assert!(refused.contains("shrinking"), "{refused}");
        let fd = memfd(0).unwrap();
        File::from(fd.try_clone().unwrap())
            .set_len(1 << 40)
            .unwrap();
        seal(&fd, SIZE_SEALS).unwrap();
        let refused = Region::adopt(fd, Access::Read, 1 << 20).unwrap_err();
        assert!(refused.contains("1099511627776 bytes"), "{refused}");
        let file: OwnedFd = File::open("/dev/null").unwrap().into();
        assert!(Region::adopt(file, Access::Read, 1 << 20).is_err());
        let region = Region::new(100).unwrap();
        let refused = Region::adopt(region.share().unwrap(), Access::Frozen, 1 << 20);
        assert!(refused.unwrap_err().contains("writing"));
    }

    #[test]
    fn a_sealed_region_cannot_be_shrunk() {
        let region = Region::new(4096).unwrap();
        let file = File::from(region.share().unwrap());
        assert!(file.set_len(0).is_err());
    }
}
