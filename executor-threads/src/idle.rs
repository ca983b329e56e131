//! Which worker takes the next job, when a thread is spawned, who parks and who is woken.
//!
//! # The counts word
//!
//! One `AtomicU64` packs four 12-bit counters and a 16-bit generation, so every decision below
//! is one compare-and-swap on a consistent snapshot:
//!
//! | field        | meaning                                                                     |
//! |--------------|-----------------------------------------------------------------------------|
//! | `threads`    | live worker threads (reserved by a spawner until the thread exits)          |
//! | `idle`       | idle workers nobody has claimed yet: CPython's idle semaphore, as tokens    |
//! | `wakeups`    | tokens claimed by submitters and not yet taken up by an idle worker         |
//! | `sleeping`   | idle workers parked on the condvar (a subset of `idle + wakeups`)           |
//! | `generation` | bumped each time a worker becomes idle (defeats ABA in [`Idle::dispatch`])  |
//!
//! Invariant: `idle + wakeups` is exactly the number of workers in the idle state, each of
//! which will look at the queue again without outside help unless it is parked.
//!
//! # The protocol
//!
//! - **Submit** (after pushing the job and a `SeqCst` fence), [`Idle::dispatch`]: if an idle
//!   worker is awake and unclaimed (`idle > sleeping`), leave the job to it: it is looking at
//!   the queue and needs neither a claim nor a wake-up, and the submit stays off the counts
//!   word's cache line, which that worker reads as it spins (T1 in the bench: about 7% per
//!   task). Else claim a token if there is one (`idle - 1, wakeups + 1`), else reserve a new
//!   thread if below `max_workers`, else leave the job to a busy worker. This is CPython's rule
//!   (a pool of 4 given 75 blocking tasks creates exactly 4 threads). A claim wakes a parked
//!   worker only if claims outnumber the idle workers still awake, so a spinning worker takes
//!   the job without a system call.
//! - **The chain.** Several quick submits may leave their jobs to the same awake worker. So a
//!   worker that leaves the idle state with a job dispatches once more, as a submit would, and
//!   so does a thread started that way, with its first job
//!   ([`Shared::dispatch_queued`](crate::pool::Shared)): each job left behind gets its worker
//!   from the one that took the job before it. The worker's `leave`, a `SeqCst` fence, then the
//!   queue, against the submit's push, fence, then counts: a Dekker pair, so either the submit
//!   saw the worker leave and dispatched itself, or the worker sees the job. When both happen,
//!   one job is dispatched twice: a spurious wake-up, or rarely one thread more than CPython
//!   would start (never more than `max_workers`).
//! - **A worker runs out of work**, [`Idle::become_idle`]: `idle + 1`, a `SeqCst` fence, then it
//!   looks at the queue again. With the submitter's push-fence-CAS this is the classic Dekker
//!   pattern: either the submitter sees the token or the worker sees the job; never neither. A
//!   worker whose queue looks empty when its task returns becomes idle *before* the task's
//!   future completes, so a caller that submits again as soon as it sees the result finds the
//!   token: submit-then-wait in a loop uses one thread, deterministically.
//! - **An idle worker leaves** the idle state, [`Idle::wait_for_work`], by taking a claim if
//!   there is one, else its own token (a claim it takes after popping a job was made for
//!   another job: the chain above serves that one). It spins briefly, yields, then parks: to
//!   park it registers (`sleeping + 1`) under the sleep mutex, fences, and re-checks the queue
//!   and the shutdown flag before waiting; a claimer that must wake someone takes the same
//!   mutex before `notify_one`. So no wake-up is lost, and an idle pool costs no CPU once its
//!   workers park.
//!   While it spins it reads the queue and the counts but not the shutdown flag: it looks at
//!   the flag once the spin is over, so a shutdown is seen up to one spin (50 µs) later.
//! - **A worker exits** (shutdown, or keep-alive expiry), [`Idle::try_exit`], only by taking an
//!   unclaimed token when no claim is pending: a claim is never stranded on an exiting thread.
//!   If it races with a submit, either the submit claims the token first (and the worker stays)
//!   or it sees the thread gone and spawns a new one. A job left unclaimed to the exiting
//!   worker is caught by the exit itself: the worker fences after leaving the counts and looks
//!   at the queue once more, taking its thread back if a job is there. Revoking a token (a
//!   done-callback on a finishing worker submits) looks at the queue the same way.

use std::time::{Duration, Instant};

