//! The sweeper: nothing is lost. Each sweep (EventBridge Scheduler under Lambda, a timer in
//! `serve`) fails the runs in progress whose runner ended without recording a result or that
//! passed their deadline, with a failure status and a PR comment saying why, and releases the
//! locks of pull requests the host reports merged or closed (a lost merge webhook; not those a
//! merge kept on purpose, [`crate::store::Lock::kept_after_merge`]) and drift
//! checks' locks that stood past their grace with no check running. It reads the
//! store's runs in progress and locks (an index, never a scan) and asks the dispatcher and the
//! host about those only.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::{Context, text};
use crate::dispatch::{Dispatcher as _, RunState};
use crate::event::{CommitSha, PullRequestNumber, RepoName};
use crate::run::{Outcome, ProjectResult, ProjectSpec, RunCommand};
use crate::store::{PlanRecord, PlanStatus, ReleaseOutcome, Store as _, Sweeps as _, now_secs};
use crate::vcs::{CommitStatus, PrState, StatusState, VcsClient as _, status_context};

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Runs in progress looked at.
    pub runs_checked: usize,
    /// Runs failed by this sweep (their ids).
    pub runs_failed: Vec<String>,
    /// Pull requests whose locks were released (`owner/repo#N`).
    pub prs_released: Vec<String>,
    /// Drift checks' locks given back with no check running (`owner/repo project`).
    pub drift_locks_released: Vec<String>,
}

/// How long a drift check's lock may stand without a check running before the sweeper gives it
/// back: longer than the moments between taking it and recording the run, and between a check's
/// end and its remediation's start.
pub const DRIFT_LOCK_GRACE_SECS: u64 = 15 * 60;

impl Context {
    /// One sweep. A problem with one run or pull request is logged and the rest goes on.
    pub(crate) async fn sweep(self: &Arc<Self>) -> anyhow::Result<SweepReport> {
        self.sweep_at(now_secs()).await
    }

