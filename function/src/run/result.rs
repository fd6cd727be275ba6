//! What a run reports: how it ended ([`RunStatus`]), the project's result as the comment shows
//! it ([`ProjectResult`]), and the whole [`RunReport`] the function records.

use serde::{Deserialize, Serialize};

use super::summary::{PlanCounts, PlanSummary};
use super::{ProjectSpec, RunCommand, StoredArtifact};
use crate::event::{CommitSha, PullRequestNumber, RepoName};

/// How a run ended, with what the comment needs to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A plan with changes, stored for apply.
    Planned {
        /// The summary line.
        summary: String,
        /// Terraform's human plan text, scrubbed of sensitive values.
        plan_text: String,
    },
    /// A plan without changes.
    NoChanges {
        /// Terraform's human text.
        plan_text: String,
    },
    /// An apply that succeeded.
    Applied {
        /// Terraform's apply output.
        output: String,
    },
    /// A step failed.
    Failed {
        /// The step (`clone`, `init`, `plan`, `run`...).
        step: String,
        /// What failed, and its output.
        output: String,
    },
    /// The run passed its time limit and was stopped.
    TimedOut {
        /// The step that was running.
        step: String,
        /// The limit, in seconds.
        limit_secs: u64,
        /// The output up to the stop.
        output: String,
    },
    /// The run was refused before Terraform could change anything: a stale plan, a planfile
    /// whose checksum does not match, Terraform's own "Saved plan is stale".
    Refused {
        /// Why, in one paragraph.
        reason: String,
    },
}

impl Outcome {
    /// The texts the outcome shows (what Terraform or a step printed, a reason), to cut a
    /// secret from them; not the step's name.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Outcome::Planned { summary, plan_text } => vec![summary, plan_text],
            Outcome::NoChanges { plan_text } => vec![plan_text],
            Outcome::Applied { output }
            | Outcome::Failed { output, .. }
            | Outcome::TimedOut { output, .. } => vec![output],
            Outcome::Refused { reason } => vec![reason],
        }
    }
}

/// One project's result, as the comment shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectResult {
    /// The project's name, when configured.
    pub name: Option<String>,
    /// Its directory.
    pub dir: String,
    /// Its workspace.
    pub workspace: String,
    /// The command run.
    pub command: RunCommand,
    /// How it ended.
    pub outcome: Outcome,
    /// The run's full log, once stored: a comment cut at the host's limit links it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<StoredArtifact>,
    /// What the hooks and the workflow's steps printed, in the order they ran, with the place
    /// of the outcome's own text among them; empty when that text is all there is (the default
    /// workflow without hooks, a run refused before it started, a report from an older runner).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepOutput>,
    /// A plan's counts, for the comment's summary table (plans with changes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<PlanCounts>,
    /// A plan's policy checks, one result per policy set (none when the operator has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<super::policy::PolicySetResult>,
    /// The policy owners who approved this plan's failing policy checks
    /// (`landfall approve_policies`); a new plan starts with none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_approvals: Vec<String>,
    /// A drift check's plan: the addresses it changes, and those Terraform found changed
    /// outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftFacts>,
    /// A plan's base branch, as the function recorded it from the run's signed spec: the
    /// branch whose policy (sets, hooks, workflow, requirements) it was made under. A plan of a
    /// pull request retargeted since is not applied. `None` in records made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
}

/// What a drift check's plan changes, by address (no values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftFacts {
    /// Every address the plan changes, moves or imports.
    pub changed: Vec<String>,
    /// Those Terraform found changed outside Terraform when it refreshed.
    pub drifted: Vec<String>,
}

impl DriftFacts {
    /// The facts of a plan summary.
    #[must_use]
    pub fn of(summary: &PlanSummary) -> Self {
        Self {
            changed: summary
                .resources
                .iter()
                .map(|line| line.address.clone())
                .collect(),
            drifted: summary.drifted.clone(),
        }
    }

    /// The changed addresses Terraform did not find changed outside it.
    #[must_use]
    pub fn beyond_drift(&self) -> Vec<&str> {
        self.changed
            .iter()
            .filter(|address| !self.drifted.contains(address))
            .map(String::as_str)
            .collect()
    }
}

/// One part of a run's output, in the order the run went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepOutput {
    /// What a step or a hook printed, as its `output` setting shows it.
    Printed {
        /// The step: `run`, `plan`, `apply`, `pre_workflow_hook` or `post_workflow_hook`.
        step: String,
        /// What it ran: the command line, or the Terraform command.
        command: String,
        /// A hook's `description`, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// What it printed.
        text: String,
        /// Whether it failed after the outcome was decided (a post-workflow hook): the run is
        /// failed, its outcome is still shown.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        failed: bool,
    },
    /// Where the outcome's own text stands among the steps: Terraform's plan or apply, or
    /// the failure that ended the workflow.
    Outcome,
}

