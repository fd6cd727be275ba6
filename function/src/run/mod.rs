//! The run contract: everything the function and the runner exchange, and nothing else. A
//! [`RunSpec`] goes out (as environment variables, [`env`]), a [`RunReport`] comes back. The
//! types here depend only on [`crate::event`]'s ids; the store, the dispatchers, the runner and
//! the reporter all build on them, so none of them needs another's internals.
//!
//! - [`spec`]: the run (PR × project × command × head commit) and its project.
//! - [`env`]: how a spec travels to the runner, and back out of the environment.
//! - [`id`]: the run's deterministic id (its Job name).
//! - [`lock`]: the project's lock key and its one label.
//! - [`step`]: the workflow steps the runner executes.
//! - [`hook`]: the operator's hooks, run before and after the workflow.
//! - [`result`]: how a run ended, as reported and as the comment shows it.
//! - [`summary`]: a plan's counts from `terraform show -json`.
//! - [`report_auth`]: the report credential, and the envelope a runner posts its report in.

pub mod cap;
pub mod env;
pub mod hook;
pub mod id;
pub mod lock;
pub mod policy;
pub mod report_auth;
pub mod result;
pub mod spec;
pub mod step;
pub mod summary;
pub mod version;

use serde::{Deserialize, Serialize};

pub use env::{SpecError, env_vars};
pub use hook::{HookStage, WorkflowHook, WorkflowHooks};
pub use id::job_name;
pub use lock::{LockKey, project_label};
pub use result::{DriftFacts, Outcome, ProjectResult, RunReport, RunStatus, StepOutput, Timings};
pub use spec::{
    CommentThread, DEADLINE_GRACE, DEFAULT_TIMEOUT, Distribution, PlanToApply, ProjectSpec,
    RunCommand, RunSpec, STEP_GRACE,
};
pub use step::{EnvSource, RunOutput, ShellCommand, Step, default_steps, init_args, init_env};
pub use summary::{PlanCounts, PlanSummary};

/// How the runs a merge starts (apply on merge) mark their trigger.
pub const MERGE_TRIGGER: &str = "merge-";

/// Whether a run was started by its PR's merge: its plan is made at the merge commit, and its
/// lock is released once it applied.
#[must_use]
pub fn is_merge_trigger(trigger: &str) -> bool {
    trigger.starts_with(MERGE_TRIGGER)
}

/// The prefix of a scheduled drift check's trigger (`drift-report-<time>`,
/// `drift-remediate-<time>`).
pub const DRIFT_TRIGGER: &str = "drift-";

/// The pull request number a drift check's runs, locks and records carry: no host numbers a
/// pull request 0.
pub const DRIFT_PR: crate::event::PullRequestNumber = crate::event::PullRequestNumber(0);

/// Whether a run is a scheduled drift check or its remediation.
#[must_use]
pub fn is_drift_trigger(trigger: &str) -> bool {
    trigger.starts_with(DRIFT_TRIGGER)
}

/// A stored artifact (a planfile, a run's log): its key and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredArtifact {
    /// The object key (S3) or relative path (local folder).
    pub key: String,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}
