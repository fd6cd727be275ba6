//! Policy checks on the PR: a plan whose policy sets did not all pass is applied only once
//! enough policy owners approved it (`landfall approve_policies`, the policy's `owners` and
//! `approve_count`); an approval is kept with the plan it was given for, so a new plan needs new
//! approvals. A set with `prevent_self_approve` cannot be approved by the PR's author.

use std::fmt::Write as _;
use std::sync::Arc;

use super::select::select_records;
use crate::repo_config::{failing, unapproved};
use super::{Context, PrContext};
use crate::command::Command;
use crate::event::CommitSha;
use crate::report::PullHead;
use crate::repo_config::{Owners, PolicyChecks};
use crate::store::{LockKey, PlanOutcome, PlanRecord, PlanStatus, Store as _};
use crate::vcs::VcsClient as _;

/// How often an approval is written again after another approval of the same plan came first.
const APPROVAL_ATTEMPTS: usize = 5;

impl Context {
    /// `landfall approve_policies`: records the commenter's approval on each selected plan
    /// whose policy checks failed, when they own every failing set.
    pub(crate) async fn approve_policies(
        self: &Arc<Self>,
        ctx: &PrContext,
        command: &Command,
    ) -> anyhow::Result<()> {
        let policy = self.effective_policy(ctx);
        let Some(checks) = policy.policy_checks.as_deref() else {
            let body = "**Nothing to approve:** this deployment has no policy checks (`policies` in the Landfall policy).";
            self.vcs.post_comment(&ctx.repo, ctx.pr, body).await?;
            return Ok(());
        };
        let records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
        let mut body = String::new();
        let mut approved = 0;
        let approving = async {
            for record in select_records(records, command) {
                let Some(result) = record.result.as_ref() else {
                    continue;
                };
                let (names, need) = failing(result, Some(checks));
                if names.is_empty() || !approvable(record.status) {
                    continue;
                }
                let label = crate::markdown::inline_code(&record.key.project_label());
                if let Some(why) = self.may_approve(ctx, checks, &names).await? {
                    let _ = writeln!(body, "- {label}: **not approved**: {why}");
                    continue;
                }
                // Counted once per person: by login, or on Bitbucket Cloud by account UUID.
                let Some(who) = approver(ctx) else {
                    continue;
                };
                let (key, run_id) = (record.key.clone(), record.run_id.clone());
                match self.add_approval(record, &who).await? {
                    Ok(have) => {
                        approved += 1;
                        self.approved_status(ctx, checks, &key, &run_id).await?;
                        let _ = writeln!(
                            body,
                            "- {label}: approved ({have} of {need} approval(s) needed)"
                        );
                    }
                    Err(why) => {
                        let _ = writeln!(body, "- {label}: **not approved**: {why}");
                    }
                }
            }
            anyhow::Ok(())
        }
        .await;
        // What was approved is stored: the statuses say so, whatever failed after it.
        if approved > 0 {
            self.reporter().pull_statuses(ctx.pull_head()).await;
        }
        approving?;
        let body = if body.is_empty() {
            "**Nothing to approve:** no plan of this pull request for that selection has failing policy checks.".to_owned()
        } else {
            format!(
                "**Policies** ({approved} approved by @{}):\n\n{body}",
                ctx.sender.login
            )
        };
        self.vcs.post_comment(&ctx.repo, ctx.pr, &body).await?;
        Ok(())
    }

    /// The project's `policy_check` status, passed, once its plan (the run `run_id`, read
    /// again) passes the gate apply judges it by: approved by enough owners, checked against
    /// every set the policy has now, made for the pull request's base branch.
    async fn approved_status(
        &self,
        ctx: &PrContext,
        checks: &PolicyChecks,
        key: &LockKey,
        run_id: &str,
    ) -> anyhow::Result<()> {
        let Some(now) = self.store.get_plan(key, ctx.pr.0).await? else {
            return Ok(());
        };
        let result = now.result.as_ref();
        if now.run_id != run_id
            || unapproved(result, Some(checks), None).is_some()
            || result.is_some_and(|r| r.made_for_another_base(&ctx.base_branch))
        {
            return Ok(());
        }
        let head = CommitSha::new(now.head_sha);
        let at = PullHead {
            head: &head,
            ..ctx.pull_head()
        };
        self.reporter()
            .policies_approved(at, &key.project_label())
            .await;
        Ok(())
    }

