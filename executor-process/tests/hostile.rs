//! The parent survives anything a worker sends (issue #15): malformed frames, descriptors it
//! should not get, regions it must not trust, results for the wrong task, and a bounded random
//! fuzz of result frames. Every case ends in a typed outcome on the one task, the pool replaces
//! the worker and serves the next task, `shutdown(wait)` returns, and no zombie or descriptor is
//! left.
//!
//! The workers here are hostile on purpose: this binary, started as a worker, answers through
//! `concurrent_futures_process::hostile` (feature `fault-injection`) instead of `init()`'s honest
//! loop. What it sends for each task is the task's own [`Act`], so one worker serves every case.
//!
//! `HOSTILE_FUZZ_ITERATIONS` and `HOSTILE_FUZZ_SEED` size and seed the fuzz (the test suite runs
//! a bounded one; `cargo xtask fuzz` a long one).

mod common;

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use common::{LONG, SplitMix, outcome};
use concurrent_futures_core::{Executor, Shutdown, Submit, Task, TaskError};
use concurrent_futures_process::ProcessPool;
use concurrent_futures_process::hostile::{
    HostileTask, HostileWorker, Placement, done_frame, region,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::{Deserialize, Serialize};

/// What the hostile worker sends for a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Act {
    /// An honest answer: the value.
    Honest(u64),
    /// An empty packet.
    EmptyPacket,
    /// A frame of a kind the protocol does not have.
    UnknownKind,
    /// A valid result frame with bytes after it.
    TrailingBytes,
    /// A packet longer than any frame.
    TooLong,
    /// A valid result frame with nine descriptors.
    TooManyDescriptors,
    /// A valid result frame with a socket it does not name (issue #15, item 4).
    UnusedDescriptor,
    /// A result in shared memory, naming a descriptor that is not there.
    MissingDescriptor,
    /// A result whose region announces 2^40 bytes (issue #15, item 2).
    HugeRegion,
    /// A result arena not sealed against shrinking, shrunk right after sending (item 2).
    ShrinkingArena,
    /// A result region not sealed against writes.
    WritableRegion,
    /// A spilled frame whose region is 2^40 bytes.
    HugeSpill,
    /// A valid spilled frame: the value, through the spill path.
    Spilled(u64),
    /// A result in its own sealed region, valid: the value.
    SharedRegion(u64),
    /// Early chunk outcomes for a task that is not a chunk.
    ItemsForPlainTask,
    /// The answer of the task after this one in its batch (issue #15, item 3).
    WrongId(u64),
    /// A valid result frame of value `1`, mutated at random from the seed.
    Mutated(u64),
    /// A ring record whose bytes do not decode.
    RingGarbage,
    /// A ring record of a kind the protocol does not have.
    RingUnknownKind,
    /// A ring record longer than what is published.
    RingOverlong,
    /// A ring write position claiming more than the ring holds.
    RingImpossibleTail,
    /// A valid result written to the ring but never published, then an exit (a worker dying
    /// halfway through a message): the parent must not read it.
    RingTornWrite,
    /// A valid result through the ring record path, written by hand: the value.
    RingHonest(u64),
    /// A ring record announcing a message on the socket, and nothing sent there.
    RingMarkerAlone,
    /// A wake-up frame where its result should be (found by the fuzz: the parent waited for
    /// the announced message for ever).
    WakeInsteadOfResult,
}

impl Task for Act {
    type Output = u64;
    type Error = String;

    fn run(self) -> Result<u64, String> {
        match self {
            Act::Honest(value)
            | Act::RingHonest(value)
            | Act::Spilled(value)
            | Act::SharedRegion(value)
            | Act::WrongId(value) => Ok(value),
            _ => Ok(1),
        }
    }
}

concurrent_futures_process::register_task!(Act);

// ---- the hostile worker ----------------------------------------------------------------------

