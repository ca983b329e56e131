//! [`Socket`]: one end of the anonymous `SOCK_SEQPACKET` socket pair between the parent and a
//! worker, and the only place that calls `sendmsg`/`recvmsg`.
//!
//! A sequenced-packet socket keeps message boundaries, so a frame is one `recvmsg` and needs no
//! length header a peer could lie about. Receiving never trusts the peer:
//! - the buffer is the caller's, of a fixed size; a longer packet is reported (`MSG_TRUNC`),
//!   never allocated for;
//! - descriptors arrive close-on-exec (`MSG_CMSG_CLOEXEC`, so a worker spawned meanwhile cannot
//!   inherit them) and are wrapped in [`OwnedFd`] before anything else happens, so whatever the
//!   frame turns out to be, none leaks;
//! - more descriptors than the control buffer holds are reported (`MSG_CTRUNC`); the kernel
//!   closes the ones that did not fit.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one frame may carry.
pub(crate) const MAX_FRAME_DESCRIPTORS: usize = 8;

/// One end of a connected `SOCK_SEQPACKET` Unix socket pair.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
}

/// What one [`Socket::recv`] got.
#[derive(Debug)]
pub(crate) enum Received {
    /// A packet of this many bytes (at the start of the buffer), with these descriptors.
    Packet {
        /// Its length.
        len: usize,
        /// The descriptors it carried, in order.
        descriptors: Vec<OwnedFd>,
    },
    /// The peer closed its end.
    Closed,
    /// Non-blocking only: nothing is waiting.
    Empty,
    /// The packet was longer than the buffer (its descriptors were closed).
    TooLong,
    /// The packet carried more than [`MAX_FRAME_DESCRIPTORS`] descriptors (all were closed).
    TooManyDescriptors,
}

