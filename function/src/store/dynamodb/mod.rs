//! The production store: one DynamoDB table (`pk`/`sk`, TTL on `expires_at`) holding four kinds
//! of items, written only with conditions:
//!
//! | item | `pk` | `sk` | written by |
//! |---|---|---|---|
//! | lock | `lock#<repo>#<dir>#<workspace>#<project>` | `item` | `Update` if absent or held by the same PR |
//! | plan record | `plan#<repo>#<pr>` | `<dir>#<workspace>#<project>` | `Put`, in a transaction with a `ConditionCheck` on the lock |
//! | delivery | `delivery#<id>` | `item` | `PutItem` if absent or expired |
//! | split comment | `comment#<repo>#<pr>` | `<comment id>` | `PutItem` if absent or its `part_count` is unchanged |
//!
//! Locks carry `gsi1pk = repo#<repo>` and `gsi1sk = <pr>#<project>` for the sparse index
//! [`REPO_INDEX`], which lists a repository's or a PR's locks without a scan. Locks, and plan
//! records while their run is in progress, carry `gsi2pk` (`lock`, `run`) for the sparse index
//! [`SWEEP_INDEX`], which lists every lock and every unfinished run without a scan. Every
//! project's lock is its own partition, so lock traffic spreads across the table.
//!
//! Up to [`MAX_TRANSACTION_ITEMS`](super::MAX_TRANSACTION_ITEMS) locks are taken in one
//! `TransactWriteItems`; larger sets one by one in key order, rolled back if one is refused.
//! Throttling, server errors and transaction conflicts are retried with [`Backoff`]; everything
//! else surfaces as a [`DynamoError`].
//!
//! This file holds the client and its requests (retries, pages); [`items`] encodes and reads the
//! items, [`locks`] holds the lock algorithms and `store_impl` the [`Store`](super::Store)
//! operations over them.

mod apply_lock;
mod drift;
mod items;
mod locks;
mod pull_head;
mod queue;
mod store_impl;
mod sweep;
#[cfg(any(test, feature = "test-support"))]
mod table;
mod write;

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use self::items::{Item, s};
use super::keys;
use super::retry::Backoff;
use super::{LockKey, Result, StoreError};

/// The sparse global secondary index over locks: hash `gsi1pk`, range `gsi1sk`, all attributes.
pub const REPO_INDEX: &str = "by_repo";

/// The sparse index of what the sweeper looks at: every lock (`gsi2pk = lock`) and every plan
/// record whose run is in progress (`gsi2pk = run`), sorted by `sk`. Finished records are not in
/// it, so a sweep reads as many items as there are locks and unfinished runs, whatever the
/// table holds.
pub const SWEEP_INDEX: &str = "by_state";
/// The attribute DynamoDB's TTL reads (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How long one attempt may take before it is abandoned and retried: DynamoDB answers in
/// milliseconds, and a stuck connection must not eat a webhook's time budget.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong talking to DynamoDB. A failed condition is never one of these: it is an
/// outcome ([`LockOutcome::HeldBy`], [`DeliveryOutcome::Duplicate`], ...).
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// A request failed with an error that retrying would not fix (permissions, a missing
    /// table, a validation error).
    #[error("DynamoDB {operation} on table {table} failed")]
    Request {
        /// The API action, such as `TransactWriteItems`.
        operation: &'static str,
        /// The table.
        table: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
    /// Throttling, server errors or transaction conflicts persisted through every retry.
    #[error("DynamoDB {operation} on table {table} still failed after {attempts} attempts")]
    RetriesExhausted {
        /// The API action.
        operation: &'static str,
        /// The table.
        table: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: BoxError,
    },
    /// An item does not have the shape this version writes.
    #[error("item {pk:?} in table {table} is malformed: {reason}")]
    Malformed {
        /// The table.
        table: String,
        /// The item's partition key.
        pk: String,
        /// What is wrong.
        reason: String,
    },
}

/// The DynamoDB store. Cheap to clone: the SDK client is shared.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    backoff: Backoff,
}

/// Every item of a read that comes in pages: `page` reads the page that starts after the key it
/// is given (the first page for `None`) and returns its items and its last key, if any; the
/// read ends at a page without one.
async fn all_pages<Fut>(mut page: impl FnMut(Option<Item>) -> Fut) -> Result<Vec<Item>>
where
    Fut: Future<Output = Result<(Vec<Item>, Option<Item>)>>,
{
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (found, last) = page(start).await?;
        items.extend(found);
        match last {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

/// Whether a failed request is worth retrying: throttled, timed out, or answered with a server
/// error (any 5xx, even one whose body is not DynamoDB's JSON, as a load balancer's page is not).
fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) if service.raw().status().is_server_error() => true,
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    }
}