fn serve_hostile(mut worker: HostileWorker) -> ! {
    while let Some(batch) = worker.next_batch() {
        for (index, task) in batch.iter().enumerate() {
            worker.started(task);
            let act: Act =
                concurrent_futures_process::task_model::decode(&task.payload).expect("an Act");
            let honest = matches!(act, Act::Honest(_) | Act::RingHonest(_));
            answer(&worker, task, &act, batch.get(index + 1));
            if !honest {
                // The parent is about to kill this worker: running on would race its kill
                // (the rest of the batch must go back to the queue untouched).
                break;
            }
        }
    }
    std::process::exit(0)
}

fn answer(worker: &HostileWorker, task: &HostileTask, act: &Act, next: Option<&HostileTask>) {
    let outcome = worker.run(task);
    let valid = || done_frame(task.id, &outcome, Placement::Inline, None);
    match act {
        Act::Honest(_) => worker.send_done(task.id, outcome),
        Act::EmptyPacket => worker.send_raw(&[], &[]),
        // Ring records carry the frame's body (no kind byte).
        Act::RingGarbage => worker.ring_raw(1, &[0x7f, 0xff, 0xff], true),
        Act::RingUnknownKind => worker.ring_header(0, 7),
        Act::RingOverlong => worker.ring_header(4096, 1),
        Act::RingImpossibleTail => worker.ring_tail(1 << 40),
        Act::RingTornWrite => {
            worker.ring_raw(1, &valid()[1..], false);
            std::process::exit(0);
        }
        Act::RingHonest(_) => worker.ring_raw(1, &valid()[1..], true),
        Act::RingMarkerAlone => worker.ring_header(0, 2),
        Act::WakeInsteadOfResult => worker.send_raw(&[3], &[]),
        Act::UnknownKind => worker.send_raw(&[9, 1, 2, 3], &[]),
        Act::TrailingBytes => {
            let mut frame = valid();
            frame.extend_from_slice(&[0, 0]);
            worker.send_raw(&frame, &[]);
        }
        Act::TooLong => worker.send_raw(&vec![1; 300 * 1024], &[]),
        Act::TooManyDescriptors => {
            let fds: Vec<OwnedFd> = (0..9).map(|_| null()).collect();
            worker.send_raw(&valid(), &fds);
        }
        Act::UnusedDescriptor => {
            let (socket, _peer) = UnixStream::pair().unwrap();
            worker.send_raw(&valid(), &[socket.into()]);
        }
        Act::MissingDescriptor => {
            worker.send_raw(&done_frame(task.id, &[], Placement::Shared(0), None), &[]);
        }
        Act::HugeRegion => {
            let huge = region(&[], false, false);
            std::fs::File::from(huge.try_clone().unwrap())
                .set_len(1 << 40)
                .unwrap();
            let sealed = seal_all(huge);
            let frame = done_frame(task.id, &[], Placement::Shared(0), None);
            worker.send_raw(&frame, &[sealed]);
        }
        Act::ShrinkingArena => {
            let arena = region(&vec![0; 1 << 20], false, false);
            let keep = arena.try_clone().unwrap();
            let placement = Placement::Arena {
                offset: (1 << 20) - 8,
                len: 8,
            };
            worker.send_raw(&done_frame(task.id, &[], placement, Some(0)), &[arena]);
            // The attack: shrink it under the parent's mapping.
            let _ = std::fs::File::from(keep).set_len(0);
        }
        Act::WritableRegion => {
            let writable = region(&outcome, true, false);
            let frame = done_frame(task.id, &[], Placement::Shared(0), None);
            worker.send_raw(&frame, &[writable]);
        }
        Act::HugeSpill => {
            let huge = region(&[], false, false);
            std::fs::File::from(huge.try_clone().unwrap())
                .set_len(1 << 40)
                .unwrap();
            worker.send_raw(&[2], &[seal_all(huge)]);
        }
        Act::Spilled(_) => {
            let frame = valid();
            worker.send_raw(&[2], &[region(&frame[1..], true, true)]);
        }
        Act::SharedRegion(_) => {
            let frame = done_frame(task.id, &[], Placement::Shared(0), None);
            worker.send_raw(&frame, &[region(&outcome, true, true)]);
        }
        Act::ItemsForPlainTask => {
            // `FromWorker::Items { id, count: 1, records: Inline([0]) }`, by hand: variant 3.
            let mut frame = vec![1, 3];
            frame.extend_from_slice(&varint(task.id));
            frame.extend_from_slice(&[1, 0, 1, 0]);
            worker.send_raw(&frame, &[]);
        }
        Act::WrongId(_) => {
            let other = next.map_or(task.id + 1, |next| next.id);
            worker.send_raw(&done_frame(other, &outcome, Placement::Inline, None), &[]);
        }
        Act::Mutated(seed) => {
            let (frame, fds) = mutate(valid(), *seed);
            worker.send_raw(&frame, &fds);
        }
    }
}

