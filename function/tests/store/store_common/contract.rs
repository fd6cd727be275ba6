//! The store contract: every case runs against the embedded store and against DynamoDB (moto).
//! A case gets a fresh, empty store.

use std::time::Duration;

use landfall_function::store::{
    CommentKey, DeliveryOutcome, LockKey, LockOutcome, PartsOutcome, PlanOutcome, PlanRecord,
    PlanStatus, PrRelease, ReleaseOutcome, Store, StoredArtifact,
};

pub use super::contract_apply_lock::{
    only_runs_in_progress_are_swept_and_a_stuck_run_fails_only_if_still_stuck,
    the_apply_lock_is_set_once_kept_apart_from_locks_and_cleared,
};
pub use super::contract_drift::drift_records_are_kept_per_project_and_listed_per_repository_or_all;
pub use super::contract_queue::{
    a_heads_selection_is_kept_per_pr_and_head_and_replaced,
    a_queued_group_is_taken_once_and_only_after_its_own_group,
};
pub use super::contract_release::{
    a_lock_kept_after_merge_stays_through_the_prs_releases,
    a_plan_record_is_replaced_only_while_its_approvals_are_those_read,
    a_run_that_writes_the_state_keeps_its_lock_through_every_pr_release,
    another_runs_write_never_replaces_a_running_apply,
};
use super::{REPO, holder, project, projects};

/// The names of every case, for the macro that runs them.
#[macro_export]
macro_rules! for_each_contract_case {
    ($callback:ident) => {
        $callback!(
            a_free_lock_is_acquired_and_visible,
            the_owner_reacquires_its_lock_and_keeps_since,
            another_pr_is_refused_and_told_who_holds_the_lock,
            a_set_of_projects_is_locked_all_or_nothing,
            a_set_larger_than_one_transaction_is_locked_all_or_nothing,
            merge_or_close_releases_every_lock_of_the_pr_and_its_plans,
            a_lock_is_released_only_by_its_holder_or_an_operator,
            a_run_that_writes_the_state_keeps_its_lock_through_every_pr_release,
            a_lock_kept_after_merge_stays_through_the_prs_releases,
            a_plan_record_is_refused_once_the_lock_is_gone,
            a_plan_record_is_replaced_only_from_the_record_read,
            a_plan_record_is_replaced_only_while_its_approvals_are_those_read,
            another_runs_write_never_replaces_a_running_apply,
            redeliveries_are_recognised_until_they_expire,
            locks_are_listed_per_repository_or_all,
            names_with_separators_are_distinct_locks,
            a_split_comments_parts_grow_only_from_what_the_writer_read,
            the_apply_lock_is_set_once_kept_apart_from_locks_and_cleared,
            only_runs_in_progress_are_swept_and_a_stuck_run_fails_only_if_still_stuck,
            a_queued_group_is_taken_once_and_only_after_its_own_group,
            a_heads_selection_is_kept_per_pr_and_head_and_replaced,
            drift_records_are_kept_per_project_and_listed_per_repository_or_all
        );
    };
}

pub(super) fn plan(key: &LockKey, pr: u64, status: PlanStatus) -> PlanRecord {
    PlanRecord {
        key: key.clone(),
        pr,
        head_sha: holder(pr).head_sha,
        run_id: format!("run-{pr}"),
        status,
        planfile: Some(StoredArtifact {
            key: format!("planfiles/{pr}.tfplan"),
            sha256: "ab".repeat(32),
            size: 42,
        }),
        updated_at: 1_777_636_800,
        trigger: None,
        result: None,
        deadline: None,
    }
}

pub(super) async fn owner(store: &impl Store, key: &LockKey) -> Option<u64> {
    store
        .get_lock(key)
        .await
        .expect("get_lock")
        .map(|lock| lock.holder.pr)
}

