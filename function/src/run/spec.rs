//! What one run is: a [`RunSpec`] names the pull request, the project, the command and the head
//! commit, and carries everything the runner needs. It travels to the runner as environment
//! variables ([`super::env`]), identical for a Kubernetes Job and a local process, so both
//! dispatchers start the very same runner with the very same inputs.
//!
//! Secrets are never part of a spec: the VCS token reaches the runner separately (a Secret
//! reference in the Job, an inherited variable for a local process).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LockKey, Step, StoredArtifact, WorkflowHooks, project_label};
use crate::event::{CommentId, CommitSha, Provider, PullRequestNumber, RepoName};

/// How long past its time limit a run may go unreported before the sweeper fails it: the Job's
/// `activeDeadlineSeconds` is the limit plus this, so by then Kubernetes has stopped it.
pub const DEADLINE_GRACE: Duration = Duration::from_mins(5);

/// How long a cancelled or overdue step is given between SIGINT and SIGKILL, unless
/// `LANDFALL_RUN_GRACE` says otherwise: Terraform uses it to stop cleanly and release its state
/// lock.
pub const STEP_GRACE: Duration = Duration::from_secs(30);

/// The default time limit of a run when the project sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_hours(1);

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCommand {
    /// `terraform plan`, stored for a later apply.
    Plan,
    /// Apply a stored planfile.
    Apply,
    /// `terraform import ADDRESS ID` (`landfall import`): changes the state, so the project's
    /// plan must be made again.
    Import,
    /// `terraform state rm ADDRESS...` (`landfall state rm`): changes the state, so the
    /// project's plan must be made again.
    StateRm,
}

impl RunCommand {
    /// The command word, as in comments and labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
            Self::Import => "import",
            Self::StateRm => "state_rm",
        }
    }

    /// The command named `word`.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "plan" => Some(Self::Plan),
            "apply" => Some(Self::Apply),
            "import" => Some(Self::Import),
            "state_rm" => Some(Self::StateRm),
            _ => None,
        }
    }

    /// How a comment spells it: `plan`, `apply`, `import`, `state rm`.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::StateRm => "state rm",
            other => other.as_str(),
        }
    }

    /// Whether the run changes the project's state (`apply`, `import`, `state rm`): it needs
    /// the apply permissions and credentials.
    #[must_use]
    pub fn writes_state(self) -> bool {
        self != Self::Plan
    }

    /// Whether the run edits the state outside a plan (`import`, `state rm`): the project's
    /// stored plan is stale afterwards.
    #[must_use]
    pub fn edits_state(self) -> bool {
        matches!(self, Self::Import | Self::StateRm)
    }
}

impl fmt::Display for RunCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The project a run is for: the lock key's fields plus how to run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// The project's name, when the repo config names it.
    pub name: Option<String>,
    /// The directory relative to the repository root, `.` for the root.
    pub dir: String,
    /// The Terraform workspace.
    pub workspace: String,
    /// The pinned Terraform version, when the project pins one.
    pub terraform_version: Option<String>,
    /// Terraform or OpenTofu (`terraform_distribution`).
    #[serde(default, skip_serializing_if = "Distribution::is_terraform")]
    pub distribution: Distribution,
    /// The run's time limit; the Job's `activeDeadlineSeconds` derives from it.
    pub timeout: Duration,
    /// The workflow's steps; `None` for the default workflow of the command.
    pub workflow: Option<Vec<Step>>,
    /// The `extra_args` of the plan stage's `init`: when the steps run no `init` before their
    /// `plan` or `apply` (an apply stage without `init`), the runner initialises the fresh
    /// clone with them, as the plan was initialised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_args: Vec<String>,
    /// The plan stage's `env` steps before its `init` ([`crate::run::init_env`]): run first
    /// when the runner initialises with `init_args`, for the variables they name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_env: Vec<Step>,
    /// The operator's `pre_workflow_hooks` and `post_workflow_hooks` for the repository.
    #[serde(default, skip_serializing_if = "WorkflowHooks::is_empty")]
    pub hooks: WorkflowHooks,
    /// The operator's policy sets, checked over a plan (`policies`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_sets: Vec<super::policy::PolicySet>,
    /// `depends_on`: the projects (by name) whose run must succeed before this one starts. The
    /// function's to order runs (kept with queued groups); never given to the runner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// `execution_order_group`: runs go group after group, the lowest first, plans and applies
    /// alike. The function's to order runs; never given to the runner.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub execution_order_group: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(group: &i64) -> bool {
    *group == 0
}

impl ProjectSpec {
    /// A project in `dir`, workspace `default`, with the default timeout and workflow.
    #[must_use]
    pub fn new(dir: impl Into<String>) -> Self {
        Self {
            name: None,
            dir: dir.into(),
            workspace: "default".to_owned(),
            terraform_version: None,
            distribution: Distribution::Terraform,
            timeout: DEFAULT_TIMEOUT,
            workflow: None,
            init_args: Vec::new(),
            init_env: Vec::new(),
            hooks: WorkflowHooks::default(),
            policy_sets: Vec::new(),
            depends_on: Vec::new(),
            execution_order_group: 0,
        }
    }

