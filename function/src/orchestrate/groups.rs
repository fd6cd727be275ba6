//! The order a command's runs start in: execution order groups one after another (under
//! Lambda the later ones wait in the store, and the report that ends a group starts the next),
//! and within a group a project after those it `depends_on`; a plan whose dependency was not
//! planned is not run, an apply stage after one that did not apply is refused.

use std::sync::Arc;

use super::select::refused;
use super::text::EARLIER_STAGE_NOT_APPLIED;
use super::{Context, PrContext};
use crate::report::short;
use crate::vcs::VcsClient as _;
use crate::run::{CommentThread, RunCommand, RunSpec};
use crate::store::{LockKey, PlanStatus, QueueKey, RunQueues as _, Store as _, TakenGroup};

impl Context {
    /// Starts the execution order groups `specs`, in order: runs that report back start the
    /// first group and queue the rest (the report that ends a group starts the next, see
    /// [`Self::advance`]); runs the function waits for run group after group.
    pub(crate) async fn start_groups(
        self: &Arc<Self>,
        ctx: &PrContext,
        thread: &CommentThread,
        mut specs: Vec<Vec<RunSpec>>,
    ) -> anyhow::Result<()> {
        if specs.is_empty() {
            return Ok(());
        }
        if self.report_back {
            let first = specs.remove(0);
            if !specs.is_empty() {
                let queued = crate::store::QueuedGroups {
                    thread: thread.clone(),
                    current: first
                        .iter()
                        .map(|s| crate::store::keys::project_key(&s.lock_key()))
                        .collect(),
                    groups: specs,
                };
                let queue = QueueKey {
                    repo: ctx.repo.as_str(),
                    pr: ctx.pr.0,
                    trigger: &first[0].trigger,
                };
                self.store.queue_groups(queue, &queued).await?;
            }
            let (trigger, key) = (first[0].trigger.clone(), first[0].lock_key());
            self.run_group(first, thread).await?;
            // A group whose runs all ended at once (none could start) starts the next now.
            return self.advance(&ctx.repo, ctx.pr, &trigger, &key).await;
        }
        // Runs the function waits for: each group has ended when `run_group` returns.
        for group in specs {
            let group = self.hold_back(group, thread).await?;
            self.run_group(group, thread).await?;
        }
        Ok(())
    }

    /// Starts the next execution order group of command `trigger` once no run of it is in
    /// progress, `finished` being a project of the group that ran (see [`crate::store::queue`]).
    pub(crate) async fn advance(
        self: &Arc<Self>,
        repo: &crate::event::RepoName,
        pr: crate::event::PullRequestNumber,
        trigger: &str,
        finished: &LockKey,
    ) -> anyhow::Result<()> {
        let mut finished = finished.clone();
        loop {
            let records = self.store.list_plans(repo.as_str(), pr.0).await?;
            if records
                .iter()
                .any(|r| r.trigger.as_deref() == Some(trigger) && r.in_progress())
            {
                return Ok(());
            }
            let Some(TakenGroup {
                thread,
                ended,
                runs: next,
            }) = self
                .store
                .next_group(
                    QueueKey {
                        repo: repo.as_str(),
                        pr: pr.0,
                        trigger,
                    },
                    &finished,
                )
                .await?
            else {
                return Ok(());
            };
            let Some(first) = next.first() else {
                return Ok(());
            };
            finished = first.lock_key();
            // An apply's later stage runs only if every apply of this command so far applied,
            // and every project of the stage that ended is applied: one whose apply was refused
            // because another command's apply of it runs has no record of this command.
            let unapplied = records.iter().any(|r| {
                r.trigger.as_deref() == Some(trigger) && !matches!(r.status, PlanStatus::Applied)
            }) || ended.iter().any(|key| {
                // A project applied on merge gave its record back with its lock: none is no
                // refusal.
                records.iter().any(|r| {
                    crate::store::keys::project_key(&r.key) == *key
                        && r.status != PlanStatus::Applied
                })
            });
            let refusal = if first.command != RunCommand::Apply {
                None
            } else if unapplied {
                Some(EARLIER_STAGE_NOT_APPLIED.to_owned())
            } else {
                self.moved_on(first).await
            };
            if let Some(why) = refusal {
                for spec in &next {
                    self.refuse_apply(spec, &thread, &why).await?;
                }
                continue;
            }
            let next = self.hold_back(next, &thread).await?;
            tracing::info!(runs = next.len(), "the next execution order group starts");
            Box::pin(self.run_group(next, &thread)).await?;
        }
    }

    /// Why a later stage of the apply `first` is part of may not start because its PR moved on
    /// from the commit the apply was asked at (a push while an earlier stage ran: an approval
    /// may be gone with it), or the host cannot tell; `None` when it is still there. A merge's
    /// apply is made at the merge commit, which is not the PR's head.
    async fn moved_on(&self, first: &RunSpec) -> Option<String> {
        if crate::run::is_merge_trigger(&first.trigger) {
            return None;
        }
        match self.vcs.pull_request(&first.repo, first.pr).await {
            Ok(now) if now.head_sha == first.head_sha => None,
            Ok(now) => Some(format!(
                "the pull request moved on to {} while an earlier stage of this apply ran, and \
                 this stage's plans were made at {}: plan and apply again",
                short(now.head_sha.as_str()),
                short(first.head_sha.as_str())
            )),
            Err(err) => Some(format!(
                "the host could not tell whether the pull request moved on ({err}): apply again"
            )),
        }
    }

    /// The plans of `group` that may start: a plan whose `depends_on` names a project of the
    /// same command whose plan did not succeed is not run, and says so; its lock is given back.
    async fn hold_back(
        &self,
        group: Vec<RunSpec>,
        thread: &CommentThread,
    ) -> anyhow::Result<Vec<RunSpec>> {
        let Some(first) = group.first().cloned() else {
            return Ok(group);
        };
        if first.command != RunCommand::Plan
            || group.iter().all(|spec| spec.project.depends_on.is_empty())
        {
            return Ok(group);
        }
        let records = self
            .store
            .list_plans(first.repo.as_str(), first.pr.0)
            .await?;
        let failed = |name: &String| {
            records.iter().any(|r| {
                r.trigger.as_deref() == Some(first.trigger.as_str())
                    && r.key.project.as_deref() == Some(name.as_str())
                    && !matches!(r.status, PlanStatus::Planned | PlanStatus::NoChanges)
            })
        };
        let mut ready = Vec::new();
        for spec in group {
            match spec.project.depends_on.iter().find(|dep| failed(dep)) {
                Some(dep) => {
                    // The lock is given back before the comment says so.
                    // A merge's re-plan: a lock the merge kept stays with it.
                    let released = self
                        .store
                        .release_unkept(&spec.lock_key(), spec.pr.0)
                        .await?;
                    tracing::info!(?released, project = %spec.project.label(), "not run: lock given back");
                    let why = format!(
                        "not run: {}, which this project depends on (`depends_on`), was not \
                         planned. Fix it and comment `landfall plan` to plan both",
                        crate::markdown::inline_code(dep)
                    );
                    let result = refused(&spec, &why);
                    self.reporter().publish(&spec, thread, Some(&result)).await?;
                }
                None => ready.push(spec),
            }
        }
        Ok(ready)
    }
}
