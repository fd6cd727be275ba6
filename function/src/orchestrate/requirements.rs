//! `plan_requirements`, `apply_requirements` and `import_requirements`, each enforced from the
//! host's own answer:
//!
//! - `approved`: an approval that counts ([`crate::vcs::VcsClient::approvals`]: each reviewer's
//!   latest, not dismissed, on the head commit) from a user with write access.
//! - `mergeable`: the host's merge state (each adapter documents its mapping).
//! - `undiverged`: the head contains the base branch's current head.
//! - `policies_passed` (`apply` only): what the policy gate enforces for every apply.
//!
//! A requirement the host cannot answer is not met (fail closed), with the reason.

use super::{Context, PrContext};
use crate::repo_config::Requirement;
use crate::run::RunCommand;
use crate::vcs::{Access, PrState, PullRequest, VcsClient};

/// The host's answers, kept across the projects of one command.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    approved: Option<Result<bool, String>>,
    mergeable: Option<Result<bool, String>>,
    undiverged: Option<Result<bool, String>>,
}

impl Context {
    /// Why `requirements` (the `stage`'s: `plan`, `apply`, `import`) are not met for `command`;
    /// empty when they are.
    pub(crate) async fn unmet(
        &self,
        ctx: &PrContext,
        requirements: &[Requirement],
        stage: &str,
        command: RunCommand,
        checked: &mut Checked,
    ) -> anyhow::Result<Vec<String>> {
        let mut reasons = Vec::new();
        for requirement in requirements {
            let name = requirement.as_str();
            let answer = match requirement {
                Requirement::Approved => {
                    if checked.approved.is_none() {
                        checked.approved = Some(self.approved_by_writer(ctx).await);
                    }
                    checked.approved.clone().expect("just set")
                }
                Requirement::Mergeable => {
                    if checked.mergeable.is_none() {
                        // The state as read (`ctx.mergeable`), unless the host reads more.
                        let pr = pull_request(ctx);
                        checked.mergeable = Some(
                            (self.vcs.mergeable(&ctx.repo, &pr).await)
                                .map(|m| m == Some(true))
                                .map_err(|e| e.to_string()),
                        );
                    }
                    checked.mergeable.clone().expect("just set")
                }
                Requirement::Undiverged => {
                    if checked.undiverged.is_none() {
                        let pr = pull_request(ctx);
                        checked.undiverged = Some(
                            self.vcs
                                .contains_base(&ctx.repo, &pr)
                                .await
                                .map_err(|e| e.to_string()),
                        );
                    }
                    checked.undiverged.clone().expect("just set")
                }
                // Every apply passes the policy gate first (`repo_config::unapproved`): a plan whose
                // checks failed without their owners' approval never gets here.
                Requirement::PoliciesPassed => Ok(true),
            };
            match answer {
                Ok(true) => {}
                Ok(false) => reasons.push(format!(
                    "{} ({stage} requirement `{name}`)",
                    unmet_text(*requirement, command)
                )),
                Err(err) => reasons.push(format!(
                    "the {stage} requirement `{name}` could not be checked, so it is not met: {err}"
                )),
            }
        }
        Ok(reasons)
    }

    /// Whether a user with write access, other than the PR's author, approved the head commit.
    pub(super) async fn approved_by_writer(&self, ctx: &PrContext) -> Result<bool, String> {
        let approvers = self
            .vcs
            .approvals(&ctx.repo, ctx.pr, &ctx.head_sha)
            .await
            .map_err(|e| e.to_string())?;
        for approver in approvers.iter().filter(|a| !ctx.is_author(a)) {
            let access = self
                .access(ctx, approver)
                .await
                .map_err(|e| format!("{e:#}"))?;
            if access >= Access::Write {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn unmet_text(requirement: Requirement, command: RunCommand) -> String {
    let (must, then) = match requirement {
        Requirement::Approved => (
            "the pull request must be approved at its head commit by a user with write access (not its author)",
            "",
        ),
        Requirement::Mergeable => ("the pull request must be mergeable (the host's merge state)", ""),
        Requirement::Undiverged => (
            "the pull request's branch must contain the latest commit of its base branch",
            ": merge or rebase it",
        ),
        Requirement::PoliciesPassed => (
            "the plan's policy checks must pass, or their owners approve the failures",
            "",
        ),
    };
    format!("{must} before it is {}{then}", past(command))
}

fn past(command: RunCommand) -> &'static str {
    match command {
        RunCommand::Plan => "planned",
        RunCommand::Apply => "applied",
        RunCommand::Import => "imported",
        RunCommand::StateRm => "removed from the state",
    }
}

fn pull_request(ctx: &PrContext) -> PullRequest {
    PullRequest {
        number: ctx.pr,
        head_sha: ctx.head_sha.clone(),
        head_branch: ctx.head_branch.clone(),
        base_branch: ctx.base_branch.clone(),
        author: ctx.author.clone(),
        author_id: ctx.author_id.clone(),
        state: PrState::Open,
        mergeable: ctx.mergeable,
        head_repo: ctx.head_repo.clone(),
        merge_sha: None,
    }
}

impl Context {
    /// Why the plan `record` of `project` may not be applied on merge: the gates of `landfall
    /// apply` that still mean something once merged, the policy checks' approvals (`checks`)
    /// and `approved` (`mergeable` and `undiverged` are moot then). Empty when it may.
    pub(super) async fn merge_refusals(
        &self,
        ctx: &PrContext,
        record: &crate::store::PlanRecord,
        project: &crate::repo_config::ResolvedProject,
        checks: Option<&crate::repo_config::PolicyChecks>,
        checked: &mut Checked,
    ) -> anyhow::Result<Vec<String>> {
        let mut reasons: Vec<String> = crate::repo_config::unapproved(
            record.result.as_ref(),
            checks,
            Some(&project.workflow.policy_namespaces()),
        )
            .into_iter()
            .collect();
        let approved: Vec<Requirement> = project
            .apply_requirements
            .iter()
            .filter(|r| **r == Requirement::Approved)
            .copied()
            .collect();
        reasons.extend(
            self.unmet(ctx, &approved, "apply", RunCommand::Apply, checked)
                .await?,
        );
        Ok(reasons)
    }
}
