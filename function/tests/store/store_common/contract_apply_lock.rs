//! The store contract for the apply lock (a change freeze) and the sweeper's view of runs.

use landfall_function::store::{ApplyLock, ApplyLocks, PlanOutcome, PlanStatus, Store, Sweeps};

use super::contract::plan;
use super::{REPO, holder, project};

pub async fn the_apply_lock_is_set_once_kept_apart_from_locks_and_cleared(
    store: &(impl Store + ApplyLocks),
) {
    assert_eq!(store.apply_lock().await.unwrap(), None);
    assert_eq!(store.clear_apply_lock().await.unwrap(), None);
    let first = ApplyLock {
        by: "ops-alice".to_owned(),
        since: 1_777_636_800,
        reason: Some("change freeze".to_owned()),
    };
    assert_eq!(store.set_apply_lock(&first).await.unwrap(), None);
    // A second operator learns who holds it; the first lock stays.
    let second = ApplyLock {
        by: "ops-bob".to_owned(),
        since: 1_777_636_900,
        reason: None,
    };
    assert_eq!(
        store.set_apply_lock(&second).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.apply_lock().await.unwrap(), Some(first.clone()));
    // It is not a project lock: listing every lock still works and does not show it.
    let _ = store
        .acquire_locks(&holder(1), &[project(1)])
        .await
        .unwrap();
    assert_eq!(store.list_locks(None).await.unwrap().len(), 1);
    assert_eq!(store.clear_apply_lock().await.unwrap(), Some(first));
    assert_eq!(store.apply_lock().await.unwrap(), None);
    assert_eq!(store.set_apply_lock(&second).await.unwrap(), None);
    assert_eq!(store.apply_lock().await.unwrap(), Some(second));
}

pub async fn only_runs_in_progress_are_swept_and_a_stuck_run_fails_only_if_still_stuck(
    store: &(impl Store + Sweeps),
) {
    let _ = store
        .acquire_locks(&holder(1), &[project(1), project(2), project(3)])
        .await
        .unwrap();
    let mut planning = plan(&project(1), 1, PlanStatus::Planning);
    planning.deadline = Some(1_777_640_000);
    let applying = plan(&project(2), 1, PlanStatus::Applying);
    let planned = plan(&project(3), 1, PlanStatus::Planned);
    for record in [&planning, &applying, &planned] {
        assert_eq!(store.put_plan(record).await.unwrap(), PlanOutcome::Written);
    }
    let mut unfinished = store.unfinished_runs().await.unwrap();
    unfinished.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(unfinished, vec![planning.clone(), applying.clone()]);

    // The run reported meanwhile: the sweeper's failure is not written over it.
    let mut reported = planning.clone();
    reported.status = PlanStatus::Planned;
    reported.deadline = None;
    assert_eq!(
        store.put_plan(&reported).await.unwrap(),
        PlanOutcome::Written
    );
    let mut failed = planning.clone();
    failed.status = PlanStatus::Failed;
    failed.deadline = None;
    assert!(!store.finish_stuck(&failed, &planning.run_id).await.unwrap());
    assert_eq!(
        store.get_plan(&project(1), 1).await.unwrap(),
        Some(reported)
    );
    // Still stuck: failed, and out of the sweep.
    let mut failed = applying.clone();
    failed.status = PlanStatus::Failed;
    assert!(!store.finish_stuck(&failed, "another-run").await.unwrap());
    assert!(store.finish_stuck(&failed, &applying.run_id).await.unwrap());
    assert_eq!(store.get_plan(&project(2), 1).await.unwrap(), Some(failed));
    assert!(store.unfinished_runs().await.unwrap().is_empty());
    // A released PR has no record to fail.
    let _ = store.release_pr(REPO, 1).await.unwrap();
    assert!(
        !store
            .finish_stuck(&planning, &planning.run_id)
            .await
            .unwrap()
    );
}
