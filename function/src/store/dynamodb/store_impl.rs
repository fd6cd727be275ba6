//! The [`Store`] operations over the table: deliveries, locks (through [`super::locks`]), plan
//! records and split comments.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::items::{n, plan_item, s};
use super::{DynamoStore, REPO_INDEX, TTL_ATTRIBUTE};
use crate::store::keys::{self, ITEM_SK};
use crate::store::{
    COMMENT_PARTS_TTL, CommentKey, DeliveryOutcome, Lock, LockHolder, LockKey, LockOutcome,
    MAX_TRANSACTION_ITEMS, PartsOutcome, PlanOutcome, PlanRecord, PlanStatus, PrRelease,
    ReleaseOutcome, Result, Store, normalise_keys, now_secs,
};

impl Store for DynamoStore {
    async fn record_delivery(&self, delivery: &str, ttl: Duration) -> Result<DeliveryOutcome> {
        let now = now_secs();
        let pk = keys::delivery_pk(delivery);
        let written = self
            .put_kind((&pk, ITEM_SK), "delivery", |put| {
                put.item("received_at", n(now))
                    .item(TTL_ATTRIBUTE, n(now.saturating_add(ttl.as_secs())))
                    .condition_expression("attribute_not_exists(pk) OR #expires <= :now")
                    .expression_attribute_names("#expires", TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", n(now))
            })
            .await?;
        Ok(match written {
            Ok(_) => DeliveryOutcome::New,
            Err(_) => DeliveryOutcome::Duplicate,
        })
    }

    async fn delivery_recorded(&self, delivery: &str) -> Result<bool> {
        let pk = keys::delivery_pk(delivery);
        let Some(item) = self.get_item(pk, ITEM_SK.to_owned()).await? else {
            return Ok(false);
        };
        // DynamoDB deletes an expired item some time after it expires: until then it is gone.
        let expires = self.fields(&item).number(TTL_ATTRIBUTE)?;
        Ok(expires > now_secs())
    }

    async fn forget_delivery(&self, delivery: &str) -> Result<()> {
        let pk = keys::delivery_pk(delivery);
        // Without a condition, nothing refuses the delete.
        let _ = self.delete((&pk, ITEM_SK), |delete| delete).await?;
        Ok(())
    }

    async fn acquire_locks(&self, holder: &LockHolder, keys: &[LockKey]) -> Result<LockOutcome> {
        let keys = normalise_keys(keys)?;
        if keys.is_empty() {
            Ok(LockOutcome::Acquired)
        } else if keys.len() <= MAX_TRANSACTION_ITEMS {
            self.acquire_in_transaction(holder, &keys).await
        } else {
            self.acquire_ordered(holder, &keys).await
        }
    }

    async fn release_lock(&self, key: &LockKey, pr: Option<u64>) -> Result<ReleaseOutcome> {
        if let Some(pr) = pr {
            return self.release_idle(key, pr, false).await;
        }
        let outcome = self.delete_lock(key, None).await?;
        if let ReleaseOutcome::Released(lock) = &outcome {
            self.delete_plan(&lock.key, lock.holder.pr).await?;
        }
        Ok(outcome)
    }

    async fn release_unkept(&self, key: &LockKey, pr: u64) -> Result<ReleaseOutcome> {
        self.release_idle(key, pr, true).await
    }

    async fn release_pr(&self, repo: &str, pr: u64) -> Result<PrRelease> {
        let locks = self
            .query_all(
                Some(REPO_INDEX),
                "gsi1pk = :repo AND begins_with(gsi1sk, :pr)",
                &[
                    (":repo", s(keys::repo_index_pk(repo))),
                    (":pr", s(keys::repo_index_pr_prefix(pr))),
                ],
            )
            .await?
            .iter()
            .map(|item| self.fields(item).lock())
            .collect::<Result<Vec<_>, _>>()?;
        let plans = self
            .query_all(None, "pk = :pk", &[(":pk", s(keys::plan_pk(repo, pr)))])
            .await?
            .iter()
            .map(|item| self.fields(item).plan_head())
            .collect::<Result<Vec<_>, _>>()?;
        // The locks the merge kept stay, with their records.
        let (kept_after_merge, locks): (Vec<Lock>, Vec<Lock>) =
            locks.into_iter().partition(|lock| lock.kept_after_merge);
        let plans: Vec<_> = plans
            .into_iter()
            .filter(|(key, _)| !kept_after_merge.iter().any(|lock| lock.key == *key))
            .collect();
        let mut release = self.release_pr_items(pr, locks, &plans).await?;
        release.kept_after_merge.extend(kept_after_merge);
        release.kept_after_merge.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(release)
    }

    async fn keep_after_merge(&self, key: &LockKey, pr: u64) -> Result<bool> {
        let written = self
            .update((&keys::lock_pk(key), ITEM_SK), |update| {
                update
                    .update_expression("SET #kept = :kept")
                    .condition_expression("#pr = :pr")
                    .expression_attribute_names("#kept", "kept_after_merge")
                    .expression_attribute_names("#pr", "pr")
                    .expression_attribute_values(":kept", AttributeValue::Bool(true))
                    .expression_attribute_values(":pr", n(pr))
            })
            .await?;
        Ok(written.is_ok())
    }

    async fn get_lock(&self, key: &LockKey) -> Result<Option<Lock>> {
        let item = self
            .get_item(keys::lock_pk(key), ITEM_SK.to_owned())
            .await?;
        Ok(item.map(|item| self.fields(&item).lock()).transpose()?)
    }

    async fn list_locks(&self, repo: Option<&str>) -> Result<Vec<Lock>> {
        let items = match repo {
            Some(repo) => {
                self.query_all(
                    Some(REPO_INDEX),
                    "gsi1pk = :repo",
                    &[(":repo", s(keys::repo_index_pk(repo)))],
                )
                .await?
            }
            None => self.all_locks().await?,
        };
        let mut locks = items
            .iter()
            .map(|item| self.fields(item).lock())
            .collect::<Result<Vec<_>, _>>()?;
        locks.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(locks)
    }

    async fn write_plan(
        &self,
        plan: &PlanRecord,
        current: Option<&PlanRecord>,
    ) -> Result<PlanOutcome> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(keys::lock_pk(&plan.key)))
            .key("sk", s(ITEM_SK))
            .condition_expression("#pr = :pr")
            .expression_attribute_names("#pr", "pr")
            .expression_attribute_values(":pr", n(plan.pr))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| self.request_error("TransactWriteItems", err))?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(plan_item(plan)));
        put = match current {
            // A record written before `approvals` was kept has none (whatever its result
            // holds); the first write since sets it, so a second writer still finds a change.
            Some(read) => put
                .condition_expression(
                    "run_id = :run AND #status = :status \
                     AND (attribute_not_exists(approvals) OR approvals = :approvals)",
                )
                .expression_attribute_values(":run", s(&read.run_id))
                .expression_attribute_values(":status", s(read.status.as_str()))
                .expression_attribute_values(":approvals", n(read.approvals() as u64)),
            // Never over another run's apply (import, state rm) while it runs.
            None => put
                .condition_expression(format!("{} OR run_id = :run", super::locks::IDLE))
                .expression_attribute_values(":applying", s(PlanStatus::Applying.as_str()))
                .expression_attribute_values(":run", s(&plan.run_id)),
        }
        .expression_attribute_names("#status", "status");
        let put = put
            .build()
            .map_err(|err| self.request_error("TransactWriteItems", err))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        let Err(err) = self.transact(items).await? else {
            return Ok(PlanOutcome::Written);
        };
        // The reasons stand in the items' order: the lock's check, then the record's.
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        {
            let failed = |reason: &CancellationReason| reason.code() == Some("ConditionalCheckFailed");
            match cancelled.cancellation_reasons() {
                [lock, ..] if failed(lock) => {
                    let holder = match lock.item() {
                        Some(item) if !item.is_empty() => Some(self.fields(item).lock()?),
                        _ => None,
                    };
                    return Ok(PlanOutcome::LockNotHeld(holder));
                }
                [_, record, ..] if failed(record) => return Ok(PlanOutcome::Changed),
                _ => {}
            }
        }
        Err(self.request_error("TransactWriteItems", aws_sdk_dynamodb::Error::from(err)))
    }

    async fn get_plan(&self, key: &LockKey, pr: u64) -> Result<Option<PlanRecord>> {
        let item = self
            .get_item(keys::plan_pk(&key.repo, pr), keys::project_key(key))
            .await?;
        Ok(item.map(|item| self.fields(&item).plan()).transpose()?)
    }

    async fn list_plans(&self, repo: &str, pr: u64) -> Result<Vec<PlanRecord>> {
        let mut plans = self
            .query_all(None, "pk = :pk", &[(":pk", s(keys::plan_pk(repo, pr)))])
            .await?
            .iter()
            .map(|item| self.fields(item).plan())
            .collect::<Result<Vec<_>, _>>()?;
        plans.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(plans)
    }

    async fn comment_parts(&self, comment: CommentKey<'_>) -> Result<Vec<String>> {
        let pk = keys::comment_parts_pk(comment.repo, comment.pr);
        let item = self.get_item(pk, keys::escape(comment.comment_id)).await?;
        Ok(item
            .map(|item| self.fields(&item).parts())
            .transpose()?
            .unwrap_or_default())
    }

    async fn add_comment_parts(
        &self,
        comment: CommentKey<'_>,
        known: &[String],
        added: &[String],
    ) -> Result<PartsOutcome> {
        let pk = keys::comment_parts_pk(comment.repo, comment.pr);
        let sk = keys::escape(comment.comment_id);
        let parts: Vec<String> = known.iter().chain(added).cloned().collect();
        let now = now_secs();
        // The list only grows, by writes conditioned on its length: its length names its content.
        let condition = if known.is_empty() {
            "attribute_not_exists(pk)"
        } else {
            "#count = :known"
        };
        let written = self
            .put_kind((&pk, &sk), "comment_parts", |put| {
                let put = put
                    .item("parts", AttributeValue::L(parts.iter().map(s).collect()))
                    .item("part_count", n(parts.len() as u64))
                    .item(
                        TTL_ATTRIBUTE,
                        n(now.saturating_add(COMMENT_PARTS_TTL.as_secs())),
                    )
                    .condition_expression(condition);
                if known.is_empty() {
                    put
                } else {
                    put.expression_attribute_names("#count", "part_count")
                        .expression_attribute_values(":known", n(known.len() as u64))
                }
            })
            .await?;
        if written.is_ok() {
            return Ok(PartsOutcome::Written(parts));
        }
        let current = self
            .get_item(pk, sk)
            .await?
            .map(|item| self.fields(&item).parts())
            .transpose()?
            .unwrap_or_default();
        Ok(PartsOutcome::Changed(current))
    }
}
