//! The pull request's own statuses, `landfall/plan` and `landfall/apply` (and, where the policy
//! has policy checks, `landfall/policy_check`), beside the statuses of each project: names that
//! do not change from one pull request to the next, so that branch protection can require them,
//! as Atlantis users require `atlantis/plan`, `atlantis/apply` and `atlantis/policy_check`.
//!
//! They are worked out from the store, never from one run alone: what the latest plan of the
//! whole PR (no `-p`, `-d` or `-w`) selected at the head ([`crate::store::PullHeads`]: the
//! projects it ran, those later execution order groups run, and those it left out), and the
//! PR's plan record of each at that head. A selected project without one (left out, not
//! started, discarded by an `unlock`) is not planned; without a selection kept for the head,
//! nothing is posted (a required check stays one the host waits for). After it posts them, the
//! reporter reads the store again and posts again when the answer changed, so two runs that end
//! together leave the later answer.

use std::collections::HashMap;

use crate::event::{CommitSha, PullRequestNumber, RepoName};
use crate::repo_config::{PolicyChecks, unapproved};
use crate::run::{RunCommand, RunSpec};
use crate::store::{HeadKey, LockKey, PlanRecord, PlanStatus, PullHeads as _, Store as _};
use crate::vcs::{CommitStatus, PullTarget, StatusState, VcsClient as _};

use super::Reporter;

/// The statuses of the plans, the applies and the policy checks of the whole pull request,
/// under the deployment's status name `name`: `landfall/plan`, `landfall/apply` and
/// `landfall/policy_check`.
#[must_use]
pub fn pull_contexts(name: &str) -> [String; 3] {
    [
        format!("{name}/plan"),
        format!("{name}/apply"),
        format!("{name}/policy_check"),
    ]
}

/// One pull request at one head commit, with the branch statuses attach through (GitLab,
/// Bitbucket Cloud).
#[derive(Debug, Clone, Copy)]
pub struct PullHead<'a> {
    pub repo: &'a RepoName,
    pub pr: PullRequestNumber,
    pub head: &'a CommitSha,
    pub branch: &'a str,
    /// The base branch the PR targets now: a plan made for another (before a retarget) counts
    /// for nothing, as its apply would be refused.
    pub base: &'a str,
}

impl PullHead<'_> {
    /// The store's key for what a plan of the whole PR selected at this head.
    #[must_use]
    pub fn key(&self) -> HeadKey<'_> {
        HeadKey {
            repo: self.repo.as_str(),
            pr: self.pr.0,
            head: self.head.as_str(),
        }
    }
}

/// A status's state and its line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: StatusState,
    pub description: String,
}

/// What the pull request's own statuses say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullVerdicts {
    pub plan: Verdict,
    pub apply: Verdict,
    /// `None` where the policy has no policy checks at all (a success where it has them for
    /// other repositories or branches only).
    pub policy_check: Option<Verdict>,
}

/// Where one selected project stands at the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stand {
    NotPlanned,
    Planning,
    PlanFailed,
    Planned,
    ApplyFailed,
    Settled,
}

fn stand(record: Option<&PlanRecord>) -> Stand {
    let Some(record) = record else {
        return Stand::NotPlanned;
    };
    let last_apply = record.result.as_ref().map(|r| r.command) == Some(RunCommand::Apply);
    match record.status {
        PlanStatus::Planning => Stand::Planning,
        PlanStatus::Failed if last_apply => Stand::ApplyFailed,
        PlanStatus::Failed | PlanStatus::StateChanged => Stand::PlanFailed,
        PlanStatus::Planned | PlanStatus::Applying => Stand::Planned,
        PlanStatus::Applied | PlanStatus::NoChanges => Stand::Settled,
    }
}

