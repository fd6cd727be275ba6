//! Recording a finished run: the plan record (written only while the PR holds the project's
//! lock, and for a plan only while its commit is still the PR's head), the commit status, and
//! the PR comment that the runs of one command share (`comment.rs`: how it is rebuilt from the
//! store and split over several comments).
//!
//! Whoever can reach the store records the run. With DynamoDB the runner does it itself as its
//! last step, so the function never waits for a Job (under Lambda nothing may run after the
//! answer). With the embedded store, which only the function's process can open, the function
//! records what the local runner reports.

mod comment;
mod pull_status;

use std::fmt::Write as _;

use crate::event::{Provider, PullRequestNumber, RepoName};
use crate::repo_config::Policy;
use crate::run::summary::PlanSummary;
use crate::run::{CommentThread, Outcome, ProjectResult, RunCommand, RunSpec};
use crate::run::{RunReport, RunStatus};
use crate::store::{
    AnyArtifacts, AnyStore, PlanOutcome, PlanRecord, PlanStatus, Store, StoredArtifact,
};
use crate::vcs::{AnyVcs, CommitStatus, PullTarget, StatusState, VcsClient, status_context};

pub use comment::{LOG_LINK_VALIDITY, compose, log_note, results_of};
pub use pull_status::{PullHead, PullVerdicts, pull_contexts};

pub use crate::run::cap::{RESULT_TEXT_LIMIT, capped};

/// What records runs: the store, the VCS client and the host's identity.
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    /// Plan records and locks.
    pub store: &'a AnyStore,
    /// Comments and statuses.
    pub vcs: &'a AnyVcs,
    /// Where runs' full logs are, for the links of a cut comment.
    pub artifacts: &'a AnyArtifacts,
    /// The host kind, for web links.
    pub provider: Provider,
    /// The host's API base URL (`LANDFALL_VCS_URL`), for web links.
    pub vcs_url: Option<&'a str>,
    /// The name statuses start with (`LANDFALL_VCS_STATUS_NAME`).
    pub status_name: &'a str,
    /// The operator's policy, for the policy checks of a pull request's own status.
    pub policy: Option<&'a Policy>,
}

