//! The pool's threads: their name slots and join handles.
//!
//! Threads are named `{prefix}_{n}` where `n` is the lowest slot not held by a live thread, so
//! names stay in `0..max_workers` even when idle threads exit after their keep-alive and are
//! re-created (CPython, which never retires threads, numbers them by creation). A slot is
//! reserved before its thread is spawned and released by the thread itself, under this lock, in
//! the same critical section as its exit from the counts word, so a spawner that saw a thread
//! leave always finds its slot free.

use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Mutex, MutexGuard};

/// Name slots and join handles, behind one lock (only taken to spawn, exit and join).
#[derive(Debug)]
pub(crate) struct Registry {
    threads: Mutex<Threads>,
}

/// What [`Registry`]'s lock protects.
#[derive(Debug)]
pub(crate) struct Threads {
    /// `slots[n]`: a live (or reserved) thread is named `{prefix}_{n}`.
    slots: Vec<bool>,
    /// Handles of threads not joined yet (some may have exited after their keep-alive).
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// Frees a slot: its thread is exiting.
    pub(crate) fn release(&mut self, slot: usize) {
        if let Some(used) = self.slots.get_mut(slot) {
            *used = false;
        }
    }
}

impl Registry {
    pub(crate) fn new(max_workers: usize) -> Self {
        Registry {
            threads: Mutex::new(Threads {
                slots: vec![false; max_workers],
                handles: Vec::new(),
            }),
        }
    }

    /// The lock, for a worker that exits (see the module docs).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Threads> {
        self.threads.lock()
    }

    /// Reserves the lowest free slot, and joins the handles of threads that already exited.
    pub(crate) fn reserve_slot(&self) -> usize {
        let (slot, finished) = {
            let mut threads = self.threads.lock();
            let (finished, running): (Vec<_>, Vec<_>) = std::mem::take(&mut threads.handles)
                .into_iter()
                .partition(thread::is_finished);
            threads.handles = running;
            let slot = match threads.slots.iter().position(|used| !used) {
                Some(slot) => slot,
                // Unreachable while the counts word bounds the threads; stay safe anyway.
                None => {
                    threads.slots.push(false);
                    threads.slots.len() - 1
                }
            };
            threads.slots[slot] = true;
            (slot, finished)
        };
        for handle in finished {
            let _ = handle.join();
        }
        slot
    }

    /// Records the handle of a thread just spawned.
    pub(crate) fn add(&self, handle: JoinHandle<()>) {
        self.threads.lock().handles.push(handle);
    }

    /// Joins every thread except the calling one, until none is left to join. Call only once
    /// no new thread can be spawned (the pool closed and no submit is in flight).
    pub(crate) fn join_all_but_current(&self) {
        let me = thread::current().id();
        loop {
            let others: Vec<JoinHandle<()>> = {
                let mut threads = self.threads.lock();
                let (mine, others) = std::mem::take(&mut threads.handles)
                    .into_iter()
                    .partition(|handle| handle.thread().id() == me);
                threads.handles = mine;
                others
            };
            if others.is_empty() {
                return;
            }
            for handle in others {
                // A worker never panics out of its loop; nothing to report if it did.
                let _ = handle.join();
            }
        }
    }
}
