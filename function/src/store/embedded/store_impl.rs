//! The [`Store`] operations, each one write (through the writer thread) or one read transaction.

use std::time::Duration;

use redb::ReadableTable;

use super::writer::Finish;
use super::{
    COMMENT_PARTS, DELIVERIES, DELIVERY_EXPIRY, EmbeddedStore, LOCKS, PLANS, PRUNE_PER_DELIVERY,
    encode, read, scan_prefix,
};
use crate::store::keys;
use crate::store::{
    CommentKey, DeliveryOutcome, Lock, LockHolder, LockKey, LockOutcome, PartsOutcome, PlanOutcome,
    PlanRecord, PlanStatus, PrRelease, ReleaseOutcome, Result, Store, normalise_keys, now_secs,
};

impl Store for EmbeddedStore {
    async fn record_delivery(&self, delivery: &str, ttl: Duration) -> Result<DeliveryOutcome> {
        let id = delivery.to_owned();
        let outcome = self
            .write("record delivery", move |txn, _| {
                let now = now_secs();
                let mut deliveries = txn.open_table(DELIVERIES)?;
                let mut expiry = txn.open_table(DELIVERY_EXPIRY)?;
                let seen = deliveries.get(id.as_str())?.map(|v| v.value());
                if seen.is_some_and(|expires| expires > now) {
                    return Ok(Finish::Abort(DeliveryOutcome::Duplicate));
                }
                if let Some(old) = seen {
                    expiry.remove((old, id.as_str()))?;
                }
                let expires = now.saturating_add(ttl.as_secs());
                deliveries.insert(id.as_str(), expires)?;
                expiry.insert((expires, id.as_str()), ())?;
                let mut stale = Vec::new();
                for entry in expiry.iter()?.take(PRUNE_PER_DELIVERY) {
                    let (key, _) = entry?;
                    let (at, other) = key.value();
                    if at > now {
                        break;
                    }
                    stale.push((at, other.to_owned()));
                }
                for (at, other) in stale {
                    expiry.remove((at, other.as_str()))?;
                    deliveries.remove(other.as_str())?;
                }
                Ok(Finish::Commit(DeliveryOutcome::New))
            })
            .await?;
        Ok(outcome)
    }

    async fn delivery_recorded(&self, delivery: &str) -> Result<bool> {
        let id = delivery.to_owned();
        let recorded = self
            .read("read a delivery", move |txn, _| {
                let deliveries = txn.open_table(DELIVERIES)?;
                let expires = deliveries.get(id.as_str())?.map(|v| v.value());
                Ok(expires.is_some_and(|expires| expires > now_secs()))
            })
            .await?;
        Ok(recorded)
    }

    async fn forget_delivery(&self, delivery: &str) -> Result<()> {
        let id = delivery.to_owned();
        self.write("forget delivery", move |txn, _| {
            let mut deliveries = txn.open_table(DELIVERIES)?;
            let mut expiry = txn.open_table(DELIVERY_EXPIRY)?;
            let seen = deliveries.remove(id.as_str())?.map(|v| v.value());
            if let Some(expires) = seen {
                expiry.remove((expires, id.as_str()))?;
            }
            Ok(Finish::Commit(()))
        })
        .await?;
        Ok(())
    }

    async fn acquire_locks(&self, holder: &LockHolder, keys: &[LockKey]) -> Result<LockOutcome> {
        let keys = normalise_keys(keys)?;
        let holder = holder.clone();
        let outcome = self
            .write("acquire locks", move |txn, _| {
                let mut table = txn.open_table(LOCKS)?;
                let mut held = Vec::new();
                let mut current = Vec::with_capacity(keys.len());
                for key in &keys {
                    let id = keys::embedded_lock_key(key);
                    let lock = read::<Lock>(&table, &id)?;
                    match lock {
                        Some(lock) if lock.holder.pr != holder.pr => held.push(lock),
                        lock => current.push((id, key, lock)),
                    }
                }
                if !held.is_empty() {
                    return Ok(Finish::Abort(LockOutcome::HeldBy(held)));
                }
                let now = now_secs();
                for (id, key, own) in current {
                    let lock = Lock {
                        key: key.clone(),
                        holder: holder.clone(),
                        since: own.as_ref().map_or(now, |own| own.since),
                        kept_after_merge: own.is_some_and(|own| own.kept_after_merge),
                    };
                    table.insert(id.as_str(), encode(&lock).as_slice())?;
                }
                Ok(Finish::Commit(LockOutcome::Acquired))
            })
            .await?;
        Ok(outcome)
    }