impl Reporter<'_> {
    /// Records a finished run: `Ok(report)`, or `Err(log tail)` for a runner that ended without
    /// a report. Writes the plan record with the run's result, sets the commit status and, with
    /// a `thread`, edits the shared comment. Returns the result as the comment shows it.
    pub async fn finish(
        &self,
        spec: &RunSpec,
        report: Result<&RunReport, String>,
        thread: Option<&CommentThread>,
    ) -> anyhow::Result<ProjectResult> {
        let before = self.pull_verdicts_of(spec).await;
        let (result, recorded) = match (report, spec.command) {
            (Err(output), _) => self.runner_failed(spec, output).await?,
            (Ok(report), RunCommand::Plan) => self.record_plan(spec, report).await?,
            (Ok(report), RunCommand::Apply | RunCommand::Import | RunCommand::StateRm) => {
                self.record_write(spec, report).await?
            }
        };
        self.pull_statuses_changed(spec, before).await;
        if let Some(thread) = thread {
            self.publish(spec, thread, (!recorded).then_some(&result))
                .await?;
        }
        Ok(result)
    }

    /// The plan's record and status; returns the result and whether the record holds it.
    async fn record_plan(
        &self,
        spec: &RunSpec,
        report: &RunReport,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        if spec.is_drift() {
            return self.record_drift_plan(spec, report).await;
        }
        let mut result = report.result.clone();
        // The base it was made for, from the signed spec (whatever the runner said).
        result.base_branch = Some(spec.base_branch.clone());
        // A plan overtaken by a push is never recorded: it could otherwise be applied.
        let now = self.vcs.pull_request(&spec.repo, spec.pr).await?;
        // A merge's plan is made at the merge commit, which nothing can move.
        let expected = if crate::run::is_merge_trigger(&spec.trigger) {
            now.merge_sha
                .clone()
                .unwrap_or_else(|| now.head_sha.clone())
        } else {
            now.head_sha.clone()
        };
        if expected != report.head_sha {
            result.outcome = Outcome::Refused {
                reason: format!(
                    "the pull request moved to `{}` while this plan ran at `{}`; it is not recorded",
                    short(now.head_sha.as_str()),
                    short(report.head_sha.as_str())
                ),
            };
            self.run_status(spec, StatusState::Failure, "Overtaken by a push")
                .await;
            return Ok((result, false));
        }
        let written = self.record_plan_report(spec, report, &result).await?;
        if let Some(reason) = not_recorded(&written, "plan") {
            result.outcome = Outcome::Refused { reason };
            self.run_status(spec, StatusState::Failure, "Lock lost")
                .await;
            return Ok((result, false));
        }
        let (state, description) = match report.status {
            RunStatus::Planned => (
                StatusState::Success,
                report
                    .summary
                    .as_ref()
                    .map_or_else(|| "Planned".to_owned(), PlanSummary::line),
            ),
            RunStatus::NoChanges => (StatusState::Success, "No changes".to_owned()),
            RunStatus::Refused => (StatusState::Failure, "Refused".to_owned()),
            RunStatus::TimedOut => (StatusState::Failure, "Timed out".to_owned()),
            RunStatus::Failed | RunStatus::Applied => {
                (StatusState::Failure, "Plan failed".to_owned())
            }
        };
        self.run_status(spec, state, &description).await;
        self.policy_status(spec, &result).await;
        Ok((result, true))
    }

    /// A drift check's plan: recorded with the addresses it changes (no pull request to have
    /// moved; the drift report sets the status).
    async fn record_drift_plan(
        &self,
        spec: &RunSpec,
        report: &RunReport,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let mut result = report.result.clone();
        result.drift = report.summary.as_ref().map(crate::run::DriftFacts::of);
        let written = self.record_plan_report(spec, report, &result).await?;
        Ok((result, written == PlanOutcome::Written))
    }

    /// The plan's policy checks as a status of their own (`landfall/policy_check: <project>`),
    /// when the operator has policy sets: a failure until an owner approves, for branch
    /// protection to require.
    async fn policy_status(&self, spec: &RunSpec, result: &ProjectResult) {
        if result.policies.is_empty() {
            return;
        }
        let failed = result.policies.iter().filter(|s| !s.passed()).count();
        let (state, description) = if failed == 0 {
            (StatusState::Success, "Policies passed".to_owned())
        } else {
            (
                StatusState::Failure,
                format!("{failed} policy set(s) failed: an owner must approve"),
            )
        };
        let context = status_context(self.status_name, "policy_check", &spec.project.label());
        self.status(spec, &context, state, &description).await;
    }

    /// A project's policy checks status once enough owners approved its plan at `at`.
    pub async fn policies_approved(&self, at: PullHead<'_>, project: &str) {
        let context = status_context(self.status_name, "policy_check", project);
        let approved = "Policies approved by their owners";
        let status = self.pull_request_status(at, &context, StatusState::Success, approved);
        if let Err(err) = self.vcs.set_status(at.repo, at.head, &status).await {
            tracing::warn!(error = %err, "could not set the policy checks status");
        }
    }

    /// The record and status of a run that writes the state (`apply`, `import`, `state rm`);
    /// returns the result and whether the record holds it. An apply refused before Terraform
    /// changed anything leaves its plan as it was; after an `import` or `state rm`, whatever its
    /// end, the state may have changed: the plan is `state_changed` (no planfile) and must be
    /// made again.
    async fn record_write(
        &self,
        spec: &RunSpec,
        report: &RunReport,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let status = match report.status {
            _ if spec.command.edits_state() => PlanStatus::StateChanged,
            RunStatus::Applied => PlanStatus::Applied,
            RunStatus::Refused => PlanStatus::Planned,
            _ => PlanStatus::Failed,
        };
        let title = spec.command.title();
        let (state, description) = match report.status {
            RunStatus::Applied => (
                StatusState::Success,
                match spec.command {
                    RunCommand::Import => "Imported",
                    RunCommand::StateRm => "Removed from the state",
                    RunCommand::Plan | RunCommand::Apply => "Applied",
                }
                .to_owned(),
            ),
            RunStatus::Refused => (StatusState::Failure, "Refused".to_owned()),
            RunStatus::TimedOut => (StatusState::Failure, "Timed out".to_owned()),
            _ => (
                StatusState::Failure,
                format!("{}{} failed", title[..1].to_uppercase(), &title[1..]),
            ),
        };
        let mut result = report.result.clone();
        let written = self
            .record_status(spec, &report.run_id, status, None, Some(&result))
            .await?;
        self.run_status(spec, state, &description).await;
        if spec.command.edits_state() {
            // The plan's own status would still read as a plan to apply.
            let context = status_context(self.status_name, RunCommand::Plan.as_str(), &spec.project.label());
            let why = "The state changed since this plan: plan again";
            self.status(spec, &context, StatusState::Failure, why).await;
        }
        if let Some(note) = not_recorded(&written, title) {
            // The run happened (or not) all the same; say so, and that nothing was recorded.
            if let Outcome::Refused { reason } = &mut result.outcome {
                let _ = write!(reason, " ({note})");
            }
            return Ok((result, false));
        }
        Ok((result, true))
    }

    async fn runner_failed(
        &self,
        spec: &RunSpec,
        output: String,
    ) -> anyhow::Result<(ProjectResult, bool)> {
        let result = ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::Failed {
                step: "runner".to_owned(),
                output,
            },
        );
        let written = self
            .record_status(
                spec,
                &spec.run_id(),
                PlanStatus::Failed,
                None,
                Some(&result),
            )
            .await?;
        self.run_status(spec, StatusState::Error, "The runner failed")
            .await;
        Ok((result, written == PlanOutcome::Written))
    }

    /// A plan run's report recorded: the status its outcome leaves, its planfile and result.
    async fn record_plan_report(
        &self,
        spec: &RunSpec,
        report: &RunReport,
        result: &ProjectResult,
    ) -> anyhow::Result<PlanOutcome> {
        let status = PlanStatus::after(report.status).unwrap_or(PlanStatus::Failed);
        self.record_status(
            spec,
            &report.run_id,
            status,
            report.planfile.clone(),
            Some(result),
        )
        .await
    }

    /// Writes the run's plan record (only while the PR holds the lock), tagged with the run's
    /// trigger. An apply's record keeps the commit and planfile of the plan it applied.
    pub async fn record_status(
        &self,
        spec: &RunSpec,
        run_id: &str,
        status: PlanStatus,
        planfile: Option<StoredArtifact>,
        result: Option<&ProjectResult>,
    ) -> anyhow::Result<PlanOutcome> {
        let mut record = Self::plan_record(spec, run_id, status, planfile, result);
        if status == PlanStatus::Planned && spec.command == RunCommand::Apply {
            // An apply refused before Terraform ran leaves its plan as it was: the plan's policy
            // results, approvals and base stay with it, or the next apply would find a plan
            // checked against nothing (and, before, a failing set gone unapproved). Only the
            // same plan, though: one made since (another planfile) is left as it is, and no
            // older plan is written over it.
            let Some(kept) = self.store.get_plan(&record.key, record.pr).await? else {
                return Ok(PlanOutcome::Changed);
            };
            if kept.planfile != record.planfile {
                return Ok(PlanOutcome::Changed);
            }
            if let (Some(result), Some(plan)) = (record.result.as_mut(), kept.result.as_ref()) {
                result.policies.clone_from(&plan.policies);
                result.policy_approvals.clone_from(&plan.policy_approvals);
                result.base_branch.clone_from(&plan.base_branch);
            }
            return Ok(self.store.replace_plan(&record, &kept).await?);
        }
        Ok(self.store.put_plan(&record).await?)
    }

    /// The plan record of run `run_id` of `spec` in `status`, as [`Self::record_status`]
    /// writes it.
    pub fn plan_record(
        spec: &RunSpec,
        run_id: &str,
        status: PlanStatus,
        planfile: Option<StoredArtifact>,
        result: Option<&ProjectResult>,
    ) -> PlanRecord {
        let head_sha = spec
            .apply
            .as_ref()
            .map_or_else(|| spec.head_sha.clone(), |a| a.planned_sha.clone());
        let planfile = planfile.or_else(|| spec.apply.as_ref().map(|a| a.planfile.clone()));
        PlanRecord {
            key: spec.lock_key(),
            pr: spec.pr.0,
            head_sha: head_sha.to_string(),
            run_id: run_id.to_owned(),
            status,
            planfile,
            updated_at: crate::store::now_secs(),
            trigger: Some(spec.trigger.clone()),
            result: result.map(capped),
            deadline: matches!(status, PlanStatus::Planning | PlanStatus::Applying).then(|| {
                crate::store::now_secs()
                    .saturating_add(spec.project.timeout.as_secs())
                    .saturating_add(crate::run::DEADLINE_GRACE.as_secs())
            }),
        }
    }

    /// Sets the run's own commit status (its command's, for its project), best effort.
    pub(crate) async fn run_status(&self, spec: &RunSpec, state: StatusState, description: &str) {
        let context = status_context(self.status_name, spec.status_name(), &spec.project.label());
        self.status(spec, &context, state, description).await;
    }

    /// Sets a commit status, best effort: a status that cannot be set is logged, not fatal.
    pub async fn status(
        &self,
        spec: &RunSpec,
        context: &str,
        state: StatusState,
        description: &str,
    ) {
        let repo = &spec.repo;
        let status = CommitStatus {
            context: context.to_owned(),
            state,
            description: description.to_owned(),
            target_url: (!spec.is_drift()).then(|| self.pull_url(repo, spec.pr)),
            branch: Some(spec.head_branch.clone()).filter(|b| !b.is_empty()),
            pull: (!spec.is_drift()).then(|| PullTarget {
                number: spec.pr,
                base: spec.base_branch.clone(),
            }),
        };
        let sha = &spec.head_sha;
        if let Err(err) = self.vcs.set_status(repo, sha, &status).await {
            tracing::warn!(error = %err, context, "could not set the commit status");
        }
    }

    /// The PR's web page, for "locked by #N" and status links.
    #[must_use]
    pub fn pull_url(&self, repo: &RepoName, pr: PullRequestNumber) -> String {
        crate::vcs::pull_request_url(self.provider, self.vcs_url, repo, pr)
    }
}

/// Why the record of a run of `what` was not written (`written`); `None` when it was.
fn not_recorded(written: &PlanOutcome, what: &str) -> Option<String> {
    match written {
        PlanOutcome::Written => None,
        PlanOutcome::LockNotHeld(Some(lock)) => Some(format!(
            "the lock was taken by #{} while this {what} ran; it is not recorded",
            lock.holder.pr
        )),
        PlanOutcome::LockNotHeld(None) => Some(format!(
            "the lock was released while this {what} ran; it is not recorded"
        )),
        PlanOutcome::Changed => Some(format!(
            "a run that writes this project's state started while this {what} ran; it is not \
             recorded"
        )),
    }
}

pub(crate) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
