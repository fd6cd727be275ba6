//! Single-item writes whose refused condition is an outcome, not an error: a put, an update and
//! a delete.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;

use super::items::s;
use super::{DynamoStore, Item, is_transient};
use crate::store::Result;

/// A written item's old attributes (`Ok`), or the item that failed the write's condition (`Err`);
/// `None` when there is none or the request did not ask for it.
pub(super) type Written = std::result::Result<Option<Item>, Option<Item>>;

/// The write errors that say the write's condition failed, with the item that failed it.
trait Refusal {
    fn refusal(&self) -> Option<&ConditionalCheckFailedException>;
}

impl Refusal for PutItemError {
    fn refusal(&self) -> Option<&ConditionalCheckFailedException> {
        match self {
            Self::ConditionalCheckFailedException(failed) => Some(failed),
            _ => None,
        }
    }
}

impl Refusal for UpdateItemError {
    fn refusal(&self) -> Option<&ConditionalCheckFailedException> {
        match self {
            Self::ConditionalCheckFailedException(failed) => Some(failed),
            _ => None,
        }
    }
}

impl Refusal for DeleteItemError {
    fn refusal(&self) -> Option<&ConditionalCheckFailedException> {
        match self {
            Self::ConditionalCheckFailedException(failed) => Some(failed),
            _ => None,
        }
    }
}

/// An item, or `None` for an absent or empty one.
fn present(item: Option<&Item>) -> Option<Item> {
    item.filter(|item| !item.is_empty()).cloned()
}

impl DynamoStore {
    /// Puts the item `request` describes on a `PutItem` of the table.
    pub(super) async fn put(
        &self,
        request: impl Fn(PutItemFluentBuilder) -> PutItemFluentBuilder,
    ) -> Result<Written> {
        let send = || request(self.client.put_item().table_name(&self.table)).send();
        let outcome = self
            .retrying("PutItem", is_transient::<PutItemError>, send)
            .await?;
        self.written(
            "PutItem",
            outcome.map(|output| present(output.attributes())),
        )
    }

    /// Puts the item `pk`/`sk` of `kind`, with the attributes and condition `request` adds.
    pub(super) async fn put_kind(
        &self,
        (pk, sk): (&str, &str),
        kind: &str,
        request: impl Fn(PutItemFluentBuilder) -> PutItemFluentBuilder,
    ) -> Result<Written> {
        self.put(|put| {
            request(
                put.item("pk", s(pk))
                    .item("sk", s(sk))
                    .item("kind", s(kind)),
            )
        })
        .await
    }

    /// Updates the item `pk`/`sk` as `request` says (its expressions and condition).
    pub(super) async fn update(
        &self,
        (pk, sk): (&str, &str),
        request: impl Fn(UpdateItemFluentBuilder) -> UpdateItemFluentBuilder,
    ) -> Result<Written> {
        let outcome = self
            .retrying("UpdateItem", is_transient::<UpdateItemError>, || {
                let key = self.client.update_item().table_name(&self.table);
                request(key.key("pk", s(pk)).key("sk", s(sk))).send()
            })
            .await?;
        self.written(
            "UpdateItem",
            outcome.map(|output| present(output.attributes())),
        )
    }

    /// Deletes the item `pk`/`sk`, with the condition and return values `request` adds.
    pub(super) async fn delete(
        &self,
        (pk, sk): (&str, &str),
        request: impl Fn(DeleteItemFluentBuilder) -> DeleteItemFluentBuilder,
    ) -> Result<Written> {
        let outcome = self
            .retrying("DeleteItem", is_transient::<DeleteItemError>, || {
                let key = self.client.delete_item().table_name(&self.table);
                request(key.key("pk", s(pk)).key("sk", s(sk))).send()
            })
            .await?;
        self.written(
            "DeleteItem",
            outcome.map(|output| present(output.attributes())),
        )
    }

    /// A write's outcome: its old item, the item that refused it, or an error.
    fn written<E: Refusal, R>(
        &self,
        operation: &'static str,
        outcome: std::result::Result<Option<Item>, SdkError<E, R>>,
    ) -> Result<Written>
    where
        aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
    {
        match outcome {
            Ok(old) => Ok(Ok(old)),
            Err(err) => match err.as_service_error().and_then(Refusal::refusal) {
                Some(failed) => Ok(Err(present(failed.item()))),
                None => Err(self.request_error(operation, aws_sdk_dynamodb::Error::from(err))),
            },
        }
    }
}
