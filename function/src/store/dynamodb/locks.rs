//! The lock algorithms: a set of up to [`MAX_TRANSACTION_ITEMS`] locks taken in one transaction,
//! a larger one one by one in key order and rolled back if one is refused, conditional releases,
//! and a PR's locks and plan records deleted in transactions of up to 100 deletes.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    Delete, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::items::{LockWrite, n, s};
use super::{DynamoStore, is_transient};
use crate::store::keys::{self, ITEM_SK};
use crate::store::{
    Lock, LockHolder, LockKey, LockOutcome, MAX_TRANSACTION_ITEMS, ReleaseOutcome, Result,
    StoreError, now_secs,
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

    /// Deletes a PR's locks and plan records with transactions of up to 100 deletes; a chunk
    /// cancelled because a lock changed hands falls back to one-by-one deletes.
    pub(super) async fn delete_pr_items(
        &self,
        pr: u64,
        locks: &[Lock],
        plans: &[LockKey],
    ) -> Result<Vec<Lock>> {
        enum Target<'a> {
            Lock(&'a Lock),
            Plan(&'a LockKey),
        }
        let targets: Vec<Target> = locks
            .iter()
            .map(Target::Lock)
            .chain(plans.iter().map(Target::Plan))
            .collect();
        let mut released = Vec::new();
        for chunk in targets.chunks(MAX_TRANSACTION_ITEMS) {
            let items = chunk
                .iter()
                .map(|target| {
                    let delete = match target {
                        Target::Lock(lock) => Delete::builder()
                            .table_name(&self.table)
                            .key("pk", s(keys::lock_pk(&lock.key)))
                            .key("sk", s(ITEM_SK))
                            .condition_expression("#pr = :pr")
                            .expression_attribute_names("#pr", "pr")
                            .expression_attribute_values(":pr", n(pr)),
                        Target::Plan(key) => Delete::builder()
                            .table_name(&self.table)
                            .key("pk", s(keys::plan_pk(&key.repo, pr)))
                            .key("sk", s(keys::project_key(key))),
                    };
                    let delete = delete
                        .build()
                        .map_err(|err| self.request_error("TransactWriteItems", err))?;
                    Ok(TransactWriteItem::builder().delete(delete).build())
                })
                .collect::<Result<Vec<_>>>()?;
            match self.transact(items).await? {
                Ok(()) => released.extend(chunk.iter().filter_map(|target| match target {
                    Target::Lock(lock) => Some((*lock).clone()),
                    Target::Plan(_) => None,
                })),
                Err(err) => {
                    if !matches!(
                        err.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    ) {
                        return Err(self.request_error(
                            "TransactWriteItems",
                            aws_sdk_dynamodb::Error::from(err),
                        ));
                    }
                    for target in chunk {
                        match target {
                            Target::Lock(lock) => {
                                if let ReleaseOutcome::Released(lock) =
                                    self.delete_lock(&lock.key, Some(pr)).await?
                                {
                                    released.push(lock);
                                }
                            }
                            Target::Plan(key) => self.delete_plan(key, pr).await?,
                        }
                    }
                }
            }
        }
        Ok(released)
    }
}