use crate::sync::atomic::{AtomicU64, Ordering::SeqCst, fence};
use crate::sync::{Condvar, Mutex, spin_hint, thread};

const FIELD_BITS: u32 = 12;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// The generation lives in the top 16 bits, above the four counters.
const GENERATION_ONE: u64 = 1 << (4 * FIELD_BITS);

/// The largest `max_workers` the counts word can hold.
pub(crate) const MAX_THREADS: usize = FIELD_MASK as usize;

#[derive(Debug, Clone, Copy)]
enum Field {
    Threads = 0,
    Idle = 1,
    Wakeups = 2,
    Sleeping = 3,
}

impl Field {
    const fn one(self) -> u64 {
        1 << (self as u32 * FIELD_BITS)
    }
}

/// A snapshot of the counts word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts(u64);

impl Counts {
    fn get(self, field: Field) -> u64 {
        (self.0 >> (field as u32 * FIELD_BITS)) & FIELD_MASK
    }

    fn inc(self, field: Field) -> Counts {
        debug_assert!(self.get(field) < FIELD_MASK, "{field:?} overflow");
        Counts(self.0 + field.one())
    }

    fn dec(self, field: Field) -> Counts {
        debug_assert!(self.get(field) > 0, "{field:?} underflow");
        Counts(self.0 - field.one())
    }

    fn threads(self) -> usize {
        self.get(Field::Threads) as usize
    }

    /// Idle workers that are not parked (spinning, about to park, or finishing a task).
    fn awake(self) -> u64 {
        self.get(Field::Idle) + self.get(Field::Wakeups) - self.get(Field::Sleeping)
    }

    /// Awake idle workers beyond the pending claims (`awake > wakeups`): each of them looks at
    /// the queue again without being claimed or woken.
    fn awake_unclaimed(self) -> u64 {
        self.get(Field::Idle)
            .saturating_sub(self.get(Field::Sleeping))
    }
}

/// What [`Idle::dispatch`] decided for a freshly queued job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatch {
    /// An idle worker was claimed and will take it.
    Claimed,
    /// A thread was reserved: the caller must spawn it (or call [`Idle::spawn_failed`]).
    Spawn,
    /// The job was taken already, or every worker is busy and the pool is full (a busy worker
    /// will take it when done).
    Queued,
}

/// What an idle worker should do next.
#[derive(Debug)]
pub(crate) enum Next<J> {
    /// It left the idle state, with the job it took (or `None`: look at the queue). With a
    /// job, the caller dispatches once more for what is still queued ("The chain" in the
    /// module docs).
    Work(Option<J>),
    /// The pool is closing (or the keep-alive expired) and the queue looked empty: call
    /// [`Idle::try_exit`].
    MayExit,
}

/// How a park ended.
enum Parked {
    /// A claim was waiting: the worker took it and is no longer idle.
    Claimed,
    /// Work or shutdown appeared while registering, or a notification came: look again.
    Recheck,
    /// The keep-alive passed with no notification.
    TimedOut,
}

/// The idle/wake state of one pool.
#[derive(Debug)]
pub(crate) struct Idle {
    counts: AtomicU64,
    /// Held while registering as a sleeper and while notifying one, so no notification is lost.
    sleep: Mutex<()>,
    wake: Condvar,
    /// How long a parked worker waits before it may exit; `None`: forever.
    keep_alive: Option<Duration>,
}

impl Idle {
    pub(crate) fn new(keep_alive: Option<Duration>) -> Self {
        Idle {
            counts: AtomicU64::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            keep_alive,
        }
    }

    fn load(&self) -> Counts {
        Counts(self.counts.load(SeqCst))
    }

    /// Applies `f` to the counts until the CAS succeeds; `f` returns the new counts and a value.
    fn update<R>(&self, mut f: impl FnMut(Counts) -> (Counts, R)) -> (Counts, R) {
        let mut current = self.load();
        loop {
            let (new, result) = f(current);
            match self
                .counts
                .compare_exchange_weak(current.0, new.0, SeqCst, SeqCst)
            {
                Ok(_) => return (new, result),
                Err(actual) => current = Counts(actual),
            }
        }
    }

