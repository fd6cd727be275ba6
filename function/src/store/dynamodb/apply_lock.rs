//! The global apply lock in the table: one item, `pk = apply-lock`, written only if absent.

use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::DynamoStore;
use super::items::{n, s};
use crate::store::keys::{APPLY_LOCK_PK, ITEM_SK};
use crate::store::{ApplyLock, ApplyLocks, Result};

impl ApplyLocks for DynamoStore {
    async fn apply_lock(&self) -> Result<Option<ApplyLock>> {
        let item = self
            .get_item(APPLY_LOCK_PK.to_owned(), ITEM_SK.to_owned())
            .await?;
        Ok(item
            .map(|item| self.fields(&item).apply_lock())
            .transpose()?)
    }

    async fn set_apply_lock(&self, lock: &ApplyLock) -> Result<Option<ApplyLock>> {
        let written = self
            .put_kind((APPLY_LOCK_PK, ITEM_SK), "apply_lock", |put| {
                let put = put
                    .item("by", s(&lock.by))
                    .item("since", n(lock.since))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                match &lock.reason {
                    Some(reason) => put.item("reason", s(reason)),
                    None => put,
                }
            })
            .await?;
        match written {
            Ok(_) => Ok(None),
            Err(Some(held)) => Ok(Some(self.fields(&held).apply_lock()?)),
            // Cleared in between: the caller may try again.
            Err(None) => Ok(self.apply_lock().await?),
        }
    }

    async fn clear_apply_lock(&self) -> Result<Option<ApplyLock>> {
        let written = self
            .delete((APPLY_LOCK_PK, ITEM_SK), |delete| {
                delete.return_values(ReturnValue::AllOld)
            })
            .await?;
        // Without a condition, nothing refuses the delete.
        let cleared = written.ok().flatten();
        Ok(cleared
            .map(|item| self.fields(&item).apply_lock())
            .transpose()?)
    }
}
