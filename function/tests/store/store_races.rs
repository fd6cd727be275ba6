//! Races, against the embedded store and against DynamoDB on moto: 50 tasks racing for one
//! project end with exactly one owner, and a randomised run of 1,000 operations (400 on moto,
//! whose every request costs a Python server's time) by 20 PRs over 30 projects, several at a
//! time, never shows two owners of a lock and never loses one. The invariant is checked after
//! every step against a model built from the outcomes alone.

use std::collections::{BTreeMap, BTreeSet};

use landfall_function::store::{
    LockKey, LockOutcome, PlanOutcome, PlanRecord, PlanStatus, ReleaseOutcome, Store,
};

use crate::store_common;
use crate::store_common::seam::{FaultyHttp, RequestLog, instrumented_client};
use crate::store_common::{REPO, holder, project};

const RACERS: u64 = 50;
const PRS: u64 = 20;
const PROJECTS: usize = 30;
const OPERATIONS: usize = 1_000;
/// On moto: each step's check lists every lock, so the run's cost grows with its length.
const OPERATIONS_ON_MOTO: usize = 400;
/// Operations run concurrently per step, each by a different PR.
const PER_STEP: usize = 4;

async fn fifty_tasks_race_for_one_project<S: Store + Clone + 'static>(store: S) {
    let key = project(0);
    let mut tasks = tokio::task::JoinSet::new();
    for pr in 1..=RACERS {
        let store = store.clone();
        let key = key.clone();
        tasks.spawn(async move {
            let outcome = store.acquire_locks(&holder(pr), &[key]).await.unwrap();
            (pr, outcome)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (pr, outcome) = joined.unwrap();
        match outcome {
            LockOutcome::Acquired => winners.push(pr),
            LockOutcome::HeldBy(held) => {
                assert_eq!(held.len(), 1);
                assert_ne!(held[0].holder.pr, pr, "a PR was refused by itself");
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one owner, got {winners:?}");
    let lock = store
        .get_lock(&key)
        .await
        .unwrap()
        .expect("the lock is held");
    assert_eq!(lock.holder.pr, winners[0], "the stored owner is the winner");
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(Vec<LockKey>),
    Release(LockKey),
    ReleasePr,
    Plan(LockKey),
}

#[derive(Debug)]
enum Done {
    Acquire(Vec<LockKey>, LockOutcome),
    Release(LockKey, ReleaseOutcome),
    ReleasePr(Vec<LockKey>),
    Plan(LockKey, PlanOutcome),
}

fn random_op(rng: &mut fastrand::Rng) -> Op {
    let key = |rng: &mut fastrand::Rng| project(rng.usize(..PROJECTS));
    match rng.u8(..100) {
        0..40 => {
            let count = rng.usize(1..=4);
            Op::Acquire((0..count).map(|_| key(rng)).collect())
        }
        40..55 => Op::Release(key(rng)),
        55..65 => Op::ReleasePr,
        _ => Op::Plan(key(rng)),
    }
}

async fn run(store: impl Store, pr: u64, op: Op) -> Done {
    match op {
        Op::Acquire(keys) => {
            let outcome = store.acquire_locks(&holder(pr), &keys).await.unwrap();
            Done::Acquire(keys, outcome)
        }
        Op::Release(key) => {
            let outcome = store.release_lock(&key, Some(pr)).await.unwrap();
            Done::Release(key, outcome)
        }
        Op::ReleasePr => {
            let released = store.release_pr(REPO, pr).await.unwrap();
            Done::ReleasePr(released.released.into_iter().map(|lock| lock.key).collect())
        }
        Op::Plan(key) => {
            let record = PlanRecord {
                key: key.clone(),
                pr,
                head_sha: holder(pr).head_sha,
                run_id: format!("run-{pr}"),
                status: PlanStatus::Planned,
                planfile: None,
                updated_at: 1,
                trigger: None,
                result: None,
                deadline: None,
            };
            Done::Plan(key, store.put_plan(&record).await.unwrap())
        }
    }
}

/// Checks one operation's outcome against the state before its step and applies it to the model.
fn check_outcome(
    pr: u64,
    result: &Done,
    before: &BTreeMap<LockKey, u64>,
    releasing: &BTreeSet<u64>,
    model: &mut BTreeMap<LockKey, u64>,
    context: &str,
) {
    match result {
        Done::Acquire(keys, LockOutcome::Acquired) => {
            for key in keys {
                if let Some(&previous) = before.get(key) {
                    assert!(
                        previous == pr || releasing.contains(&previous),
                        "PR {pr} took {key} from PR {previous}: {context}"
                    );
                }
                if let Some(other) = model.insert(key.clone(), pr)
                    && other != pr
                    && before.get(key) != Some(&other)
                {
                    panic!("two owners of {key}: PRs {other} and {pr}: {context}");
                }
            }
        }
        Done::Acquire(keys, LockOutcome::HeldBy(held)) => {
            assert!(!held.is_empty(), "{context}");
            for lock in held {
                assert_ne!(lock.holder.pr, pr, "{context}");
                assert!(keys.contains(&lock.key), "{context}");
            }
        }
        Done::Release(key, outcome) => {
            let expected = before.get(key).copied();
            match outcome {
                ReleaseOutcome::Released(lock) => {
                    assert_eq!(lock.holder.pr, pr, "{context}");
                    assert_eq!(expected, Some(pr), "{context}");
                    if model.get(key) == Some(&pr) {
                        model.remove(key);
                    }
                }
                ReleaseOutcome::NotLocked | ReleaseOutcome::HeldBy(_) => {
                    assert_ne!(expected, Some(pr), "lost PR {pr}'s lock: {context}");
                }
                ReleaseOutcome::Running(_) => panic!("no run writes the state here: {context}"),
                ReleaseOutcome::Kept(_) => panic!("no merge keeps a lock here: {context}"),
            }
        }
        Done::ReleasePr(released) => {
            let mine: Vec<LockKey> = before
                .iter()
                .filter(|(_, owner)| **owner == pr)
                .map(|(key, _)| key.clone())
                .collect();
            assert_eq!(released, &mine, "PR {pr} lost or gained locks: {context}");
            for key in released {
                if model.get(key) == Some(&pr) {
                    model.remove(key);
                }
            }
        }
        Done::Plan(key, outcome) => {
            let holds = before.get(key) == Some(&pr);
            assert_eq!(
                matches!(outcome, PlanOutcome::Written),
                holds,
                "plan record by PR {pr} for {key}: {context}"
            );
        }
    }
}

/// Runs the randomised schedule; after every step, applies the outcomes to the model (checking
/// each against the state before the step) and compares the store with the model.
async fn randomised_run_keeps_one_owner_per_lock<S: Store + Clone + 'static>(
    store: S,
    seed: u64,
    operations: usize,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut model: BTreeMap<LockKey, u64> = BTreeMap::new();
    let mut done = 0;
    let mut step = 0;
    while done < operations {
        step += 1;
        let mut prs: Vec<u64> = (1..=PRS).collect();
        rng.shuffle(&mut prs);
        let batch: Vec<(u64, Op)> = prs
            .into_iter()
            .take(PER_STEP.min(operations - done))
            .map(|pr| (pr, random_op(&mut rng)))
            .collect();
        done += batch.len();
        let before = model.clone();
        let mut tasks = tokio::task::JoinSet::new();
        for (pr, op) in batch.clone() {
            let store = store.clone();
            tasks.spawn(async move { (pr, run(store, pr, op).await) });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            results.push(joined.unwrap());
        }
        let context = format!("seed {seed}, step {step}, ops {batch:?}, results {results:?}");
        // PRs that give up locks in this step: only their locks may change hands.
        let releasing: BTreeSet<u64> = results
            .iter()
            .filter(|(_, done)| matches!(done, Done::Release(..) | Done::ReleasePr(_)))
            .map(|(pr, _)| *pr)
            .collect();
        for (pr, result) in &results {
            check_outcome(*pr, result, &before, &releasing, &mut model, &context);
        }
        let stored: BTreeMap<LockKey, u64> = store
            .list_locks(None)
            .await
            .unwrap()
            .into_iter()
            .map(|lock| (lock.key, lock.holder.pr))
            .collect();
        assert_eq!(
            stored, model,
            "the store differs from the outcomes: {context}"
        );
    }
}

fn seed() -> u64 {
    std::env::var("LANDFALL_RACE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20_260_501)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_fifty_tasks_racing_for_one_project_leave_exactly_one_owner() {
    let (store, _dir) = store_common::embedded();
    fifty_tasks_race_for_one_project(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_randomised_run_never_shows_two_owners_or_loses_a_lock() {
    let (store, _dir) = store_common::embedded();
    randomised_run_keeps_one_owner_per_lock(store, seed(), OPERATIONS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_races_keep_one_owner_per_lock_against_moto() {
    let moto = store_common::start_moto();
    // One request at a time on the wire: see `store_common::seam` for why moto needs it.
    let client = instrumented_client(&moto, &RequestLog::default(), &FaultyHttp::new());
    eprintln!("50 tasks racing for one project");
    let store = store_common::dynamo_store_with(&client, "race").await;
    fifty_tasks_race_for_one_project(store).await;
    eprintln!("randomised run of {OPERATIONS_ON_MOTO} operations");
    let store = store_common::dynamo_store_with(&client, "random").await;
    randomised_run_keeps_one_owner_per_lock(store, seed(), OPERATIONS_ON_MOTO).await;
}
