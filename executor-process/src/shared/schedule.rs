//! Scheduling: which idle worker gets which queued tasks, work stealing, keeping the worker
//! count up, and breaking the pool.

use super::*;
use crate::link::SentJobs;

impl Shared {
    /// Feeds idle workers from the queue (taking unclaimed tasks back from busy workers' batches
    /// when the queue runs dry), retires and dismisses workers that are done.
    pub(super) fn dispatch(&self, state: &mut State, effects: &mut Effects) {
        let mut fed = Fed::new();
        self.assign(state, effects, &mut fed);
        if state.queue.is_empty() && state.workers.iter().any(is_idle) {
            let stolen = steal(&mut state.workers, &fed);
            if !stolen.is_empty() {
                state.queue.extend(stolen);
                self.assign(state, effects, &mut fed);
            }
        }
        // Idle workers with nothing left to do: recycle or dismiss.
        let dismiss = state.shutdown && state.queue.is_empty();
        for worker in state.workers.iter_mut() {
            if !is_idle(worker) {
                continue;
            }
            let recycle = self
                .config
                .max_tasks_per_child
                .is_some_and(|max| worker.dispatched >= max);
            if dismiss || recycle {
                worker.phase = Phase::Exiting;
                if let Some(link) = worker.link.clone() {
                    link.queue_exit();
                    effects.flush.push(link);
                }
            }
        }
        self.maintain(state, effects);
    }

    /// Gives each idle worker a batch from the queue; records their ids in `fed`.
    pub(super) fn assign(&self, state: &mut State, effects: &mut Effects, fed: &mut Fed) {
        if state.queue.is_empty() {
            // Every result dispatches; most find nothing queued.
            return;
        }
        let now = Instant::now();
        let State {
            queue,
            workers,
            task_nanos,
            ..
        } = state;
        let serving = workers.iter().filter(|w| is_serving(w)).count().max(1);
        let max_batch = self.config.max_batch.min(MAX_BATCH);
        for worker in workers.iter_mut() {
            if queue.is_empty() {
                break;
            }
            if !is_idle(worker) {
                continue;
            }
            let allowance = self
                .config
                .max_tasks_per_child
                .map_or(usize::MAX, |max| max.saturating_sub(worker.dispatched));
            if allowance == 0 {
                continue;
            }
            let Some(link) = worker.link.clone() else {
                continue;
            };
            let limit = batch_size(queue.len(), serving, *task_nanos, max_batch).min(allowance);
            // The batch goes straight into `inflight` (idle, so empty): no list of its own.
            debug_assert!(worker.inflight.is_empty());
            let batch = &mut worker.inflight;
            let mut inline_bytes = 0;
            let mut total_bytes = 0;
            while batch.len() < limit {
                let Some(mut job) = queue.pop_front() else {
                    break;
                };
                if !job.started {
                    let Some(promise) = job.promise.as_ref() else {
                        continue;
                    };
                    if !promise.start() {
                        continue; // cancelled while queued
                    }
                    job.started = true;
                    promise.on_interrupt(self.me.clone(), job.id);
                } else if job.promise.is_none() {
                    continue; // interrupted while waiting to be resent
                }
                let size = job.payload.len();
                let inline = size < SHARED_MEMORY_THRESHOLD;
                let full = if inline {
                    inline_bytes + size > BATCH_INLINE_BYTES
                } else {
                    total_bytes + size > BATCH_BYTES
                };
                if full && !batch.is_empty() {
                    queue.push_front(job);
                    break;
                }
                if inline {
                    inline_bytes += size;
                }
                total_bytes += size;
                job.position = batch.len() as u32;
                batch.push_back(job);
            }
            if batch.is_empty() {
                continue;
            }
            worker.dispatched += batch.len();
            worker.head_since = now;
            worker.generation = worker.generation.wrapping_add(1);
            if let Some(limit) = batch[0].timeout {
                effects.commands.push(Command::Expire {
                    worker: worker.id,
                    job: batch[0].id,
                    limit,
                    at: now + limit,
                });
            }
            let messages: SentJobs = batch
                .iter_mut()
                .map(|job| {
                    let timed = job.timeout.is_some();
                    let chunk = job.chunk.as_mut().map(|chunk| ChunkRun {
                        start: chunk.begin_run(),
                        timed,
                    });
                    (job.id, job.entry, chunk, job.payload.clone())
                })
                .collect();
            if batch.len() > 1 {
                link.progress().begin_batch(worker.generation, batch.len());
            }
            link.queue_run(worker.generation, messages);
            effects.flush.push(link);
            fed.push(worker.id);
        }
    }