pub async fn a_free_lock_is_acquired_and_visible(store: &impl Store) {
    let key = project(1);
    let outcome = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(outcome, LockOutcome::Acquired);
    let lock = store
        .get_lock(&key)
        .await
        .unwrap()
        .expect("the lock exists");
    assert_eq!(lock.key, key);
    assert_eq!(lock.holder, holder(1));
    assert!(
        lock.since > 1_700_000_000,
        "since is a Unix time: {}",
        lock.since
    );
    assert_eq!(store.list_locks(None).await.unwrap(), vec![lock]);
}

pub async fn the_owner_reacquires_its_lock_and_keeps_since(store: &impl Store) {
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let first = store.get_lock(&key).await.unwrap().unwrap();
    let mut pushed = holder(1);
    pushed.head_sha = "f".repeat(40);
    let outcome = store
        .acquire_locks(&pushed, &[key.clone(), project(2)])
        .await
        .unwrap();
    assert_eq!(outcome, LockOutcome::Acquired);
    let again = store.get_lock(&key).await.unwrap().unwrap();
    assert_eq!(again.since, first.since, "re-planning keeps since");
    assert_eq!(
        again.holder.head_sha, pushed.head_sha,
        "the head commit is updated"
    );
    assert_eq!(owner(store, &project(2)).await, Some(1));
}

pub async fn another_pr_is_refused_and_told_who_holds_the_lock(store: &impl Store) {
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let outcome = store
        .acquire_locks(&holder(2), std::slice::from_ref(&key))
        .await
        .unwrap();
    let LockOutcome::HeldBy(held) = outcome else {
        panic!("PR 2 took a lock PR 1 holds: {outcome:?}");
    };
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].key, key);
    assert_eq!(
        held[0].holder,
        holder(1),
        "the refusal names the holder and its link"
    );
    assert_eq!(owner(store, &key).await, Some(1));
}

pub async fn a_set_of_projects_is_locked_all_or_nothing(store: &impl Store) {
    let _ = store
        .acquire_locks(&holder(1), &[project(3), project(7)])
        .await
        .unwrap();
    let wanted = projects(10);
    let outcome = store.acquire_locks(&holder(2), &wanted).await.unwrap();
    let LockOutcome::HeldBy(held) = outcome else {
        panic!("PR 2 took locks PR 1 holds: {outcome:?}");
    };
    let keys: Vec<LockKey> = held.iter().map(|lock| lock.key.clone()).collect();
    assert_eq!(
        keys,
        vec![project(3), project(7)],
        "every conflict is reported"
    );
    for key in &wanted {
        let expected = (key == &project(3) || key == &project(7)).then_some(1);
        assert_eq!(
            owner(store, key).await,
            expected,
            "{key}: no half-locked PR"
        );
    }
    let _ = store.release_pr(REPO, 1).await.unwrap();
    let outcome = store.acquire_locks(&holder(2), &wanted).await.unwrap();
    assert_eq!(outcome, LockOutcome::Acquired);
    assert_eq!(store.list_locks(Some(REPO)).await.unwrap().len(), 10);
}

pub async fn a_set_larger_than_one_transaction_is_locked_all_or_nothing(store: &impl Store) {
    let wanted = projects(150);
    let _ = store
        .acquire_locks(&holder(1), &[project(120)])
        .await
        .unwrap();
    let _ = store
        .acquire_locks(&holder(2), &[project(5)])
        .await
        .unwrap();
    let outcome = store.acquire_locks(&holder(2), &wanted).await.unwrap();
    let LockOutcome::HeldBy(held) = outcome else {
        panic!("PR 2 took a lock PR 1 holds: {outcome:?}");
    };
    assert_eq!(held[0].key, project(120));
    let mut owners = Vec::new();
    for lock in store.list_locks(Some(REPO)).await.unwrap() {
        owners.push((lock.key, lock.holder.pr));
    }
    assert_eq!(
        owners,
        vec![(project(5), 2), (project(120), 1)],
        "the refused PR keeps what it held before and nothing more"
    );
    let _ = store.release_pr(REPO, 1).await.unwrap();
    let outcome = store.acquire_locks(&holder(2), &wanted).await.unwrap();
    assert_eq!(outcome, LockOutcome::Acquired);
    let locks = store.list_locks(Some(REPO)).await.unwrap();
    assert_eq!(locks.len(), 150);
    assert!(locks.iter().all(|lock| lock.holder.pr == 2));
    let released = store.release_pr(REPO, 2).await.unwrap().released;
    assert_eq!(
        released.len(),
        150,
        "release covers more than one transaction"
    );
    assert!(store.list_locks(None).await.unwrap().is_empty());
}

