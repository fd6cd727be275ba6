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
//! [`REPO_INDEX`], which lists a repository's or a PR's locks without a scan. Every project's
//! lock is its own partition, so lock traffic spreads across the table.
//!
//! Up to [`MAX_TRANSACTION_ITEMS`] locks are taken in one `TransactWriteItems`; larger sets one by
//! one in key order, rolled back if one is refused. Throttling, server errors and transaction
//! conflicts are retried with [`Backoff`]; everything else surfaces as a [`DynamoError`].

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};

use super::keys::{self, ITEM_SK};
use super::retry::Backoff;
use super::{
    COMMENT_PARTS_TTL, DeliveryOutcome, Lock, LockHolder, LockKey, LockOutcome,
    MAX_TRANSACTION_ITEMS, PartsOutcome, PlanOutcome, PlanRecord, PlanStatus, ReleaseOutcome,
    Result, Store, StoreError, StoredArtifact, normalise_keys, now_secs,
};

/// The sparse global secondary index over locks: hash `gsi1pk`, range `gsi1sk`, all attributes.
pub const REPO_INDEX: &str = "by_repo";
/// The attribute DynamoDB's TTL reads (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How long one attempt may take before it is abandoned and retried: DynamoDB answers in
/// milliseconds, and a stuck connection must not eat a webhook's time budget.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type Item = HashMap<String, AttributeValue>;
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

/// Whether a failed request is worth retrying.
fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
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
fn is_transient_transaction<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The pieces of a conditional update of a lock item, shared by the transactional and the
/// one-by-one paths.
struct LockWrite {
    pk: String,
    update: String,
    condition: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl LockWrite {
    fn new(key: &LockKey, holder: &LockHolder, now: u64) -> Self {
        let mut fields = vec![
            ("kind", s("lock")),
            ("repo", s(&key.repo)),
            ("dir", s(&key.dir)),
            ("workspace", s(&key.workspace)),
            ("pr", n(holder.pr)),
            ("user", s(&holder.user)),
            ("head_sha", s(&holder.head_sha)),
            ("pull_url", s(&holder.pull_url)),
            ("gsi1pk", s(keys::repo_index_pk(&key.repo))),
            ("gsi1sk", s(keys::repo_index_sk(key, holder.pr))),
        ];
        if let Some(project) = &key.project {
            fields.push(("project", s(project)));
        }
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut clauses = Vec::new();
        for (name, value) in fields {
            names.insert(format!("#{name}"), name.to_owned());
            values.insert(format!(":{name}"), value);
            clauses.push(format!("#{name} = :{name}"));
        }
        names.insert("#since".into(), "since".into());
        values.insert(":now".into(), n(now));
        clauses.push("#since = if_not_exists(#since, :now)".into());
        Self {
            pk: keys::lock_pk(key),
            update: format!("SET {}", clauses.join(", ")),
            condition: "attribute_not_exists(pk) OR #pr = :pr",
            names,
            values,
        }
    }
}

/// Reads the attributes of items this module wrote.
struct Fields<'a> {
    table: &'a str,
    item: &'a Item,
}

impl Fields<'_> {
    fn malformed(&self, reason: String) -> DynamoError {
        DynamoError::Malformed {
            table: self.table.to_owned(),
            pk: self
                .item
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            reason,
        }
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, DynamoError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.clone())),
            Some(other) => Err(self.malformed(format!("{name} is not a string: {other:?}"))),
        }
    }

    fn s(&self, name: &str) -> Result<String, DynamoError> {
        self.opt_s(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    fn n(&self, name: &str) -> Result<u64, DynamoError> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => value
                .parse()
                .map_err(|_| self.malformed(format!("{name} is not an unsigned integer: {value}"))),
            other => Err(self.malformed(format!("{name} is not a number: {other:?}"))),
        }
    }

    /// A split comment's part ids (`parts`, a list of strings).
    fn parts(&self) -> Result<Vec<String>, DynamoError> {
        match self.item.get("parts") {
            Some(AttributeValue::L(values)) => values
                .iter()
                .map(|value| match value {
                    AttributeValue::S(id) => Ok(id.clone()),
                    other => Err(self.malformed(format!("a part id is not a string: {other:?}"))),
                })
                .collect(),
            other => Err(self.malformed(format!("parts is not a list: {other:?}"))),
        }
    }

    fn key(&self) -> Result<LockKey, DynamoError> {
        Ok(LockKey {
            repo: self.s("repo")?,
            dir: self.s("dir")?,
            workspace: self.s("workspace")?,
            project: self.opt_s("project")?,
        })
    }

    fn lock(&self) -> Result<Lock, DynamoError> {
        Ok(Lock {
            key: self.key()?,
            holder: LockHolder {
                pr: self.n("pr")?,
                user: self.s("user")?,
                head_sha: self.s("head_sha")?,
                pull_url: self.s("pull_url")?,
            },
            since: self.n("since")?,
        })
    }

    fn plan(&self) -> Result<PlanRecord, DynamoError> {
        let status = self.s("status")?;
        let planfile = match self.opt_s("planfile_key")? {
            Some(key) => Some(StoredArtifact {
                key,
                sha256: self.s("planfile_sha256")?,
                size: self.n("planfile_size")?,
            }),
            None => None,
        };
        Ok(PlanRecord {
            key: self.key()?,
            pr: self.n("pr")?,
            head_sha: self.s("head_sha")?,
            run_id: self.s("run_id")?,
            status: PlanStatus::parse(&status)
                .ok_or_else(|| self.malformed(format!("unknown plan status {status:?}")))?,
            planfile,
            updated_at: self.n("updated_at")?,
            trigger: self.opt_s("trigger")?,
            result: match self.opt_s("result")? {
                Some(json) => Some(
                    serde_json::from_str(&json)
                        .map_err(|err| self.malformed(format!("unreadable run result: {err}")))?,
                ),
                None => None,
            },
        })
    }
}

