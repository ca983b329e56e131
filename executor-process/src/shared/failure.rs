//! Failures on the pool's own side (the policy is in `guard`): a connection that failed, the
//! count of failures in a row and its backoff, a pool thread that failed, a send that failed.

use super::*;

impl Shared {
    /// The parent's side of worker `id`'s connection failed: the worker is killed (its
    /// connection thread reaps it), and its exit will carry `failure` as the reason.
    pub(crate) fn on_connection_failed(&self, id: u64, failure: ConnectionFailure) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            if let Some(worker) = state.workers.iter_mut().find(|w| w.id == id) {
                // A kill already under way (a time limit, an interrupt) explains the exit better.
                if worker.kill.is_none() {
                    worker.kill = Some(Kill::Failed(failure));
                }
                if let Some(process) = &worker.process {
                    effects.signals.push((process.clone(), sys::SIGKILL));
                }
            }
        }
        self.apply(effects);
    }

    /// Counts one more worker failed on the pool's side; schedules replacements after a backoff
    /// when a resource ran out, and breaks the pool after `guard::MAX_FAILURES` in a row without
    /// progress. A failure that ended the worker's running task is progress (that future is
    /// done, so failures cannot repeat for ever on the same work), and so is a result.
    /// Returns `false` if the pool broke.
    pub(super) fn after_failure(
        &self,
        state: &mut State,
        effects: &mut Effects,
        failure: &ConnectionFailure,
        failed_running: bool,
    ) -> bool {
        if failed_running {
            state.failures = 0;
        }
        state.failures += 1;
        if !failed_running && state.failures >= guard::MAX_FAILURES {
            let reason = guard::give_up_reason(state.failures, failure);
            self.break_pool(state, effects, reason);
            return false;
        }
        if failure.resource.is_some() {
            state.respawn_at = Some(Instant::now() + guard::backoff(state.failures));
        }
        true
    }

    /// A pool thread (`which`) failed where no worker can take the blame: the pool breaks, so
    /// every waiter wakes. `worker`, if given, is forgotten (its thread will not report it).
    /// When the supervisor failed, workers it would have started never will: they go too.
    pub(crate) fn on_pool_thread_failed(
        &self,
        worker: Option<u64>,
        which: &str,
        panic: &PanicInfo,
    ) {
        let mut effects = Effects::default();
        {
            let mut state = self.lock();
            let supervisor = worker.is_none();
            state
                .workers
                .retain(|w| Some(w.id) != worker && !(supervisor && w.process.is_none()));
            if supervisor {
                // Its command channel is gone with it: nothing to stop.
                state.supervisor_stopped = true;
            }
            let reason = format!("{which} of the pool failed: {panic}");
            self.break_pool(&mut state, &mut effects, reason);
            self.maintain(&mut state, &mut effects);
        }
        self.changed.notify_all();
        self.apply(effects);
    }

    /// Sends what is queued on `link`. If that fails or panics, the worker it was for is
    /// stopped: it would otherwise wait for a batch that never comes, and so would its tasks'
    /// waiters.
    pub(super) fn flush_guarded(&self, link: &Arc<Link>) {
        let failure = match concurrent_futures_core::backend::catch_panic(|| {
            crate::fault::point("flush");
            if crate::fault::fires("flush-error") {
                return Err(crate::frame::WireError::Io(io::Error::other(
                    "injected send error",
                )));
            }
            link.flush()
        }) {
            Ok(Ok(())) => return,
            Ok(Err(error)) => ConnectionFailure::wire("sending it a batch", &error),
            Err(panic) => ConnectionFailure::panicked("sending it a batch", &panic),
        };
        let id = {
            let state = self.lock();
            state
                .workers
                .iter()
                .find(|w| w.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)))
                .map(|w| w.id)
        };
        if let Some(id) = id {
            self.on_connection_failed(id, failure);
        }
    }
}
