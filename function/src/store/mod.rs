//! State that survives restarts and scales out with the function: per-project locks held by pull
//! requests, plan records bound to a head commit and a planfile checksum, and webhook delivery
//! records that de-duplicate redeliveries.
//!
//! One [`Store`] trait, two real implementations held to one contract suite
//! (`function/tests/store/store_contract.rs`):
//!
//! - [`dynamodb::DynamoStore`], production: a single DynamoDB table keyed on `pk`/`sk`, conditional
//!   writes only, one `TransactWriteItems` for up to 100 locks, throttling and transaction
//!   conflicts retried with backoff and jitter.
//! - [`embedded::EmbeddedStore`], the default outside AWS: a redb file, so a laptop or demo run
//!   keeps its locks across restarts.
//!
//! Planfiles and logs go to an [`artifacts::Artifacts`] store (S3 or a local folder), checked by
//! SHA-256 on the way back. [`config::StoreConfig`] reads the environment once; [`ops`] holds the
//! operator commands behind `landfall locks`. The key layout is described in `docs/store.md`.

mod any_artifacts;
pub mod artifacts;
pub mod keys;
pub mod presigned;
mod record;
pub mod retry;
#[cfg(not(feature = "function"))]
mod s3_artifacts_absent;

function_only! {
    pub mod config;
    pub mod drift;
    pub mod drift_ops;
    pub mod dynamodb;
    pub mod embedded;
    pub mod ops;
    pub mod pull_head;
    pub mod queue;
    mod s3_artifacts;
    mod sweep;
}

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[cfg(feature = "function")]
use crate::forward::forward_to_variants;

pub use crate::run::LockKey;
function_only! {
    pub use config::{ConnectError, StoreConfig};
    pub use dynamodb::{DynamoError, DynamoStore};
    pub use embedded::{EmbeddedError, EmbeddedStore};
    pub use drift::{DriftRecord, DriftState, Drifts, Remediation, RepoDrift, TrackedIssue};
    pub use pull_head::{HeadKey, PullHeads};
    pub use queue::{QueueKey, QueuedGroups, RunQueues, TakenGroup};
    pub use sweep::Sweeps;
}
pub use any_artifacts::AnyArtifacts;
pub use artifacts::{ArtifactError, Artifacts, StoredArtifact};
pub use record::{PlanRecord, PlanStatus};

/// The most locks taken in one DynamoDB transaction; `TransactWriteItems` accepts 100 actions.
/// Larger sets are taken one by one in key order and rolled back on refusal.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// How long DynamoDB keeps the record of a split comment's part comments: a command's runs
/// finish within hours, and a later command gets a comment (and a record) of its own.
pub const COMMENT_PARTS_TTL: Duration = Duration::from_hours(30 * 24);

/// How long a delivery record de-duplicates redeliveries. GitHub lets a user redeliver for three
/// days, GitLab and Bitbucket retry within hours; a week covers all of them.
pub const DELIVERY_TTL: Duration = Duration::from_hours(7 * 24);

/// Who takes a lock: a pull request of the lock's repository, with what a "locked by #N" reply
/// needs to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The pull request (merge request) number.
    pub pr: u64,
    /// The user whose event took the lock.
    pub user: String,
    /// The head commit the PR was at when it took (or last re-took) the lock.
    pub head_sha: String,
    /// A link to the pull request, for "locked by #N".
    pub pull_url: String,
}

/// A lock as stored: what it covers, who holds it and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// What the lock covers.
    pub key: LockKey,
    /// The pull request holding it.
    pub holder: LockHolder,
    /// When the PR first took it, in seconds since the Unix epoch; re-planning keeps it.
    pub since: u64,
    /// The PR merged and apply on merge did not apply the project, so the lock stays with the
    /// PR on purpose ([`Store::keep_after_merge`]): nothing else is applied over the change
    /// until someone deals with it. [`Store::release_pr`] (a PR's end, the sweep) leaves it;
    /// [`Store::release_lock`] (`landfall unlock`, an operator) releases it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept_after_merge: bool,
}