fn null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

/// `fd` sealed against shrinking and growing, and against writes.
fn seal_all(fd: OwnedFd) -> OwnedFd {
    use std::os::fd::AsRawFd;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl(F_ADD_SEALS) takes an int of flags; no memory is passed.
    let sealed = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    assert_eq!(sealed, 0);
    fd
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A valid frame mutated at random: flipped bits, truncation, extension, random bytes, a
/// changed kind, and random descriptors (regions sealed or not, of random sizes, sockets,
/// pipes).
fn mutate(mut frame: Vec<u8>, seed: u64) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut random = SplitMix(seed);
    for _ in 0..=random.below(3) {
        match random.below(7) {
            0 | 1 if !frame.is_empty() => {
                let at = random.below(frame.len() as u64) as usize;
                frame[at] ^= 1 << random.below(8);
            }
            2 => frame.truncate(random.below(frame.len() as u64 + 1) as usize),
            3 => {
                let extra = random.below(16);
                frame.extend((0..extra).map(|_| random.next() as u8));
            }
            4 => {
                let at = random.below(frame.len() as u64 + 1) as usize;
                frame.insert(at, random.next() as u8);
            }
            5 => {
                if let Some(kind) = frame.first_mut() {
                    *kind = random.below(4) as u8;
                }
            }
            _ => {
                let len = random.below(frame.len() as u64 + 1) as usize;
                frame = (0..len).map(|_| random.next() as u8).collect();
            }
        }
    }
    let mut fds = Vec::new();
    if random.below(3) == 0 {
        for _ in 0..random.below(10) {
            fds.push(match random.below(5) {
                0 => region(&[7; 64], true, true),
                1 => region(&[7; 64], false, false),
                2 => region(&[], true, true),
                3 => UnixStream::pair().unwrap().0.into(),
                _ => null(),
            });
        }
    }
    (frame, fds)
}

// ---- the parent's side ---------------------------------------------------------------------

/// The environment variable that makes this binary's workers hostile.
const HOSTILE_ENV: &str = "EXECUTOR_PROCESS_TEST_HOSTILE";

