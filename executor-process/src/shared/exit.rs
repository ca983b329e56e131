//! A worker's death: which task was running, what it fails with, and where the rest of its
//! batch goes.

use super::*;

impl Shared {
    /// Worker `id`'s process was reaped with `status`.
    pub(crate) fn on_worker_exit(&self, id: u64, status: ExitStatus, startup: StartupError) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let Some(index) = state.workers.iter().position(|w| w.id == id) else {
                return;
            };
            let worker = state.workers.remove(index);
            let pid = worker.process.as_ref().map_or(0, |p| p.pid());
            let mut exit = WorkerExit::new(pid, status.code, status.signal);
            if let Some(Kill::Failed(failure)) = &worker.kill {
                exit = exit.with_reason(failure.reason());
            }
            let started = worker.link.as_ref().map_or(0, |l| l.progress().started());
            let mut inflight = worker.inflight;
            let running = inflight
                .iter()
                .position(|j| j.id == started)
                .and_then(|i| inflight.remove(i));
            // Why the rest of its batch fails, if it does not go back to the queue.
            let mut rest_broken = None;
            let failed_running = running.is_some();
            let progress = worker.link.as_ref().map(|l| l.progress());
            // The rest of a chunk of `map` whose running item failed.
            let mut remainder = None;
            match (&worker.kill, running) {
                (Some(Kill::Broken), running) => {
                    // Its tasks were failed when the pool broke.
                    debug_assert!(running.is_none() && inflight.is_empty());
                }
                (Some(Kill::Terminated { how }), running) => {
                    if let Some(job) = running {
                        let reason = format!("the worker running this task was stopped by {how}");
                        effects.finish(
                            job,
                            Outcome::Failure(Failure::Broken(BrokenExecutor::new(reason))),
                        );
                    }
                    // Sent to the worker, they were running as far as their futures go: they
                    // never end cancelled (`cancel()` on them was refused), as in CPython.
                    rest_broken = Some(format!(
                        "the worker this task was sent to was stopped by {how} before it ran it"
                    ));
                }
                (
                    Some(Kill::Expired {
                        job: expired,
                        limit,
                        item,
                    }),
                    Some(job),
                ) if job.id == *expired => {
                    // A chunk's item that finished just as the timer judged it is not the one
                    // that was killed: the next one was lost with the worker.
                    let moved_on =
                        job.chunk.is_some() && progress.is_some_and(|p| p.committed().0 != *item);
                    let failure = if moved_on {
                        Failure::WorkerLost(exit.clone())
                    } else {
                        Failure::Expired(*limit)
                    };
                    remainder = fail_running(job, failure, progress, &mut effects);
                }
                (Some(Kill::Interrupted { job: stopped }), running)
                    if running.as_ref().is_some_and(|j| j.id == *stopped)
                        || inflight.iter().any(|j| j.id == *stopped) =>
                {
                    // The interrupted task ends cancelled, whether it had started or was only
                    // claimed.
                    let target = match running {
                        Some(job) if job.id == *stopped => job,
                        other => {
                            if let Some(job) = other {
                                effects.finish(
                                    job,
                                    Outcome::Failure(Failure::WorkerLost(exit.clone())),
                                );
                            }
                            let index = inflight
                                .iter()
                                .position(|j| j.id == *stopped)
                                .expect("checked by the guard");
                            inflight.remove(index).expect("an index from position")
                        }
                    };
                    effects.finish(target, Outcome::Cancelled);
                }
                (_, Some(job)) => {
                    if self.config.broken_on_worker_death {
                        effects.finish(
                            job,
                            Outcome::Failure(Failure::Broken(BrokenExecutor::new(format!(
                                "a worker process died abruptly while running this task ({})",
                                describe_exit(&exit)
                            )))),
                        );
                    } else {
                        let failure = Failure::WorkerLost(exit.clone());
                        remainder = fail_running(job, failure, progress, &mut effects);
                    }
                }
                (kill, None) => {
                    let never_ready = matches!(worker.phase, Phase::Spawning | Phase::Starting);
                    let terminated = matches!(
                        kill,
                        Some(Kill::Terminated { .. } | Kill::Broken | Kill::Failed(_))
                    );
                    let idle_work = state.shutdown && state.queue.is_empty();
                    if never_ready && !terminated && !idle_work {
                        let detail = match (kill, startup) {
                            (Some(Kill::StartTimeout), Some(detail)) => format!(
                                "did not finish starting within {:?}: it {detail}",
                                self.config.start_timeout
                            ),
                            (Some(Kill::StartTimeout), None) => format!(
                                "did not finish starting within {:?}",
                                self.config.start_timeout
                            ),
                            (_, Some(detail)) => detail,
                            (_, None) => "exited during start-up".to_string(),
                        };
                        let reason =
                            format!("worker process {pid} {detail} ({})", describe_exit(&exit));
                        self.break_pool(&mut state, &mut effects, reason);
                    }
                }
            }
            // The rest of its batch never started: back to the front of the queue (unless
            // workers keep dying with it before it starts: then it is the culprit after all).
            let broken = state.broken.clone();
            // A death is unexplained when the pool did not cause it and no task was running:
            // only then may a task of the batch that never started be to blame (a batch whose
            // payloads kill the worker before any task starts). When a running task died with
            // the worker, the rest of its batch is innocent and goes back without a mark.
            let unexplained = worker.kill.is_none() && !failed_running;
            for mut job in inflight.into_iter().rev() {
                if let Some(broken) = &broken {
                    effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())));
                } else if let Some(reason) = &rest_broken {
                    let broken = BrokenExecutor::new(reason.clone());
                    effects.finish(job, Outcome::Failure(Failure::Broken(broken)));
                } else if unexplained && job.returns >= MAX_RETURNS {
                    effects.finish(job, Outcome::Failure(Failure::WorkerLost(exit.clone())));
                } else if job.promise.is_some() {
                    job.returns += u32::from(unexplained);
                    state.queue.push_front(job);
                }
            }
            if let Some(job) = remainder {
                match &broken {
                    Some(broken) => {
                        effects.finish(job, Outcome::Failure(Failure::Broken(broken.clone())))
                    }
                    None => state.queue.push_front(job),
                }
            }
            if let Some(Kill::Failed(failure)) = &worker.kill {
                self.after_failure(&mut state, &mut effects, failure, failed_running);
            }
            // CPython's semantics: any unplanned death breaks the pool.
            let unplanned = worker.kill.is_none() && worker.phase == Phase::Ready;
            if self.config.broken_on_worker_death && unplanned {
                let reason = format!(
                    "a worker process died abruptly ({}); the pool is not usable any more",
                    describe_exit(&exit)
                );
                self.break_pool(&mut state, &mut effects, reason);
            }
            self.dispatch(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }
}

