//! Properties of `wait`, `as_completed` and `map` over arbitrary inputs: `wait` partitions its
//! (deduplicated) input into done and not-done in input order; `as_completed` yields each
//! distinct future exactly once, the done ones first and then the rest in completion order;
//! `map` returns every input's own outcome in input order for any `chunksize`/`buffersize`, also
//! when dropped early. `map` runs on the testkit's `FixedPool` (2 workers, one queue), so an early drop really
//! cancels queued tasks.
//!
//! Failing cases are shrunk and persisted in `executor-testkit/proptest-regressions/`.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use concurrent_futures_core::{
    Future, MapOptions, ReturnWhen, SharedFuture, Submit, TaskError, as_completed_within,
    backend::{Promise, Start},
    fallible, wait,
};
use concurrent_futures_testkit::FixedPool;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Bounds every blocking call, so a lost wake-up fails the case instead of hanging the suite.
const BOUND: Duration = Duration::from_secs(30);

fn config(cases: u32, file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

macro_rules! regressions {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/", $name)
    };
}

type F = Future<u32, u32>;
/// Clones of one future are the same future: the input repeats futures through these.
type S = SharedFuture<u32, u32>;

/// How one future of a case starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pending,
    Running,
    Cancelled,
    Succeeded,
    Failed,
    Abandoned,
}

impl Kind {
    fn done(self) -> bool {
        !matches!(self, Kind::Pending | Kind::Running)
    }
    fn failed(self) -> bool {
        matches!(self, Kind::Failed | Kind::Abandoned)
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Pending),
        Just(Kind::Running),
        Just(Kind::Cancelled),
        Just(Kind::Succeeded),
        Just(Kind::Failed),
        Just(Kind::Abandoned),
    ]
}

fn return_when() -> impl Strategy<Value = ReturnWhen> {
    prop_oneof![
        Just(ReturnWhen::FirstCompleted),
        Just(ReturnWhen::FirstException),
        Just(ReturnWhen::AllCompleted),
    ]
}

/// A future of `kind` (value `i`), with its promise if it is not done.
fn make(i: u32, kind: Kind) -> (Option<Promise<u32, u32>>, F) {
    let (promise, future) = F::pending();
    match kind {
        Kind::Pending => return (Some(promise), future),
        Kind::Running => {
            assert_eq!(promise.start(), Ok(Start::Run));
            return (Some(promise), future);
        }
        Kind::Cancelled => assert!(future.cancel()),
        Kind::Succeeded => promise.set_result(i).unwrap(),
        Kind::Failed => promise.set_error(i).unwrap(),
        Kind::Abandoned => drop(promise),
    }
    (None, future)
}

/// A case: some futures, each reachable through two clones, and an input of (future, clone)
/// picks with repeats.
fn futures_and_picks() -> impl Strategy<Value = (Vec<Kind>, Vec<(usize, usize)>)> {
    prop::collection::vec(kind(), 1..8).prop_flat_map(|kinds| {
        let n = kinds.len();
        let picks = prop::collection::vec((0..n, 0..2usize), 0..16);
        (Just(kinds), picks)
    })
}

/// The distinct futures of `picks`, in order of first occurrence.
fn distinct(picks: &[(usize, usize)]) -> Vec<usize> {
    let mut seen = HashSet::new();
    picks
        .iter()
        .map(|&(i, _)| i)
        .filter(|&i| seen.insert(i))
        .collect()
}

/// Which future a returned reference is a clone of.
/// Two clones of `future`, made shared.
fn twice(future: F) -> [S; 2] {
    let shared = future.share();
    [shared.clone(), shared]
}

fn which(copies: &[[S; 2]], f: &S) -> usize {
    copies
        .iter()
        .position(|pair| pair.iter().any(|c| std::ptr::eq(c, f)))
        .expect("wait returns the input's own items")
}

