//! The global apply lock in the table: one item, `pk = apply-lock`, written only if absent.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::items::{n, s};
use super::{DynamoStore, is_transient};
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
        let outcome = self
            .retrying("PutItem", is_transient::<PutItemError, _>, || {
                let request = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(APPLY_LOCK_PK))
                    .item("sk", s(ITEM_SK))
                    .item("kind", s("apply_lock"))
                    .item("by", s(&lock.by))
                    .item("since", n(lock.since))
                    .condition_expression("attribute_not_exists(pk)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                match &lock.reason {
                    Some(reason) => request.item("reason", s(reason)),
                    None => request,
                }
                .send()
            })
            .await?;
        match outcome {
            Ok(_) => Ok(None),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(item) if !item.is_empty() => Ok(Some(self.fields(item).apply_lock()?)),
                        // Cleared in between: the caller may try again.
                        _ => Ok(self.apply_lock().await?),
                    }
                }
                _ => Err(self.request_error("PutItem", aws_sdk_dynamodb::Error::from(err))),
            },
        }
    }

    async fn clear_apply_lock(&self) -> Result<Option<ApplyLock>> {
        let output = self
            .retrying("DeleteItem", is_transient::<DeleteItemError, _>, || {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(APPLY_LOCK_PK))
                    .key("sk", s(ITEM_SK))
                    .return_values(ReturnValue::AllOld)
                    .send()
            })
            .await?
            .map_err(|err| self.request_error("DeleteItem", aws_sdk_dynamodb::Error::from(err)))?;
        match output.attributes() {
            Some(item) if !item.is_empty() => Ok(Some(self.fields(item).apply_lock()?)),
            _ => Ok(None),
        }
    }
}
