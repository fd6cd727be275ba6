//! Plan records: where each project's plan stands, bound to its PR, head commit and planfile.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LockKey, StoredArtifact};
use crate::run::RunStatus;

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// A plan Job is running.
    Planning,
    /// The plan has changes and a stored planfile.
    Planned,
    /// The plan found nothing to change.
    NoChanges,
    /// The plan failed.
    Failed,
    /// An apply Job is running with the stored planfile.
    Applying,
    /// The planfile was applied.
    Applied,
    /// `landfall import` or `landfall state rm` ran after the plan (or is running: the run
    /// is `Applying` until it ends): whatever the plan was, it no longer describes the state,
    /// and the next apply needs a new plan.
    StateChanged,
}

impl PlanStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PlanStatus; 7] = [
        Self::Planning,
        Self::Planned,
        Self::NoChanges,
        Self::Failed,
        Self::Applying,
        Self::Applied,
        Self::StateChanged,
    ];

    /// Whether the project has nothing left to apply: applied, or planned with no changes.
    #[must_use]
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Applied | Self::NoChanges)
    }

    /// The stored (and printed) name, such as `no_changes`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Planned => "planned",
            Self::NoChanges => "no_changes",
            Self::Failed => "failed",
            Self::Applying => "applying",
            Self::Applied => "applied",
            Self::StateChanged => "state_changed",
        }
    }

    /// The status named `name`, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

impl PlanStatus {
    /// The status a plan record takes after a run that ended `status`; `None` when the record
    /// should not change (a refused run changed nothing).
    #[must_use]
    pub fn after(status: RunStatus) -> Option<Self> {
        match status {
            RunStatus::Planned => Some(Self::Planned),
            RunStatus::NoChanges => Some(Self::NoChanges),
            RunStatus::Applied => Some(Self::Applied),
            RunStatus::Failed | RunStatus::TimedOut => Some(Self::Failed),
            RunStatus::Refused => None,
        }
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project's plan, bound to the PR, the head commit it was made at and its planfile's
/// checksum, so that a stale or altered plan is never applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The project (and lock) the plan is for.
    pub key: LockKey,
    /// The pull request that made it; it must hold the lock for the record to be written.
    pub pr: u64,
    /// The head commit the plan was made at.
    pub head_sha: String,
    /// The run (Job) that made or is making it.
    pub run_id: String,
    /// Where the plan stands.
    pub status: PlanStatus,
    /// The stored planfile and its SHA-256, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planfile: Option<StoredArtifact>,
    /// When the record was last written, in seconds since the Unix epoch.
    pub updated_at: u64,
    /// The command run (the webhook delivery) the latest run belongs to: the runs of one
    /// trigger share one PR comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The latest run's result as the PR comment shows it, once the run has reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<crate::run::ProjectResult>,
    /// While a run is in progress (`planning`, `applying`): when it is overdue, in seconds since
    /// the Unix epoch (its time limit plus a grace). The sweeper fails a run past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
}

impl PlanRecord {
    /// Whether a run is in progress (`planning` or `applying`).
    #[must_use]
    pub fn in_progress(&self) -> bool {
        matches!(self.status, PlanStatus::Planning | PlanStatus::Applying)
    }

    /// How many policy owners approved the plan's failing policy checks (approvals only grow,
    /// so the count names the list).
    #[must_use]
    pub fn approvals(&self) -> usize {
        self.result
            .as_ref()
            .map_or(0, |result| result.policy_approvals.len())
    }
}