    async fn release_lock(&self, key: &LockKey, pr: Option<u64>) -> Result<ReleaseOutcome> {
        self.release(key, pr, false).await
    }

    async fn release_unkept(&self, key: &LockKey, pr: u64) -> Result<ReleaseOutcome> {
        self.release(key, Some(pr), true).await
    }

    async fn release_pr(&self, repo: &str, pr: u64) -> Result<PrRelease> {
        let repo = repo.to_owned();
        let release = self
            .write("release a PR's locks", move |txn, _| {
                let mut locks = txn.open_table(LOCKS)?;
                let own: Vec<(String, Lock)> =
                    scan_prefix::<Lock>(&locks, &keys::embedded_repo_prefix(&repo))?
                        .into_iter()
                        .filter(|(_, lock)| lock.holder.pr == pr)
                        .collect();
                let kept_after_merge =
                    |key: &LockKey| own.iter().any(|(_, l)| l.kept_after_merge && l.key == *key);
                let mut plans = txn.open_table(PLANS)?;
                let prefix = keys::embedded_plan_prefix(&repo, pr);
                let records: Vec<(String, RecordHead)> = scan_prefix(&plans, &prefix)?;
                let (running, idle): (Vec<_>, Vec<_>) =
                    records.into_iter().partition(|(_, record)| record.running());
                for (id, record) in &idle {
                    if !kept_after_merge(&record.key) {
                        plans.remove(id.as_str())?;
                    }
                }
                let mut release = PrRelease::default();
                for (id, lock) in own {
                    if running.iter().any(|(_, record)| record.key == lock.key) {
                        release.kept.push(lock);
                    } else if lock.kept_after_merge {
                        release.kept_after_merge.push(lock);
                    } else {
                        locks.remove(id.as_str())?;
                        release.released.push(lock);
                    }
                }
                // A running apply's report may still add parts to its comment.
                if running.is_empty() {
                    let mut comments = txn.open_table(COMMENT_PARTS)?;
                    let threads: Vec<(String, Vec<String>)> = scan_prefix(&comments, &prefix)?;
                    for (id, _) in &threads {
                        comments.remove(id.as_str())?;
                    }
                }
                Ok(Finish::Commit(release))
            })
            .await?;
        Ok(release)
    }

    async fn keep_after_merge(&self, key: &LockKey, pr: u64) -> Result<bool> {
        let key = key.clone();
        let held = self
            .write("keep a lock after its merge", move |txn, _| {
                let mut locks = txn.open_table(LOCKS)?;
                let id = keys::embedded_lock_key(&key);
                let Some(lock) = read::<Lock>(&locks, &id)? else {
                    return Ok(Finish::Abort(false));
                };
                if lock.holder.pr != pr {
                    return Ok(Finish::Abort(false));
                }
                let lock = Lock {
                    kept_after_merge: true,
                    ..lock
                };
                locks.insert(id.as_str(), encode(&lock).as_slice())?;
                Ok(Finish::Commit(true))
            })
            .await?;
        Ok(held)
    }

    async fn get_lock(&self, key: &LockKey) -> Result<Option<Lock>> {
        Ok(self
            .get_json("read a lock", LOCKS, keys::embedded_lock_key(key))
            .await?)
    }

    async fn list_locks(&self, repo: Option<&str>) -> Result<Vec<Lock>> {
        let prefix = repo.map(keys::embedded_repo_prefix).unwrap_or_default();
        Ok(self
            .list_json("list locks", LOCKS, prefix, |lock: &Lock| &lock.key)
            .await?)
    }