    /// The sweep as at `now` (seconds since the Unix epoch).
    pub(crate) async fn sweep_at(self: &Arc<Self>, now: u64) -> anyhow::Result<SweepReport> {
        let mut report = SweepReport::default();
        for record in self.store.unfinished_runs().await? {
            report.runs_checked += 1;
            let why = if record.deadline.is_some_and(|deadline| now >= deadline) {
                Some("it passed its time limit without reporting".to_owned())
            } else {
                match self.dispatcher.run_state(&record.run_id).await {
                    RunState::Running => None,
                    RunState::Ended(why) => Some(why),
                    RunState::Unknown(err) => {
                        tracing::warn!(run = %record.run_id, error = %err, "cannot tell where a run stands");
                        None
                    }
                }
            };
            let Some(why) = why else { continue };
            match self.fail_stuck(&record, &why).await {
                Ok(true) => {
                    report.runs_failed.push(record.run_id.clone());
                    // A failed run ends its execution order group as a report would.
                    if let Some(trigger) = &record.trigger {
                        let (repo, pr) = (
                            RepoName::new(&record.key.repo),
                            PullRequestNumber(record.pr),
                        );
                        if let Err(err) = self.advance(&repo, pr, trigger, &record.key).await {
                            tracing::warn!(
                                error = format!("{err:#}"),
                                "cannot start the next execution order group"
                            );
                        }
                    }
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(run = %record.run_id, error = format!("{err:#}"), "cannot fail a stuck run");
                }
            }
        }
        let locks = self.store.list_locks(None).await?;
        for lock in locks.iter().filter(|lock| lock.holder.pr == crate::run::DRIFT_PR.0) {
            match self.release_idle_drift_lock(lock, now).await {
                Ok(true) => report
                    .drift_locks_released
                    .push(format!("{} {}", lock.key.repo, lock.key.project_label())),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "cannot check a drift check's lock");
                }
            }
        }
        for lock in locks.iter().filter(|lock| lock.kept_after_merge) {
            match self.release_settled(lock).await {
                Ok(true) => report
                    .prs_released
                    .push(format!("{}#{}", lock.key.repo, lock.holder.pr)),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "cannot check a lock a merge kept");
                }
            }
        }
        // A lock its PR's merge kept stays until someone deals with it (`landfall unlock`).
        let locked: BTreeSet<(String, u64)> = locks
            .into_iter()
            .filter(|lock| !lock.kept_after_merge)
            .map(|lock| (lock.key.repo, lock.holder.pr))
            .collect();
        // Drift checks hold locks as "pull request 0": their runs give them back.
        for (repo, pr) in locked.into_iter().filter(|(_, pr)| *pr != crate::run::DRIFT_PR.0) {
            match self
                .release_if_closed(&RepoName::new(&repo), PullRequestNumber(pr))
                .await
            {
                Ok(true) => report.prs_released.push(format!("{repo}#{pr}")),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(%repo, pr, error = format!("{err:#}"), "cannot check a locked pull request");
                }
            }
        }
        tracing::info!(
            runs_checked = report.runs_checked,
            runs_failed = report.runs_failed.len(),
            prs_released = report.prs_released.len(),
            "sweep done"
        );
        Ok(report)
    }

    /// Gives back a lock a merge kept whose project has since been applied (or found nothing
    /// to apply): the merge's own release after that run was lost (the function stopped, the
    /// store did not answer). Returns whether it was released.
    async fn release_settled(&self, lock: &crate::store::Lock) -> anyhow::Result<bool> {
        let settled = self
            .store
            .get_plan(&lock.key, lock.holder.pr)
            .await?
            .is_some_and(|r| r.status.is_settled());
        if !settled {
            return Ok(false);
        }
        let released = self.store.release_lock(&lock.key, Some(lock.holder.pr)).await?;
        let ReleaseOutcome::Released(lock) = released else {
            return Ok(false);
        };
        let (repo, pr) = (RepoName::new(&lock.key.repo), PullRequestNumber(lock.holder.pr));
        let body = text::released(&[lock], "applied on merge");
        self.vcs.post_comment(&repo, pr, &body).await?;
        Ok(true)
    }

    /// Gives back a drift check's lock that has stood past [`DRIFT_LOCK_GRACE_SECS`] with no
    /// check or remediation running (the function stopped between taking it and dispatching, or
    /// before giving it back). Returns whether it was released.
    async fn release_idle_drift_lock(
        &self,
        lock: &crate::store::Lock,
        now: u64,
    ) -> anyhow::Result<bool> {
        if now < lock.since.saturating_add(DRIFT_LOCK_GRACE_SECS) {
            return Ok(false);
        }
        let running = self
            .store
            .get_plan(&lock.key, crate::run::DRIFT_PR.0)
            .await?
            .is_some_and(|record| record.in_progress());
        if running {
            return Ok(false);
        }
        let released = self
            .store
            .release_lock(&lock.key, Some(crate::run::DRIFT_PR.0))
            .await?;
        tracing::warn!(project = %lock.key.project_label(), ?released, "a drift check's lock stood with no check running: given back");
        Ok(matches!(released, crate::store::ReleaseOutcome::Released(_)))
    }

    /// Fails a run that will never report: its record (only if still that run in progress), a
    /// failure status, and a comment. Returns whether this sweep failed it.
    async fn fail_stuck(self: &Arc<Self>, record: &PlanRecord, why: &str) -> anyhow::Result<bool> {
        let output = format!(
            "The run `{}` ended without reporting: {why}. Nothing of it was recorded.",
            record.run_id
        );
        if !self
            .fail_run(
                record,
                "runner",
                &output,
                "The runner ended without reporting",
            )
            .await?
        {
            return Ok(false);
        }
        tracing::warn!(run = %record.run_id, project = %record.key.project_label(), %why, "a run ended without reporting: failed");
        if record.pr == crate::run::DRIFT_PR.0 {
            // A drift check's: its record, its lock and its report, no pull request.
            if let Some(failed) = self.store.get_plan(&record.key, record.pr).await? {
                Box::pin(self.after_drift(&failed, None)).await?;
            }
            return Ok(true);
        }
        let body = text::stuck(command_of(record), &record.key.project_label(), &output);
        let repo = RepoName::new(&record.key.repo);
        self.vcs
            .post_comment(&repo, PullRequestNumber(record.pr), &body)
            .await?;
        Ok(true)
    }

    /// Records run `record` as failed in `step` with `output` (only while the store still holds
    /// that run in progress) and sets its commit status to a failure saying `description`.
    /// Returns whether it was recorded.
    pub(crate) async fn fail_run(
        &self,
        record: &PlanRecord,
        step: &str,
        output: &str,
        description: &str,
    ) -> anyhow::Result<bool> {
        let command = command_of(record);
        let mut failed = record.clone();
        failed.status = PlanStatus::Failed;
        failed.deadline = None;
        failed.updated_at = now_secs();
        let project = ProjectSpec {
            name: record.key.project.clone(),
            workspace: record.key.workspace.clone(),
            ..ProjectSpec::new(record.key.dir.clone())
        };
        failed.result = Some(ProjectResult::new(
            &project,
            command,
            Outcome::Failed {
                step: step.to_owned(),
                output: output.to_owned(),
            },
        ));
        if !self.store.finish_stuck(&failed, &record.run_id).await? {
            return Ok(false);
        }
        if record.pr == crate::run::DRIFT_PR.0 {
            return Ok(true); // The drift report sets a drift check's status.
        }
        let repo = RepoName::new(&record.key.repo);
        let pr = PullRequestNumber(record.pr);
        let now = self.vcs.pull_request(&repo, pr).await.ok();
        let sha = CommitSha::new(&record.head_sha);
        let at = now.as_ref().map(|now| crate::report::PullHead {
            repo: &repo,
            pr,
            head: &sha,
            branch: &now.head_branch,
            base: &now.base_branch,
        });
        let context = status_context(self.switches.status_name(), command.as_str(), &record.key.project_label());
        let reporter = self.reporter();
        let status = match at {
            Some(at) => reporter.pull_request_status(at, &context, StatusState::Failure, description),
            // A pull request the host does not answer for: a status of the commit alone.
            None => CommitStatus {
                context,
                state: StatusState::Failure,
                description: description.to_owned(),
                target_url: Some(reporter.pull_url(&repo, pr)),
                branch: None,
                pull: None,
            },
        };
        if let Err(err) = self.vcs.set_status(&repo, &sha, &status).await {
            tracing::warn!(error = %err, "could not set the failure status");
        }
        if let Some(at) = at
            && !crate::run::is_merge_trigger(record.trigger.as_deref().unwrap_or_default())
        {
            reporter.pull_statuses(at).await;
        }
        // An apply, import or state rm that never reported may have written the state: no
        // commit describes it now (as after a failed apply's own report).
        if record.status == PlanStatus::Applying
            && let Err(err) = self.note_state_written(&failed, None).await
        {
            tracing::warn!(error = format!("{err:#}"), "could not note the state as edited");
        }
        Ok(true)
    }

    /// Releases the locks of a pull request the host no longer reports open.
    async fn release_if_closed(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> anyhow::Result<bool> {
        let now = self.vcs.pull_request(repo, pr).await?;
        if now.state == PrState::Open {
            return Ok(false);
        }
        self.release_ended(repo, pr, now.state == PrState::Merged)
            .await
    }

    /// Releases every lock of a pull request that ended (`merged` or closed), except those of a
    /// run that writes the state (given back when it reports, or by the sweep), and says so on
    /// it; returns whether it released any.
    pub(crate) async fn release_ended(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        merged: bool,
    ) -> anyhow::Result<bool> {
        let release = self.store.release_pr(repo.as_str(), pr.0).await?;
        let verb = if merged { "merged" } else { "closed" };
        let why = format!("this pull request was {verb}");
        // Only a release is said: the sweep finds the kept locks again every round.
        let Some(body) = text::pr_released(&release, &why, "they are given back when it has")
        else {
            return Ok(false);
        };
        self.vcs.post_comment(repo, pr, &body).await?;
        Ok(true)
    }
}

/// The command a record's run in progress is running: an `applying` record's run id names it
/// (`lf-import-...`, `lf-state-rm-...`: see [`crate::run::job_name`]), else apply; plan for the
/// others.
pub(crate) fn command_of(record: &PlanRecord) -> RunCommand {
    match record.status {
        PlanStatus::Applying if record.run_id.starts_with("lf-import-") => RunCommand::Import,
        PlanStatus::Applying if record.run_id.starts_with("lf-state-rm-") => RunCommand::StateRm,
        PlanStatus::Applying => RunCommand::Apply,
        _ => RunCommand::Plan,
    }
}
