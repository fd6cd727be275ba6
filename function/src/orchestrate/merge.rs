//! What a merge starts (apply on merge), and `automerge` (with `delete_source_branch_on_merge`).
//!
//! **Apply on merge** (`apply_on_merge`, allowed by the operator's policy): when a PR merges,
//! each of its plans whose project turns it on is applied, under the lock the PR holds, once the
//! person who merged is allowed to `apply` and the plan passes the gates of `landfall apply`
//! that still mean something once merged (policy approvals, `approved`). When the plan is of
//! the head that was merged and the merge commit's files for the project (its directory, the
//! local modules it calls, and the repo config) are the planned head's, the stored plan is
//! applied; otherwise the project is planned again at the merge commit, and that
//! plan is applied only when the policy allows it (`apply_on_merge_replan`). A project's lock is
//! released once it applied (or its new plan has no changes); a failure leaves it held and says
//! so. The other projects' locks are released as on any merge.
//!
//! **`automerge`** (the repo file's, Atlantis' key): once every plan of the PR is applied, the PR
//! is merged with the policy's `automerge_method`, only while its head is the one applied; then,
//! with `delete_source_branch_on_merge`, its source branch is deleted. As in Atlantis, that key
//! is for the merges Landfall makes: a PR someone merges keeps its branch (a `develop` merged into
//! `main` is not deleted).

use std::collections::BTreeSet;
use std::sync::Arc;

use self::after::awaits_merge;
use self::runs::{MergeRuns, merge_runs, without_dependents_of_skipped};
use super::apply::project_for;
use super::select::Loaded;
use super::{Context, PrContext, text};
use crate::command::Action;
use crate::event::{CommitSha, Event, EventKind, PullRequestNumber, RepoName};
use crate::markdown::inline_code;
use crate::repo_config::{self, ResolvedProject};
use crate::report::short;
use crate::run::{CommentThread, MERGE_TRIGGER, PlanToApply, RunCommand, RunSpec};
use crate::store::{ApplyLocks as _, PlanRecord, PlanStatus, ReleaseOutcome, Store as _};
use crate::vcs::{PrState, VcsClient as _};

/// A planned project the merge applies.
struct OnMerge {
    record: PlanRecord,
    project: ResolvedProject,
    /// Its plan was not checked against every policy set there is now, and
    /// `apply_on_merge_replan` plans it again at the merge commit, where it is.
    replan: bool,
}