/// Whether a `TransactWriteItems` failure is worth retrying: transient, or cancelled only for
/// conflicts and throttling (no condition failed).
fn is_transient_transaction(err: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .filter_map(|reason| reason.code())
            .collect();
        return !codes.contains(&"ConditionalCheckFailed")
            && codes.iter().any(|code| {
                matches!(
                    *code,
                    "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                )
            });
    }
    is_transient(err)
}

impl DynamoStore {
    /// A store on `table` through `client` (built once at start-up from the environment, see
    /// [`StoreConfig`](super::StoreConfig)). The SDK's own retries are switched off: this store
    /// retries throttling, conflicts and timeouts itself, with [`Backoff::default`]; each attempt
    /// is bounded by [`ATTEMPT_TIMEOUT`].
    #[must_use]
    pub fn new(client: &Client, table: impl Into<String>) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
            backoff: Backoff::default(),
        }
    }

    /// The same store with another retry policy.
    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The table.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    fn request_error(&self, operation: &'static str, source: impl Into<BoxError>) -> StoreError {
        StoreError::DynamoDb(DynamoError::Request {
            operation,
            table: self.table.clone(),
            source: source.into(),
        })
    }

    /// Runs `send` until it succeeds, fails for good, or the retry budget runs out. A failure
    /// that `transient` rejects is returned as `Ok(Err(..))` for the caller to interpret (a
    /// failed condition is an outcome, not an error).
    async fn retrying<T, E, R, Fut>(
        &self,
        operation: &'static str,
        transient: fn(&SdkError<E, R>) -> bool,
        mut send: impl FnMut() -> Fut,
    ) -> Result<std::result::Result<T, SdkError<E, R>>>
    where
        Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
        SdkError<E, R>: std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match send().await {
                Err(err) if transient(&err) => {
                    if attempt >= self.backoff.max_attempts {
                        return Err(StoreError::DynamoDb(DynamoError::RetriesExhausted {
                            operation,
                            table: self.table.clone(),
                            attempts: attempt,
                            source: Box::new(err),
                        }));
                    }
                    tracing::debug!(operation, attempt, error = %err, "retrying DynamoDB request");
                    tokio::time::sleep(self.backoff.jittered(attempt - 1)).await;
                }
                other => return Ok(other),
            }
        }
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<std::result::Result<(), SdkError<TransactWriteItemsError>>> {
        // One token for every attempt: DynamoDB applies a retried transaction whose first
        // attempt did succeed (a lost response, a timeout) only once, for ten minutes.
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let outcome = self
            .retrying("TransactWriteItems", is_transient_transaction, || {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items.clone()))
                    .client_request_token(&token)
                    .send()
            })
            .await?;
        Ok(outcome.map(drop))
    }

    async fn delete_plan(&self, key: &LockKey, pr: u64) -> Result<()> {
        let (pk, sk) = (keys::plan_pk(&key.repo, pr), keys::project_key(key));
        // Without a condition, nothing refuses the delete.
        let _ = self.delete((&pk, &sk), |delete| delete).await?;
        Ok(())
    }

    /// Every item a query returns, following pages.
    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>> {
        all_pages(|start| async move {
            let outcome = self
                .retrying("Query", is_transient, || {
                    let mut request = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .set_index_name(index.map(str::to_owned))
                        .key_condition_expression(condition)
                        .set_exclusive_start_key(start.clone());
                    for (name, value) in values {
                        request = request.expression_attribute_values(*name, value.clone());
                    }
                    if index.is_none() {
                        request = request.consistent_read(true);
                    }
                    request.send()
                })
                .await?;
            let page = outcome
                .map_err(|err| self.request_error("Query", aws_sdk_dynamodb::Error::from(err)))?;
            Ok((page.items().to_vec(), page.last_evaluated_key().cloned()))
        })
        .await
    }

    /// Every lock, from the sweep index (the sweeper, and `locks list` across repositories).
    async fn all_locks(&self) -> Result<Vec<Item>> {
        self.query_all(
            Some(SWEEP_INDEX),
            "gsi2pk = :lock",
            &[(":lock", s(keys::SWEEP_LOCK))],
        )
        .await
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>> {
        let outcome = self
            .retrying("GetItem", is_transient, || {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(&pk))
                    .key("sk", s(&sk))
                    .consistent_read(true)
                    .send()
            })
            .await?;
        let output = outcome
            .map_err(|err| self.request_error("GetItem", aws_sdk_dynamodb::Error::from(err)))?;
        Ok(output.item().filter(|item| !item.is_empty()).cloned())
    }
}