    /// Live worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.load().threads()
    }

    /// Decides who takes a job just pushed (the caller fenced after the push).
    ///
    /// `queue_is_empty` is checked after every load of the counts (unless the pool is full and
    /// busy, the hot path, which needs neither): if the queue is empty, the job was taken
    /// already, by an idle worker that saw it before this claim or by a busy one, so nobody
    /// is claimed or spawned for it. Without that check a worker could pop the job, run it,
    /// become idle again and be claimed for a job that no longer exists; the stale claim would
    /// then make the next submit start a thread. The generation in the counts word makes the
    /// compare-and-swap fail if a worker went idle since the load (the counts could otherwise
    /// look unchanged), so the check and the claim see the same state.
    pub(crate) fn dispatch(
        &self,
        max_workers: usize,
        queue_is_empty: &dyn Fn() -> bool,
    ) -> Dispatch {
        let mut current = self.load();
        loop {
            let has_idle = current.get(Field::Idle) > 0;
            if !has_idle && current.threads() >= max_workers {
                return Dispatch::Queued;
            }
            if current.awake_unclaimed() > 0 {
                // It finds the job on its next look ("Submit" in the module docs).
                return Dispatch::Queued;
            }
            if queue_is_empty() {
                return Dispatch::Queued;
            }
            let (new, decision) = if has_idle {
                (
                    current.dec(Field::Idle).inc(Field::Wakeups),
                    Dispatch::Claimed,
                )
            } else {
                (current.inc(Field::Threads), Dispatch::Spawn)
            };
            match self
                .counts
                .compare_exchange_weak(current.0, new.0, SeqCst, SeqCst)
            {
                Ok(_) => {
                    if decision == Dispatch::Claimed {
                        self.wake_if_needed(new);
                    }
                    return decision;
                }
                Err(actual) => current = Counts(actual),
            }
        }
    }

    /// Undoes the reservation of a thread that could not be spawned; returns the live threads.
    pub(crate) fn spawn_failed(&self) -> usize {
        let (new, ()) = self.update(|c| (c.dec(Field::Threads), ()));
        new.get(Field::Threads) as usize
    }

    /// Wakes one parked worker if claims outnumber the idle workers still awake.
    fn wake_if_needed(&self, counts: Counts) {
        if counts.get(Field::Sleeping) > 0 && counts.get(Field::Wakeups) > counts.awake() {
            let _guard = self.sleep.lock();
            self.wake.notify_one();
        }
    }

    /// Wakes every parked worker (shutdown, broken pool).
    pub(crate) fn wake_all(&self) {
        let _guard = self.sleep.lock();
        self.wake.notify_all();
    }

    /// A busy worker enters the idle state. The caller must look at the queue afterwards.
    pub(crate) fn become_idle(&self) {
        // Wraps around in the generation bits, by design.
        self.counts
            .fetch_add(Field::Idle.one().wrapping_add(GENERATION_ONE), SeqCst);
        fence(SeqCst);
    }

    /// An idle worker leaves the idle state to look for work: takes a claim, else its token.
    fn leave(&self) {
        self.update(|c| {
            if c.get(Field::Wakeups) > 0 {
                (c.dec(Field::Wakeups), ())
            } else {
                (c.dec(Field::Idle), ())
            }
        });
    }

    /// A worker that became idle early (while completing its task's future) turns busy again
    /// because a done-callback on its thread submits work: it takes its own token back, so the
    /// new job gets a thread of its own. If its token was already claimed, that claim's job is
    /// re-dispatched; so is a job a submit left unclaimed to this worker while it looked
    /// awake. The returned decision is for that job. Call it before pushing the new job, so
    /// that a job it finds queued is one that was left to this worker.
    pub(crate) fn revoke(
        &self,
        max_workers: usize,
        queue_is_empty: &dyn Fn() -> bool,
    ) -> Option<Dispatch> {
        let (new, orphaned) = self.update(|c| {
            if c.get(Field::Idle) > 0 {
                (c.dec(Field::Idle), false)
            } else {
                (c.dec(Field::Wakeups), true)
            }
        });
        self.wake_if_needed(new);
        // A submit may have left its job unclaimed to this worker while it looked awake: the
        // revoke, a fence, then the queue, a Dekker pair with that submit's push-fence-load.
        let left_to_it = !orphaned && {
            fence(SeqCst);
            !queue_is_empty()
        };
        (orphaned || left_to_it).then(|| self.dispatch(max_workers, queue_is_empty))
    }

    /// An idle worker that was told [`Next::MayExit`] tries to exit: `true` if it took its
    /// token and gave up its thread; `false` if it must look for work instead, because a claim
    /// was pending (it took that) or because a job appeared as it left.
    ///
    /// A submit that saw this worker awake left its job unclaimed, so leaving is a Dekker pair
    /// with the submit's push-fence-load: after its exit the worker fences and looks at the
    /// queue (`has_work`). Either the submit saw the thread gone (and claims or spawns for its
    /// job) or the worker sees the job and takes its thread back, unless the pool filled up
    /// meanwhile (a thread started since is there for the job).
    pub(crate) fn try_exit(&self, max_workers: usize, has_work: &dyn Fn() -> bool) -> bool {
        let (_, exited) = self.update(|c| {
            if c.get(Field::Wakeups) > 0 {
                (c.dec(Field::Wakeups), false)
            } else {
                (c.dec(Field::Idle).dec(Field::Threads), true)
            }
        });
        if !exited {
            return false;
        }
        fence(SeqCst);
        if !has_work() {
            return true;
        }
        let (_, returned) = self.update(|c| {
            if c.threads() < max_workers {
                (c.inc(Field::Threads), true)
            } else {
                (c, false)
            }
        });
        !returned
    }

    /// The idle loop: spins briefly, yields, then parks until it gets work or the pool closes.
    ///
    /// `pop` takes a job from the queue, `has_work` says whether it holds one, `closing` whether
    /// the pool is shutting down or broken (then the worker exits once the queue is empty). A
    /// job is popped *before* the worker leaves the idle state, so a submitter racing with it
    /// either still finds the worker's token or finds its job already taken: it never spawns a
    /// thread for a job an idle worker took. The submit of a *second* job may claim that token
    /// meanwhile, and the worker's `leave` then consumes that claim for the first job; the
    /// worker's dispatch on leaving ([`Next::Work`]) serves the second (without it the second
    /// waited for the first, forever if the first waits for it: found by loom,
    /// `two_quick_submits_to_one_idle_worker_both_start` in `tests/loom_pool.rs`).
    pub(crate) fn wait_for_work<J>(
        &self,
        pop: &dyn Fn() -> Option<J>,
        has_work: &dyn Fn() -> bool,
        closing: &dyn Fn() -> bool,
    ) -> Next<J> {
        let mut backoff = Backoff::new();
        loop {
            if self.load().get(Field::Wakeups) > 0 {
                self.leave();
                return Next::Work(pop());
            }
            if let Some(job) = pop() {
                self.leave();
                return Next::Work(Some(job));
            }
            // The shutdown flag shares its cache line with the count of submits in flight, which
            // every submit writes twice: reading it on every round of the spin made each of those
            // writes a cache miss for the submitter (T1 in the bench: about 10% per task).
            if backoff.snooze() {
                continue;
            }
            if closing() {
                return Next::MayExit;
            }
            match self.park(has_work, closing) {
                Parked::Claimed => return Next::Work(pop()),
                Parked::Recheck => backoff = Backoff::new(),
                Parked::TimedOut => {
                    if let Some(job) = pop() {
                        self.leave();
                        return Next::Work(Some(job));
                    }
                    return Next::MayExit;
                }
            }
        }
    }

    fn park(&self, has_work: &dyn Fn() -> bool, closing: &dyn Fn() -> bool) -> Parked {
        let guard = self.sleep.lock();
        let (_, claimed) = self.update(|c| {
            if c.get(Field::Wakeups) > 0 {
                (c.dec(Field::Wakeups), true)
            } else {
                (c.inc(Field::Sleeping), false)
            }
        });
        if claimed {
            return Parked::Claimed;
        }
        fence(SeqCst);
        if has_work() || closing() {
            self.update(|c| (c.dec(Field::Sleeping), ()));
            return Parked::Recheck;
        }
        let (guard, timed_out) = match self.keep_alive {
            Some(keep_alive) => self.wake.wait_timeout(guard, keep_alive),
            None => (self.wake.wait(guard), false),
        };
        self.update(|c| (c.dec(Field::Sleeping), ()));
        drop(guard);
        if timed_out {
            Parked::TimedOut
        } else {
            Parked::Recheck
        }
    }
}

