//! [`Link`]: the parent's sending half of one worker's connection.
//!
//! It owns the message sender and the worker's task arena (see `arena.rs`), and the progress
//! page the worker updates. Messages are queued under the pool's lock (so their order is the
//! order of the pool's decisions) and sent by [`Link::flush`] outside it, in that order. A batch
//! is only ever queued for a worker that answered or gave back everything it was sent before
//! (see `shared/schedule.rs`), so a send never blocks for long and never overwrites arena bytes the
//! worker may still read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use crate::arena::{Arena, MAX_ARENA};
use crate::bytes::Bytes;
use crate::frame::{FrameSender, WireError};
use crate::protocol::{
    ChunkRun, InlineRun, JobMessage, Payload, Progress, SHARED_MEMORY_THRESHOLD, ToWorker,
};

/// One task of a batch to send: its id, registry index, how to run it if it is a chunk of `map`,
/// and its encoded form.
pub(crate) type SentJob = (u64, u32, Option<ChunkRun>, Arc<[u8]>);

/// A batch to send: one or two tasks nearly always, kept inline.
pub(crate) type SentJobs = SmallVec<[SentJob; 2]>;

/// A ready worker's connection, as the parent sends on it.
pub(crate) struct Link {
    channel: Mutex<Channel>,
    queued: Mutex<VecDeque<Outgoing>>,
    progress: Progress,
}

/// A message waiting for [`Link::flush`].
enum Outgoing {
    Run { generation: u32, jobs: SentJobs },
    Exit,
}

struct Channel {
    sender: FrameSender<ToWorker>,
    /// The arena the worker reads large task payloads from.
    arena: Option<Arena>,
}

impl Link {
    /// A link over `sender`, with the progress page shared with the worker.
    pub(crate) fn new(sender: FrameSender<ToWorker>, progress: Progress) -> Link {
        Link {
            channel: Mutex::new(Channel {
                sender,
                arena: None,
            }),
            queued: Mutex::new(VecDeque::new()),
            progress,
        }
    }

    /// The progress page.
    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Queues batch `generation`: `(id, registry index, how to run a chunk, encoded task)`
    /// each. Call with the
    /// pool's lock held, for an idle worker, after `Progress::begin_batch`.
    pub(crate) fn queue_run(&self, generation: u32, jobs: SentJobs) {
        self.queue(Outgoing::Run { generation, jobs });
    }

    /// Queues the order to exit. Call with the pool's lock held.
    pub(crate) fn queue_exit(&self) {
        self.queue(Outgoing::Exit);
    }

    fn queue(&self, outgoing: Outgoing) {
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(outgoing);
    }

    /// Sends everything queued, in order. Call without the pool's lock.
    ///
    /// A send that fails because the worker died is left to its connection thread. Any other
    /// failure (the parent cannot create the shared memory a large batch needs, say) is
    /// returned: the worker is alive and would wait for that message for ever.
    pub(crate) fn flush(&self) -> Result<(), WireError> {
        let mut channel = self.channel.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let next = self
                .queued
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let sent = match next {
                Some(Outgoing::Run { generation, jobs }) => channel.send_run(generation, jobs),
                Some(Outgoing::Exit) => channel.sender.send(ToWorker::Exit),
                None => return Ok(()),
            };
            match sent {
                Ok(()) | Err(WireError::Closed) => {}
                Err(error) => return Err(error),
            }
        }
    }
}

impl Channel {
    fn send_run(&mut self, generation: u32, jobs: SentJobs) -> Result<(), WireError> {
        let channel = self;
        let large: usize = jobs
            .iter()
            .map(|(_, _, _, payload)| payload.len())
            .filter(|&len| len >= SHARED_MEMORY_THRESHOLD)
            .sum();
        if large == 0 {
            // The common case: encoded from where the pool keeps the tasks, with no copy of
            // each into a message first.
            return channel.sender.send_view(&InlineRun {
                generation,
                jobs: &jobs,
            });
        }
        let use_arena = large > 0 && large <= MAX_ARENA;
        let mut announce = None;
        if use_arena && channel.arena.as_ref().is_none_or(|a| a.capacity() < large) {
            let arena = Arena::with_room_for(large).map_err(WireError::Io)?;
            announce = Some(arena.share().map_err(WireError::Io)?);
            channel.arena = Some(arena);
        }
        let mut offset = 0;
        let messages = jobs
            .into_iter()
            .map(|(id, entry, chunk, payload)| {
                let payload = if payload.len() < SHARED_MEMORY_THRESHOLD {
                    Payload::Inline(Bytes(payload.to_vec()))
                } else if use_arena {
                    let arena = channel.arena.as_ref().expect("an arena was just ensured");
                    // SAFETY: the worker answered or gave back every task it was sent before
                    // (it claims a task before reading its payload, and taken-back tasks can no
                    // longer be claimed), and earlier batches were sent before this one, so it
                    // reads no part of its arena until it receives this message.
                    unsafe { arena.write(offset, &payload) };
                    let placed = Payload::Arena {
                        offset: offset as u64,
                        len: payload.len() as u64,
                    };
                    offset += payload.len();
                    placed
                } else {
                    Payload::from_slice(&payload).map_err(WireError::Io)?
                };
                Ok(JobMessage {
                    id,
                    entry,
                    chunk,
                    payload,
                })
            })
            .collect::<Result<_, WireError>>()?;
        channel.sender.send(ToWorker::Run {
            generation,
            arena: announce,
            jobs: messages,
        })
    }
}