pub async fn merge_or_close_releases_every_lock_of_the_pr_and_its_plans(store: &impl Store) {
    let mine = projects(3);
    let _ = store.acquire_locks(&holder(1), &mine).await.unwrap();
    let _ = store
        .acquire_locks(&holder(2), &[project(9)])
        .await
        .unwrap();
    for key in &mine {
        assert_eq!(
            store
                .put_plan(&plan(key, 1, PlanStatus::Planned))
                .await
                .unwrap(),
            PlanOutcome::Written
        );
    }
    assert_eq!(store.list_plans(REPO, 1).await.unwrap().len(), 3);
    let release = store.release_pr(REPO, 1).await.unwrap();
    assert!(release.kept.is_empty(), "nothing runs");
    let keys: Vec<LockKey> = release.released.into_iter().map(|lock| lock.key).collect();
    assert_eq!(keys, mine);
    assert!(
        store.list_plans(REPO, 1).await.unwrap().is_empty(),
        "plans are discarded"
    );
    assert_eq!(
        owner(store, &project(9)).await,
        Some(2),
        "other PRs keep theirs"
    );
    assert!(
        store.release_pr(REPO, 1).await.unwrap() == PrRelease::default(),
        "release is idempotent"
    );
}

pub async fn a_lock_is_released_only_by_its_holder_or_an_operator(store: &impl Store) {
    let key = project(1);
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let _ = store
        .put_plan(&plan(&key, 1, PlanStatus::Planned))
        .await
        .unwrap();
    match store.release_lock(&key, Some(2)).await.unwrap() {
        ReleaseOutcome::HeldBy(lock) => assert_eq!(lock.holder.pr, 1),
        other => panic!("PR 2 released PR 1's lock: {other:?}"),
    }
    match store.release_lock(&key, Some(1)).await.unwrap() {
        ReleaseOutcome::Released(lock) => assert_eq!(lock.holder.pr, 1),
        other => panic!("the holder could not release: {other:?}"),
    }
    assert_eq!(
        store.get_plan(&key, 1).await.unwrap(),
        None,
        "its plan is discarded"
    );
    assert_eq!(
        store.release_lock(&key, Some(1)).await.unwrap(),
        ReleaseOutcome::NotLocked
    );
    let _ = store
        .acquire_locks(&holder(3), std::slice::from_ref(&key))
        .await
        .unwrap();
    match store.release_lock(&key, None).await.unwrap() {
        ReleaseOutcome::Released(lock) => assert_eq!(lock.holder.pr, 3),
        other => panic!("an operator could not release: {other:?}"),
    }
    assert_eq!(owner(store, &key).await, None);
}

pub async fn a_plan_record_is_refused_once_the_lock_is_gone(store: &impl Store) {
    let key = project(1);
    assert_eq!(
        store
            .put_plan(&plan(&key, 1, PlanStatus::Planning))
            .await
            .unwrap(),
        PlanOutcome::LockNotHeld(None),
        "no plan without the lock"
    );
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    let record = plan(&key, 1, PlanStatus::Planned);
    assert_eq!(store.put_plan(&record).await.unwrap(), PlanOutcome::Written);
    assert_eq!(store.get_plan(&key, 1).await.unwrap(), Some(record));
    let _ = store.release_lock(&key, Some(1)).await.unwrap();
    let _ = store
        .acquire_locks(&holder(2), std::slice::from_ref(&key))
        .await
        .unwrap();
    match store
        .put_plan(&plan(&key, 1, PlanStatus::Applied))
        .await
        .unwrap()
    {
        PlanOutcome::LockNotHeld(Some(lock)) => assert_eq!(lock.holder.pr, 2),
        other => panic!("a plan was written without the lock: {other:?}"),
    }
    assert_eq!(store.get_plan(&key, 1).await.unwrap(), None);
}