    /// Starts workers until `max_workers` serve (none if there is nothing left to do); stops
    /// the supervisor once the pool is shut down and every worker is gone.
    ///
    /// A replacement starts while the worker it replaces is still exiting, but at most
    /// `max_workers` workers may be on their way out at once: each holds descriptors until it
    /// is reaped, and with fast churn (`max_tasks_per_child(1)`) the exiting ones would pile up
    /// and the parent's descriptors grow with the churn rate instead of the pool's size.
    pub(super) fn maintain(&self, state: &mut State, effects: &mut Effects) {
        if state.broken.is_none() && !(state.shutdown && state.queue.is_empty()) {
            let serving = state
                .workers
                .iter()
                .filter(|w| w.kill.is_none() && w.phase != Phase::Exiting)
                .count();
            let room = (2 * self.config.max_workers).saturating_sub(state.workers.len());
            let wanted = self.config.max_workers.saturating_sub(serving).min(room);
            for _ in 0..wanted {
                let id = state.next_worker_id;
                state.next_worker_id += 1;
                state.workers.push(Worker {
                    id,
                    phase: Phase::Spawning,
                    process: None,
                    link: None,
                    inflight: VecDeque::new(),
                    head_since: Instant::now(),
                    dispatched: 0,
                    generation: 0,
                    kill: None,
                });
                effects.commands.push(spawn_command(state.respawn_at, id));
            }
        }
        let finished = state.shutdown || state.broken.is_some();
        if finished && state.workers.is_empty() && !state.supervisor_stopped {
            state.supervisor_stopped = true;
            effects.commands.push(Command::Stop);
        }
    }

    /// Breaks the pool: every queued and running task fails with `reason`, workers are killed.
    pub(super) fn break_pool(&self, state: &mut State, effects: &mut Effects, reason: String) {
        if state.broken.is_some() {
            return;
        }
        let broken = BrokenExecutor::new(reason);
        state.broken = Some(broken.clone());
        state.shutdown = true;
        for job in state.queue.drain(..) {
            effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
        }
        for worker in &mut state.workers {
            for job in worker.inflight.drain(..) {
                effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
            }
            worker.kill = Some(Kill::Broken);
            if let Some(process) = &worker.process {
                effects.signals.push((process.clone(), sys::SIGKILL));
            }
        }
        self.changed.notify_all();
    }
}

/// The ids of the workers fed in one round of [`Shared::dispatch`]: one or two nearly always.
pub(super) type Fed = SmallVec<[u64; 4]>;

/// Workers that serve or soon will: batches are sized for a fair share among them.
pub(super) fn is_serving(worker: &Worker) -> bool {
    worker.kill.is_none() && worker.phase != Phase::Exiting
}

/// Takes back the tasks that busy workers have not claimed yet (leaving each its next one, so
/// it does not go idle in turn), except from workers fed in this round (`fed`). The tasks come
/// back in order, still running as far as their futures know.
pub(super) fn steal(workers: &mut [Worker], fed: &Fed) -> Vec<Job> {
    let mut stolen = Vec::new();
    for worker in workers.iter_mut() {
        if worker.kill.is_some() || worker.inflight.len() < 2 || fed.contains(&worker.id) {
            continue;
        }
        let Some(link) = worker.link.as_ref() else {
            continue;
        };
        let Some(limit) = link.progress().take_back(worker.generation, 1) else {
            continue;
        };
        let (kept, taken): (VecDeque<Job>, VecDeque<Job>) = worker
            .inflight
            .drain(..)
            .partition(|job| job.position < limit);
        worker.inflight = kept;
        stolen.extend(taken);
    }
    stolen
}

pub(super) fn is_idle(worker: &Worker) -> bool {
    worker.phase == Phase::Ready && worker.kill.is_none() && worker.inflight.is_empty()
}

/// How many queued tasks one idle worker takes.
pub(super) fn batch_size(
    queued: usize,
    serving: usize,
    task_nanos: Option<f64>,
    max: usize,
) -> usize {
    let fair = queued.div_ceil(serving);
    let by_time = match task_nanos {
        None => 1,
        Some(nanos) => (TARGET_BATCH.as_nanos() as f64 / nanos.max(1.0)) as usize,
    };
    fair.min(by_time).clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn batches_follow_task_duration_and_fair_share() {
        assert_eq!(batch_size(100, 2, None, 64), 1);
        assert_eq!(batch_size(100, 2, Some(10_000.0), 64), 50);
        assert_eq!(batch_size(1000, 2, Some(1_000.0), 64), 64);
        assert_eq!(batch_size(1000, 2, Some(50_000_000.0), 64), 1);
        assert_eq!(batch_size(3, 4, Some(1.0), 64), 1);
    }
}