impl StepOutput {
    /// Whether this is a step that failed after the outcome was decided.
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self, Self::Printed { failed: true, .. })
    }
}

/// What replaces the part of a step's text that a result does not keep.
const CUT: &str = "… (cut here: the full output is in the run's log)";

/// Cuts the texts of `outputs` so that together they keep at most `limit` bytes (a stored
/// result stays small; the full log is stored apart): each keeps its start, a failed one its
/// end, cut on a character boundary and saying so.
pub fn cap_texts(outputs: &mut [StepOutput], limit: usize) {
    let mut left = limit;
    for output in outputs {
        let StepOutput::Printed { text, failed, .. } = output else {
            continue;
        };
        if text.len() <= left {
            left -= text.len();
            continue;
        }
        if *failed {
            let mut start = text.len() - left;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            *text = format!("{CUT}\n{}", &text[start..]);
        } else {
            let mut end = left;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(CUT);
        }
        left = 0;
    }
}

impl ProjectResult {
    /// A result for `project`.
    #[must_use]
    pub fn new(project: &ProjectSpec, command: RunCommand, outcome: Outcome) -> Self {
        Self {
            name: project.name.clone(),
            dir: project.dir.clone(),
            workspace: project.workspace.clone(),
            command,
            outcome,
            log: None,
            steps: Vec::new(),
            counts: None,
            policies: Vec::new(),
            policy_approvals: Vec::new(),
            drift: None,
            base_branch: None,
        }
    }

    /// Whether the plan was made for a base branch other than `base` (the pull request was
    /// retargeted since); a record made before the base was kept says nothing.
    #[must_use]
    pub fn made_for_another_base(&self, base: &str) -> bool {
        self.base_branch
            .as_deref()
            .is_some_and(|planned_for| planned_for != base)
    }

    /// Whether every policy set passed (true without policy sets).
    #[must_use]
    pub fn policies_passed(&self) -> bool {
        self.policies
            .iter()
            .all(super::policy::PolicySetResult::passed)
    }

    /// Whether the run succeeded without changing anything: a plan without changes. Never an
    /// apply: Landfall refuses to apply a plan without changes, so every apply changed something
    /// (and the apply's output, which the PR's code can print into, decides nothing here).
    #[must_use]
    pub fn changed_nothing(&self) -> bool {
        !self.step_failed() && matches!(self.outcome, Outcome::NoChanges { .. })
    }

    /// Whether a step failed after the outcome was decided (a post-workflow hook): the run
    /// failed, whatever its outcome says.
    #[must_use]
    pub fn step_failed(&self) -> bool {
        self.steps.iter().any(StepOutput::failed)
    }

    /// A planned outcome from a summary and Terraform's text.
    #[must_use]
    pub fn planned(
        project: &ProjectSpec,
        summary: &PlanSummary,
        plan_text: impl Into<String>,
    ) -> Self {
        let plan_text = plan_text.into();
        let outcome = if summary.has_changes() {
            Outcome::Planned {
                summary: summary.line(),
                plan_text,
            }
        } else {
            Outcome::NoChanges { plan_text }
        };
        let mut result = Self::new(project, RunCommand::Plan, outcome);
        if summary.has_changes() && !summary.errored {
            result.counts = Some(summary.counts);
        }
        result
    }
}

/// How a run ended, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A plan with changes, planfile stored.
    Planned,
    /// A plan without changes.
    NoChanges,
    /// The planfile was applied.
    Applied,
    /// A step failed.
    Failed,
    /// The time limit passed.
    TimedOut,
    /// Refused before Terraform changed anything.
    Refused,
}

impl RunStatus {
    /// Whether the run did what it was asked.
    #[must_use]
    pub fn succeeded(self) -> bool {
        matches!(self, Self::Planned | Self::NoChanges | Self::Applied)
    }
}

/// Where the time went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// The whole run.
    pub total_ms: u64,
    /// Inside Terraform and workflow `run` steps (everything else is the runner's overhead).
    pub terraform_ms: u64,
    /// The clone.
    pub clone_ms: u64,
}

/// What the runner reports: enough for the function to write the plan record, edit the comment
/// and set the commit status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// The base repository.
    pub repo: RepoName,
    /// The pull request.
    pub pr: PullRequestNumber,
    /// The head commit the run used.
    pub head_sha: CommitSha,
    /// How it ended.
    pub status: RunStatus,
    /// The project's result, as the comment shows it.
    pub result: ProjectResult,
    /// The plan's counts (plans only).
    pub summary: Option<PlanSummary>,
    /// The stored planfile (plans with changes only).
    pub planfile: Option<StoredArtifact>,
    /// The stored full log.
    pub log: Option<StoredArtifact>,
    /// The comment body for this project.
    pub comment: String,
    /// Where the time went.
    pub timings: Timings,
}