/// The worker died running `job`: fails it with `failure`; for a chunk of `map` (whose worker
/// kept its progress page), only its running item, and returns the chunk to run the rest of its
/// items, unless none is left.
pub(super) fn fail_running(
    mut job: Job,
    failure: Failure,
    progress: Option<&Progress>,
    effects: &mut Effects,
) -> Option<Job> {
    let item = match &failure {
        Failure::WorkerLost(exit) => ItemFailure::WorkerLost(exit.clone()),
        Failure::Expired(limit) => ItemFailure::Expired(*limit),
        Failure::Broken(_) => {
            effects.finish(job, Outcome::Failure(failure));
            return None;
        }
    };
    let (Some(chunk), Some(progress)) = (job.chunk.as_mut(), progress) else {
        effects.finish(job, Outcome::Failure(failure));
        return None;
    };
    chunk.on_worker_death(progress, item);
    if !chunk.is_complete() {
        // It made progress: its items, not the job, are what may be to blame now.
        job.returns = 0;
        return Some(job);
    }
    let chunk = job.chunk.take().expect("checked above");
    effects.finish(job, Outcome::Reply(chunk.into_reply()));
    None
}

pub(super) fn describe_exit(exit: &WorkerExit) -> String {
    if let Some(reason) = &exit.reason {
        return reason.clone();
    }
    match (exit.code, exit.signal) {
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => "exit status unknown".to_string(),
    }
}