/// The bounded wait of an idle worker before it parks: CPU pauses, then yields.
///
/// Waking a parked thread costs 10-25 us on small VMs, so a worker keeps looking for about that
/// long before it parks; the pauses keep the hand-off of a round trip under a microsecond.
struct Backoff {
    rounds: u32,
    started: Option<Instant>,
}

/// Pause rounds (doubling from 1 pause) before yielding.
#[cfg(not(executor_loom))]
const SPIN_ROUNDS: u32 = 7;
/// How long the whole spin-and-yield phase may last.
#[cfg(not(executor_loom))]
const SPIN_FOR: Duration = Duration::from_micros(50);

impl Backoff {
    fn new() -> Self {
        Backoff {
            rounds: 0,
            started: None,
        }
    }

    /// Waits a little; `false` once the budget is spent (time to park).
    #[cfg(not(executor_loom))]
    fn snooze(&mut self) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        if self.rounds < SPIN_ROUNDS {
            for _ in 0..1u32 << self.rounds {
                spin_hint();
            }
        } else if started.elapsed() < SPIN_FOR {
            thread::yield_now();
        } else {
            return false;
        }
        self.rounds += 1;
        true
    }

    /// Under loom one round only: the model explores the park path, not the spinning.
    #[cfg(executor_loom)]
    fn snooze(&mut self) -> bool {
        let _ = (self.started, thread::yield_now as fn());
        if self.rounds == 0 {
            self.rounds = 1;
            spin_hint();
            true
        } else {
            false
        }
    }
}