/// Two applies of one plan both read it `planned`; one write takes it `applying`, the other is
/// refused: a record is replaced only while it is still the run and status the writer read.
pub async fn a_plan_record_is_replaced_only_from_the_record_read(store: &impl Store) {
    let key = project(1);
    let planned = plan(&key, 1, PlanStatus::Planned);
    let mut applying = plan(&key, 1, PlanStatus::Applying);
    "apply-1".clone_into(&mut applying.run_id);
    let read = &planned;
    assert_eq!(
        store.replace_plan(&applying, read).await.unwrap(),
        PlanOutcome::LockNotHeld(None),
        "nothing without the lock"
    );
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(
        store.replace_plan(&applying, read).await.unwrap(),
        PlanOutcome::Changed,
        "no record to replace"
    );
    assert_eq!(
        store.put_plan(&planned).await.unwrap(),
        PlanOutcome::Written
    );
    assert_eq!(
        store.replace_plan(&applying, read).await.unwrap(),
        PlanOutcome::Written
    );
    let mut second = applying.clone();
    "apply-2".clone_into(&mut second.run_id);
    assert_eq!(
        store.replace_plan(&second, read).await.unwrap(),
        PlanOutcome::Changed,
        "the second apply of one plan is refused"
    );
    assert_eq!(store.get_plan(&key, 1).await.unwrap(), Some(applying));
}

pub async fn redeliveries_are_recognised_until_they_expire(store: &impl Store) {
    let ttl = Duration::from_hours(1);
    assert_eq!(
        store.record_delivery("github:abc", ttl).await.unwrap(),
        DeliveryOutcome::New
    );
    assert_eq!(
        store.record_delivery("github:abc", ttl).await.unwrap(),
        DeliveryOutcome::Duplicate
    );
    assert_eq!(
        store.record_delivery("gitlab:abc", ttl).await.unwrap(),
        DeliveryOutcome::New
    );
    assert_eq!(
        store
            .record_delivery("github:old", Duration::ZERO)
            .await
            .unwrap(),
        DeliveryOutcome::New
    );
    assert_eq!(
        store.record_delivery("github:old", ttl).await.unwrap(),
        DeliveryOutcome::New,
        "an expired record (not yet removed by TTL) no longer counts"
    );
    // Work that could not be queued is forgotten, so the host's retry is handled.
    store.forget_delivery("github:abc").await.unwrap();
    assert_eq!(
        store.record_delivery("github:abc", ttl).await.unwrap(),
        DeliveryOutcome::New
    );
    assert_eq!(
        store.record_delivery("gitlab:abc", ttl).await.unwrap(),
        DeliveryOutcome::Duplicate,
        "forgetting one delivery leaves the others"
    );
    store.forget_delivery("github:never-seen").await.unwrap();
    // Asking records nothing: a delivery unknown, expired or forgotten is not recorded, and
    // stays unknown after the question.
    assert!(store.delivery_recorded("gitlab:abc").await.unwrap());
    assert!(!store.delivery_recorded("github:unknown").await.unwrap());
    assert!(!store.delivery_recorded("github:unknown").await.unwrap());
    assert_eq!(
        store
            .record_delivery("github:gone", Duration::ZERO)
            .await
            .unwrap(),
        DeliveryOutcome::New
    );
    assert!(!store.delivery_recorded("github:gone").await.unwrap());
    store.forget_delivery("gitlab:abc").await.unwrap();
    assert!(!store.delivery_recorded("gitlab:abc").await.unwrap());
}