/// `landfall/plan`, `landfall/apply` and (with `checks`) `landfall/policy_check` for what the
/// latest plan of the whole PR selected at the head and the PR's plan records made there.
#[must_use]
pub fn verdicts(
    selected: &[LockKey],
    records: &[PlanRecord],
    checks: Option<&PolicyChecks>,
) -> PullVerdicts {
    use StatusState::{Failure, Pending, Success};
    let verdict = |(state, description)| Verdict { state, description };
    // The first record of each key, as a search of the list would find it.
    let mut by_key = HashMap::with_capacity(records.len());
    for record in records.iter().rev() {
        by_key.insert(&record.key, record);
    }
    let records: Vec<Option<&PlanRecord>> =
        selected.iter().map(|key| by_key.get(key).copied()).collect();
    let stands: Vec<Stand> = records.iter().map(|r| stand(*r)).collect();
    let n = stands.len();
    let count = |wanted: &[Stand]| stands.iter().filter(|s| wanted.contains(s)).count();
    let of_n = |k: usize, done: &str| {
        let projects = if n == 1 { "project" } else { "projects" };
        format!("{k} of {n} {projects} {done}")
    };
    let planned = count(&[Stand::Planned, Stand::ApplyFailed, Stand::Settled]);
    let settled = count(&[Stand::Settled]);
    // A pending line names no count that moves with each report: a report that changes no
    // state then posts nothing.
    let plan = match count(&[Stand::PlanFailed]) {
        0 if n == 0 => (Success, "No project to plan".to_owned()),
        0 if planned == n => (Success, of_n(n, "planned")),
        0 => (Pending, format!("Waiting for every one of {n} to be planned")),
        failed => (Failure, of_n(failed, "failed to plan")),
    };
    let apply = match count(&[Stand::ApplyFailed]) {
        0 if n == 0 => (Success, "Nothing to apply".to_owned()),
        0 if settled == n => (Success, of_n(n, "applied or unchanged")),
        0 => (Pending, format!("Waiting for every one of {n} to be applied or unchanged")),
        failed => (Failure, of_n(failed, "failed to apply")),
    };
    PullVerdicts {
        plan: verdict(plan),
        apply: verdict(apply),
        policy_check: checks.map(|checks| verdict(policy_check(&records, &stands, checks))),
    }
}

/// `landfall/policy_check`: passes once every selected project's plan passed its policy checks
/// (or enough owners approved it: [`unapproved`]), or was applied; fails while one's did not.
fn policy_check(
    records: &[Option<&PlanRecord>],
    stands: &[Stand],
    checks: &PolicyChecks,
) -> (StatusState, String) {
    use StatusState::{Failure, Pending, Success};
    let n = stands.len();
    let (mut passed, mut failed) = (0, 0);
    for (record, stand) in records.iter().zip(stands) {
        let result = record.and_then(|r| r.result.as_ref());
        let applied = result.is_some_and(|r| r.command == RunCommand::Apply);
        match stand {
            Stand::Settled | Stand::ApplyFailed if applied => passed += 1,
            Stand::Planned | Stand::Settled => match unapproved(result, Some(checks), None) {
                None => passed += 1,
                Some(_) => failed += 1,
            },
            _ => {}
        }
    }
    let projects = if n == 1 { "project" } else { "projects" };
    match failed {
        0 if n == 0 => (Success, "No project to check".to_owned()),
        0 if passed == n => (Success, format!("{n} of {n} {projects} passed")),
        0 => (Pending, format!("Waiting for every one of {n} to be checked")),
        failed => (
            Failure,
            format!("{failed} of {n} {projects} not let through by their policy checks"),
        ),
    }
}

/// The PR and head of a pull request's run; `None` for a drift check's or a merge's run, which
/// has no open pull request to gate.
fn pull_head_of(spec: &RunSpec) -> Option<PullHead<'_>> {
    (!spec.is_drift() && !crate::run::is_merge_trigger(&spec.trigger)).then_some(PullHead {
        repo: &spec.repo,
        pr: spec.pr,
        head: &spec.head_sha,
        branch: &spec.head_branch,
        base: &spec.base_branch,
    })
}

