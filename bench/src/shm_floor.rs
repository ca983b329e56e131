//! P2's shared-memory floor: a raw ping-pong between two processes through one shared page,
//! the way MPI's shared-memory transport and iceoryx2 signal: each side spins on a sequence
//! word for a while, then sleeps on it with a futex, and the writer wakes a sleeper only when it
//! announced that it sleeps. No encoding, no queue, no future: the least a process round trip
//! can cost on this machine.
//!
//! The parent makes the page (a `memfd`) and hands it to the child (this binary, `__child
//! shm-echo`) as its standard input.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

/// How long a side spins before it sleeps: the process pool's default spin, so the floor and
/// the pool wait the same way.
const SPIN: Duration = Duration::from_micros(50);

const PAGE: usize = 4096;

/// One direction: the sequence the writer bumps, and whether the reader sleeps on it. The two
/// directions sit on separate cache lines.
#[repr(C, align(64))]
struct Mailbox {
    sequence: AtomicU32,
    sleeping: AtomicU32,
}

#[repr(C)]
struct Page {
    ping: Mailbox,
    pong: Mailbox,
}

/// The shared page, mapped.
struct Mapping {
    page: *const Page,
}

impl Mapping {
    fn new(fd: &OwnedFd) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of a descriptor we own; the kernel picks the address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            page: base.cast::<Page>(),
        })
    }

    fn page(&self) -> &Page {
        // SAFETY: the mapping is PAGE bytes, page-aligned, zero-filled at creation (a valid
        // `Page` of zero atomics), and lives until `self` drops; it is only accessed atomically.
        unsafe { &*self.page }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no reference outlives `self`.
        unsafe { libc::munmap(self.page as *mut libc::c_void, PAGE) };
    }
}

impl Mailbox {
    fn post(&self, value: u32) {
        self.sequence.store(value, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) == 1
            && self.sleeping.swap(0, Ordering::AcqRel) == 1
        {
            futex_wake(&self.sequence);
        }
    }

    /// Waits until the sequence is no longer `last`; returns it.
    fn wait_past(&self, last: u32) -> u32 {
        let start = Instant::now();
        let mut polls = 0u32;
        loop {
            let now = self.sequence.load(Ordering::Acquire);
            if now != last {
                return now;
            }
            polls = polls.wrapping_add(1);
            if polls % 64 != 0 || start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            self.sleeping.store(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let now = self.sequence.load(Ordering::Acquire);
            if now != last {
                self.sleeping.store(0, Ordering::Relaxed);
                return now;
            }
            futex_wait(&self.sequence, last);
        }
    }
}

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT (shared, not private: the word is in a page two processes map) reads
    // the aligned word and sleeps while it holds `expected`; no memory is written.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on the aligned word wakes at most one waiter; no memory is touched.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// Seconds for `rounds` round trips with a child process through a shared page.
pub fn shm_ping_pong(rounds: usize) -> Result<f64, String> {
    // SAFETY: memfd_create with a valid C string; the result is checked.
    let raw = unsafe { libc::memfd_create(c"executor-bench-shm".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(format!("memfd_create: {}", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a descriptor just returned to us and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ftruncate on our own descriptor.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), PAGE as libc::off_t) } != 0 {
        return Err(format!("ftruncate: {}", io::Error::last_os_error()));
    }
    let mapping = Mapping::new(&fd).map_err(|error| format!("mmap: {error}"))?;
    let exe = std::env::current_exe().map_err(|error| format!("this binary: {error}"))?;
    let mut child = Command::new(exe)
        .args(["__child", "shm-echo"])
        .stdin(Stdio::from(fd))
        .spawn()
        .map_err(|error| format!("cannot start the shm-echo child: {error}"))?;
    let page = mapping.page();
    let trip = |value: u32| {
        page.ping.post(value);
        page.pong.wait_past(value.wrapping_sub(1))
    };
    // One round trip first, so the child is running before the clock starts.
    let first = trip(1);
    let started = Instant::now();
    for round in 2..rounds as u32 + 2 {
        let back = trip(round);
        debug_assert_eq!(back, round);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Sequence 0 tells the child to exit.
    page.ping.post(0);
    let status = child
        .wait()
        .map_err(|error| format!("waiting for the child: {error}"))?;
    match (first, status.success()) {
        (1, true) => Ok(elapsed),
        (1, false) => Err(format!("the shm-echo child failed: {status}")),
        (other, _) => Err(format!("the shm-echo child answered {other} to 1")),
    }
}

/// The child side of `shm-echo`: echoes every sequence until it reads 0.
pub fn echo_child() -> Result<(), String> {
    // SAFETY: the parent made our standard input the shared page's descriptor, and nothing else
    // in this process owns descriptor 0.
    let fd = unsafe { OwnedFd::from_raw_fd(0) };
    let mapping = Mapping::new(&fd).map_err(|error| format!("mmap: {error}"))?;
    let page = mapping.page();
    let mut last = 0;
    loop {
        last = page.ping.wait_past(last);
        if last == 0 {
            return Ok(());
        }
        page.pong.post(last);
    }
}