    async fn write_plan(
        &self,
        plan: &PlanRecord,
        current: Option<&PlanRecord>,
    ) -> Result<PlanOutcome> {
        let plan = plan.clone();
        let current = current.map(|read| (read.run_id.clone(), read.status, read.approvals()));
        let outcome = self
            .write("write a plan record", move |txn, _| {
                let locks = txn.open_table(LOCKS)?;
                let id = keys::embedded_lock_key(&plan.key);
                let lock = read::<Lock>(&locks, &id)?;
                if lock.as_ref().is_none_or(|lock| lock.holder.pr != plan.pr) {
                    return Ok(Finish::Abort(PlanOutcome::LockNotHeld(lock)));
                }
                let mut plans = txn.open_table(PLANS)?;
                let plan_id = keys::embedded_plan_key(&plan.key, plan.pr);
                let stored = read::<PlanRecord>(&plans, &plan_id)?;
                let changed = match &current {
                    Some((run_id, status, approvals)) => stored.is_none_or(|s| {
                        &s.run_id != run_id || s.status != *status || s.approvals() != *approvals
                    }),
                    // Never over another run's apply (import, state rm) while it runs.
                    None => stored.is_some_and(|s| {
                        s.status == PlanStatus::Applying && s.run_id != plan.run_id
                    }),
                };
                if changed {
                    return Ok(Finish::Abort(PlanOutcome::Changed));
                }
                plans.insert(plan_id.as_str(), encode(&plan).as_slice())?;
                Ok(Finish::Commit(PlanOutcome::Written))
            })
            .await?;
        Ok(outcome)
    }

    async fn get_plan(&self, key: &LockKey, pr: u64) -> Result<Option<PlanRecord>> {
        let id = keys::embedded_plan_key(key, pr);
        Ok(self.get_json("read a plan record", PLANS, id).await?)
    }

    async fn list_plans(&self, repo: &str, pr: u64) -> Result<Vec<PlanRecord>> {
        let prefix = keys::embedded_plan_prefix(repo, pr);
        Ok(self
            .list_json("list plan records", PLANS, prefix, |plan: &PlanRecord| {
                &plan.key
            })
            .await?)
    }

    async fn comment_parts(&self, comment: CommentKey<'_>) -> Result<Vec<String>> {
        let id = keys::embedded_comment_parts_key(comment.repo, comment.pr, comment.comment_id);
        let parts = self
            .get_json("read a comment's parts", COMMENT_PARTS, id)
            .await?;
        Ok(parts.unwrap_or_default())
    }

    async fn add_comment_parts(
        &self,
        comment: CommentKey<'_>,
        known: &[String],
        added: &[String],
    ) -> Result<PartsOutcome> {
        let id = keys::embedded_comment_parts_key(comment.repo, comment.pr, comment.comment_id);
        let (known, added) = (known.to_vec(), added.to_vec());
        let outcome = self
            .write("add a comment's parts", move |txn, _| {
                let mut table = txn.open_table(COMMENT_PARTS)?;
                let mut parts: Vec<String> = read(&table, &id)?.unwrap_or_default();
                if parts != known {
                    return Ok(Finish::Abort(PartsOutcome::Changed(parts)));
                }
                parts.extend(added.iter().cloned());
                table.insert(id.as_str(), encode(&parts).as_slice())?;
                Ok(Finish::Commit(PartsOutcome::Written(parts)))
            })
            .await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::super::EmbeddedError;
    use super::*;

    fn holder(pr: u64) -> LockHolder {
        LockHolder {
            pr,
            user: "alice".into(),
            head_sha: "abc".into(),
            pull_url: format!("https://example.test/pr/{pr}"),
        }
    }

    #[tokio::test]
    async fn locks_survive_closing_and_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let key = LockKey::new("o/r", ".", "default");
        {
            let store = EmbeddedStore::open_dir(dir.path()).unwrap();
            let outcome = store
                .acquire_locks(&holder(1), std::slice::from_ref(&key))
                .await
                .unwrap();
            assert_eq!(outcome, LockOutcome::Acquired);
        }
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        let lock = store
            .get_lock(&key)
            .await
            .unwrap()
            .expect("the lock survived");
        assert_eq!(lock.holder.pr, 1);
    }