proptest! {
    #![proptest_config(config(256, regressions!("props_wait.txt")))]

    #[test]
    fn wait_partitions_its_input((kinds, picks) in futures_and_picks(), mode in return_when()) {
        let made: Vec<_> = kinds.iter().enumerate().map(|(i, &k)| make(i as u32, k)).collect();
        let (promises, futures): (Vec<_>, Vec<_>) = made.into_iter().unzip();
        let copies: Vec<[S; 2]> = futures.into_iter().map(twice).collect();
        let input: Vec<&S> = picks.iter().map(|&(i, c)| &copies[i][c]).collect();
        let order = distinct(&picks);
        let expected_done: Vec<usize> = order.iter().copied().filter(|&i| kinds[i].done()).collect();
        let expected_not_done: Vec<usize> =
            order.iter().copied().filter(|&i| !kinds[i].done()).collect();

        let sets = wait(input.iter().copied(), Some(Duration::ZERO), mode);
        let done: Vec<usize> = sets.done.iter().map(|f| which(&copies, f)).collect();
        let not_done: Vec<usize> = sets.not_done.iter().map(|f| which(&copies, f)).collect();
        prop_assert_eq!(&done, &expected_done);
        prop_assert_eq!(&not_done, &expected_not_done);

        // When the condition already holds, an unbounded wait returns the same partition at once.
        let satisfied = match mode {
            ReturnWhen::FirstCompleted => !expected_done.is_empty() || order.is_empty(),
            ReturnWhen::FirstException => {
                expected_not_done.is_empty() || expected_done.iter().any(|&i| kinds[i].failed())
            }
            ReturnWhen::AllCompleted => expected_not_done.is_empty(),
        };
        if satisfied {
            let sets = wait(input.iter().copied(), Some(BOUND), mode);
            prop_assert_eq!(sets.done.len(), expected_done.len());
            prop_assert_eq!(sets.not_done.len(), expected_not_done.len());
        }
        drop(promises);
    }

    #[test]
    fn as_completed_yields_each_distinct_future_exactly_once(
        (kinds, picks) in futures_and_picks(),
        shuffle in any::<u64>(),
        cancel_some in any::<bool>(),
    ) {
        let made: Vec<_> = kinds.iter().enumerate().map(|(i, &k)| make(i as u32, k)).collect();
        let (promises, futures): (Vec<_>, Vec<_>) = made.into_iter().unzip();
        let copies: Vec<[S; 2]> = futures.into_iter().map(twice).collect();
        let input: Vec<&S> = picks.iter().map(|&(i, c)| &copies[i][c]).collect();
        let order = distinct(&picks);

        let iter = as_completed_within(input.iter().copied(), BOUND);
        prop_assert_eq!(iter.size_hint().1, Some(order.len()));

        // Complete the unfinished ones, after registration, in a shuffled order (also the ones
        // not in the input), cancelling some pending ones instead.
        let mut to_complete: Vec<usize> = (0..kinds.len()).filter(|&i| !kinds[i].done()).collect();
        let mut state = shuffle;
        for i in (1..to_complete.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            to_complete.swap(i, (state >> 33) as usize % (i + 1));
        }
        let completion_order: Vec<usize> =
            to_complete.iter().copied().filter(|i| order.contains(i)).collect();
        let yielded: Vec<usize> = thread::scope(|s| {
            let copies = &copies;
            let kinds = &kinds;
            let to_complete = &to_complete;
            s.spawn(move || {
                let mut promises = promises;
                for &i in to_complete {
                    if cancel_some && kinds[i] == Kind::Pending && i % 2 == 0 {
                        assert!(copies[i][0].cancel());
                    } else {
                        promises[i].take().unwrap().set_result(i as u32).unwrap();
                    }
                }
            });
            iter.map(|item| item.map(|f| which(copies, f)))
                .collect::<Result<Vec<_>, _>>()
                .expect("every future completes well within the bound")
        });

        // Exactly once each.
        prop_assert_eq!(yielded.len(), order.len());
        let unique: HashSet<usize> = yielded.iter().copied().collect();
        prop_assert_eq!(unique, order.iter().copied().collect::<HashSet<_>>());
        // The done ones first, then completion order.
        let already: Vec<usize> = order.iter().copied().filter(|&i| kinds[i].done()).collect();
        let (first, rest) = yielded.split_at(already.len());
        prop_assert_eq!(
            first.iter().copied().collect::<HashSet<_>>(),
            already.iter().copied().collect::<HashSet<_>>()
        );
        prop_assert_eq!(rest, &completion_order[..]);
    }
}

/// What item `x` must yield.
fn expected(x: u16) -> Result<u32, TaskError<u16>> {
    if x % 5 == 0 {
        Err(TaskError::Failed(x))
    } else {
        Ok(u32::from(x) * 2)
    }
}

proptest! {
    #![proptest_config(config(64, regressions!("props_map.txt")))]

    #[test]
    fn map_returns_each_inputs_outcome_in_input_order(
        inputs in prop::collection::vec(any::<u16>(), 0..40),
        chunksize in 1..6usize,
        buffersize in prop::option::of(1..5usize),
        take in prop::option::of(0..45usize),
    ) {
        let executor = FixedPool::new(2);
        let mut options = MapOptions::new().chunksize(chunksize).timeout(BOUND);
        if let Some(b) = buffersize {
            options = options.buffersize(b);
        }
        let tasks = inputs.iter().map(|&x| fallible(move || {
            if x % 5 == 0 { Err(x) } else { Ok(u32::from(x) * 2) }
        }));
        let wanted = take.unwrap_or(usize::MAX);
        let results: Vec<_> = executor.map(tasks, options).take(wanted).collect();
        let expected: Vec<_> = inputs.iter().copied().map(expected).take(wanted).collect();
        prop_assert_eq!(results, expected);
    }
}
