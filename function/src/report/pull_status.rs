//! The pull request's own statuses, `landfall/plan` and `landfall/apply`, beside the statuses of
//! each project: names that do not change from one pull request to the next, so that branch
//! protection can require them, as Atlantis users require `atlantis/plan` and `atlantis/apply`.
//!
//! Both are worked out from the store, never from one run alone: the PR's plan records made at
//! its head, and a marker that says a plan of the whole PR left changed projects out (locked by
//! another PR, short of a `plan_requirements`, or with autoplan disabled). A plan narrowed by `-p`, `-d` or `-w` leaves that
//! marker as it is, so planning the one project that ran leaves out none that did not. After it
//! posts them, the reporter reads the store again and posts again when the answer changed, so
//! two runs that end together leave the later answer.

use crate::event::{CommitSha, PullRequestNumber, RepoName};
use crate::run::{RunCommand, RunSpec};
use crate::store::{PlanRecord, PlanStatus, Store as _};
use crate::vcs::{CommitStatus, StatusState, VcsClient as _};

use super::Reporter;

/// The status of the plans of the whole pull request.
pub const PLAN_CONTEXT: &str = "landfall/plan";
/// The status of the applies of the whole pull request.
pub const APPLY_CONTEXT: &str = "landfall/apply";

/// The store key (a delivery record's, in a namespace no host's delivery id has) that says a
/// plan of the whole pull request at `head` left projects unplanned.
#[must_use]
pub fn unplanned_marker(repo: &RepoName, pr: PullRequestNumber, head: &CommitSha) -> String {
    format!("unplanned:{repo}#{pr}@{head}")
}

/// One pull request at one head commit, with the branch statuses attach through (GitLab,
/// Bitbucket Cloud).
#[derive(Debug, Clone, Copy)]
pub struct PullHead<'a> {
    pub repo: &'a RepoName,
    pub pr: PullRequestNumber,
    pub head: &'a CommitSha,
    pub branch: &'a str,
}

/// A status's state and its line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: StatusState,
    pub description: String,
}

/// `landfall/plan` and `landfall/apply` for the records made at the head (`records`), and
/// whether a plan of the whole PR there left projects out (`unplanned`).
#[must_use]
pub fn verdicts(records: &[&PlanRecord], unplanned: bool) -> (Verdict, Verdict) {
    use StatusState::{Failure, Pending, Success};
    let n = records.len();
    let count = |f: &dyn Fn(&PlanRecord) -> bool| records.iter().filter(|r| f(r)).count();
    let last_command = |r: &PlanRecord| r.result.as_ref().map(|result| result.command);
    let planning = count(&|r| r.status == PlanStatus::Planning);
    let plan_failed = count(&|r| {
        r.status == PlanStatus::StateChanged
            || (r.status == PlanStatus::Failed && last_command(r) != Some(RunCommand::Apply))
    });
    let apply_failed = count(&|r| {
        r.status == PlanStatus::Failed && last_command(r) == Some(RunCommand::Apply)
    });
    let settled = count(&|r| r.status.is_settled());
    let of_n = |k: usize, done: &str| {
        let projects = if n == 1 { "project" } else { "projects" };
        format!("{k} of {n} {projects} {done}")
    };
    let plan = match () {
        () if plan_failed > 0 => (Failure, of_n(plan_failed, "failed to plan")),
        () if unplanned => (
            Pending,
            "Changed projects are not planned yet: see the pull request's comment".to_owned(),
        ),
        () if planning > 0 => (Pending, of_n(n - planning, "planned")),
        () if n == 0 => (Success, "No project to plan".to_owned()),
        () => (Success, of_n(n, "planned")),
    };
    let apply = match () {
        () if apply_failed > 0 => (Failure, of_n(apply_failed, "failed to apply")),
        () if unplanned => (Pending, "Not every project was planned".to_owned()),
        () if n == 0 => (Success, "Nothing to apply".to_owned()),
        () => (
            if settled == n { Success } else { Pending },
            of_n(settled, "applied or unchanged"),
        ),
    };
    let verdict = |(state, description)| Verdict { state, description };
    (verdict(plan), verdict(apply))
}

