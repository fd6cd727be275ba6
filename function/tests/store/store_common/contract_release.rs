//! The store contract for what races an apply or an approval: releases while a run that writes
//! the state (an `applying` record) runs, which the PR's own releases leave alone and an
//! operator's does not; and two approvals of one plan given at once.

use landfall_function::run::{Outcome, ProjectResult, ProjectSpec, RunCommand};
use landfall_function::store::{
    LockOutcome, PlanOutcome, PlanRecord, PlanStatus, ReleaseOutcome, Store,
};

use super::contract::{owner, plan};
use super::{REPO, holder, project, projects};

pub async fn a_run_that_writes_the_state_keeps_its_lock_through_every_pr_release(
    store: &impl Store,
) {
    let keys = projects(3);
    let (applying, planned, operator) = (&keys[0], &keys[1], &keys[2]);
    assert_eq!(
        store.acquire_locks(&holder(1), &keys).await.unwrap(),
        LockOutcome::Acquired
    );
    for (key, status) in [
        (applying, PlanStatus::Applying),
        (planned, PlanStatus::Planned),
        (operator, PlanStatus::Applying),
    ] {
        assert_eq!(
            store.put_plan(&plan(key, 1, status)).await.unwrap(),
            PlanOutcome::Written
        );
    }

    // The PR's release of one lock keeps it, and the record, while the apply runs.
    match store.release_lock(applying, Some(1)).await.unwrap() {
        ReleaseOutcome::Running(lock) => assert_eq!(lock.key, *applying),
        other => panic!("released a running apply's lock: {other:?}"),
    }
    // Merge, close, `unlock`: every other lock goes, the running apply's stays.
    let release = store.release_pr(REPO, 1).await.unwrap();
    let released: Vec<_> = release.released.iter().map(|lock| &lock.key).collect();
    let kept: Vec<_> = release.kept.iter().map(|lock| &lock.key).collect();
    assert_eq!(released, [planned]);
    assert_eq!(kept, [applying, operator]);
    assert_eq!(owner(store, applying).await, Some(1));
    assert_eq!(owner(store, planned).await, None);
    let records = store.list_plans(REPO, 1).await.unwrap();
    let statuses: Vec<_> = records.iter().map(|r| (&r.key, r.status)).collect();
    assert_eq!(
        statuses,
        [
            (applying, PlanStatus::Applying),
            (operator, PlanStatus::Applying)
        ],
        "the running applies' records stay for their reports"
    );
    assert!(matches!(
        store
            .acquire_locks(&holder(2), std::slice::from_ref(applying))
            .await
            .unwrap(),
        LockOutcome::HeldBy(_)
    ));

    // An operator's release is the way out for a run that never reports.
    assert!(matches!(
        store.release_lock(operator, None).await.unwrap(),
        ReleaseOutcome::Released(_)
    ));
    assert_eq!(owner(store, operator).await, None);

    // Once the apply reported, the PR's next release gives the lock back.
    assert_eq!(
        store
            .put_plan(&plan(applying, 1, PlanStatus::Applied))
            .await
            .unwrap(),
        PlanOutcome::Written
    );
    let release = store.release_pr(REPO, 1).await.unwrap();
    assert_eq!(release.released.len(), 1);
    assert!(release.kept.is_empty());
    assert!(store.list_locks(Some(REPO)).await.unwrap().is_empty());
    assert!(store.list_plans(REPO, 1).await.unwrap().is_empty());
}

/// Two policy owners approve one plan at once: both read it without approvals; the first write
/// wins, the second is refused (it would drop the first approval), and written again over the
/// record it reads next it keeps both.
pub async fn a_plan_record_is_replaced_only_while_its_approvals_are_those_read(store: &impl Store) {
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let mut planned = plan(&key, 1, PlanStatus::Planned);
    planned.result = Some(ProjectResult::new(
        &ProjectSpec::new(&key.dir),
        RunCommand::Plan,
        Outcome::NoChanges {
            plan_text: String::new(),
        },
    ));
    assert_eq!(
        store.put_plan(&planned).await.unwrap(),
        PlanOutcome::Written
    );
    let approved_by = |who: &[&str]| {
        let mut record: PlanRecord = planned.clone();
        record.result.as_mut().unwrap().policy_approvals =
            who.iter().map(ToString::to_string).collect();
        record
    };

    let alice = approved_by(&["alice"]);
    assert_eq!(
        store.replace_plan(&alice, &planned).await.unwrap(),
        PlanOutcome::Written
    );
    assert_eq!(
        store
            .replace_plan(&approved_by(&["bob"]), &planned)
            .await
            .unwrap(),
        PlanOutcome::Changed,
        "bob's write would have dropped alice's approval"
    );
    let now = store.get_plan(&key, 1).await.unwrap().unwrap();
    assert_eq!(now, alice);
    assert_eq!(
        store
            .replace_plan(&approved_by(&["alice", "bob"]), &now)
            .await
            .unwrap(),
        PlanOutcome::Written
    );
    assert_eq!(
        store.get_plan(&key, 1).await.unwrap().unwrap().approvals(),
        2
    );
}

