//! The lock algorithms: a set of up to [`MAX_TRANSACTION_ITEMS`] locks taken in one transaction,
//! a larger one one by one in key order and rolled back if one is refused, conditional releases,
//! and a PR's locks and plan records deleted in transactions of up to 100 deletes, keeping a
//! project whose run writes the state.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    CancellationReason, Delete, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use super::items::{LockWrite, n, s};
use super::{DynamoStore, is_transient};
use crate::store::keys::{self, ITEM_SK};
use crate::store::{
    Lock, LockHolder, LockKey, LockOutcome, MAX_TRANSACTION_ITEMS, PlanStatus,
    PrRelease, ReleaseOutcome, Result, Store as _, StoreError, now_secs,
};

impl DynamoStore {
    /// Takes up to [`MAX_TRANSACTION_ITEMS`] locks in one transaction.
    pub(super) async fn acquire_in_transaction(
        &self,
        holder: &LockHolder,
        keys: &[LockKey],
    ) -> Result<LockOutcome> {
        let now = now_secs();
        let items = keys
            .iter()
            .map(|key| {
                let write = LockWrite::new(key, holder, now);
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(write.pk))
                    .key("sk", s(ITEM_SK))
                    .update_expression(write.update)
                    .condition_expression(write.condition)
                    .set_expression_attribute_names(Some(write.names))
                    .set_expression_attribute_values(Some(write.values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|err| self.request_error("TransactWriteItems", err))?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect::<Result<Vec<_>>>()?;
        let Err(err) = self.transact(items).await? else {
            return Ok(LockOutcome::Acquired);
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let held = cancelled
                .cancellation_reasons()
                .iter()
                .filter(|reason| reason.code() == Some("ConditionalCheckFailed"))
                .filter_map(|reason| reason.item())
                .map(|item| self.fields(item).lock())
                .collect::<Result<Vec<_>, _>>()?;
            if !held.is_empty() {
                return Ok(LockOutcome::HeldBy(held));
            }
        }
        Err(self.request_error("TransactWriteItems", aws_sdk_dynamodb::Error::from(err)))
    }

    /// Takes one lock with `UpdateItem`: `Ok(Ok(true))` when newly taken, `Ok(Ok(false))` when the
    /// PR already held it, `Ok(Err(lock))` when another PR holds it.
    async fn acquire_one(
        &self,
        key: &LockKey,
        holder: &LockHolder,
        now: u64,
    ) -> Result<std::result::Result<bool, Lock>> {
        let write = LockWrite::new(key, holder, now);
        let outcome = self
            .retrying("UpdateItem", is_transient::<UpdateItemError>, || {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(&write.pk))
                    .key("sk", s(ITEM_SK))
                    .update_expression(&write.update)
                    .condition_expression(write.condition)
                    .set_expression_attribute_names(Some(write.names.clone()))
                    .set_expression_attribute_values(Some(write.values.clone()))
                    .return_values(ReturnValue::AllOld)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
            })
            .await?;
        match outcome {
            Ok(output) => Ok(Ok(output.attributes().is_none_or(HashMap::is_empty))),
            Err(err) => {
                if let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                    && let Some(item) = failed.item()
                {
                    return Ok(Err(self.fields(item).lock()?));
                }
                Err(self.request_error("UpdateItem", aws_sdk_dynamodb::Error::from(err)))
            }
        }
    }

    /// Takes more than [`MAX_TRANSACTION_ITEMS`] locks one by one in key order; on refusal or
    /// error, releases the ones this call newly took.
    pub(super) async fn acquire_ordered(
        &self,
        holder: &LockHolder,
        keys: &[LockKey],
    ) -> Result<LockOutcome> {
        let now = now_secs();
        let mut taken = Vec::new();
        for key in keys {
            let failure = match self.acquire_one(key, holder, now).await {
                Ok(Ok(true)) => {
                    taken.push(key.clone());
                    continue;
                }
                Ok(Ok(false)) => continue,
                Ok(Err(held)) => Ok(LockOutcome::HeldBy(vec![held])),
                Err(err) => Err(err),
            };
            let left = self.roll_back(holder.pr, &taken).await;
            return match (failure, left) {
                (failure, left) if left.is_empty() => failure,
                (Ok(outcome), left) => Err(StoreError::LocksLeftBehind {
                    pr: holder.pr,
                    keys: left,
                    source: Box::new(StoreError::InvalidRequest(format!(
                        "rolling back after {outcome:?}"
                    ))),
                }),
                (Err(err), left) => Err(StoreError::LocksLeftBehind {
                    pr: holder.pr,
                    keys: left,
                    source: Box::new(err),
                }),
            };
        }
        Ok(LockOutcome::Acquired)
    }

    /// Releases `keys` if `pr` still holds them; returns those it could not release.
    async fn roll_back(&self, pr: u64, keys: &[LockKey]) -> Vec<LockKey> {
        let mut left = Vec::new();
        for key in keys {
            match self.delete_lock(key, Some(pr)).await {
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(%key, pr, error = %err, "could not roll back a lock");
                    left.push(key.clone());
                }
            }
        }
        left
    }