impl Reporter<'_> {
    /// [`Self::pull_statuses`] for the PR and head of a pull request's run; a drift check's or
    /// a merge's run has no open pull request to gate, and sets none.
    pub async fn pull_statuses_of(&self, spec: &RunSpec) {
        if spec.is_drift() || crate::run::is_merge_trigger(&spec.trigger) {
            return;
        }
        self.pull_statuses(PullHead {
            repo: &spec.repo,
            pr: spec.pr,
            head: &spec.head_sha,
            branch: &spec.head_branch,
        })
        .await;
    }

    /// Sets `landfall/plan` and `landfall/apply` on the PR's head from what the store holds,
    /// best effort: a store or host failure is logged, not fatal.
    pub async fn pull_statuses(&self, at: PullHead<'_>) {
        let mut posted = None;
        // Reads again after posting: another run's report, read before this one's record was
        // written, may have posted an older answer after this one.
        for _ in 0..3 {
            let now = match self.pull_verdicts(at).await {
                Ok(now) => now,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "could not work out the pull request's statuses");
                    return;
                }
            };
            if posted.as_ref() == Some(&now) {
                return;
            }
            for (context, verdict) in [(PLAN_CONTEXT, &now.0), (APPLY_CONTEXT, &now.1)] {
                let status = CommitStatus {
                    context: context.to_owned(),
                    state: verdict.state,
                    description: verdict.description.clone(),
                    target_url: Some(self.pull_url(at.repo, at.pr)),
                    branch: Some(at.branch.to_owned()).filter(|b| !b.is_empty()),
                };
                if let Err(err) = self.vcs.set_status(at.repo, at.head, &status).await {
                    tracing::warn!(error = %err, context, "could not set the commit status");
                }
            }
            posted = Some(now);
        }
    }

    /// The verdicts for the records at the head: a plan (or one running) whose lock the PR
    /// no longer holds was discarded, and counts for nothing.
    async fn pull_verdicts(&self, at: PullHead<'_>) -> anyhow::Result<(Verdict, Verdict)> {
        let records = self.store.list_plans(at.repo.as_str(), at.pr.0).await?;
        let locks = self.store.list_locks(Some(at.repo.as_str())).await?;
        let held = |record: &PlanRecord| {
            locks
                .iter()
                .any(|lock| lock.key == record.key && lock.holder.pr == at.pr.0)
        };
        let at_head: Vec<&PlanRecord> = records
            .iter()
            .filter(|r| r.head_sha == at.head.as_str())
            .filter(|r| !matches!(r.status, PlanStatus::Planned | PlanStatus::Planning) || held(r))
            .collect();
        let marker = unplanned_marker(at.repo, at.pr, at.head);
        let unplanned = self.store.delivery_recorded(&marker).await?;
        Ok(verdicts(&at_head, unplanned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Outcome, ProjectResult, ProjectSpec};
    use crate::store::LockKey;

    fn record(dir: &str, status: PlanStatus, last: Option<RunCommand>) -> PlanRecord {
        let key = LockKey::new("acme/infra", dir, "default");
        let result = last.map(|command| {
            let output = String::new();
            ProjectResult::new(&ProjectSpec::new(dir), command, Outcome::Applied { output })
        });
        PlanRecord {
            key,
            pr: 1,
            head_sha: "a".repeat(40),
            run_id: "r".to_owned(),
            status,
            planfile: None,
            updated_at: 0,
            trigger: None,
            result,
            deadline: None,
        }
    }

    fn states(records: &[PlanRecord], unplanned: bool) -> (StatusState, StatusState) {
        let refs: Vec<&PlanRecord> = records.iter().collect();
        let (plan, apply) = verdicts(&refs, unplanned);
        (plan.state, apply.state)
    }

    #[test]
    fn nothing_to_plan_passes_both_so_a_pr_without_terraform_can_merge() {
        let (plan, apply) = verdicts(&[], false);
        assert_eq!(plan.state, StatusState::Success);
        assert_eq!(apply.state, StatusState::Success);
    }

    #[test]
    fn apply_passes_only_once_every_project_is_applied_or_unchanged() {
        use PlanStatus::{Applied, Applying, NoChanges, Planned, Planning};
        let plan = Some(RunCommand::Plan);
        let apply = Some(RunCommand::Apply);
        let running = [record("a", Planning, None), record("b", NoChanges, plan)];
        assert_eq!(states(&running, false), (StatusState::Pending, StatusState::Pending));
        let planned = [record("a", Planned, plan), record("b", NoChanges, plan)];
        assert_eq!(states(&planned, false), (StatusState::Success, StatusState::Pending));
        let applying = [record("a", Applying, plan), record("b", NoChanges, plan)];
        assert_eq!(states(&applying, false), (StatusState::Success, StatusState::Pending));
        let applied = [record("a", Applied, apply), record("b", NoChanges, plan)];
        assert_eq!(states(&applied, false), (StatusState::Success, StatusState::Success));
    }

    #[test]
    fn a_failed_plan_or_apply_fails_its_own_status() {
        use PlanStatus::{Applied, Failed, StateChanged};
        let plan_failed = [record("a", Failed, Some(RunCommand::Plan)), record("b", Applied, None)];
        assert_eq!(states(&plan_failed, false), (StatusState::Failure, StatusState::Pending));
        let runner_failed = [record("a", Failed, None)];
        assert_eq!(states(&runner_failed, false), (StatusState::Failure, StatusState::Pending));
        let apply_failed = [record("a", Failed, Some(RunCommand::Apply))];
        assert_eq!(states(&apply_failed, false), (StatusState::Success, StatusState::Failure));
        let state_edited = [record("a", StateChanged, Some(RunCommand::Import))];
        assert_eq!(states(&state_edited, false), (StatusState::Failure, StatusState::Pending));
    }

    #[test]
    fn projects_left_out_of_a_plan_keep_both_from_passing() {
        let applied = [record("a", PlanStatus::Applied, Some(RunCommand::Apply))];
        assert_eq!(states(&applied, true), (StatusState::Pending, StatusState::Pending));
        assert_eq!(states(&[], true), (StatusState::Pending, StatusState::Pending));
        let failed = [record("a", PlanStatus::Failed, Some(RunCommand::Plan))];
        assert_eq!(states(&failed, true), (StatusState::Failure, StatusState::Pending));
    }
}