#[cfg(all(test, not(executor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn submit_spawns_until_full_then_queues() {
        let idle = Idle::new(None);
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Spawn);
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Spawn);
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Queued);
        assert_eq!(idle.threads(), 2);
    }

    /// An idle worker, parked: what a claim must wake.
    fn parked_worker(idle: &Idle) {
        idle.become_idle();
        idle.update(|c| (c.inc(Field::Sleeping), ()));
    }

    fn unpark(idle: &Idle) {
        idle.update(|c| (c.dec(Field::Sleeping), ()));
    }

    /// A pool of up to `max_workers` whose one worker parked, then was claimed by a submit and
    /// woke: the claim is pending.
    fn claimed_worker(max_workers: usize) -> Idle {
        let idle = Idle::new(None);
        assert_eq!(idle.dispatch(max_workers, &|| false), Dispatch::Spawn);
        parked_worker(&idle);
        assert_eq!(idle.dispatch(max_workers, &|| false), Dispatch::Claimed);
        unpark(&idle);
        idle
    }

    #[test]
    fn an_awake_idle_worker_is_left_the_job_unclaimed() {
        let idle = Idle::new(None);
        assert_eq!(idle.dispatch(4, &|| false), Dispatch::Spawn);
        idle.become_idle();
        // Awake: no claim, no new thread; the worker's token is still there.
        assert_eq!(idle.dispatch(4, &|| false), Dispatch::Queued);
        assert_eq!(idle.load().get(Field::Wakeups), 0);
        assert_eq!(idle.threads(), 1);
    }

    #[test]
    fn a_parked_token_is_claimed_before_spawning() {
        let idle = claimed_worker(4);
        // The claim is pending: the worker cannot exit, it must take the claim.
        assert!(!idle.try_exit(4, &|| false));
        idle.become_idle();
        assert!(idle.try_exit(4, &|| false));
        assert_eq!(idle.threads(), 0);
    }

    #[test]
    fn an_exiting_worker_that_sees_a_job_keeps_its_thread() {
        let idle = Idle::new(None);
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Spawn);
        idle.become_idle();
        // A submit left its job to this (awake) worker as it was exiting.
        assert!(!idle.try_exit(2, &|| true));
        assert_eq!(idle.threads(), 1);
        // Unless the pool filled up meanwhile: a thread started since is there for the job.
        let full = Idle::new(None);
        assert_eq!(full.dispatch(1, &|| false), Dispatch::Spawn);
        full.become_idle();
        assert!(full.try_exit(1, &|| {
            full.update(|c| (c.inc(Field::Threads), ()));
            true
        }));
        assert_eq!(full.threads(), 1);
    }

    #[test]
    fn revoking_a_claimed_token_redispatches_its_job() {
        let idle = claimed_worker(2);
        // The claimed worker turns busy: the orphaned job gets a new thread.
        assert_eq!(idle.revoke(2, &|| false), Some(Dispatch::Spawn));
        assert_eq!(idle.threads(), 2);
    }

    #[test]
    fn revoking_a_token_a_submit_counted_on_dispatches_for_its_job() {
        let idle = Idle::new(None);
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Spawn);
        idle.become_idle();
        // A submit saw the worker awake and left its job unclaimed; then the worker turned busy.
        assert_eq!(idle.dispatch(2, &|| false), Dispatch::Queued);
        assert_eq!(idle.revoke(2, &|| false), Some(Dispatch::Spawn));
        assert_eq!(idle.threads(), 2);
    }
}
