//! Everything that depends on the operating system: signals, parent-death handling, reaping,
//! descriptor hygiene, the socket pair to a worker and shared memory. The rest of the crate
//! calls only this module's safe functions.
//!
//! Linux is the tested platform. The transport needs sealable shared memory (`memfd_create`
//! with seals) and close-on-exec descriptor passing (`MSG_CMSG_CLOEXEC`), which Linux, Android
//! and FreeBSD have; other systems are refused at compile time rather than given a pool that
//! trusts its workers' shared memory.

#[cfg(unix)]
mod unix;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod region;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod socket;

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) use region::{Access, Region};
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) use socket::{MAX_FRAME_DESCRIPTORS, Received, Socket};
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
compile_error!(
    "concurrent-futures-process needs sealable shared memory (memfd_create): Linux, Android or \
     FreeBSD (Linux is the tested platform)"
);