/// A write without a record read (a plan starting, an apply refused, a run's failure) never
/// replaces another run's apply while it runs: the apply's own report must find its record.
pub async fn another_runs_write_never_replaces_a_running_apply(store: &impl Store) {
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let mut applying = plan(&key, 1, PlanStatus::Applying);
    "apply-1".clone_into(&mut applying.run_id);
    assert_eq!(
        store.put_plan(&applying).await.unwrap(),
        PlanOutcome::Written
    );

    for (run_id, status) in [
        ("apply-2", PlanStatus::Planned),
        ("plan-3", PlanStatus::Planning),
        ("apply-4", PlanStatus::Failed),
    ] {
        let mut other = plan(&key, 1, status);
        run_id.clone_into(&mut other.run_id);
        assert_eq!(
            store.put_plan(&other).await.unwrap(),
            PlanOutcome::Changed,
            "{run_id} replaced a running apply"
        );
    }
    assert_eq!(
        store.get_plan(&key, 1).await.unwrap(),
        Some(applying.clone())
    );

    // The apply's report is written; once it has, a new plan may start.
    let mut applied = applying;
    applied.status = PlanStatus::Applied;
    assert_eq!(
        store.put_plan(&applied).await.unwrap(),
        PlanOutcome::Written
    );
    let mut planning = plan(&key, 1, PlanStatus::Planning);
    "plan-5".clone_into(&mut planning.run_id);
    assert_eq!(
        store.put_plan(&planning).await.unwrap(),
        PlanOutcome::Written
    );
}

/// Apply on merge left a project unapplied: its lock stays with the merged PR through the PR's
/// releases (the sweep, a redelivered merge), with its record; taking it again keeps the mark;
/// the PR's own release of that lock (`landfall unlock`) gives it back.
pub async fn a_lock_kept_after_merge_stays_through_the_prs_releases(store: &impl Store) {
    let keys = projects(2);
    let (kept, other) = (&keys[0], &keys[1]);
    assert_eq!(
        store.acquire_locks(&holder(1), &keys).await.unwrap(),
        LockOutcome::Acquired
    );
    for key in &keys {
        let _ = store
            .put_plan(&plan(key, 1, PlanStatus::Failed))
            .await
            .unwrap();
    }
    assert!(
        !store.keep_after_merge(kept, 2).await.unwrap(),
        "only the holder's lock is kept"
    );
    assert!(store.keep_after_merge(kept, 1).await.unwrap());
    let locks = store.list_locks(Some(REPO)).await.unwrap();
    let marks: Vec<_> = locks.iter().map(|l| (&l.key, l.kept_after_merge)).collect();
    assert_eq!(marks, [(kept, true), (other, false)]);

    // A plan made again at the merge commit takes the lock again: the mark stays.
    assert_eq!(
        store.acquire_locks(&holder(1), &keys).await.unwrap(),
        LockOutcome::Acquired
    );
    let release = store.release_pr(REPO, 1).await.unwrap();
    let released: Vec<_> = release.released.iter().map(|lock| &lock.key).collect();
    let left: Vec<_> = release.kept_after_merge.iter().map(|l| &l.key).collect();
    assert_eq!(released, [other]);
    assert_eq!(left, [kept]);
    assert_eq!(owner(store, kept).await, Some(1));
    let records = store.list_plans(REPO, 1).await.unwrap();
    assert_eq!(
        records.iter().map(|r| &r.key).collect::<Vec<_>>(),
        [kept],
        "the kept lock's record stays"
    );
    assert!(matches!(
        store
            .acquire_locks(&holder(2), std::slice::from_ref(kept))
            .await
            .unwrap(),
        LockOutcome::HeldBy(_)
    ));
    // Again: still there.
    assert_eq!(store.release_pr(REPO, 1).await.unwrap().released, []);
    assert_eq!(owner(store, kept).await, Some(1));

    // The merged PR's own release of one lock leaves it too, its record with it; another
    // PR's is refused; a lock the merge did not keep goes.
    match store.release_unkept(kept, 1).await.unwrap() {
        ReleaseOutcome::Kept(lock) => assert!(lock.kept_after_merge && lock.holder.pr == 1),
        other => panic!("a kept lock stays: {other:?}"),
    }
    assert!(matches!(
        store.release_unkept(kept, 2).await.unwrap(),
        ReleaseOutcome::HeldBy(_)
    ));
    assert_eq!(owner(store, kept).await, Some(1));
    assert_eq!(store.list_plans(REPO, 1).await.unwrap().len(), 1);
    assert_eq!(
        store
            .acquire_locks(&holder(1), std::slice::from_ref(other))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert!(matches!(
        store.release_unkept(other, 1).await.unwrap(),
        ReleaseOutcome::Released(_)
    ));
    assert_eq!(owner(store, other).await, None);

    // `landfall unlock` releases it by its key.
    assert!(matches!(
        store.release_lock(kept, Some(1)).await.unwrap(),
        ReleaseOutcome::Released(_)
    ));
    assert!(store.list_locks(Some(REPO)).await.unwrap().is_empty());
    assert!(store.list_plans(REPO, 1).await.unwrap().is_empty());
    assert!(
        !store.keep_after_merge(kept, 1).await.unwrap(),
        "no lock, nothing kept"
    );
    assert!(store.list_locks(Some(REPO)).await.unwrap().is_empty());
}