fn plan_item(plan: &PlanRecord) -> Item {
    let mut item: Item = [
        ("pk", s(keys::plan_pk(&plan.key.repo, plan.pr))),
        ("sk", s(keys::project_key(&plan.key))),
        ("kind", s("plan")),
        ("repo", s(&plan.key.repo)),
        ("dir", s(&plan.key.dir)),
        ("workspace", s(&plan.key.workspace)),
        ("pr", n(plan.pr)),
        ("head_sha", s(&plan.head_sha)),
        ("run_id", s(&plan.run_id)),
        ("status", s(plan.status.as_str())),
        ("updated_at", n(plan.updated_at)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    if let Some(project) = &plan.key.project {
        item.insert("project".into(), s(project));
    }
    if let Some(planfile) = &plan.planfile {
        item.insert("planfile_key".into(), s(&planfile.key));
        item.insert("planfile_sha256".into(), s(&planfile.sha256));
        item.insert("planfile_size".into(), n(planfile.size));
    }
    if let Some(trigger) = &plan.trigger {
        item.insert("trigger".into(), s(trigger));
    }
    if let Some(result) = &plan.result {
        let json = serde_json::to_string(result).expect("a run result serialises");
        item.insert("result".into(), s(json));
    }
    item
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

    fn fields<'a>(&'a self, item: &'a Item) -> Fields<'a> {
        Fields {
            table: &self.table,
            item,
        }
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

    /// Creates the table as the rendered Terraform does (plus the [`REPO_INDEX`] index) and turns
    /// on TTL; for tests and local endpoints.
    pub async fn create_table(&self) -> Result<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definitions have a name and a type")
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema elements have a name and a type")
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(REPO_INDEX)
            .key_schema(key("gsi1pk", KeyType::Hash))
            .key_schema(key("gsi1sk", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|err| self.request_error("CreateTable", err))?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .attribute_definitions(attribute("gsi1pk"))
            .attribute_definitions(attribute("gsi1sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(index)
            .send()
            .await
            .map_err(|err| self.request_error("CreateTable", aws_sdk_dynamodb::Error::from(err)))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|err| self.request_error("UpdateTimeToLive", err))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|err| {
                self.request_error("UpdateTimeToLive", aws_sdk_dynamodb::Error::from(err))
            })?;
        Ok(())
    }

    /// Takes up to [`MAX_TRANSACTION_ITEMS`] locks in one transaction.
    async fn acquire_in_transaction(
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
            .retrying("UpdateItem", is_transient::<UpdateItemError, _>, || {
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
    async fn acquire_ordered(&self, holder: &LockHolder, keys: &[LockKey]) -> Result<LockOutcome> {
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
    async fn delete_lock(&self, key: &LockKey, pr: Option<u64>) -> Result<ReleaseOutcome> {
        let pk = keys::lock_pk(key);
        let outcome = self
            .retrying("DeleteItem", is_transient::<DeleteItemError, _>, || {
                let request = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(&pk))
                    .key("sk", s(ITEM_SK))
                    .return_values(ReturnValue::AllOld)
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                match pr {
                    Some(pr) => request
                        .condition_expression("attribute_exists(pk) AND #pr = :pr")
                        .expression_attribute_names("#pr", "pr")
                        .expression_attribute_values(":pr", n(pr)),
                    None => request.condition_expression("attribute_exists(pk)"),
                }
                .send()
            })
            .await?;
        match outcome {
            Ok(output) => match output.attributes() {
                Some(item) if !item.is_empty() => {
                    Ok(ReleaseOutcome::Released(self.fields(item).lock()?))
                }
                _ => Ok(ReleaseOutcome::NotLocked),
            },
            Err(err) => {
                if let Some(DeleteItemError::ConditionalCheckFailedException(failed)) =
                    err.as_service_error()
                {
                    return match failed.item() {
                        Some(item) if !item.is_empty() => {
                            Ok(ReleaseOutcome::HeldBy(self.fields(item).lock()?))
                        }
                        _ => Ok(ReleaseOutcome::NotLocked),
                    };
                }
                Err(self.request_error("DeleteItem", aws_sdk_dynamodb::Error::from(err)))
            }
        }
    }

    async fn delete_plan(&self, key: &LockKey, pr: u64) -> Result<()> {
        let outcome = self
            .retrying("DeleteItem", is_transient::<DeleteItemError, _>, || {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(keys::plan_pk(&key.repo, pr)))
                    .key("sk", s(keys::project_key(key)))
                    .send()
            })
            .await?;
        outcome
            .map(drop)
            .map_err(|err| self.request_error("DeleteItem", aws_sdk_dynamodb::Error::from(err)))
    }

    /// Every item a query returns, following pages.
    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
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
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Every lock item, by scanning the table (the operator's `locks list` across repos).
    async fn scan_locks(&self) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let outcome = self
                .retrying("Scan", is_transient, || {
                    self.client
                        .scan()
                        .table_name(&self.table)
                        .filter_expression("#kind = :lock")
                        .expression_attribute_names("#kind", "kind")
                        .expression_attribute_values(":lock", s("lock"))
                        .set_exclusive_start_key(start.clone())
                        .send()
                })
                .await?;
            let page = outcome
                .map_err(|err| self.request_error("Scan", aws_sdk_dynamodb::Error::from(err)))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
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

    /// Deletes a PR's locks and plan records with transactions of up to 100 deletes; a chunk
    /// cancelled because a lock changed hands falls back to one-by-one deletes.
    async fn delete_pr_items(
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

impl Store for DynamoStore {
    async fn record_delivery(&self, delivery: &str, ttl: Duration) -> Result<DeliveryOutcome> {
        let now = now_secs();
        let pk = keys::delivery_pk(delivery);
        let outcome = self
            .retrying("PutItem", is_transient::<PutItemError, _>, || {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(&pk))
                    .item("sk", s(ITEM_SK))
                    .item("kind", s("delivery"))
                    .item("received_at", n(now))
                    .item(TTL_ATTRIBUTE, n(now.saturating_add(ttl.as_secs())))
                    .condition_expression("attribute_not_exists(pk) OR #expires <= :now")
                    .expression_attribute_names("#expires", TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", n(now))
                    .send()
            })
            .await?;
        match outcome {
            Ok(_) => Ok(DeliveryOutcome::New),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(DeliveryOutcome::Duplicate)
            }
            Err(err) => Err(self.request_error("PutItem", aws_sdk_dynamodb::Error::from(err))),
        }
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
        let outcome = self.delete_lock(key, pr).await?;
        if let ReleaseOutcome::Released(lock) = &outcome {
            self.delete_plan(&lock.key, lock.holder.pr).await?;
        }
        Ok(outcome)
    }

    async fn release_pr(&self, repo: &str, pr: u64) -> Result<Vec<Lock>> {
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
            .map(|item| self.fields(item).key())
            .collect::<Result<Vec<_>, _>>()?;
        let mut released = self.delete_pr_items(pr, &locks, &plans).await?;
        released.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(released)
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
            None => self.scan_locks().await?,
        };
        let mut locks = items
            .iter()
            .map(|item| self.fields(item).lock())
            .collect::<Result<Vec<_>, _>>()?;
        locks.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(locks)
    }

    async fn put_plan(&self, plan: &PlanRecord) -> Result<PlanOutcome> {
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
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(plan_item(plan)))
            .build()
            .map_err(|err| self.request_error("TransactWriteItems", err))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        let Err(err) = self.transact(items).await? else {
            return Ok(PlanOutcome::Written);
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
            && let Some(reason) = cancelled.cancellation_reasons().first()
            && reason.code() == Some("ConditionalCheckFailed")
        {
            let holder = match reason.item() {
                Some(item) if !item.is_empty() => Some(self.fields(item).lock()?),
                _ => None,
            };
            return Ok(PlanOutcome::LockNotHeld(holder));
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

    async fn comment_parts(&self, repo: &str, pr: u64, comment_id: &str) -> Result<Vec<String>> {
        let item = self
            .get_item(keys::comment_parts_pk(repo, pr), keys::escape(comment_id))
            .await?;
        Ok(item
            .map(|item| self.fields(&item).parts())
            .transpose()?
            .unwrap_or_default())
    }

    async fn add_comment_parts(
        &self,
        repo: &str,
        pr: u64,
        comment_id: &str,
        known: &[String],
        added: &[String],
    ) -> Result<PartsOutcome> {
        let (pk, sk) = (keys::comment_parts_pk(repo, pr), keys::escape(comment_id));
        let parts: Vec<String> = known.iter().chain(added).cloned().collect();
        let now = now_secs();
        // The list only grows, by writes conditioned on its length: its length names its content.
        let condition = if known.is_empty() {
            "attribute_not_exists(pk)"
        } else {
            "#count = :known"
        };
        let outcome = self
            .retrying("PutItem", is_transient::<PutItemError, _>, || {
                let mut put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(&pk))
                    .item("sk", s(&sk))
                    .item("kind", s("comment_parts"))
                    .item("parts", AttributeValue::L(parts.iter().map(s).collect()))
                    .item("part_count", n(parts.len() as u64))
                    .item(
                        TTL_ATTRIBUTE,
                        n(now.saturating_add(COMMENT_PARTS_TTL.as_secs())),
                    )
                    .condition_expression(condition);
                if !known.is_empty() {
                    put = put
                        .expression_attribute_names("#count", "part_count")
                        .expression_attribute_values(":known", n(known.len() as u64));
                }
                put.send()
            })
            .await?;
        match outcome {
            Ok(_) => Ok(PartsOutcome::Written(parts)),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                let current = self
                    .get_item(pk, sk)
                    .await?
                    .map(|item| self.fields(&item).parts())
                    .transpose()?
                    .unwrap_or_default();
                Ok(PartsOutcome::Changed(current))
            }
            Err(err) => Err(self.request_error("PutItem", aws_sdk_dynamodb::Error::from(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> LockHolder {
        LockHolder {
            pr: 7,
            user: "alice".into(),
            head_sha: "abc".into(),
            pull_url: "https://example.test/pr/7".into(),
        }
    }

    #[test]
    fn a_lock_write_is_conditional_on_absence_or_the_same_pr_and_keeps_since() {
        let write = LockWrite::new(&LockKey::new("o/r", ".", "default"), &holder(), 100);
        assert_eq!(write.condition, "attribute_not_exists(pk) OR #pr = :pr");
        assert!(
            write
                .update
                .contains("#since = if_not_exists(#since, :now)")
        );
        assert_eq!(write.values[":pr"], n(7));
        assert!(
            !write.names.contains_key("#project"),
            "no project name, no attribute"
        );
    }

    #[test]
    fn every_placeholder_in_a_lock_write_is_used_and_defined() {
        let key = LockKey::new("o/r", ".", "default").named("p");
        let write = LockWrite::new(&key, &holder(), 100);
        let text = format!("{} {}", write.update, write.condition);
        for name in write.names.keys() {
            assert!(text.contains(name.as_str()), "{name} unused");
        }
        for value in write.values.keys() {
            assert!(text.contains(value.as_str()), "{value} unused");
        }
    }

    #[test]
    fn plan_items_round_trip_through_their_attributes() {
        let plan = PlanRecord {
            key: LockKey::new("o/r", "envs/prod", "default").named("prod"),
            pr: 7,
            head_sha: "abc".into(),
            run_id: "run-1".into(),
            status: PlanStatus::Planned,
            planfile: Some(StoredArtifact {
                key: "planfiles/x".into(),
                sha256: "00".repeat(32),
                size: 12,
            }),
            updated_at: 5,
            trigger: Some("delivery-1".into()),
            result: Some(crate::run::ProjectResult {
                name: Some("prod".into()),
                dir: "envs/prod".into(),
                workspace: "default".into(),
                command: crate::run::RunCommand::Plan,
                outcome: crate::run::Outcome::Refused {
                    reason: "a \"quoted\" reason\nover two lines".into(),
                },
                log: Some(StoredArtifact {
                    key: "logs/x".into(),
                    sha256: "cd".repeat(32),
                    size: 9,
                }),
            }),
        };
        let item = plan_item(&plan);
        let fields = Fields {
            table: "t",
            item: &item,
        };
        assert_eq!(fields.plan().unwrap(), plan);
    }

    #[test]
    fn a_malformed_item_names_its_key_and_what_is_wrong() {
        let item: Item = [
            ("pk".to_owned(), s("lock#x")),
            ("pr".to_owned(), s("seven")),
        ]
        .into();
        let err = Fields {
            table: "t",
            item: &item,
        }
        .lock()
        .unwrap_err();
        assert!(err.to_string().contains("lock#x"), "{err}");
    }
}