pub async fn locks_are_listed_per_repository_or_all(store: &impl Store) {
    let other = LockKey::new("acme/apps", ".", "default");
    let _ = store
        .acquire_locks(&holder(1), &[project(2), project(1)])
        .await
        .unwrap();
    let _ = store
        .acquire_locks(&holder(4), std::slice::from_ref(&other))
        .await
        .unwrap();
    let keys = |locks: Vec<landfall_function::store::Lock>| {
        locks.into_iter().map(|lock| lock.key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.list_locks(Some(REPO)).await.unwrap()),
        vec![project(1), project(2)]
    );
    assert_eq!(
        keys(store.list_locks(Some("acme/apps")).await.unwrap()),
        vec![other.clone()]
    );
    assert_eq!(
        keys(store.list_locks(None).await.unwrap()),
        vec![other, project(1), project(2)]
    );
    assert!(
        store
            .list_locks(Some("acme/none"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn names_with_separators_are_distinct_locks(store: &impl Store) {
    let a = LockKey::new(REPO, "a#b", "c");
    let b = LockKey::new(REPO, "a", "b#c");
    let c = LockKey::new(REPO, "a", "b#c").named("x%23");
    let _ = store
        .acquire_locks(&holder(1), std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_locks(&holder(2), std::slice::from_ref(&b))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        store
            .acquire_locks(&holder(3), std::slice::from_ref(&c))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(owner(store, &a).await, Some(1));
    assert_eq!(owner(store, &b).await, Some(2));
    assert_eq!(owner(store, &c).await, Some(3));
    let released = store.release_pr(REPO, 2).await.unwrap().released;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].key, b);
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn comment(pr: u64, comment_id: &str) -> CommentKey<'_> {
    CommentKey {
        repo: REPO,
        pr,
        comment_id,
    }
}

pub async fn a_split_comments_parts_grow_only_from_what_the_writer_read(store: &impl Store) {
    let parts = |pr: u64, id: &'static str| store.comment_parts(comment(pr, id));
    assert_eq!(parts(1, "100").await.unwrap(), ids(&[]));
    // Two runs posted a second part at once: one record wins, the other learns its ids.
    let (first, second) = (ids(&["101"]), ids(&["201"]));
    let (one, two) = tokio::join!(
        store.add_comment_parts(comment(1, "100"), &[], &first),
        store.add_comment_parts(comment(1, "100"), &[], &second),
    );
    let mut outcomes = [one.unwrap(), two.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, PartsOutcome::Changed(_)));
    let PartsOutcome::Written(winner) = outcomes[0].clone() else {
        panic!("neither write won: {outcomes:?}")
    };
    assert_eq!(outcomes[1], PartsOutcome::Changed(winner.clone()));
    assert_eq!(parts(1, "100").await.unwrap(), winner);
    // Growing from the stored list is accepted; from an older list, refused with the new one.
    let grown = [winner.clone(), ids(&["102", "103"])].concat();
    assert_eq!(
        store
            .add_comment_parts(comment(1, "100"), &winner, &ids(&["102", "103"]))
            .await
            .unwrap(),
        PartsOutcome::Written(grown.clone())
    );
    assert_eq!(
        store
            .add_comment_parts(comment(1, "100"), &winner, &ids(&["104"]))
            .await
            .unwrap(),
        PartsOutcome::Changed(grown.clone())
    );
    assert_eq!(parts(1, "100").await.unwrap(), grown);
    // Other comments, other PRs and ids with separators are separate records.
    assert_eq!(parts(2, "100").await.unwrap(), ids(&[]));
    assert_eq!(parts(1, "10").await.unwrap(), ids(&[]));
    assert_eq!(parts(1, "100#").await.unwrap(), ids(&[]));
}