    /// Adds `who`'s approval to the plan as read (`read`), written only over that record: an
    /// apply that started meanwhile keeps its own, and of two approvals given at once the one
    /// that lost is added again to the record the winner wrote. `Ok` with the approvals now
    /// recorded, `Err` with why none was.
    async fn add_approval(
        &self,
        mut read: PlanRecord,
        who: &str,
    ) -> anyhow::Result<Result<usize, &'static str>> {
        const CHANGED: &str = "its plan changed meanwhile; approve it again";
        for _ in 0..APPROVAL_ATTEMPTS {
            let mut record = read.clone();
            let Some(result) = record.result.as_mut() else {
                return Ok(Err(CHANGED));
            };
            if !result.policy_approvals.iter().any(|given| given == who) {
                result.policy_approvals.push(who.to_owned());
            }
            let have = result.policy_approvals.len();
            match self.store.replace_plan(&record, &read).await? {
                PlanOutcome::Written => return Ok(Ok(have)),
                PlanOutcome::LockNotHeld(_) => {
                    return Ok(Err("this pull request no longer holds its lock"));
                }
                PlanOutcome::Changed => match self.store.get_plan(&read.key, read.pr).await? {
                    // Another approval came first: the same plan, still waiting to be applied.
                    Some(now) if now.run_id == read.run_id && approvable(now.status) => {
                        read = now;
                    }
                    _ => return Ok(Err(CHANGED)),
                },
            }
        }
        Ok(Err(CHANGED))
    }

    /// Why the commenter may not approve the failing sets `names`; `None` when they may: an
    /// owner of the section, or of every failing set (all of them still in the policy), and not
    /// the PR's author where a set prevents self-approval.
    async fn may_approve(
        &self,
        ctx: &PrContext,
        checks: &PolicyChecks,
        names: &[String],
    ) -> anyhow::Result<Option<String>> {
        let sets: Vec<_> = names.iter().filter_map(|n| checks.set(n)).collect();
        if ctx.is_author(&ctx.sender) && sets.iter().any(|s| s.prevent_self_approve) {
            return Ok(Some(
                "the pull request's author may not approve these policies (`prevent_self_approve`)"
                    .to_owned(),
            ));
        }
        if self.owns(ctx, &checks.owners).await? {
            return Ok(None);
        }
        // A failing set the policy no longer names has no owners of its own to ask.
        if let Some(gone) = names.iter().find(|n| checks.set(n).is_none()) {
            return Ok(Some(format!(
                "policy set {} is no longer in the policy: only an owner of the policies \
                 (`policies.owners`) may approve it",
                crate::markdown::inline_code(gone)
            )));
        }
        for set in &sets {
            if !self.owns(ctx, &set.owners).await? {
                return Ok(Some(format!(
                    "@{} is not an owner of policy set `{}` (`policies.owners`)",
                    ctx.sender.login, set.set.name
                )));
            }
        }
        Ok(None)
    }

    /// Whether the commenter is one of `owners`: a user by what identifies people on this host
    /// (the login; on Bitbucket Cloud the account UUID, never the nickname), or a member of a
    /// team.
    async fn owns(&self, ctx: &PrContext, owners: &Owners) -> anyhow::Result<bool> {
        let Some(identity) = ctx.sender.identity(ctx.provider) else {
            return Ok(false);
        };
        if owners.users.iter().any(|u| u.eq_ignore_ascii_case(&identity)) {
            return Ok(true);
        }
        for team in &owners.teams {
            // A membership the host cannot tell is no membership.
            match self.vcs.is_member(team, &ctx.sender).await {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(team, error = %err, "policy owners: team membership unknown");
                }
            }
        }
        Ok(false)
    }
}

/// Whether a plan in `status` takes approvals: one waiting to be applied, or one with no
/// changes (its failing sets would otherwise fail the pull request's `policy_check` for good).
fn approvable(status: PlanStatus) -> bool {
    matches!(status, PlanStatus::Planned | PlanStatus::NoChanges)
}

/// How an approval is recorded: the commenter's login, or on Bitbucket Cloud (where nicknames
/// are neither unique nor fixed) the account UUID; `None` for someone the host does not name.
fn approver(ctx: &PrContext) -> Option<String> {
    if ctx.provider.logins_are_unique() {
        Some(ctx.sender.login.clone()).filter(|l| !l.is_empty())
    } else {
        ctx.sender.identity(ctx.provider)
    }
}