impl Reporter<'_> {
    /// [`Self::pull_statuses`] for the PR and head of a pull request's run.
    pub async fn pull_statuses_of(&self, spec: &RunSpec) {
        if let Some(at) = pull_head_of(spec) {
            self.pull_statuses(at).await;
        }
    }

    /// What the PR's own statuses say before `spec`'s run is recorded, for
    /// [`Self::pull_statuses_changed`]; `None` when the run sets none or it cannot be read.
    pub async fn pull_verdicts_of(&self, spec: &RunSpec) -> Option<PullVerdicts> {
        self.pull_verdicts(pull_head_of(spec)?).await.ok().flatten()
    }

    /// [`Self::pull_statuses`] once `spec`'s run is recorded, unless they say what they said
    /// before (`before`): a report that changes no project's standing posts nothing. A post
    /// that was lost, or overtaken by an older answer, is set right by the next change.
    pub async fn pull_statuses_changed(&self, spec: &RunSpec, before: Option<PullVerdicts>) {
        if let Some(at) = pull_head_of(spec) {
            self.post_pull_statuses(at, before).await;
        }
    }

    /// Sets `landfall/plan` and `landfall/apply` on the PR's head from what the store holds,
    /// best effort: a store or host failure is logged, not fatal (the next change sets them
    /// again).
    pub async fn pull_statuses(&self, at: PullHead<'_>) {
        self.post_pull_statuses(at, None).await;
    }

    async fn post_pull_statuses(&self, at: PullHead<'_>, unless: Option<PullVerdicts>) {
        let mut posted = unless;
        // Reads again after posting: another run's report, read before this one's record was
        // written, may have posted an older answer after this one.
        for attempt in 0..4 {
            let now = match self.pull_verdicts(at).await {
                Ok(Some(now)) => now,
                // No plan of the whole PR at this commit: nothing is posted, and a required
                // check stays one the host waits for.
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "could not work out the pull request's statuses");
                    return;
                }
            };
            if posted.as_ref() == Some(&now) {
                return;
            }
            if attempt == 3 {
                tracing::warn!("the pull request's statuses kept changing while they were set");
                return;
            }
            let contexts = pull_contexts(self.status_name);
            let verdicts = [Some(&now.plan), Some(&now.apply), now.policy_check.as_ref()];
            let posts = contexts.iter().zip(verdicts);
            for (context, verdict) in posts.filter_map(|(c, v)| Some((c, v?))) {
                let (state, description) = (verdict.state, &verdict.description);
                let status = self.pull_request_status(at, context, state, description);
                if let Err(err) = self.vcs.set_status(at.repo, at.head, &status).await {
                    tracing::warn!(error = %err, context, "could not set the commit status");
                    return;
                }
            }
            posted = Some(now);
        }
    }

    /// A status of `at`'s pull request on its head: linked to the pull request, attached
    /// through its branch, worked out for its base.
    pub(crate) fn pull_request_status(
        &self,
        at: PullHead<'_>,
        context: &str,
        state: StatusState,
        description: &str,
    ) -> CommitStatus {
        CommitStatus {
            context: context.to_owned(),
            state,
            description: description.to_owned(),
            target_url: Some(self.pull_url(at.repo, at.pr)),
            branch: Some(at.branch.to_owned()).filter(|b| !b.is_empty()),
            pull: Some(PullTarget {
                number: at.pr,
                base: at.base.to_owned(),
            }),
        }
    }

    /// The verdicts at the head; `None` without a plan of the whole PR there.
    async fn pull_verdicts(
        &self,
        at: PullHead<'_>,
    ) -> anyhow::Result<Option<PullVerdicts>> {
        let Some(selected) = self.store.selected(at.key()).await? else {
            return Ok(None);
        };
        let mut records = self.store.list_plans(at.repo.as_str(), at.pr.0).await?;
        records.retain(|r| {
            r.head_sha == at.head.as_str()
                && !r.result.as_ref().is_some_and(|r| r.made_for_another_base(at.base))
        });
        let checks = self.policy.and_then(|policy| {
            let host = crate::vcs::policy_host(self.provider, self.vcs_url);
            (policy.resolve(&host, at.repo.as_str(), at.base)).policy_checks
        });
        // A `policies` section without a set checks nothing.
        let checks = checks.filter(|c| !c.sets.is_empty());
        let mut verdicts = verdicts(&selected, &records, checks.as_deref());
        // Sets the policy has, for other repositories or branches only: a check required
        // everywhere must not wait forever here, nor one from before a retarget or a policy
        // change stand.
        let sets_elsewhere = (self.policy)
            .and_then(|p| p.policy_checks.as_ref())
            .is_some_and(|c| !c.sets.is_empty());
        if verdicts.policy_check.is_none() && sets_elsewhere {
            verdicts.policy_check = Some(Verdict {
                state: StatusState::Success,
                description: format!("No policy checks apply to {}", at.base),
            });
        }
        Ok(Some(verdicts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Outcome, ProjectResult, ProjectSpec};

    fn key(dir: &str) -> LockKey {
        LockKey::new("acme/infra", dir, "default")
    }

    fn record(dir: &str, status: PlanStatus, last: Option<RunCommand>) -> PlanRecord {
        let result = last.map(|command| {
            let output = String::new();
            ProjectResult::new(&ProjectSpec::new(dir), command, Outcome::Applied { output })
        });
        PlanRecord {
            key: key(dir),
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

    /// The states for projects `a` and `b` selected, with `records`.
    fn states(records: &[PlanRecord]) -> (StatusState, StatusState) {
        let v = verdicts(&[key("a"), key("b")], records, None);
        assert_eq!(v.policy_check, None, "no policy checks, no status of them");
        (v.plan.state, v.apply.state)
    }

    use StatusState::{Failure, Pending, Success};

    #[test]
    fn nothing_selected_passes_both_so_a_pr_without_terraform_can_merge() {
        let v = verdicts(&[], &[], Some(&checks()));
        let policy = v.policy_check.map(|p| p.state);
        assert_eq!((v.plan.state, v.apply.state, policy), (Success, Success, Some(Success)));
    }

    #[test]
    fn apply_passes_only_once_every_selected_project_is_applied_or_unchanged() {
        use PlanStatus::{Applied, Applying, NoChanges, Planned, Planning};
        let (plan, apply) = (Some(RunCommand::Plan), Some(RunCommand::Apply));
        let running = [record("a", Planning, None), record("b", NoChanges, plan)];
        assert_eq!(states(&running), (Pending, Pending));
        let planned = [record("a", Planned, plan), record("b", NoChanges, plan)];
        assert_eq!(states(&planned), (Success, Pending));
        let applying = [record("a", Applying, plan), record("b", NoChanges, plan)];
        assert_eq!(states(&applying), (Success, Pending));
        let applied = [record("a", Applied, apply), record("b", NoChanges, plan)];
        assert_eq!(states(&applied), (Success, Success));
        // A record of a project the selection does not name changes nothing.
        let other = [record("a", Applied, apply), record("b", NoChanges, plan), record("c", Planned, plan)];
        assert_eq!(states(&other), (Success, Success));
    }

    #[test]
    fn a_selected_project_without_a_record_is_not_planned() {
        let only_a = [record("a", PlanStatus::Applied, Some(RunCommand::Apply))];
        assert_eq!(states(&only_a), (Pending, Pending));
    }

    #[test]
    fn a_failed_plan_or_apply_fails_its_own_status() {
        use PlanStatus::{Applied, Failed, StateChanged};
        let plan_failed = [record("a", Failed, Some(RunCommand::Plan)), record("b", Applied, None)];
        assert_eq!(states(&plan_failed), (Failure, Pending));
        let runner_failed = [record("a", Failed, None), record("b", Applied, None)];
        assert_eq!(states(&runner_failed), (Failure, Pending));
        let apply_failed = [record("a", Failed, Some(RunCommand::Apply)), record("b", Applied, None)];
        assert_eq!(states(&apply_failed), (Success, Failure));
        let state_edited = [record("a", StateChanged, Some(RunCommand::Import)), record("b", Applied, None)];
        assert_eq!(states(&state_edited), (Failure, Pending));
    }

    /// Policy checks of one set, `tags`, that one owner's approval lets through.
    fn checks() -> PolicyChecks {
        PolicyChecks::of_one_set("tags")
    }

    /// `dir`'s plan record at `status`, whose `tags` check passed or not, with `approvals`.
    fn checked(dir: &str, status: PlanStatus, passed: bool, approvals: &[&str]) -> PlanRecord {
        use crate::run::policy::PolicySetResult;
        let mut r = record(dir, status, Some(RunCommand::Plan));
        let result = r.result.as_mut().unwrap();
        result.policies = vec![PolicySetResult {
            failures: if passed { Vec::new() } else { vec!["no owner tag".to_owned()] },
            ..PolicySetResult::of(&checks().sets[0].set)
        }];
        result.policy_approvals = approvals.iter().map(|a| (*a).to_owned()).collect();
        r
    }

    fn policy_state(records: &[PlanRecord]) -> StatusState {
        let v = verdicts(&[key("a"), key("b")], records, Some(&checks()));
        v.policy_check.expect("a status of the policy checks").state
    }

    #[test]
    fn the_policy_check_passes_once_every_selected_plan_passed_or_was_approved() {
        use PlanStatus::{Applied, Failed, NoChanges, Planned, Planning};
        let a = checked("a", Planned, true, &[]);
        assert_eq!(policy_state(&[a.clone(), checked("b", Planned, true, &[])]), Success);
        assert_eq!(policy_state(&[a.clone(), checked("b", NoChanges, true, &[])]), Success);
        // A failing set fails it, until an owner approves.
        assert_eq!(policy_state(&[a.clone(), checked("b", Planned, false, &[])]), Failure);
        assert_eq!(policy_state(&[a.clone(), checked("b", Planned, false, &["lead"])]), Success);
        // Not planned yet, still planning, or a failed plan: not checked, so not passed.
        assert_eq!(policy_state(std::slice::from_ref(&a)), Pending);
        assert_eq!(policy_state(&[a.clone(), record("b", Planning, None)]), Pending);
        let failed = record("b", Failed, Some(RunCommand::Plan));
        assert_eq!(policy_state(&[a.clone(), failed]), Pending);
        // A plan checked against no set (made before the policy had one) is not let through.
        let unchecked = record("b", Planned, Some(RunCommand::Plan));
        assert_eq!(policy_state(&[a.clone(), unchecked]), Failure);
        // Applied: the checks let it through when it was.
        let applied = record("b", Applied, Some(RunCommand::Apply));
        assert_eq!(policy_state(&[a, applied]), Success);
    }
}