/// The global apply lock an operator sets (`landfall apply-lock set`): while it is set, every
/// `apply` is refused, naming who set it, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyLock {
    /// Who set it (the operator's name, as given).
    pub by: String,
    /// When, in seconds since the Unix epoch.
    pub since: u64,
    /// Why, when given.
    pub reason: Option<String>,
}

/// The answer to a request for a set of locks: all of them, or none and who is in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum LockOutcome {
    /// The PR holds every requested lock (newly taken or already its own).
    Acquired,
    /// Other PRs hold these locks; the requester took none of the set.
    HeldBy(Vec<Lock>),
}

/// The answer to a request to release one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum ReleaseOutcome {
    /// The lock was released (and the holder's plan for it discarded).
    Released(Lock),
    /// Nobody held it.
    NotLocked,
    /// Another PR holds it; nothing changed.
    HeldBy(Lock),
    /// The PR holds it, and a run that writes the state (apply, import, state rm: its record
    /// is `applying`) still runs for it: kept, with the record, until that run reports.
    Running(Lock),
    /// The PR holds it and its merge kept it ([`Lock::kept_after_merge`]), asked of
    /// [`Store::release_unkept`]: nothing changed.
    Kept(Lock),
}

/// What [`Store::release_pr`] did, each list ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct PrRelease {
    /// The locks released, their plan records discarded.
    pub released: Vec<Lock>,
    /// The locks kept because a run that writes the state still runs for them
    /// ([`ReleaseOutcome::Running`]).
    pub kept: Vec<Lock>,
    /// The locks left because the PR's merge kept them ([`Lock::kept_after_merge`]), with
    /// their plan records.
    pub kept_after_merge: Vec<Lock>,
}

/// The answer to a plan record write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum PlanOutcome {
    /// The record is stored.
    Written,
    /// The PR no longer holds the project's lock (released, or taken by the PR shown); nothing
    /// was written.
    LockNotHeld(Option<Lock>),
    /// The stored record is no longer the one the caller read ([`Store::replace_plan`]), or
    /// is another run's apply that still runs ([`Store::put_plan`]); nothing was written.
    Changed,
}

/// A command's comment on a pull request: the key of the record of its part comments, when its
/// body is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentKey<'a> {
    /// The repository.
    pub repo: &'a str,
    /// The pull request.
    pub pr: u64,
    /// The comment's id on the host.
    pub comment_id: &'a str,
}

/// The answer to adding part comments to a split comment's record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum PartsOutcome {
    /// The ids are stored; here is the whole list.
    Written(Vec<String>),
    /// Another run added part comments first (the stored list no longer has the length the
    /// caller knew); nothing was written, and here is the list it holds now.
    Changed(Vec<String>),
}

/// The answer to recording a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum DeliveryOutcome {
    /// First time this delivery is seen: handle it.
    New,
    /// A redelivery of one already handled (and not yet expired): ignore it.
    Duplicate,
}

/// Everything that can fail in a store, by implementation. Expected outcomes (a held lock, a
/// duplicate delivery) are values of the `*Outcome` enums, never errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A DynamoDB request failed for a reason other than an expected condition.
    #[cfg(feature = "function")]
    #[error(transparent)]
    DynamoDb(#[from] DynamoError),
    /// The embedded database failed.
    #[cfg(feature = "function")]
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// The request itself is invalid, such as a lock set spanning two repositories.
    #[error("invalid store request: {0}")]
    InvalidRequest(String),
    /// Locks were taken, a later step failed, and releasing them failed too: they stay held by
    /// the PR until `landfall locks release` or the sweeper removes them.
    #[error(
        "{} lock(s) taken for PR #{pr} could not be released after a failure: {}",
        keys.len(),
        keys.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    LocksLeftBehind {
        /// The PR that holds them.
        pr: u64,
        /// The locks left held.
        keys: Vec<LockKey>,
        /// The failure that interrupted the acquisition.
        #[source]
        source: Box<StoreError>,
    },
}