impl Context {
    /// A merged PR: its `apply_on_merge` projects applied, every other lock released.
    pub(crate) async fn merged(
        self: &Arc<Self>,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<()> {
        self.apply_merged(event, repo, pr).await
    }

    async fn apply_merged(
        self: &Arc<Self>,
        event: &Event,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<()> {
        let records = self.store.list_plans(repo.as_str(), pr.0).await?;
        if !records.iter().any(awaits_merge) || self.policy.is_none() {
            // Without a policy it is off (Atlantis' default), and no repo file may turn it on.
            self.release_ended(repo, pr, true).await?;
            return Ok(());
        }
        let mut ctx = self.context(event, repo, pr, true).await?;
        let policy = self.effective_policy(&ctx);
        let may_be_on = policy.merge.apply_on_merge
            || policy
                .allowed_overrides
                .contains(&repo_config::OverrideKey::ApplyOnMerge);
        if !may_be_on {
            self.release_ended(repo, pr, true).await?;
            return Ok(());
        }
        let Some(merge_sha) = ctx.merge_sha.clone() else {
            return self
                .keep_locks(&ctx, "the host did not say which commit the merge made")
                .await;
        };
        let (config, policy) = match self.load_config_at(policy, repo, &merge_sha).await? {
            Loaded::Config(loaded) => *loaded,
            Loaded::Invalid(comment) => {
                self.upsert_comment(&ctx, None, &comment).await?;
                return self
                    .keep_locks(&ctx, "the repo config at the merge commit is invalid")
                    .await;
            }
        };
        let MergeRecords {
            unapplied,
            on_merge,
            held,
            others,
        } = MergeRecords::sort(records, &config, &policy);
        if on_merge.is_empty() {
            self.release_ended(repo, pr, true).await?;
            return Ok(());
        }
        // Whoever merged must be allowed to apply (the refusal is said on the PR).
        if !self.authorize(&ctx, Action::Apply, false, &[]).await? {
            self.release_records(&ctx, &others, "this pull request was merged")
                .await?;
            return self
                .keep_locks(&ctx, "the person who merged may not `apply`")
                .await;
        }
        self.release_records(&ctx, &others, "this pull request was merged")
            .await?;
        // Each lock stays with the PR until its project applied (or has nothing to apply): the
        // sweep leaves a kept lock of a merged PR alone.
        let keys = on_merge.iter().chain(&held).map(|record| record.key.clone()).collect();
        self.keep_after_merge(pr, keys).await?;
        // The operator's apply lock stops applies on merge as it stops `landfall apply`.
        if let Some(lock) = self.store.apply_lock().await? {
            return self.keep_locks(&ctx, &text::applies_locked(&lock)).await;
        }
        let on_merge: Vec<OnMerge> = on_merge
            .into_iter()
            .map(|record| OnMerge {
                project: project_for(&config, &policy, &record),
                record,
                replan: false,
            })
            .collect();
        // A project whose state changed since its plan has nothing to compare or apply.
        let (stale, on_merge): (Vec<_>, Vec<_>) = on_merge
            .into_iter()
            .partition(|item| item.record.status == PlanStatus::StateChanged);
        let (on_merge, mut gated) = self.merge_gates(&ctx, on_merge, &policy).await?;
        let changed = self
            .merge_changed(repo, &on_merge, (&ctx.head_sha, &merge_sha), &policy)
            .await?;
        ctx.trigger = format!("{MERGE_TRIGGER}{}", ctx.trigger);
        let MergeRuns {
            mut applies,
            mut plans,
            notes,
        } = without_dependents_of_skipped(
            merge_runs(&ctx, (&on_merge, &stale), &changed, &merge_sha, &policy),
            &unapplied,
        );
        let mut notes: Vec<String> = notes.into_iter().map(|(_, note)| note).collect();
        notes.append(&mut gated);
        // The merge's own delivery, or a `landfall apply` on the merged PR.
        let by = if event.kind == EventKind::Merged { "merged" } else { "applied" };
        let thread = self.merge_thread(&ctx, (&merge_sha, by), &notes).await?;
        for (spec, _) in plans.iter_mut().chain(&mut applies) {
            spec.report_back = self.report_back.then(|| thread.clone());
        }
        if !plans.is_empty() {
            let plans = plans.into_iter().map(|(spec, _)| spec).collect();
            self.start_groups(&ctx, &thread, vec![plans]).await?;
        }
        if !applies.is_empty() {
            self.apply_in_stages(&ctx, &thread, applies).await?;
        }
        Ok(())
    }

    /// The merge's comment, which says what it does with each project; its runs report into it.
    async fn merge_thread(
        &self,
        ctx: &PrContext,
        (merge_sha, by): (&CommitSha, &str),
        notes: &[String],
    ) -> anyhow::Result<CommentThread> {
        let header = text::with_notes(
            &format!(
                "**Apply on merge** at merge commit `{}`, {by} by @{}:",
                short(merge_sha.as_str()),
                ctx.user
            ),
            notes,
        );
        Ok(CommentThread {
            comment_id: Some(self.upsert_comment(ctx, None, &header).await?),
            header,
            silenced: Vec::new(),
            verbose: false,
        })
    }

    /// `items` a merge may apply, and the notes on those it may not: merging applies nothing
    /// `landfall apply` would refuse (policy approvals, `approved`).
    async fn merge_gates(
        &self,
        ctx: &PrContext,
        items: Vec<OnMerge>,
        policy: &repo_config::EffectivePolicy,
    ) -> anyhow::Result<(Vec<OnMerge>, Vec<String>)> {
        let mut checked = super::requirements::Checked::default();
        let checks = policy.policy_checks.as_deref();
        let (mut open, mut gated) = (Vec::new(), Vec::new());
        for mut item in items {
            // A plan not checked against every set is not applied; with the replan on, it is
            // planned again at the merge commit, given every set, and that plan is gated.
            // So is one made for another base branch (the PR was retargeted since).
            let result = item.record.result.as_ref();
            let other_base = super::select::other_base(result, &ctx.base_branch);
            item.replan = policy.merge.replan
                && (other_base.is_some() || crate::repo_config::unchecked(result, checks, Some(&item.project.workflow.policy_namespaces())).is_some());
            let checks = if item.replan { None } else { checks };
            let mut reasons = self
                .merge_refusals(ctx, &item.record, &item.project, checks, &mut checked)
                .await?;
            if !item.replan {
                reasons.extend(other_base);
            }
            if reasons.is_empty() {
                open.push(item);
            } else {
                gated.push(text::not_applied_on_merge(
                    &item.project.display_name(),
                    &reasons,
                ));
            }
        }
        Ok((open, gated))
    }

    /// For each of `items`, whether the merge changed its inputs since its plan (nothing is read
    /// when there is none), or its plan is of an earlier head than the one merged (`head`): the
    /// stored plan would apply code nobody merged.
    async fn merge_changed(
        &self,
        repo: &RepoName,
        items: &[OnMerge],
        (head, merge_sha): (&CommitSha, &CommitSha),
        policy: &repo_config::EffectivePolicy,
    ) -> anyhow::Result<Vec<bool>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let config_files = repo_config::config_file_candidates(policy);
        let mut changed = self
            .inputs_changed(repo, &planned_dirs(items), merge_sha, &config_files)
            .await?;
        // A host that names no head after the merge (a deleted source branch) is not a change,
        // nor is a plan made at the merge commit itself (the merge's own, held back for its
        // policy checks until an owner approved them).
        if !head.as_str().is_empty() {
            for (changed, item) in changed.iter_mut().zip(items) {
                let at = item.record.head_sha.as_str();
                *changed |= at != head.as_str() && at != merge_sha.as_str();
            }
        }
        for (changed, item) in changed.iter_mut().zip(items) {
            *changed |= item.replan;
        }
        Ok(changed)
    }

    /// `delete_source_branch_on_merge`, after an automerge: deletes the merged PR's source branch
    /// when the policy (or the repo file at the merged head, with the policy's leave) says so. The host's refusal is
    /// said in a comment; the deletion itself is fail-safe (see [`VcsClient::delete_branch`]).
    async fn delete_source_branch(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<()> {
        // Without a policy it is off (Atlantis' default), and no repo file may turn it on.
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        let merged = self.vcs.pull_request(repo, pr).await?;
        let policy = policy.resolve(&self.host(), repo.as_str(), &merged.base_branch);
        let may_be_on = policy.delete_source_branch_on_merge
            || policy
                .allowed_overrides
                .contains(&crate::repo_config::OverrideKey::DeleteSourceBranchOnMerge);
        if !may_be_on {
            return Ok(());
        }
        let fallback = policy.delete_source_branch_on_merge;
        let on = match self.load_config_at(policy, repo, &merged.head_sha).await? {
            Loaded::Config(loaded) => loaded.0.delete_source_branch_on_merge,
            Loaded::Invalid(_) => fallback,
        };
        if !on {
            return Ok(());
        }
        match self.vcs.delete_branch(repo, &merged).await {
            Ok(outcome) => {
                tracing::info!(branch = %merged.head_branch, ?outcome, "source branch on merge");
            }
            Err(err) => {
                tracing::warn!(error = %err, branch = %merged.head_branch, "the source branch was not deleted");
                let body = format!(
                    "**The source branch {} was not deleted** (`delete_source_branch_on_merge`): {}",
                    inline_code(&merged.head_branch),
                    inline_code(&err.to_string())
                );
                self.vcs.post_comment(repo, pr, &body).await?;
            }
        }
        Ok(())
    }

    /// After a run's result is recorded: a merge's run releases its lock once applied (or
    /// applies the plan it made again, when allowed); an applied PR may be automerged.
    pub(crate) async fn after_run(self: &Arc<Self>, spec: &RunSpec) -> anyhow::Result<()> {
        let Some(record) = self.store.get_plan(&spec.lock_key(), spec.pr.0).await? else {
            return Ok(());
        };
        if record.run_id != spec.run_id() || record.in_progress() {
            return Ok(());
        }
        if spec.is_drift() {
            return self.after_drift(&record, Some(spec)).await;
        }
        match (spec.command, record.status) {
            (RunCommand::Apply, PlanStatus::Applied) => {
                self.note_state_written(&record, Some(&record.head_sha))
                    .await?;
            }
            // An apply that failed part-way, or an edit of the state: no commit describes it.
            (RunCommand::Apply, PlanStatus::Failed)
            | (RunCommand::Import | RunCommand::StateRm, PlanStatus::StateChanged) => {
                self.note_state_written(&record, None).await?;
            }
            _ => {}
        }
        if crate::run::is_merge_trigger(&spec.trigger) {
            return self.after_merge_run(spec, &record).await;
        }
        if spec.command != RunCommand::Plan && self.release_if_ended(spec, &record).await {
            return Ok(());
        }
        if spec.command == RunCommand::Apply && record.status == PlanStatus::Applied {
            self.automerge(spec).await?;
        }
        Ok(())
    }

    /// A merge or close while run `spec` wrote the state kept its project's lock: given back
    /// now (that lock only; the PR's others stay as the merge left them), unless the merge kept
    /// it for a change not yet applied and this run did not apply it. Whether the PR ended; a
    /// host that does not answer is logged and taken as open.
    async fn release_if_ended(&self, spec: &RunSpec, record: &PlanRecord) -> bool {
        let ended = match self.vcs.pull_request(&spec.repo, spec.pr).await {
            Ok(now) if now.state != PrState::Open => now.state,
            Ok(_) => return false,
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell whether the pull request is still open");
                return false;
            }
        };
        // As the sweep decides (`release_settled`): a kept lock goes once nothing is left to apply.
        let released = if record.status.is_settled() {
            self.store.release_lock(&record.key, Some(spec.pr.0)).await
        } else {
            self.store.release_unkept(&record.key, spec.pr.0).await
        };
        match released {
            Ok(ReleaseOutcome::Released(lock)) => {
                let verb = if ended == PrState::Merged { "merged" } else { "closed" };
                let body = text::released(&[lock], &format!("this pull request was {verb}"));
                if let Err(err) = self.vcs.post_comment(&spec.repo, spec.pr, &body).await {
                    tracing::warn!(error = %err, "cannot say a lock was released");
                }
            }
            Ok(_) => {}
            // The sweep gives it back later (`release_settled`, or the PR's `release_pr`).
            Err(err) => tracing::warn!(error = %err, "cannot release an ended pull request's lock"),
        }
        true
    }

    async fn after_merge_run(
        self: &Arc<Self>,
        spec: &RunSpec,
        record: &PlanRecord,
    ) -> anyhow::Result<()> {
        let label = spec.project.label();
        match (spec.command, record.status) {
            (RunCommand::Apply, PlanStatus::Applied)
            | (RunCommand::Plan, PlanStatus::NoChanges) => {
                if let ReleaseOutcome::Released(lock) = self
                    .store
                    .release_lock(&record.key, Some(spec.pr.0))
                    .await?
                {
                    let why = if spec.command == RunCommand::Plan {
                        "nothing to apply at the merge commit"
                    } else {
                        "applied on merge"
                    };
                    let body = text::released(&[lock], why);
                    self.vcs.post_comment(&spec.repo, spec.pr, &body).await?;
                }
            }
            (RunCommand::Plan, PlanStatus::Planned) => {
                // The plan made again at the merge commit passes the same gates as the first.
                let checks = self.policy_for(&spec.repo, &spec.base_branch).policy_checks;
                if let Some(why) =
                    crate::repo_config::unapproved(record.result.as_ref(), checks.as_deref(), None)
                {
                    let body = text::not_applied_on_merge(&label, &[why]);
                    self.vcs.post_comment(&spec.repo, spec.pr, &body).await?;
                    return Ok(());
                }
                // The operator's apply lock is read by the run itself as it starts.
                let Some(apply) = self.apply_of(spec, record).await? else {
                    return Ok(());
                };
                let thread = spec.report_back.clone().unwrap_or_else(|| CommentThread {
                    comment_id: None,
                    header: format!("**Apply on merge** of {}", inline_code(&label)),
                    silenced: Vec::new(),
            verbose: false,
                });
                Box::pin(self.run_group(vec![apply], &thread)).await?;
            }
            _ => {
                let body = format!(
                    "**{} was not applied on merge:** its {} did not succeed (see above). \
                     Its lock stays with this pull request: fix the cause and apply the change, \
                     or comment `landfall unlock` to release it.",
                    inline_code(&label),
                    spec.command
                );
                self.vcs.post_comment(&spec.repo, spec.pr, &body).await?;
            }
        }
        Ok(())
    }

    /// The apply steps of a custom workflow, read again from the repo config at the run's
    /// commit.
    /// The apply of the plan `spec` made (recorded as `record`), with the project's apply steps
    /// when it has a custom workflow; `None` when no planfile was stored.
    pub(crate) async fn apply_of(
        &self,
        spec: &RunSpec,
        record: &PlanRecord,
    ) -> anyhow::Result<Option<RunSpec>> {
        let Some(planfile) = record.planfile.clone() else {
            return Ok(None);
        };
        let mut apply = spec.clone();
        apply.command = RunCommand::Apply;
        apply.apply = Some(PlanToApply {
            planfile,
            planned_sha: spec.head_sha.clone(),
        });
        if apply.project.workflow.is_some() {
            apply.project.workflow = self.apply_steps(spec, record).await?;
        }
        Ok(Some(apply))
    }

    async fn apply_steps(
        &self,
        spec: &RunSpec,
        record: &PlanRecord,
    ) -> anyhow::Result<Option<Vec<crate::run::Step>>> {
        let policy = self.policy_for(&spec.repo, &spec.base_branch);
        let Loaded::Config(loaded) = self
            .load_config_at(policy, &spec.repo, &spec.head_sha)
            .await?
        else {
            anyhow::bail!("the repo config at the merge commit is invalid");
        };
        let (config, policy) = *loaded;
        Ok(Some(
            project_for(&config, &policy, record).workflow.apply_steps(),
        ))
    }

    /// `automerge`: merges the PR once every plan of it is applied, at the head applied.
    async fn automerge(&self, spec: &RunSpec) -> anyhow::Result<()> {
        let records = self.store.list_plans(spec.repo.as_str(), spec.pr.0).await?;
        let all_applied = records
            .iter()
            .all(|r| r.status.is_settled());
        if !all_applied {
            return Ok(());
        }
        let pr = self.vcs.pull_request(&spec.repo, spec.pr).await?;
        if pr.state != PrState::Open || records.iter().any(|r| r.head_sha != pr.head_sha.as_str()) {
            return Ok(());
        }
        let policy = self.policy_for(&spec.repo, &pr.base_branch);
        let method = policy.merge.automerge_method;
        let Loaded::Config(loaded) = self
            .load_config_at(policy, &spec.repo, &pr.head_sha)
            .await?
        else {
            return Ok(());
        };
        if !loaded.0.automerge {
            return Ok(());
        }
        let mut merged = self.vcs.merge(&spec.repo, &pr, method).await;
        // A merge retried after an answer that never came finds the PR merged by the first try.
        if merged.is_err()
            && let Ok(now) = self.vcs.pull_request(&spec.repo, spec.pr).await
            && now.state == PrState::Merged
        {
            merged = Ok(());
        }
        let done = merged.is_ok();
        let body = match merged {
            Ok(()) => format!(
                "**Automerged** (`automerge`, {} method): every plan of this pull request was applied.",
                method.as_str()
            ),
            Err(err) => format!(
                "**Not automerged:** every plan of this pull request was applied, but the merge failed: {err}"
            ),
        };
        self.vcs.post_comment(&spec.repo, spec.pr, &body).await?;
        if done && let Err(err) = self.delete_source_branch(&spec.repo, spec.pr).await
        {
            tracing::warn!(
                error = format!("{err:#}"),
                "delete_source_branch_on_merge failed"
            );
        }
        Ok(())
    }
}

/// A merged PR's plan records, as its merge sees them.
struct MergeRecords {
    /// The projects a dependent must not be applied before: each that has a plan awaiting the
    /// merge (whether or not its own apply on merge is on) or a run in progress. Those this
    /// merge does not apply hold back their dependents, as `landfall apply` would.
    unapplied: Vec<String>,
    /// The plans the merge applies (`apply_on_merge`).
    on_merge: Vec<PlanRecord>,
    /// Plans one of those depends on, not applied: each keeps its record and its lock, or a
    /// later `landfall apply` here would no longer know to hold its dependents back.
    held: Vec<PlanRecord>,
    /// The rest, released.
    others: Vec<PlanRecord>,
}

impl MergeRecords {
    fn sort(
        records: Vec<PlanRecord>,
        config: &repo_config::ResolvedConfig,
        policy: &repo_config::EffectivePolicy,
    ) -> Self {
        let waiting = |r: &PlanRecord| awaits_merge(r) || r.in_progress();
        let unapplied = records
            .iter()
            .filter(|r| waiting(r))
            .filter_map(|r| r.key.project.clone())
            .collect();
        let (on_merge, others): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|r| awaits_merge(r) && project_for(config, policy, r).apply_on_merge);
        let needed: BTreeSet<String> = on_merge
            .iter()
            .flat_map(|r| project_for(config, policy, r).depends_on)
            .collect();
        let (held, others) = others.into_iter().partition(|r| {
            waiting(r) && r.key.project.as_ref().is_some_and(|name| needed.contains(name))
        });
        Self {
            unapplied,
            on_merge,
            held,
            others,
        }
    }
}

/// Each project's planned commit and directory.
fn planned_dirs(items: &[OnMerge]) -> Vec<(&str, &str)> {
    items
        .iter()
        .map(|item| (item.record.head_sha.as_str(), item.project.dir.as_str()))
        .collect()
}

mod after;
pub(super) mod inputs;
mod locks;
mod runs;