fn pool() -> ProcessPool {
    ProcessPool::builder()
        .max_workers(1)
        .worker_env(HOSTILE_ENV, "1")
        .build()
        .unwrap()
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Submits `act` to a fresh pool; checks that the outcome is `WorkerLost` whose reason contains
/// `says` (or a value when `says` is empty and `value` is given), that the next task is served,
/// and that shutdown leaves no zombie and no descriptor.
fn case(act: Act, says: &str, value: Option<u64>) -> Result<(), Failed> {
    let before = descriptors();
    let pool = pool();
    let got = outcome(&pool.submit(act.clone()).unwrap());
    match (value, &got) {
        (Some(expected), Ok(value)) if *value == expected => {}
        (None, Err(TaskError::WorkerLost(exit))) if exit.to_string().contains(says) => {}
        _ => {
            return Err(format!(
                "{act:?}: expected {}, got {got:?}",
                value.map_or_else(|| format!("WorkerLost saying {says:?}"), |v| v.to_string())
            )
            .into());
        }
    }
    if value.is_none() {
        let exit = got.unwrap_err().to_string();
        if exit.contains("signal 9") && !exit.contains("pool stopped this worker") {
            return Err(format!("the reason hides what the worker sent: {exit}").into());
        }
    }
    assert_eq!(outcome(&pool.submit(Act::Honest(7)).unwrap()), Ok(7));
    pool.shutdown(Shutdown::wait());
    let zombies = common::zombie_children();
    if !zombies.is_empty() {
        return Err(format!("zombies after shutdown: {zombies:?}").into());
    }
    let after = descriptors();
    if after > before {
        return Err(format!("descriptors: {before} before, {after} after").into());
    }
    Ok(())
}

/// Many results that each carry a descriptor the message does not name: none stays open.
fn unused_descriptors_do_not_accumulate() -> Result<(), Failed> {
    let before = descriptors();
    let pool = pool();
    for _ in 0..100 {
        let got = outcome(&pool.submit(Act::UnusedDescriptor).unwrap());
        assert!(matches!(got, Err(TaskError::WorkerLost(_))), "{got:?}");
    }
    pool.shutdown(Shutdown::wait());
    let after = descriptors();
    if after > before {
        return Err(format!("descriptors: {before} before, {after} after 100").into());
    }
    Ok(())
}

/// A result for another task of the batch: a protocol violation, not a value for the wrong
/// future (issue #15, item 3).
fn a_result_for_another_task_fails_typed() -> Result<(), Failed> {
    let pool = pool();
    // Queued behind a running task, these travel as one batch.
    let first = pool.submit(Act::Honest(1)).unwrap();
    let wrong = pool.submit(Act::WrongId(2)).unwrap();
    let after = pool.submit(Act::Honest(3)).unwrap();
    let _ = outcome(&first);
    let got = outcome(&wrong);
    assert!(
        matches!(&got, Err(TaskError::WorkerLost(exit)) if exit.to_string().contains("answered")),
        "{got:?}"
    );
    assert_eq!(
        outcome(&after),
        Ok(3),
        "the task after it is never given its value"
    );
    pool.shutdown(Shutdown::wait());
    Ok(())
}

/// The bounded random fuzz: every mutated result ends typed (a value, `WorkerLost` or
/// `Codec`), and the honest task after it is served.
fn mutated_results_end_typed() -> Result<(), Failed> {
    let iterations: u64 = env_number("HOSTILE_FUZZ_ITERATIONS").unwrap_or(1000);
    let seed = env_number("HOSTILE_FUZZ_SEED").unwrap_or(0x5EED);
    let before = descriptors();
    let pool = pool();
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for i in 0..iterations {
        let case_seed = seed.wrapping_mul(1_000_003).wrapping_add(i);
        let got = pool
            .submit(Act::Mutated(case_seed))
            .unwrap()
            .result_timeout(LONG);
        let kind = match &got {
            Ok(_) => "value",
            Err(TaskError::WorkerLost(_)) => "worker lost",
            Err(TaskError::Codec(_)) => "codec",
            Err(TaskError::Timeout) => {
                return Err(format!("case seed {case_seed}: no outcome within {LONG:?}").into());
            }
            Err(other) => return Err(format!("case seed {case_seed}: {other:?}").into()),
        };
        *kinds.entry(kind).or_default() += 1;
        let next = outcome(&pool.submit(Act::Honest(i)).unwrap());
        if next != Ok(i) {
            return Err(format!("after case seed {case_seed}: {next:?}").into());
        }
    }
    pool.shutdown(Shutdown::wait());
    let after = descriptors();
    eprintln!("fuzz: {iterations} mutated results (seed {seed}): {kinds:?}");
    if after > before {
        return Err(format!("descriptors: {before} before, {after} after").into());
    }
    if !common::zombie_children().is_empty() {
        return Err("zombies after the fuzz".into());
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() {
    if std::env::var_os(HOSTILE_ENV).is_some() {
        if let Some(worker) = HostileWorker::start() {
            serve_hostile(worker);
        }
    }
    concurrent_futures_process::init();
    let mut args = Arguments::from_args();
    // The cases count this process's descriptors: one at a time.
    args.test_threads = Some(1);
    let cases: Vec<(&str, Act, &str, Option<u64>)> = vec![
        (
            "a_ring_record_that_does_not_decode",
            Act::RingGarbage,
            "does not decode",
            None,
        ),
        (
            "a_ring_record_of_unknown_kind",
            Act::RingUnknownKind,
            "unknown kind 7",
            None,
        ),
        (
            "a_ring_record_longer_than_published",
            Act::RingOverlong,
            "a ring record of 4096 bytes, with 8 bytes published",
            None,
        ),
        (
            "an_impossible_ring_position",
            Act::RingImpossibleTail,
            "unread bytes",
            None,
        ),
        // Died before publishing: the task is lost with its worker, not answered.
        ("a_torn_ring_write", Act::RingTornWrite, "exit code 0", None),
        ("an_honest_ring_record", Act::RingHonest(11), "", Some(11)),
        (
            "a_ring_marker_with_nothing_on_the_socket",
            Act::RingMarkerAlone,
            "not on its socket",
            None,
        ),
        (
            "a_wake_up_instead_of_a_result",
            Act::WakeInsteadOfResult,
            "not on its socket",
            None,
        ),
        ("an_empty_packet", Act::EmptyPacket, "an empty frame", None),
        ("an_unknown_kind", Act::UnknownKind, "unknown kind 9", None),
        (
            "trailing_bytes",
            Act::TrailingBytes,
            "bytes after the message",
            None,
        ),
        ("a_frame_too_long", Act::TooLong, "longer than", None),
        (
            "too_many_descriptors",
            Act::TooManyDescriptors,
            "more than 8 descriptors",
            None,
        ),
        (
            "an_unused_descriptor",
            Act::UnusedDescriptor,
            "descriptors the message does not name",
            None,
        ),
        (
            "a_missing_descriptor",
            Act::MissingDescriptor,
            "descriptor 0 named",
            None,
        ),
        (
            "a_region_of_2_40_bytes",
            Act::HugeRegion,
            "1099511627776 bytes",
            None,
        ),
        (
            "an_arena_that_can_shrink",
            Act::ShrinkingArena,
            "not sealed against shrinking",
            None,
        ),
        (
            "a_writable_payload_region",
            Act::WritableRegion,
            "not sealed against writing",
            None,
        ),
        (
            "a_spill_of_2_40_bytes",
            Act::HugeSpill,
            "1099511627776 bytes",
            None,
        ),
        (
            "early_outcomes_for_a_plain_task",
            Act::ItemsForPlainTask,
            "not a chunk",
            None,
        ),
        ("a_valid_spilled_frame", Act::Spilled(41), "", Some(41)),
        ("a_valid_shared_region", Act::SharedRegion(42), "", Some(42)),
    ];
    let mut trials: Vec<Trial> = cases
        .into_iter()
        .map(|(name, act, says, value)| {
            Trial::test(format!("hostile_worker_sends_{name}"), move || {
                case(act, says, value)
            })
        })
        .collect();
    trials.push(Trial::test(
        "unused_descriptors_do_not_accumulate",
        unused_descriptors_do_not_accumulate,
    ));
    trials.push(Trial::test(
        "a_result_for_another_task_fails_typed",
        a_result_for_another_task_fails_typed,
    ));
    trials.push(Trial::test(
        "mutated_results_end_typed",
        mutated_results_end_typed,
    ));
    libtest_mimic::run(&args, trials).exit();
}