/// A store's result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store behind the function: locks, plan records and delivery records. Every write is
/// conditional; there is no read-then-write anywhere, so any number of function instances may
/// share one store.
pub trait Store: Send + Sync {
    /// Records a webhook delivery id (namespaced by the caller, such as `github:<guid>`); a
    /// redelivery within `ttl` is a [`DeliveryOutcome::Duplicate`].
    fn record_delivery(
        &self,
        delivery: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<DeliveryOutcome>> + Send;

    /// Whether `delivery` is recorded and not expired, recording nothing.
    fn delivery_recorded(&self, delivery: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Forgets a delivery recorded by [`Store::record_delivery`], so its redelivery is handled:
    /// for work that could not be queued after all. Forgetting an unknown delivery is no error.
    fn forget_delivery(&self, delivery: &str) -> impl Future<Output = Result<()>> + Send;

    /// Takes all `keys` for `holder`, or none of them. Locks the PR already holds count as taken
    /// (re-planning keeps them, and keeps their `since`). All keys must name one repository.
    fn acquire_locks(
        &self,
        holder: &LockHolder,
        keys: &[LockKey],
    ) -> impl Future<Output = Result<LockOutcome>> + Send;

    /// Releases one lock and discards its holder's plan for it: only if `pr` holds it and no
    /// run that writes the state runs for it ([`ReleaseOutcome::Running`]), checked in the same
    /// write; or whoever holds it, whatever runs, when `pr` is `None` (an operator's release).
    fn release_lock(
        &self,
        key: &LockKey,
        pr: Option<u64>,
    ) -> impl Future<Output = Result<ReleaseOutcome>> + Send;

    /// [`Store::release_lock`] of `pr`'s lock, unless its merge kept it
    /// ([`ReleaseOutcome::Kept`]), checked in the same write: what a merged PR's own releases
    /// use, so that a lock kept for a change not yet applied stays until `landfall unlock`.
    fn release_unkept(
        &self,
        key: &LockKey,
        pr: u64,
    ) -> impl Future<Output = Result<ReleaseOutcome>> + Send;

    /// Releases every lock of a PR and discards its plan records (merge, close, `unlock`),
    /// except a project whose run writes the state (an `applying` record): its lock and record
    /// stay until the run reports, checked in the same write as the release. Released, another
    /// PR could plan or apply the project while Terraform still writes its state. Locks the
    /// PR's merge kept ([`Lock::kept_after_merge`]) stay too, with their records.
    fn release_pr(&self, repo: &str, pr: u64) -> impl Future<Output = Result<PrRelease>> + Send;

    /// Marks the lock `pr` holds on `key` as kept after the PR's merge
    /// ([`Lock::kept_after_merge`]); returns whether `pr` holds it. Taking the lock again (a plan
    /// made again at the merge commit) keeps the mark.
    fn keep_after_merge(&self, key: &LockKey, pr: u64)
    -> impl Future<Output = Result<bool>> + Send;

    /// The lock on `key`, if any.
    fn get_lock(&self, key: &LockKey) -> impl Future<Output = Result<Option<Lock>>> + Send;

    /// All locks, or those of one repository, ordered by repository then key.
    fn list_locks(&self, repo: Option<&str>) -> impl Future<Output = Result<Vec<Lock>>> + Send;

    /// Writes a plan record, only while its PR holds the project's lock and, with `current`
    /// (the record as the caller read it), only while the stored record is still that run in
    /// that status with as many policy approvals: one conditional write. Without `current`,
    /// never over another run's `applying` record (its apply still writes the state, and its
    /// report must find it): [`PlanOutcome::Changed`].
    fn write_plan(
        &self,
        plan: &PlanRecord,
        current: Option<&PlanRecord>,
    ) -> impl Future<Output = Result<PlanOutcome>> + Send;

    /// Writes a plan record, only while its PR holds the project's lock and no other run's
    /// apply runs for the project.
    fn put_plan(&self, plan: &PlanRecord) -> impl Future<Output = Result<PlanOutcome>> + Send {
        self.write_plan(plan, None)
    }

    /// Writes a plan record only while its PR holds the project's lock and the stored record
    /// is still the one the caller read (`current`: its run, status and approvals), so that of
    /// two writers starting a run from one record (two applies of one plan), or adding an
    /// approval to it, exactly one wins.
    fn replace_plan(
        &self,
        plan: &PlanRecord,
        current: &PlanRecord,
    ) -> impl Future<Output = Result<PlanOutcome>> + Send {
        self.write_plan(plan, Some(current))
    }

    /// The PR's plan record for a project, if any.
    fn get_plan(
        &self,
        key: &LockKey,
        pr: u64,
    ) -> impl Future<Output = Result<Option<PlanRecord>>> + Send;

    /// All plan records of a PR, ordered by key.
    fn list_plans(
        &self,
        repo: &str,
        pr: u64,
    ) -> impl Future<Output = Result<Vec<PlanRecord>>> + Send;

    /// The ids of the part comments posted after `comment` when its body was split, in order;
    /// empty when it never was.
    fn comment_parts(
        &self,
        comment: CommentKey<'_>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Appends the ids of part comments just posted (`added`) to `comment`'s list, only while
    /// the list is still `known` (what the caller read). The list only ever grows, so its length
    /// is its version: two runs that both posted a part race here, one wins, and the other
    /// learns the winner's ids ([`PartsOutcome::Changed`]) and stops showing its own.
    fn add_comment_parts(
        &self,
        comment: CommentKey<'_>,
        known: &[String],
        added: &[String],
    ) -> impl Future<Output = Result<PartsOutcome>> + Send;
}

/// The global apply lock, kept beside the locks: one item, set and cleared only by an operator.
pub trait ApplyLocks: Send + Sync {
    /// The apply lock, when set.
    fn apply_lock(&self) -> impl Future<Output = Result<Option<ApplyLock>>> + Send;

    /// Sets the apply lock unless one is set: `None` when `lock` is now in force, else the lock
    /// that was (and stays) in force.
    fn set_apply_lock(
        &self,
        lock: &ApplyLock,
    ) -> impl Future<Output = Result<Option<ApplyLock>>> + Send;

    /// Clears the apply lock; returns the one cleared, `None` when none was set.
    fn clear_apply_lock(&self) -> impl Future<Output = Result<Option<ApplyLock>>> + Send;
}

/// The store chosen at start-up from [`StoreConfig`]: one type for both implementations, so the
/// handler needs no generics and no boxing.
#[cfg(feature = "function")]
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// DynamoDB (production).
    DynamoDb(DynamoStore),
    /// The embedded redb file.
    Embedded(EmbeddedStore),
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl Store for AnyStore { DynamoDb, Embedded }
    fn record_delivery(&self, delivery: &str, ttl: Duration) -> Result<DeliveryOutcome>;
    fn delivery_recorded(&self, delivery: &str) -> Result<bool>;
    fn forget_delivery(&self, delivery: &str) -> Result<()>;
    fn acquire_locks(&self, holder: &LockHolder, keys: &[LockKey]) -> Result<LockOutcome>;
    fn release_lock(&self, key: &LockKey, pr: Option<u64>) -> Result<ReleaseOutcome>;
    fn release_unkept(&self, key: &LockKey, pr: u64) -> Result<ReleaseOutcome>;
    fn release_pr(&self, repo: &str, pr: u64) -> Result<PrRelease>;
    fn keep_after_merge(&self, key: &LockKey, pr: u64) -> Result<bool>;
    fn get_lock(&self, key: &LockKey) -> Result<Option<Lock>>;
    fn list_locks(&self, repo: Option<&str>) -> Result<Vec<Lock>>;
    fn write_plan(
        &self, plan: &PlanRecord, current: Option<&PlanRecord>
    ) -> Result<PlanOutcome>;
    fn get_plan(&self, key: &LockKey, pr: u64) -> Result<Option<PlanRecord>>;
    fn list_plans(&self, repo: &str, pr: u64) -> Result<Vec<PlanRecord>>;
    fn comment_parts(&self, comment: CommentKey<'_>) -> Result<Vec<String>>;
    fn add_comment_parts(
        &self, comment: CommentKey<'_>, known: &[String], added: &[String]
    ) -> Result<PartsOutcome>;
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl Sweeps for AnyStore { DynamoDb, Embedded }
    fn unfinished_runs(&self) -> Result<Vec<PlanRecord>>;
    fn finish_stuck(&self, plan: &PlanRecord, run_id: &str) -> Result<bool>;
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl RunQueues for AnyStore { DynamoDb, Embedded }
    fn queue_groups(&self, queue: QueueKey<'_>, queued: &QueuedGroups) -> Result<()>;
    fn next_group(
        &self, queue: QueueKey<'_>, finished: &LockKey
    ) -> Result<Option<TakenGroup>>;
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl PullHeads for AnyStore { DynamoDb, Embedded }
    fn put_selected(&self, at: HeadKey<'_>, projects: &[LockKey]) -> Result<()>;
    fn selected(&self, at: HeadKey<'_>) -> Result<Option<Vec<LockKey>>>;
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl Drifts for AnyStore { DynamoDb, Embedded }
    fn get_drift(&self, key: &LockKey) -> Result<Option<DriftRecord>>;
    fn put_drift(&self, record: &DriftRecord) -> Result<bool>;
    fn list_drift(&self, repo: Option<&str>) -> Result<Vec<DriftRecord>>;
    fn repo_drift(&self, repo: &str) -> Result<RepoDrift>;
    fn put_repo_drift(&self, repo: &str, drift: &RepoDrift) -> Result<bool>;
}

#[cfg(feature = "function")]
forward_to_variants! {
    impl ApplyLocks for AnyStore { DynamoDb, Embedded }
    fn apply_lock(&self) -> Result<Option<ApplyLock>>;
    fn set_apply_lock(&self, lock: &ApplyLock) -> Result<Option<ApplyLock>>;
    fn clear_apply_lock(&self) -> Result<Option<ApplyLock>>;
}

#[cfg(feature = "function")]
/// Checks a lock request and returns its keys sorted and de-duplicated: every key names one
/// repository, none is empty. Sorting gives every caller the same acquisition order.
pub(crate) fn normalise_keys(keys: &[LockKey]) -> Result<Vec<LockKey>> {
    let Some(first) = keys.first() else {
        return Ok(Vec::new());
    };
    for key in keys {
        if key.repo != first.repo {
            return Err(StoreError::InvalidRequest(format!(
                "one lock set spans two repositories, {} and {}",
                first.repo, key.repo
            )));
        }
        if key.repo.is_empty() || key.dir.is_empty() || key.workspace.is_empty() {
            return Err(StoreError::InvalidRequest(format!(
                "lock key has an empty repository, directory or workspace: {key:?}"
            )));
        }
    }
    let mut sorted = keys.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(sorted)
}

/// Now, in seconds since the Unix epoch.
#[must_use]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A Unix time as RFC 3339 UTC, such as `2026-05-01T12:00:00Z`.
#[must_use]
pub fn format_timestamp(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_sets_are_sorted_and_deduplicated_so_every_caller_takes_them_in_one_order() {
        let a = LockKey::new("o/r", "b", "default");
        let b = LockKey::new("o/r", "a", "default");
        let keys = normalise_keys(&[a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(keys, vec![b, a]);
    }

    #[test]
    fn a_lock_set_spanning_two_repositories_is_refused() {
        let err = normalise_keys(&[
            LockKey::new("o/one", ".", "default"),
            LockKey::new("o/two", ".", "default"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("two repositories"), "{err}");
    }

    #[test]
    fn plan_status_names_round_trip() {
        for status in PlanStatus::ALL {
            assert_eq!(PlanStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!(PlanStatus::parse("bogus"), None);
    }

    #[test]
    fn project_label_prefers_the_configured_name_then_dir_and_workspace() {
        let key = LockKey::new("o/r", "envs/prod", "default");
        assert_eq!(key.project_label(), "envs/prod");
        assert_eq!(
            LockKey::new("o/r", "envs/prod", "blue").project_label(),
            "envs/prod:blue"
        );
        assert_eq!(key.named("prod").project_label(), "prod");
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_777_636_800), "2026-05-01T12:00:00Z");
    }
}
