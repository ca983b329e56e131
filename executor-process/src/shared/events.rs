//! Events from the supervisor and the connection threads: a worker spawned, failed to spawn,
//! became ready or answered; a start-up deadline or a time limit passed; an interrupt.

use super::*;

impl Shared {
    /// The supervisor is about to start worker `id`'s thread; `false` if it is no longer wanted.
    pub(crate) fn claim_spawn(&self, id: u64) -> bool {
        let mut state = self.lock();
        let unwanted = state.broken.is_some() || (state.shutdown && state.queue.is_empty()) || {
            let worker = state.workers.iter().find(|w| w.id == id);
            worker.is_none_or(|w| w.kill.is_some())
        };
        if unwanted {
            state.workers.retain(|w| w.id != id);
            let mut effects = Effects::default();
            self.maintain(&mut state, &mut effects);
            drop(state);
            self.changed.notify_all();
            self.apply(effects);
            return false;
        }
        true
    }

    /// Worker `id`'s process started (its connection thread starts next).
    pub(crate) fn on_spawned(&self, id: u64, process: Arc<ProcessHandle>) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            match state.workers.iter_mut().find(|w| w.id == id) {
                Some(worker) => {
                    worker.phase = Phase::Starting;
                    worker.process = Some(process.clone());
                    if worker.kill.is_some() {
                        effects.signals.push((process, sys::SIGKILL));
                    } else {
                        effects.commands.push(Command::StartDeadline {
                            worker: id,
                            at: Instant::now() + self.config.start_timeout,
                        });
                    }
                }
                None => effects.signals.push((process, sys::SIGKILL)),
            }
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Worker `id`'s process could not be started: the pool breaks.
    pub(crate) fn on_spawn_failed(&self, id: u64, error: io::Error) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            state.workers.retain(|w| w.id != id);
            if let Some(resource) = guard::resource_of_io(&error) {
                // Out of descriptors or memory: retried with a backoff, then broken (`guard`).
                let failure = ConnectionFailure {
                    what: format!("could not start a worker process: {error}"),
                    resource: Some(resource),
                };
                if self.after_failure(&mut state, &mut effects, &failure, false) {
                    self.maintain(&mut state, &mut effects);
                    drop(state);
                    self.changed.notify_all();
                    self.apply(effects);
                    return;
                }
            }
            let reason = format!(
                "could not start a worker process from {}: {error}",
                self.config.executable.display()
            );
            if state.spawn_error.is_none() {
                state.spawn_error = Some(error);
            }
            self.break_pool(&mut state, &mut effects, reason);
            self.maintain(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Worker `id` is still starting after `start_timeout`: kill it.
    pub(crate) fn on_start_deadline(&self, id: u64) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                if worker.phase == Phase::Starting && worker.kill.is_none() {
                    worker.kill = Some(Kill::StartTimeout);
                    if let Some(process) = &worker.process {
                        effects.signals.push((process.clone(), sys::SIGKILL));
                    }
                }
            }
        }
        self.apply(effects);
    }

    /// Worker `id` finished its handshake; `initializer` is what its initializer returned.
    pub(crate) fn on_ready(&self, id: u64, link: Link, initializer: Option<Reply>) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let verdict = match (&self.config.initializer, initializer) {
                (Some(init), Some(reply)) => (init.judge)(reply),
                (Some(_), None) => Err("the worker did not run the initializer".to_string()),
                (None, _) => Ok(()),
            };
            let pid = state
                .workers
                .iter()
                .find(|w| w.id == id)
                .and_then(|w| w.process.as_ref().map(|p| p.pid()));
            match verdict {
                Err(message) => {
                    let reason = format!(
                        "the initializer failed in worker process {}: {message}",
                        pid.unwrap_or(0)
                    );
                    self.break_pool(&mut state, &mut effects, reason);
                }
                Ok(()) => {
                    state.respawn_at = None;
                    if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                        worker.link = Some(Arc::new(link));
                        if matches!(worker.phase, Phase::Spawning | Phase::Starting) {
                            worker.phase = Phase::Ready;
                        }
                    }
                    self.dispatch(&mut state, &mut effects);
                }
            }
        }
        self.apply(effects);
    }

    /// Worker `id` answered task `job`: the state is updated, and what follows (the next
    /// batch sent, the future completed) is returned, to be run with [`Shared::apply_deferred`]
    /// once the caller has let go of the worker's inbox (`inbox.rs`), in the order results
    /// were read. `Err` says how the answer breaks the protocol: results come one per task, in
    /// the order sent, so `job` must be the head of what the worker was sent (anything else
    /// would hand one task's value to another's future).
    pub(crate) fn on_result(&self, id: u64, job: u64, reply: Reply) -> Result<Deferred, String> {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let now = Instant::now();
            let State {
                workers,
                task_nanos,
                failures,
                ..
            } = &mut *state;
            let Some(worker) = workers.iter_mut().find(|w| w.id == id) else {
                return Ok(Deferred::default());
            };
            let finished = match worker.inflight.front() {
                Some(head) if head.id == job => worker.inflight.pop_front(),
                // Being stopped (the pool broke, a time limit, an interrupt): what it still
                // says no longer matters.
                _ if worker.kill.is_some() => return Ok(Deferred::default()),
                Some(head) => {
                    return Err(format!(
                        "it answered task {job} while task {} was the one it was running \
                         (results come one per task, in order)",
                        head.id
                    ));
                }
                None => {
                    return Err(format!(
                        "it answered task {job}, but it had no task to answer"
                    ));
                }
            };
            let sample = now.duration_since(worker.head_since).as_nanos() as f64;
            *task_nanos = Some(match *task_nanos {
                Some(average) => average * 0.8 + sample * 0.2,
                None => sample,
            });
            worker.head_since = now;
            // Progress: failures on the pool's side are counted anew (see `guard`).
            *failures = 0;
            if let Some(next) = worker.inflight.front() {
                if let Some(limit) = next.timeout {
                    effects.commands.push(Command::Expire {
                        worker: id,
                        job: next.id,
                        limit,
                        at: now + limit,
                    });
                }
            }
            if let Some(mut finished) = finished {
                let reply = match finished.chunk.take() {
                    Some(chunk) if chunk.has_outcomes() => chunk.stitch(reply),
                    _ => reply,
                };
                effects.finish(finished, Outcome::Reply(reply));
            }
            self.dispatch(&mut state, &mut effects);
        }
        Ok(Deferred(effects))
    }

    /// Worker `id` sent `count` early outcomes of the chunk `job` it is running. `Err` says how
    /// that breaks the protocol: `job` must be the chunk the worker runs (the head of what it
    /// was sent), and the count must fit what is left of it.
    pub(crate) fn on_items(
        &self,
        id: u64,
        job: u64,
        count: u32,
        records: &[u8],
    ) -> Result<(), String> {
        let mut state = self.lock();
        let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) else {
            return Ok(()); // already forgotten: its connection is closing
        };
        let chunk = worker
            .inflight
            .front_mut()
            .filter(|j| j.id == job)
            .and_then(|j| j.chunk.as_mut());
        match chunk.map(|chunk| chunk.on_items(count, records)) {
            Some(true) => Ok(()),
            Some(false) => Err(format!(
                "it sent {count} early outcomes for chunk {job}, more than the chunk has left"
            )),
            None => Err(format!(
                "it sent early outcomes for task {job}, which is not a chunk of `map` it runs"
            )),
        }
    }

    /// A task's time limit passed: if it is running, kill its worker. For a chunk of `map` the
    /// limit is per item: the timer is set for the chunk's start plus the limit, and re-armed
    /// here for the running item's start plus the limit until an item runs past it.
    pub(crate) fn on_expire(&self, id: u64, job: u64, limit: Duration) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) else {
                return;
            };
            let Some(target) = worker.inflight.iter().find(|j| j.id == job) else {
                return;
            };
            if worker.kill.is_some() {
                return;
            }
            let chunk = target.chunk.is_some();
            let progress = worker.link.as_ref().map(|l| l.progress());
            let running = progress.is_some_and(|p| p.started() == job);
            // For a chunk: when its running item expires (`None`: not stamped yet, so it
            // started just now at the earliest), and which item that is.
            let item = progress.filter(|_| chunk && running).map(|p| {
                let position = p.committed().0;
                let deadline = p
                    .item_start()
                    .map(|start| start.saturating_add(limit.as_micros() as u64));
                (position, deadline)
            });
            let rearm_at = match item {
                Some((_, None)) => Some(Instant::now() + limit),
                Some((_, Some(deadline))) => {
                    let now = sys::monotonic_micros();
                    (deadline > now).then(|| Instant::now() + Duration::from_micros(deadline - now))
                }
                None => None,
            };
            if running && rearm_at.is_none() {
                let item = item.map_or(0, |(position, _)| position);
                worker.kill = Some(Kill::Expired { job, limit, item });
                self.stop_worker(worker, &mut effects);
                self.maintain(&mut state, &mut effects);
            } else if let Some(at) = rearm_at {
                // The chunk's running item started later than the timer assumed.
                effects.commands.push(Command::Expire {
                    worker: id,
                    job,
                    limit,
                    at,
                });
            } else {
                // It has not started yet (the previous task's result was just in flight).
                effects.commands.push(Command::Expire {
                    worker: id,
                    job,
                    limit,
                    at: Instant::now() + limit,
                });
            }
        }
        self.apply(effects);
    }

    /// SIGTERM now, SIGKILL after the grace period.
    pub(super) fn stop_worker(&self, worker: &Worker, effects: &mut Effects) {
        if let Some(process) = &worker.process {
            effects.signals.push((process.clone(), sys::SIGTERM));
            effects.commands.push(Command::Kill {
                process: process.clone(),
                at: Instant::now() + self.config.kill_grace,
            });
        }
    }

    /// `Future::interrupt` on a running job: if its worker has not claimed it yet, take it back
    /// and cancel it; if the worker runs it, kill the worker.
    pub(crate) fn interrupt(&self, job: u64) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(index) = state.queue.iter().position(|j| j.id == job) {
                if let Some(found) = state.queue.remove(index) {
                    effects.finish(found, Outcome::Cancelled);
                }
            } else if let Some(worker) = state
                .workers
                .iter_mut()
                .find(|w| w.inflight.iter().any(|j| j.id == job))
            {
                let position = worker
                    .inflight
                    .iter()
                    .find(|j| j.id == job)
                    .map_or(0, |j| j.position);
                let limit = worker
                    .link
                    .as_ref()
                    .and_then(|l| l.progress().take_back(worker.generation, position));
                let mut returned = Vec::new();
                let mut claimed = true;
                if let Some(limit) = limit {
                    let (kept, taken): (VecDeque<Job>, VecDeque<Job>) =
                        worker.inflight.drain(..).partition(|j| j.position < limit);
                    worker.inflight = kept;
                    for taken in taken {
                        if taken.id == job {
                            claimed = false;
                            effects.finish(taken, Outcome::Cancelled);
                        } else {
                            returned.push(taken);
                        }
                    }
                }
                if claimed {
                    if worker.kill.is_none() {
                        worker.kill = Some(Kill::Interrupted { job });
                        self.stop_worker(worker, &mut effects);
                    } else if let Some(target) = worker.inflight.iter_mut().find(|j| j.id == job) {
                        // Its worker is being stopped anyway: the future ends now.
                        if let Some(promise) = target.promise.take() {
                            effects.finish.push((promise, Outcome::Cancelled));
                        }
                    }
                }
                for job in returned.into_iter().rev() {
                    state.queue.push_front(job);
                }
                self.dispatch(&mut state, &mut effects);
            }
        }
        self.apply(effects);
    }
}
