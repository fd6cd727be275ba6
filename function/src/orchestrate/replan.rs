//! A plan without `-p`/`-d`/`-w` (a comment's or autoplan's) replaces every plan of the PR, as
//! in Atlantis: a plan an earlier `landfall plan -d prod -- -destroy` made, of a project this
//! plan does not select, is discarded with its lock, so that `landfall apply` cannot apply it.
//!
//! A commit that was planned already is planned again only by someone who may apply: a new plan
//! of it may replace, or stand beside, the plans someone reviewed and approved (an approval is
//! the commit's, not the plan's). That a commit was planned outlives its plan records, which a
//! close or an `unlock` discards: a store marker says so for [`PLANNED_HEAD_TTL`], so a close and
//! reopen cannot plan the approved commit anew.

use std::sync::Arc;
use std::time::Duration;

use super::plan::lock_key;
use super::{Context, PrContext};
use crate::command::Action;
use crate::event::{CommitSha, Event, PullRequestNumber, RepoName};
use crate::markdown::inline_code;
use crate::projects::{Request, Selection};
use crate::store::{LockKey, PlanStatus, PullHeads as _, ReleaseOutcome, Store as _};

/// How long a pull request's commit is known to have been planned after its plan records are
/// gone: longer than a pull request stays open in practice.
pub(super) const PLANNED_HEAD_TTL: Duration = Duration::from_hours(180 * 24);

/// The store key (a delivery record's, in a namespace no host's delivery id has) that says
/// `head` of a pull request was planned.
fn planned_head_marker(repo: &RepoName, pr: PullRequestNumber, head: &CommitSha) -> String {
    format!("planned-head:{repo}#{pr}@{head}")
}

impl Context {
    /// Keeps that `head` of the PR was planned, past its plan records.
    pub(super) async fn mark_planned(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let marker = planned_head_marker(repo, pr, head);
        // New or already there: either way the head is marked.
        let _ = self.store.record_delivery(&marker, PLANNED_HEAD_TTL).await?;
        Ok(())
    }

    /// Whether the PR has plan records made at the event's head commit.
    pub(super) async fn planned_at_head(
        &self,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<bool> {
        let Some(head) = event.head_sha.as_ref() else {
            return Ok(false);
        };
        self.planned_at(repo, pr, head).await
    }

    /// Whether the PR's commit `head` was planned: it has plan records made at it (a
    /// 12-character Bitbucket Cloud hash matches as a prefix), or its marker says so.
    pub(super) async fn planned_at(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> anyhow::Result<bool> {
        Ok(self.has_records_at(repo, pr, head).await? || self.marked_planned(repo, pr, head).await?)
    }

    /// Whether the PR has plan records made at commit `head`.
    async fn has_records_at(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> anyhow::Result<bool> {
        let head = head.as_str();
        if head.len() < 7 {
            return Ok(false);
        }
        let records = self.store.list_plans(repo.as_str(), pr.0).await?;
        Ok(records.iter().any(|r| r.head_sha.starts_with(head)))
    }

    /// Whether the marker says the PR's commit `head` was planned.
    async fn marked_planned(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> anyhow::Result<bool> {
        let marker = planned_head_marker(repo, pr, head);
        Ok(self.store.delivery_recorded(&marker).await?)
    }

    /// Whether `request` may plan at the PR's head commit: only someone who may apply plans a
    /// commit the PR has a plan of already (any project, any outcome), and not the PR's author
    /// once a writer approved the commit (an approval may gate apply through `approved`, an
    /// override of `apply_requirements`, `mergeable` under branch protection, or a merge). The
    /// same commit can plan
    /// otherwise (a data source, a module version range, a tag that moved, other flags), and a
    /// host's approval is the commit's: a second plan would be one nobody reviewed, which apply,
    /// or apply on merge, would then apply under the approval given for the first. A comment is
    /// told why; autoplan (a reopen, a ready event) plans nothing silently where the commit's
    /// plans are still there, and says so where they are gone (a push back to a commit planned
    /// before, a reopen after a close).
    pub(super) async fn may_plan_this_commit(
        self: &Arc<Self>,
        ctx: &PrContext,
        request: &Request,
    ) -> anyhow::Result<bool> {
        let (repo, pr, head) = (&ctx.repo, ctx.pr, &ctx.head_sha);
        let records_here = self.has_records_at(repo, pr, head).await?;
        let planned_here = records_here || self.marked_planned(repo, pr, head).await?;
        if !planned_here {
            return Ok(true);
        }
        // Whatever the policy: an approval can gate apply through `approved`, a repository's
        // override, `mergeable` under branch protection, or a merge. One that cannot be read
        // counts as given: the author is then refused.
        let author_under_approval =
            ctx.is_author(&ctx.sender) && self.approved_by_writer(ctx).await.unwrap_or(true);
        if !author_under_approval && self.may(ctx, Action::Apply).await? {
            return Ok(true);
        }
        tracing::info!("the head was planned already, and the sender may not apply: nothing is planned");
        if !request.automatic || !records_here {
            let who = if author_under_approval {
                "someone who may apply, other than the pull request's author once a writer \
                 approved the commit,"
            } else {
                "someone who may apply"
            };
            let body = format!(
                "**Not planned:** {} was planned already. A new plan of the same commit can \
                 differ from the one reviewed (a data source, a module version range, a tag \
                 that moved, other flags), and an approval is the commit's, so only {who} plans \
                 it again. Push a commit to plan anew.",
                inline_code(&ctx.head_sha.to_string())
            );
            self.upsert_comment(ctx, None, &body).await?;
        }
        Ok(false)
    }

    /// With a `request` that selects every project, discards the PR's plans with changes, and
    /// those still being made, except those of `keep` (which this plan makes again); returns a
    /// note for each one discarded. A run that writes the state keeps its lock and record.
    pub(super) async fn discard_other_plans(
        &self,
        ctx: &PrContext,
        request: &Request,
        keep: &[LockKey],
    ) -> anyhow::Result<Vec<String>> {
        if request.is_explicit() {
            return Ok(Vec::new());
        }
        let mut notes = Vec::new();
        for record in self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await? {
            let pending = matches!(record.status, PlanStatus::Planned | PlanStatus::Planning);
            if !pending || keep.contains(&record.key) {
                continue;
            }
            if let ReleaseOutcome::Released(lock) =
                self.store.release_lock(&record.key, Some(ctx.pr.0)).await?
            {
                notes.push(format!(
                    "The earlier plan of {} was discarded, and its lock released: a plan \
                     without `-p`, `-d` or `-w` replaces every plan of this pull request.",
                    inline_code(&lock.key.project_label())
                ));
            }
        }
        Ok(notes)
    }

    /// Keeps every project a plan of the whole PR selected at the head (those it will run,
    /// and the changed ones it leaves out: autoplan disabled, and those another PR's lock or a
    /// `plan_requirements` keeps out later), which the PR's own statuses then wait for.
    pub(super) async fn keep_selection(
        &self,
        ctx: &PrContext,
        selection: &Selection,
    ) {
        let selected: Vec<LockKey> = (selection.projects.iter().map(|s| &s.project))
            .chain(&selection.autoplan_disabled)
            .map(|project| lock_key(ctx, project))
            .collect();
        // Best effort: the plan runs all the same, and the statuses keep waiting for what
        // was kept before (nothing, at a new commit).
        if let Err(err) = self.store.put_selected(ctx.pull_head().key(), &selected).await {
            tracing::warn!(error = %err, projects = selected.len(), "could not keep the plan's selection for the pull request's statuses");
        }
    }
}