    #[tokio::test]
    async fn a_record_this_version_cannot_read_whole_is_still_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        let key = LockKey::new("o/r", "app", "default");
        let _ = store
            .acquire_locks(&holder(1), std::slice::from_ref(&key))
            .await
            .unwrap();
        // As a newer version would write it: a status this one does not know.
        let id = keys::embedded_plan_key(&key, 1);
        let json = serde_json::json!({"key": key, "pr": 1, "status": "reviewing", "extra": true});
        store
            .write("plant a newer record", move |txn, _| {
                let mut plans = txn.open_table(PLANS)?;
                plans.insert(id.as_str(), json.to_string().as_bytes())?;
                Ok(Finish::Commit(()))
            })
            .await
            .unwrap();
        assert!(store.list_plans("o/r", 1).await.is_err(), "it is unreadable");

        let release = store.release_pr("o/r", 1).await.unwrap();
        assert_eq!(release.released.len(), 1);
        assert!(store.get_lock(&key).await.unwrap().is_none());
        assert!(store.list_plans("o/r", 1).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_second_process_opening_the_same_file_is_told_it_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open_dir(dir.path()).unwrap();
        let err = EmbeddedStore::open_dir(dir.path()).unwrap_err();
        assert!(matches!(err, EmbeddedError::InUse { .. }), "{err:?}");
        assert!(err.to_string().contains("in use"), "{err}");
    }

    #[tokio::test]
    async fn expired_deliveries_are_pruned_when_new_ones_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_dir(dir.path()).unwrap();
        for n in 0..5 {
            let outcome = store
                .record_delivery(&format!("d{n}"), Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(outcome, DeliveryOutcome::New);
        }
        let remaining = store
            .read("count", |txn, _| Ok(txn.open_table(DELIVERIES)?.len()?))
            .await
            .unwrap();
        assert!(remaining <= 1, "{remaining} expired deliveries kept");
    }
}

/// What a release reads of a plan record: its project and status, so that a record this version
/// cannot read whole (one a newer version wrote) is still released.
#[derive(serde::Deserialize)]
struct RecordHead {
    key: LockKey,
    status: String,
}

impl RecordHead {
    /// Whether a run that writes the state runs for it.
    fn running(&self) -> bool {
        self.status == PlanStatus::Applying.as_str()
    }
}

impl EmbeddedStore {
    /// Releases the lock on `key` and discards its holder's plan for it: `pr`'s only while no
    /// run that writes the state runs for it and, with `leave_kept`, its merge did not keep it;
    /// whoever holds it when `pr` is `None`.
    async fn release(
        &self,
        key: &LockKey,
        pr: Option<u64>,
        leave_kept: bool,
    ) -> Result<ReleaseOutcome> {
        let key = key.clone();
        let outcome = self
            .write("release lock", move |txn, _| {
                let mut locks = txn.open_table(LOCKS)?;
                let id = keys::embedded_lock_key(&key);
                let Some(lock) = read::<Lock>(&locks, &id)? else {
                    return Ok(Finish::Abort(ReleaseOutcome::NotLocked));
                };
                if pr.is_some_and(|pr| pr != lock.holder.pr) {
                    return Ok(Finish::Abort(ReleaseOutcome::HeldBy(lock)));
                }
                if leave_kept && lock.kept_after_merge {
                    return Ok(Finish::Abort(ReleaseOutcome::Kept(lock)));
                }
                let mut plans = txn.open_table(PLANS)?;
                let plan_id = keys::embedded_plan_key(&key, lock.holder.pr);
                if pr.is_some() {
                    let record = read::<RecordHead>(&plans, &plan_id)?;
                    if record.is_some_and(|record| record.running()) {
                        return Ok(Finish::Abort(ReleaseOutcome::Running(lock)));
                    }
                }
                locks.remove(id.as_str())?;
                plans.remove(plan_id.as_str())?;
                Ok(Finish::Commit(ReleaseOutcome::Released(lock)))
            })
            .await?;
        Ok(outcome)
    }
}