    /// The project's display name: its configured name, else its dir (and workspace).
    #[must_use]
    pub fn label(&self) -> String {
        project_label(self.name.as_deref(), &self.dir, &self.workspace)
    }
}

/// Which program runs a project's Terraform configuration (`terraform_distribution`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// HashiCorp's Terraform, `terraform` (the default).
    #[default]
    Terraform,
    /// OpenTofu, `tofu`.
    OpenTofu,
}

impl Distribution {
    /// As written in the repo config: `terraform`, `opentofu`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Terraform => "terraform",
            Distribution::OpenTofu => "opentofu",
        }
    }

    /// The distribution `name` names (`terraform`, `opentofu`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "terraform" => Some(Distribution::Terraform),
            "opentofu" => Some(Distribution::OpenTofu),
            _ => None,
        }
    }

    /// The program's name: `terraform`, `tofu`.
    #[must_use]
    pub fn program(self) -> &'static str {
        match self {
            Distribution::Terraform => "terraform",
            Distribution::OpenTofu => "tofu",
        }
    }

    /// How people call it: Terraform, OpenTofu.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Distribution::Terraform => "Terraform",
            Distribution::OpenTofu => "OpenTofu",
        }
    }

    /// Whether this is Terraform, the default.
    #[must_use]
    pub fn is_terraform(&self) -> bool {
        *self == Distribution::Terraform
    }
}

/// The planfile an apply must use, from the plan record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanToApply {
    /// The stored planfile and its recorded SHA-256.
    pub planfile: StoredArtifact,
    /// The head commit the plan was made at.
    pub planned_sha: CommitSha,
}

/// One run: PR × project × command × head commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The VCS host.
    pub provider: Provider,
    /// The base repository, `owner/name`.
    pub repo: RepoName,
    /// The head repository, `owner/name` (differs from `repo` for a fork).
    pub head_repo: RepoName,
    /// The pull request number.
    pub pr: PullRequestNumber,
    /// The head commit the run is bound to.
    pub head_sha: CommitSha,
    /// The PR's head branch.
    pub head_branch: String,
    /// The PR's base branch.
    pub base_branch: String,
    /// The URL to clone from.
    pub clone_url: String,
    /// Who asked for the run (the commenter, or the pusher for autoplan).
    pub user: String,
    /// Who opened the pull request.
    #[serde(default)]
    pub pull_author: String,
    /// What to run.
    pub command: RunCommand,
    /// The project.
    pub project: ProjectSpec,
    /// Extra arguments for Terraform from the comment, passed as argv, never through a shell.
    pub extra_args: Vec<String>,
    /// `import`: the address and the ID; `state rm`: the addresses. Passed after `--`, so
    /// none is read as a flag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operands: Vec<String>,
    /// What triggered the run (the delivery id); a redelivery maps to the same run, a new
    /// comment to a new one.
    pub trigger: String,
    /// Apply only: the planfile to apply and where it was planned.
    pub apply: Option<PlanToApply>,
    /// Set when the runner records its own result (it can reach the store): the PR comment
    /// the runs of this trigger share. `None` when the function records the result itself.
    pub report_back: Option<CommentThread>,
}

/// The PR comment that the runs of one command share: each run's result is added to it as the
/// run reports (see the `report` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentThread {
    /// The comment's id on the host; `None` when every project of the command silences its
    /// comment (`silence_pr_comments`): nothing is posted up front, and a run whose result has
    /// something to say posts a comment of its own.
    pub comment_id: Option<CommentId>,
    /// The text above the projects' results (what was selected, locked, refused).
    pub header: String,
    /// The projects (by label) whose result this comment leaves out when nothing changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silenced: Vec<String>,
    /// `--verbose`: the comment links every project's full log, cut or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verbose: bool,
}

impl CommentThread {
    /// A posted comment that shows every result.
    #[must_use]
    pub fn new(comment_id: CommentId, header: String) -> Self {
        Self {
            comment_id: Some(comment_id),
            header,
            silenced: Vec::new(),
            verbose: false,
        }
    }

    /// Whether `result` is left out of the comment: its project silences the command and
    /// nothing changed.
    #[must_use]
    pub fn silences(&self, result: &super::ProjectResult) -> bool {
        let label = project_label(result.name.as_deref(), &result.dir, &result.workspace);
        result.changed_nothing() && self.silenced.contains(&label)
    }
}

impl RunSpec {
    /// The project's lock key: the store's identity of this project.
    #[must_use]
    pub fn lock_key(&self) -> LockKey {
        LockKey::of(
            &self.repo,
            self.project.name.as_deref(),
            &self.project.dir,
            &self.project.workspace,
        )
    }

    /// The run's id: the deterministic Job name (see [`super::job_name`]).
    #[must_use]
    pub fn run_id(&self) -> String {
        super::job_name(self)
    }

    /// Whether this is a scheduled drift check (or its remediation): no pull request, the
    /// default branch's head.
    #[must_use]
    pub fn is_drift(&self) -> bool {
        self.pr == super::DRIFT_PR && super::is_drift_trigger(&self.trigger)
    }

    /// The name its commit statuses carry: the command, or `drift` for a drift check.
    #[must_use]
    pub fn status_name(&self) -> &'static str {
        if self.is_drift() {
            "drift"
        } else {
            self.command.as_str()
        }
    }
}