    /// Deletes a lock item if `pr` (or anyone, for `None`) holds it.
    pub(super) async fn delete_lock(
        &self,
        key: &LockKey,
        pr: Option<u64>,
    ) -> Result<ReleaseOutcome> {
        let pk = keys::lock_pk(key);
        let written = self
            .delete((&pk, ITEM_SK), |delete| {
                let delete = delete
                    .return_values(ReturnValue::AllOld)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                match pr {
                    Some(pr) => delete
                        .condition_expression("attribute_exists(pk) AND #pr = :pr")
                        .expression_attribute_names("#pr", "pr")
                        .expression_attribute_values(":pr", n(pr)),
                    None => delete.condition_expression("attribute_exists(pk)"),
                }
            })
            .await?;
        Ok(match written {
            Ok(Some(released)) => ReleaseOutcome::Released(self.fields(&released).lock()?),
            Err(Some(held)) => ReleaseOutcome::HeldBy(self.fields(&held).lock()?),
            Ok(None) | Err(None) => ReleaseOutcome::NotLocked,
        })
    }

    /// A delete of `pr`'s lock on `key`, only while `pr` holds it and, with `leave_kept`, its
    /// merge did not keep it ([`Lock::kept_after_merge`]).
    fn lock_delete(&self, key: &LockKey, pr: u64, leave_kept: bool) -> Result<TransactWriteItem> {
        let condition = if leave_kept {
            "#pr = :pr AND attribute_not_exists(kept_after_merge)"
        } else {
            "#pr = :pr"
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(keys::lock_pk(key)))
            .key("sk", s(ITEM_SK))
            .condition_expression(condition)
            .expression_attribute_names("#pr", "pr")
            .expression_attribute_values(":pr", n(pr))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| self.request_error("TransactWriteItems", err))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A delete of `pr`'s plan record for `key` (none is fine), only while no run that writes
    /// the state runs for it.
    fn idle_plan_delete(&self, key: &LockKey, pr: u64) -> Result<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(keys::plan_pk(&key.repo, pr)))
            .key("sk", s(keys::project_key(key)))
            .condition_expression(IDLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":applying", s(PlanStatus::Applying.as_str()))
            .build()
            .map_err(|err| self.request_error("TransactWriteItems", err))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Releases `pr`'s lock on `key` and deletes its plan record in one transaction, unless a
    /// run that writes the state runs for it ([`ReleaseOutcome::Running`]) or, with
    /// `leave_kept`, its merge kept it ([`ReleaseOutcome::Kept`]).
    pub(super) async fn release_idle(
        &self,
        key: &LockKey,
        pr: u64,
        leave_kept: bool,
    ) -> Result<ReleaseOutcome> {
        let Some(lock) = self.get_lock(key).await? else {
            return Ok(ReleaseOutcome::NotLocked);
        };
        if lock.holder.pr != pr {
            return Ok(ReleaseOutcome::HeldBy(lock));
        }
        if leave_kept && lock.kept_after_merge {
            return Ok(ReleaseOutcome::Kept(lock));
        }
        let items = vec![
            self.lock_delete(key, pr, leave_kept)?,
            self.idle_plan_delete(key, pr)?,
        ];
        let Err(err) = self.transact(items).await? else {
            return Ok(ReleaseOutcome::Released(lock));
        };
        // The reasons stand in the items' order: the lock's delete, then the record's.
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let failed = |reason: &CancellationReason| reason.code() == Some("ConditionalCheckFailed");
            match cancelled.cancellation_reasons() {
                [held, ..] if failed(held) => {
                    let Some(item) = held.item().filter(|item| !item.is_empty()) else {
                        return Ok(ReleaseOutcome::NotLocked);
                    };
                    let lock = self.fields(item).lock()?;
                    // `pr` still holds it, so what failed is `leave_kept`'s condition.
                    return Ok(if lock.holder.pr == pr {
                        ReleaseOutcome::Kept(lock)
                    } else {
                        ReleaseOutcome::HeldBy(lock)
                    });
                }
                [_, record, ..] if failed(record) => return Ok(ReleaseOutcome::Running(lock)),
                _ => {}
            }
        }
        Err(self.request_error("TransactWriteItems", aws_sdk_dynamodb::Error::from(err)))
    }

    /// Runs `items` as one transaction: `true` when written, `false` when a condition (or a
    /// conflicting write) cancelled it; any other failure is an error.
    async fn transact_unless_cancelled(&self, items: Vec<TransactWriteItem>) -> Result<bool> {
        match self.transact(items).await? {
            Ok(()) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(self.request_error(
                "TransactWriteItems",
                aws_sdk_dynamodb::Error::from(err),
            )),
        }
    }

    /// Releases a PR's `locks` and deletes its plan records (`plans`: each project, and whether
    /// a run that writes the state runs for it) with transactions of up to 100 deletes, each
    /// lock with its record, keeping those a run that writes the state runs for; a chunk
    /// cancelled because something changed meanwhile falls back to one project at a time.
    pub(super) async fn release_pr_items(
        &self,
        pr: u64,
        locks: Vec<Lock>,
        plans: &[(LockKey, bool)],
    ) -> Result<PrRelease> {
        enum Target {
            Lock(Lock),
            Plan(LockKey),
        }
        let running = |key: &LockKey| plans.iter().any(|(k, running)| *running && k == key);
        let (kept, locks): (Vec<Lock>, Vec<Lock>) =
            locks.into_iter().partition(|lock| running(&lock.key));
        let mut release = PrRelease {
            kept,
            ..PrRelease::default()
        };
        let orphans = plans
            .iter()
            .filter(|(key, _)| !running(key) && !locks.iter().any(|lock| lock.key == *key))
            .map(|(key, _)| Target::Plan(key.clone()))
            .collect::<Vec<_>>();
        let targets: Vec<Target> = locks.into_iter().map(Target::Lock).chain(orphans).collect();
        for chunk in targets.chunks(MAX_TRANSACTION_ITEMS / 2) {
            let mut items = Vec::new();
            for target in chunk {
                match target {
                    Target::Lock(lock) => {
                        items.push(self.lock_delete(&lock.key, pr, true)?);
                        items.push(self.idle_plan_delete(&lock.key, pr)?);
                    }
                    Target::Plan(key) => items.push(self.idle_plan_delete(key, pr)?),
                }
            }
            if self.transact_unless_cancelled(items).await? {
                release.released.extend(chunk.iter().filter_map(|target| match target {
                    Target::Lock(lock) => Some(lock.clone()),
                    Target::Plan(_) => None,
                }));
                continue;
            }
            for target in chunk {
                match target {
                    Target::Lock(lock) => match self.release_idle(&lock.key, pr, true).await? {
                        ReleaseOutcome::Released(lock) => release.released.push(lock),
                        ReleaseOutcome::Running(lock) => release.kept.push(lock),
                        // Kept by the merge meanwhile.
                        ReleaseOutcome::Kept(lock) => release.kept_after_merge.push(lock),
                        ReleaseOutcome::NotLocked | ReleaseOutcome::HeldBy(_) => {}
                    },
                    Target::Plan(key) => {
                        // Refused: a run that writes the state started meanwhile.
                        let items = vec![self.idle_plan_delete(key, pr)?];
                        let _ = self.transact_unless_cancelled(items).await?;
                    }
                }
            }
        }
        release.released.sort_by(|a, b| a.key.cmp(&b.key));
        release.kept.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(release)
    }
}

/// The condition of a plan record's delete on release: absent, or no run that writes the
/// state (`applying`) runs for it.
pub(super) const IDLE: &str = "attribute_not_exists(pk) OR #status <> :applying";