impl Socket {
    /// A connected pair, both ends close-on-exec, each able to send a packet of `packet` bytes
    /// (the send buffer is asked for twice that; the kernel may grant less, and then such a
    /// send fails with `EMSGSIZE`, which the caller handles).
    pub(crate) fn pair(packet: usize) -> io::Result<(Socket, Socket)> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for socketpair to fill.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socketpair succeeded: both descriptors are open and owned by nobody else.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let (a, b) = (Socket { fd: a }, Socket { fd: b });
        let size = libc::c_int::try_from(packet.saturating_mul(2)).unwrap_or(libc::c_int::MAX);
        a.set_send_buffer(size);
        b.set_send_buffer(size);
        Ok((a, b))
    }

    /// Adopts `fd` if it is a `SOCK_SEQPACKET` Unix socket; otherwise gives it back.
    pub(crate) fn from_fd(fd: OwnedFd) -> Result<Socket, OwnedFd> {
        let mut kind: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `kind`, a valid int.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&raw mut kind).cast(),
                &mut len,
            )
        };
        if rc == 0 && kind == libc::SOCK_SEQPACKET {
            Ok(Socket { fd })
        } else {
            Err(fd)
        }
    }

    /// The descriptor, to hand to a child process.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn set_send_buffer(&self, size: libc::c_int) {
        // SAFETY: setsockopt reads one int from a valid pointer; failure only leaves the
        // default size, which `EMSGSIZE` handling covers.
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw const size).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// The pid of the process that created the pair (`SO_PEERCRED`), if the system says.
    pub(crate) fn peer_pid(&self) -> Option<u32> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: ucred is plain data; all zeroes is a valid value to overwrite.
            let mut credentials: libc::ucred = unsafe { zeroed() };
            let mut len = size_of::<libc::ucred>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `credentials`.
            let rc = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_PEERCRED,
                    (&raw mut credentials).cast(),
                    &mut len,
                )
            };
            (rc == 0).then_some(credentials.pid as u32)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            None
        }
    }

    /// Sends one packet: `bytes`, with `descriptors` attached. Blocks while the send buffer is
    /// full. `EMSGSIZE` means the packet exceeds what the buffer can ever hold.
    pub(crate) fn send(&self, bytes: &[u8], descriptors: &[BorrowedFd<'_>]) -> io::Result<()> {
        // Up to twice the receiver's limit can be sent: only the fault tests send more than
        // the limit, to check that the receiver refuses it.
        if descriptors.len() > 2 * MAX_FRAME_DESCRIPTORS {
            return Err(io::Error::other("too many descriptors for one packet"));
        }
        let mut control = ControlBuffer::new();
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // SAFETY: msghdr is plain data; all zeroes is valid (no name, no control).
        let mut header: libc::msghdr = unsafe { zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        if !descriptors.is_empty() {
            let payload = size_of::<RawFd>() * descriptors.len();
            // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic on a small length.
            let (space, len) = unsafe {
                (
                    libc::CMSG_SPACE(payload as u32) as usize,
                    libc::CMSG_LEN(payload as u32) as usize,
                )
            };
            header.msg_control = control.bytes.as_mut_ptr().cast();
            header.msg_controllen = space as _;
            // SAFETY: the control buffer is aligned for cmsghdr and holds CMSG_SPACE of the
            // largest descriptor list (checked at the top), so the first header and its data
            // lie inside it.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&header);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = len as _;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for (i, fd) in descriptors.iter().enumerate() {
                    data.add(i).write_unaligned(fd.as_raw_fd());
                }
            }
        }
        loop {
            // SAFETY: `header` points at `iov` (over `bytes`) and the control buffer, all alive
            // for the call; MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
            let sent = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
            if sent >= 0 {
                // A sequenced packet is sent whole or not at all.
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    /// Whether the peer closed its end.
    fn peer_closed(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes one valid pollfd; timeout 0 never blocks.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0 && poll.revents & libc::POLLHUP != 0
    }

    /// Receives one packet into `buffer` (its whole length is available), blocking unless
    /// `nonblocking`.
    pub(crate) fn recv(&self, buffer: &mut [u8], nonblocking: bool) -> io::Result<Received> {
        let mut control = ControlBuffer::new();
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        // SAFETY: msghdr is plain data; all zeroes is valid.
        let mut header: libc::msghdr = unsafe { zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.bytes.as_mut_ptr().cast();
        // Room for the limit only: more, and the kernel reports MSG_CTRUNC.
        header.msg_controllen = ControlBuffer::space(MAX_FRAME_DESCRIPTORS) as _;
        let mut flags = libc::MSG_CMSG_CLOEXEC;
        if nonblocking {
            flags |= libc::MSG_DONTWAIT;
        }
        let received = loop {
            // SAFETY: `header` points at `iov` (over `buffer`) and the control buffer, both
            // writable and alive for the call.
            let received = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut header, flags) };
            if received >= 0 {
                break received as usize;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if nonblocking => return Ok(Received::Empty),
                // The peer died with data unread: for us, the same as closed.
                io::ErrorKind::ConnectionReset => return Ok(Received::Closed),
                _ => return Err(error),
            }
        };
        // Own every descriptor first, whatever else is wrong with the packet.
        let descriptors = take_descriptors(&header);
        if header.msg_flags & libc::MSG_CTRUNC != 0 {
            return Ok(Received::TooManyDescriptors);
        }
        if header.msg_flags & libc::MSG_TRUNC != 0 {
            return Ok(Received::TooLong);
        }
        // End-of-file and an empty packet both read as 0 bytes; only a hang-up is the end.
        if received == 0 && descriptors.is_empty() && self.peer_closed() {
            return Ok(Received::Closed);
        }
        Ok(Received::Packet {
            len: received,
            descriptors,
        })
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Every descriptor in the `SCM_RIGHTS` messages of a received `header`, owned.
fn take_descriptors(header: &libc::msghdr) -> Vec<OwnedFd> {
    let mut owned = Vec::new();
    if header.msg_controllen == 0 {
        return owned;
    }
    // SAFETY: the kernel filled the control buffer `header` points to with `msg_controllen`
    // bytes of well-formed control messages; CMSG_FIRSTHDR/NXTHDR stay within that length.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(header) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is a header inside the buffer (see above).
        let (level, kind, len) =
            unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
        if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN is pure arithmetic.
            let start = unsafe { libc::CMSG_LEN(0) } as usize;
            // `cmsg_len` is a `size_t` on glibc and a `socklen_t` elsewhere.
            #[allow(clippy::unnecessary_cast)]
            let count = (len as usize).saturating_sub(start) / size_of::<RawFd>();
            // SAFETY: the data of an SCM_RIGHTS message is `count` ints within the buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: within the message's data (see above); unaligned reads are allowed.
                let fd = unsafe { data.add(i).read_unaligned() };
                if fd >= 0 {
                    // SAFETY: the kernel just installed `fd` in this process for us; nobody
                    // else owns it.
                    owned.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR: NXTHDR returns the next header within the buffer, or
        // null.
        cmsg = unsafe { libc::CMSG_NXTHDR(header, cmsg) };
    }
    owned
}

/// A control-message buffer with room for twice [`MAX_FRAME_DESCRIPTORS`] descriptors, aligned
/// for `cmsghdr`.
struct ControlBuffer {
    bytes: [u64; CONTROL_WORDS],
}

/// `CMSG_SPACE(2 * MAX_FRAME_DESCRIPTORS * 4)` on every supported platform is at most this many
/// 8-byte words (at most 16 bytes of header, 64 of descriptors).
const CONTROL_WORDS: usize = 12;

impl ControlBuffer {
    fn new() -> Self {
        debug_assert!(Self::space(2 * MAX_FRAME_DESCRIPTORS) <= CONTROL_WORDS * 8);
        ControlBuffer {
            bytes: [0; CONTROL_WORDS],
        }
    }

    /// `CMSG_SPACE` for `descriptors` descriptors.
    fn space(descriptors: usize) -> usize {
        // SAFETY: CMSG_SPACE is pure arithmetic.
        unsafe { libc::CMSG_SPACE((descriptors * size_of::<RawFd>()) as u32) as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn packets_keep_their_boundaries_and_descriptors() {
        let (a, b) = Socket::pair(1024).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        a.send(b"hello", &[file.as_fd()]).unwrap();
        a.send(b"world!", &[]).unwrap();
        let mut buffer = [0u8; 64];
        match b.recv(&mut buffer, false).unwrap() {
            Received::Packet { len, descriptors } => {
                assert_eq!(&buffer[..len], b"hello");
                assert_eq!(descriptors.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        match b.recv(&mut buffer, true).unwrap() {
            Received::Packet { len, descriptors } => {
                assert_eq!(&buffer[..len], b"world!");
                assert!(descriptors.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.recv(&mut buffer, true).unwrap(),
            Received::Empty
        ));
        drop(a);
        assert!(matches!(
            b.recv(&mut buffer, false).unwrap(),
            Received::Closed
        ));
    }

    #[test]
    fn a_packet_longer_than_the_buffer_is_reported_not_allocated() {
        let (a, b) = Socket::pair(1024).unwrap();
        a.send(&[7; 100], &[]).unwrap();
        let mut buffer = [0u8; 10];
        assert!(matches!(
            b.recv(&mut buffer, false).unwrap(),
            Received::TooLong
        ));
    }

    #[test]
    fn more_descriptors_than_the_limit_are_reported_and_closed() {
        let (a, b) = Socket::pair(1024).unwrap();
        let files: Vec<_> = (0..MAX_FRAME_DESCRIPTORS + 1)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let borrowed: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
        a.send(b"x", &borrowed).unwrap();
        let mut buffer = [0u8; 16];
        let got = b.recv(&mut buffer, false).unwrap();
        assert!(matches!(got, Received::TooManyDescriptors), "{got:?}");
    }

    #[test]
    fn the_peer_is_this_process() {
        let (a, _b) = Socket::pair(1024).unwrap();
        assert_eq!(a.peer_pid(), Some(std::process::id()));
        let fd = a.into_fd();
        assert!(Socket::from_fd(fd).is_ok());
        let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        assert!(Socket::from_fd(file).is_err());
    }
}
