//! Drift records: where each project stands against its infrastructure, as the last scheduled
//! check found it (first seen, last checked, the plan's summary and addresses, its log), the
//! commit Landfall last applied it at, its remediations, and per repository the tracking issue
//! that reports them. Both stores keep them under one contract.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::{LockKey, Result, StoredArtifact};

/// What the last check of a project found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// Not checked yet (a record that only holds the last applied commit).
    Unchecked,
    /// The plan at the default branch's head changes nothing.
    InSync,
    /// The plan at the default branch's head changes something.
    Drifted,
    /// The check could not tell (the plan failed, timed out, or could not start).
    Failed,
}

impl DriftState {
    /// The word the CLI and the reports use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchecked => "unchecked",
            Self::InSync => "in_sync",
            Self::Drifted => "drifted",
            Self::Failed => "failed",
        }
    }
}

/// One remediation: the drift check's plan applied, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// When it ended (unix seconds).
    pub at: u64,
    /// The commit it applied (the default branch's head at the check).
    pub sha: String,
    /// `applied`, `failed` or `refused`.
    pub outcome: String,
    /// What it changed, or why it failed or was refused.
    pub detail: String,
}

/// How many remediations a record keeps (the newest).
pub const KEPT_REMEDIATIONS: usize = 20;

/// Where one project stands with its drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// The project.
    pub key: LockKey,
    /// What the last check found.
    pub state: DriftState,
    /// When drift was first seen (unix seconds); `None` while in sync.
    #[serde(default)]
    pub first_seen: Option<u64>,
    /// When the project was last checked, or a check skipped (unix seconds); 0 if never.
    #[serde(default)]
    pub last_checked: u64,
    /// The default branch's head commit the last check planned.
    #[serde(default)]
    pub checked_sha: String,
    /// The last check's plan line, or why it failed or was skipped.
    #[serde(default)]
    pub summary: String,
    /// The addresses the last check's plan changes.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Of those, the ones Terraform found changed outside Terraform (`resource_drift`).
    #[serde(default)]
    pub drifted: Vec<String>,
    /// The last check's full log.
    #[serde(default)]
    pub log: Option<StoredArtifact>,
    /// The last check's run.
    #[serde(default)]
    pub run_id: String,
    /// The commit Landfall last applied the project at (a PR's head, a merge commit, or a
    /// remediation's), when it knows one.
    #[serde(default)]
    pub applied_sha: Option<String>,
    /// Why the last check did not run (`locked by PR #12`), when it was skipped.
    #[serde(default)]
    pub skipped: Option<String>,
    /// The newest remediations, oldest first.
    #[serde(default)]
    pub remediations: Vec<Remediation>,
    /// Bumped by every write; 0 before the first. A writer names the version it read, so that
    /// a check that read the record before an import cleared `applied_sha` cannot write it back.
    #[serde(default)]
    pub version: u64,
}

impl DriftRecord {
    /// A record of `key` that says nothing yet.
    #[must_use]
    pub fn new(key: LockKey) -> Self {
        Self {
            key,
            state: DriftState::Unchecked,
            first_seen: None,
            last_checked: 0,
            checked_sha: String::new(),
            summary: String::new(),
            addresses: Vec::new(),
            drifted: Vec::new(),
            log: None,
            run_id: String::new(),
            applied_sha: None,
            skipped: None,
            remediations: Vec::new(),
            version: 0,
        }
    }

    /// Adds a remediation, keeping the newest [`KEPT_REMEDIATIONS`].
    pub fn remediated(&mut self, remediation: Remediation) {
        self.remediations.push(remediation);
        let extra = self.remediations.len().saturating_sub(KEPT_REMEDIATIONS);
        self.remediations.drain(..extra);
    }
}

/// The issue a repository's drift is tracked in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedIssue {
    /// Its number (or work item id).
    pub number: u64,
    /// Its web address.
    pub url: String,
    /// Whether Landfall left it open.
    pub open: bool,
}

/// What drift reporting keeps per repository. Reports of one repository can end at the same
/// time in two invocations: each write names the version it read, so only one of them reports
/// a change, and only one opens the tracking issue (`opening_since` tells the other to wait).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoDrift {
    /// The tracking issue, once one was opened.
    #[serde(default)]
    pub issue: Option<TrackedIssue>,
    /// A digest of what was last reported (issue body, webhook), so an unchanged report is
    /// not sent again.
    #[serde(default)]
    pub reported: String,
    /// When a reporter started opening the tracking issue (unix seconds), until it is opened.
    #[serde(default)]
    pub opening_since: Option<u64>,
    /// Bumped by every write; 0 before the first.
    #[serde(default)]
    pub version: u64,
}

/// Where drift records are kept (both stores, one contract).
pub trait Drifts: Send + Sync {
    /// The record of `key`'s project, if any.
    fn get_drift(&self, key: &LockKey) -> impl Future<Output = Result<Option<DriftRecord>>> + Send;

    /// Replaces the project's record with `record` (its `version` one more than the version
    /// read, a new record's 1), only if the kept version is still `record.version - 1` (0 for
    /// version 0; no record, or one written before versions, counts as 0); returns whether it
    /// was written.
    fn put_drift(&self, record: &DriftRecord) -> impl Future<Output = Result<bool>> + Send;

    /// The records of `repo`'s projects, or of every repository; sorted by key.
    fn list_drift(
        &self,
        repo: Option<&str>,
    ) -> impl Future<Output = Result<Vec<DriftRecord>>> + Send;

    /// What drift reporting keeps for `repo`.
    fn repo_drift(&self, repo: &str) -> impl Future<Output = Result<RepoDrift>> + Send;

    /// Replaces what drift reporting keeps for `repo` with `drift` (its `version` one more than
    /// the version read), only if the kept version is still `drift.version - 1`; returns
    /// whether it was written.
    fn put_repo_drift(
        &self,
        repo: &str,
        drift: &RepoDrift,
    ) -> impl Future<Output = Result<bool>> + Send;
}
