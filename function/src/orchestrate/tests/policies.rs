//! Policy checks gate `apply`, in process: a plan whose policy set failed is not applied (nothing
//! dispatched) until a policy owner approves it; the PR's author cannot approve a set with
//! `prevent_self_approve`, nor can someone who owns nothing; the approval is kept with the plan.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::pull_status::last_status;
use super::reports::{body, dispatched_env, report, reporting_loop_with, run_envs};
use super::{Loop, REPO, comment, opened};
use crate::handler::ReportAnswer;
use crate::run::policy::PolicySetResult;
use crate::run::{RunSpec, RunStatus, StoredArtifact};
use crate::store::Store as _;

pub(super) const POLICY: &str = "repos:
- id: /.*/
policies:
  owners:
    users: [security-lead]
  policy_sets:
  - name: tags
    path: policies/tags
    source: local
    prevent_self_approve: true
";

async fn may(lp: &Loop, user: &str, permission: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/collaborators/{user}/permission")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "permission": permission, "role_name": permission, "user": {"login": user}
        })))
        .mount(&lp.host)
        .await;
}

/// A plan recorded with a failing policy set.
async fn planned_with_a_failing_policy() -> (Loop, tempfile::TempDir) {
    planned_with_a_failing_policy_under(POLICY).await
}

/// [`planned_with_a_failing_policy`] under the policy `text`.
pub(super) async fn planned_with_a_failing_policy_under(text: &str) -> (Loop, tempfile::TempDir) {
    let policy = crate::repo_config::Policy::parse("repos.yaml", text).unwrap();
    let (lp, bin) = reporting_loop_with(Some(policy)).await;
    lp.host_has_a_terraform_pr("open", false).await;
    for (user, permission) in [("maintainer", "write"), ("author", "write"), ("security-lead", "read"), ("drive-by", "read")] {
        may(&lp, user, permission).await;
    }
    lp.ctx.process(&opened()).await.unwrap();
    let env = dispatched_env(&lp).await;
    let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
    assert_eq!(
        spec.project.policy_sets.len(),
        1,
        "the plan was given the policy sets"
    );
    let credential = env[crate::config::env_vars::RUN_REPORT_TOKEN].clone();
    let planfile = StoredArtifact {
        key: crate::context::run_artifact_keys(&spec).0,
        sha256: "ab".repeat(32),
        size: 10,
    };
    let mut planned = report(&spec, RunStatus::Planned, Some(planfile));
    planned.result.policies = failing_tags(&spec);
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &body(&spec, planned)).await,
        ReportAnswer::Recorded
    );
    (lp, bin)
}

/// The result of the `tags` set that `spec`'s run was given, failing.
fn failing_tags(spec: &RunSpec) -> Vec<PolicySetResult> {
    let tags = spec.project.policy_sets.iter().find(|set| set.name == "tags");
    vec![PolicySetResult {
        failures: vec!["aws_s3_bucket.logs has no owner tag".to_owned()],
        ..PolicySetResult::of(tags.expect("the run was given the `tags` set"))
    }]
}

async fn say(lp: &Loop, user: &str, text: &str, delivery: &str) -> String {
    lp.ctx
        .process(&comment(user, text, delivery))
        .await
        .unwrap();
    lp.comments().await.last().cloned().unwrap_or_default()
}

/// Rewrites the result of the PR's one plan record with `change`.
async fn rewrite_result(lp: &Loop, change: impl FnOnce(&mut crate::run::ProjectResult)) {
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    let mut changed = record.clone();
    change(changed.result.as_mut().unwrap());
    assert_eq!(
        lp.ctx.store.replace_plan(&changed, &record).await.unwrap(),
        crate::store::PlanOutcome::Written
    );
}

/// [`planned_with_a_failing_policy`], its failing set approved by a section owner.
async fn approved_by_an_owner() -> (Loop, tempfile::TempDir) {
    let (lp, bin) = planned_with_a_failing_policy().await;
    let by_owner = say(&lp, "security-lead", "landfall approve_policies", "approve-1").await;
    assert!(by_owner.contains("approved (1 of 1"), "{by_owner}");
    (lp, bin)
}

async fn approvals(lp: &Loop) -> Vec<String> {
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    record.result.unwrap().policy_approvals
}

#[tokio::test]
async fn a_failed_policy_blocks_apply_until_an_owner_approves_it_never_the_author() {
    let (lp, _bin) = planned_with_a_failing_policy().await;

    let refused = say(&lp, "maintainer", "landfall apply", "apply-1").await;
    assert!(refused.contains("policy checks failed"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "nothing was applied");

    let by_author = say(&lp, "author", "landfall approve_policies", "approve-1").await;
    assert!(by_author.contains("prevent_self_approve"), "{by_author}");
    let by_stranger = say(&lp, "drive-by", "landfall approve_policies", "approve-2").await;
    assert!(by_stranger.contains("not an owner"), "{by_stranger}");
    assert!(approvals(&lp).await.is_empty(), "neither counted");
    let refused = say(&lp, "maintainer", "landfall apply", "apply-2").await;
    assert!(refused.contains("policy checks failed"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "still nothing applied");

    let by_owner = say(&lp, "security-lead", "landfall approve_policies", "approve-3").await;
    assert!(by_owner.contains("approved (1 of 1"), "{by_owner}");
    assert_eq!(approvals(&lp).await, ["security-lead"]);
    say(&lp, "maintainer", "landfall apply", "apply-3").await;
    runs_reach(&lp, 2).await;
}

/// The pull request's own `landfall/policy_check` (required as Atlantis users require
/// `atlantis/policy_check`) and the project's fail while its plan's failing set waits for an
/// owner; a refused approval changes neither, an owner's passes both.
#[tokio::test]
async fn the_policy_check_statuses_fail_until_an_owner_approves() {
    let (lp, _bin) = planned_with_a_failing_policy().await;
    assert_eq!(policy_states(&lp).await, ("failure".into(), "failure".into()));
    say(&lp, "author", "landfall approve_policies", "approve-1").await;
    assert_eq!(policy_states(&lp).await, ("failure".into(), "failure".into()));
    say(&lp, "security-lead", "landfall approve_policies", "approve-2").await;
    assert_eq!(policy_states(&lp).await, ("success".into(), "success".into()));
}

/// A plan with no changes whose set failed takes an owner's approval too: else the pull
/// request's `landfall/policy_check` could never pass.
#[tokio::test]
async fn a_plan_with_no_changes_that_fails_a_set_is_approved_like_any_other() {
    let (lp, _bin) = planned_with_a_failing_policy().await;
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    let mut unchanged = record.clone();
    unchanged.status = crate::store::PlanStatus::NoChanges;
    let written = lp.ctx.store.replace_plan(&unchanged, &record).await.unwrap();
    assert_eq!(written, crate::store::PlanOutcome::Written);
    let by_owner = say(&lp, "security-lead", "landfall approve_policies", "approve-1").await;
    assert!(by_owner.contains("approved (1 of 1"), "{by_owner}");
    assert_eq!(policy_states(&lp).await, ("success".into(), "success".into()));
}

/// The last states of the pull request's own `landfall/policy_check` and of its one project's.
async fn policy_states(lp: &Loop) -> (String, String) {
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    let project = format!("landfall/policy_check: {}", record.key.project_label());
    let state = |s: Option<(String, String)>| s.map(|(state, _)| state).unwrap_or_default();
    let pull = state(last_status(lp, "landfall/policy_check").await);
    (pull, state(last_status(lp, &project).await))
}

/// Waits until `n` runs were dispatched.
async fn runs_reach(lp: &Loop, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while run_envs(lp).len() < n {
        assert!(std::time::Instant::now() < deadline, "run {n} was never dispatched");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A plan checked under other rules than the set has now, or in other packages than its
/// project's workflow reads, was not checked against the policy as it is: its approval lets
/// nothing through, and nothing is applied until it is planned again.
#[tokio::test]
async fn a_plan_checked_under_other_rules_or_packages_is_not_applied() {
    let (lp, _bin) = approved_by_an_owner().await;
    let as_recorded = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    let digest = as_recorded.result.unwrap().policies[0].digest.clone();

    let mut before = crate::run::policy::PolicySet {
        name: "tags".to_owned(),
        modules: Vec::new(),
        namespaces: crate::run::policy::Namespaces::default(),
    };
    before.modules.push(crate::run::policy::PolicyModule {
        path: "tags.rego".to_owned(),
        text: "package main\n".to_owned(),
    });
    rewrite_result(&lp, |result| result.policies[0].digest = before.digest()).await;
    let refused = say(&lp, "maintainer", "landfall apply", "apply-1").await;
    assert!(refused.contains("as the policy has them now"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "nothing applied under the old rules");

    rewrite_result(&lp, |result| {
        result.policies[0].digest.clone_from(&digest);
        result.policies[0].namespaces =
            crate::run::policy::Namespaces::Named(vec!["terraform".to_owned()]);
    })
    .await;
    let refused = say(&lp, "maintainer", "landfall apply", "apply-2").await;
    assert!(refused.contains("as the policy has them now"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "nothing applied from other packages");
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, crate::store::PlanStatus::Planned, "the plan is kept");
    assert!(
        lp.ctx.store.get_lock(&record.key).await.unwrap().is_some(),
        "the lock is still held"
    );

    rewrite_result(&lp, |result| {
        result.policies[0].namespaces = crate::run::policy::Namespaces::default();
    })
    .await;
    say(&lp, "maintainer", "landfall apply", "apply-3").await;
    runs_reach(&lp, 2).await;
}

/// A failing set the policy no longer names (renamed or removed since the plan) has no owners
/// of its own: a commenter who owns nothing approves nothing, and only a section owner may.
#[tokio::test]
async fn a_failing_set_the_policy_no_longer_names_is_approved_only_by_a_section_owner() {
    let (lp, _bin) = planned_with_a_failing_policy().await;
    rewrite_result(&lp, |result| result.policies[0].name = "retired".to_owned()).await;
    let by_stranger = say(&lp, "drive-by", "landfall approve_policies", "approve-1").await;
    assert!(by_stranger.contains("no longer in the policy"), "{by_stranger}");
    assert!(approvals(&lp).await.is_empty(), "not counted");
    // Nor was the plan checked against the set the policy names now.
    let refused = say(&lp, "maintainer", "landfall apply", "apply-1").await;
    assert!(
        refused.contains("not checked against the policy set(s) `tags`"),
        "{refused}"
    );
    assert_eq!(run_envs(&lp).len(), 1, "nothing applied");
    let by_owner = say(&lp, "security-lead", "landfall approve_policies", "approve-2").await;
    assert!(by_owner.contains("approved (1 of 1"), "{by_owner}");
    let refused = say(&lp, "maintainer", "landfall apply", "apply-2").await;
    assert!(refused.contains("not checked against"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "still nothing applied");
    // Nor do its statuses pass: the approval counted, the gate did not let it through.
    assert_eq!(policy_states(&lp).await, ("failure".into(), "failure".into()));
}

/// A plan checked against no policy set, as one made for a base branch whose `repos` entry
/// turns the checks off (`policy_check: false`) before the PR was retargeted, or one made
/// before the operator added the set: it passes nothing it was not checked against, and is
/// applied by nobody until it is planned again.
#[tokio::test]
async fn a_plan_never_checked_against_the_policys_sets_is_not_applied() {
    let (lp, _bin) = planned_with_a_failing_policy().await;
    rewrite_result(&lp, |result| result.policies.clear()).await;
    let refused = say(&lp, "maintainer", "landfall apply", "apply-1").await;
    assert!(
        refused.contains("not checked against the policy set(s) `tags`"),
        "{refused}"
    );
    assert_eq!(run_envs(&lp).len(), 1, "nothing applied");
}

/// The packages a server-side workflow's `policy_check` stage chose reach the run with its sets.
#[tokio::test]
async fn the_plan_gets_the_packages_its_workflow_chose() {
    let policy = POLICY.replace(
        "- id: /.*/\n",
        "- id: /.*/\n  workflow: checked\nworkflows:\n  checked:\n    policy_check:\n      steps:\n      - policy_check:\n          extra_args: [--namespace, terraform.aws]\n",
    );
    let policy = crate::repo_config::Policy::parse("repos.yaml", &policy).unwrap();
    let (lp, _bin) = reporting_loop_with(Some(policy)).await;
    lp.host_has_a_terraform_pr("open", false).await;
    lp.ctx.process(&opened()).await.unwrap();
    let env = dispatched_env(&lp).await;
    let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
    let names: Vec<_> = spec.project.policy_sets.iter().map(|s| &s.namespaces).collect();
    assert_eq!(
        names,
        [&crate::run::policy::Namespaces::Named(vec!["terraform.aws".to_owned()])]
    );
}

/// Bitbucket Cloud nicknames are chosen by their users and not unique: a policy owner is known by
/// the account UUID, as everywhere else on that host, so an impostor who takes an owner's
/// nickname approves nothing, and the owner's own UUID does.
#[tokio::test]
async fn on_bitbucket_cloud_an_owners_nickname_approves_nothing_and_their_uuid_does() {
    const OWNER: &str = "{0b0e7a1c-5e1f-4c3a-9d2b-000000000001}";
    let policy = POLICY.replace("[security-lead]", &format!("[security-lead, '{OWNER}']"));
    let (lp, _bin) = planned_with_a_failing_policy_under(&policy).await;
    let approve = |user: &str, id: &str, delivery: &str| {
        let event = comment(user, "landfall approve_policies", delivery);
        let id = id.to_owned();
        let lp = &lp;
        async move {
            let repo = crate::event::RepoName::new(REPO);
            let pr = crate::event::PullRequestNumber(1);
            let mut ctx = lp.ctx.context(&event, &repo, pr, true).await.unwrap();
            ctx.provider = crate::event::Provider::BitbucketCloud;
            ctx.author_id = Some("{0b0e7a1c-5e1f-4c3a-9d2b-00000000a07h}".to_owned());
            ctx.sender.id = Some(id);
            let Some(crate::command::ParsedComment::Command(command)) =
                crate::command::parse_comment("landfall approve_policies")
            else {
                unreachable!()
            };
            lp.ctx.approve_policies(&ctx, &command).await.unwrap();
        }
    };

    // Someone else who calls themselves `security-lead`.
    approve("security-lead", "{0b0e7a1c-5e1f-4c3a-9d2b-0000000000ff}", "bbc-1").await;
    assert!(approvals(&lp).await.is_empty(), "a nickname approves nothing");
    let refused = say(&lp, "maintainer", "landfall apply", "bbc-apply").await;
    assert!(refused.contains("policy checks failed"), "{refused}");
    assert_eq!(run_envs(&lp).len(), 1, "nothing was applied");

    // The owner, known by their UUID, whatever their nickname.
    approve("Security Lead", OWNER, "bbc-2").await;
    assert_eq!(approvals(&lp).await.len(), 1, "the owner's approval counts");
}

#[tokio::test]
async fn two_owners_approving_at_once_both_count() {
    let (lp, _bin) = planned_with_a_failing_policy_under(
        "repos:
- id: /.*/
policies:
  approve_count: 2
  owners:
    users: [security-lead, compliance]
  policy_sets:
  - name: tags
    path: policies/tags
    source: local
",
    )
    .await;
    may(&lp, "compliance", "read").await;

    let first = comment("security-lead", "landfall approve_policies", "approve-1");
    let second = comment("compliance", "landfall approve_policies", "approve-2");
    let (a, b) = tokio::join!(lp.ctx.process(&first), lp.ctx.process(&second));
    a.unwrap();
    b.unwrap();

    let mut given = approvals(&lp).await;
    given.sort();
    assert_eq!(given, ["compliance", "security-lead"], "an approval was lost");
    say(&lp, "maintainer", "landfall apply", "apply-1").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while run_envs(&lp).len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the apply was never dispatched");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An apply the runner refused before Terraform ran (here, as for a stale planfile) leaves its
/// plan as it was: the plan's policy results and their approvals stay with it, and the next
/// `landfall apply` runs it, neither refused as unchecked nor let through as never failed.
#[tokio::test]
async fn an_apply_the_runner_refused_leaves_the_plans_policy_checks_and_approvals() {
    let (lp, _bin) = approved_by_an_owner().await;
    say(&lp, "maintainer", "landfall apply", "apply-1").await;
    let envs = run_envs(&lp);
    let apply = envs
        .iter()
        .find(|env| env.get(crate::run::env::env_vars::COMMAND).map(String::as_str) == Some("apply"))
        .expect("the apply was dispatched");
    let spec = RunSpec::from_lookup(|name| apply.get(name).cloned()).unwrap();
    let credential = apply[crate::config::env_vars::RUN_REPORT_TOKEN].clone();
    let mut refused = report(&spec, RunStatus::Refused, None);
    refused.result.outcome = crate::run::Outcome::Refused {
        reason: "Saved plan is stale".to_owned(),
    };
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &body(&spec, refused)).await,
        ReportAnswer::Recorded
    );
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, crate::store::PlanStatus::Planned);
    let result = record.result.unwrap();
    assert_eq!(result.policies.len(), 1, "the plan's checks stay");
    assert!(!result.policies[0].passed());
    assert_eq!(result.policy_approvals, ["security-lead"]);

    say(&lp, "maintainer", "landfall apply", "apply-2").await;
    runs_reach(&lp, 3).await;
}

/// With `apply_on_merge_replan`, a plan not checked against every set there is now is not
/// refused on merge: it is planned again at the merge commit, where every set checks it (and
/// that plan passes the same gates before it is applied).
#[tokio::test]
async fn on_merge_a_plan_not_checked_against_every_set_is_planned_again_when_the_policy_replans() {
    let (_lp, _bin, _replan) = Box::pin(planned_again_on_merge()).await;
}

/// A plan made before its policy set was added, merged under `apply_on_merge_replan`: the loop
/// and the one plan dispatched at the merge commit, with its report credential.
async fn planned_again_on_merge() -> (Loop, tempfile::TempDir, (RunSpec, String)) {
    let policy = POLICY.replace(
        "- id: /.*/\n",
        "- id: /.*/\n  apply_on_merge: true\n  apply_on_merge_replan: true\n",
    );
    let (lp, bin) = planned_with_a_failing_policy_under(&policy).await;
    // Made before the set was added.
    rewrite_result(&lp, |result| result.policies.clear()).await;
    super::merge::host_says_merged(&lp, "maintainer", "write", super::merge::SAME).await;
    lp.ctx
        .process(&super::merge::merged_by("maintainer"))
        .await
        .unwrap();
    let envs = super::merge::runs(&lp, 2).await;
    let mut replans: Vec<_> = envs
        .iter()
        .map(super::merge::spec_of)
        .filter(|(s, _)| s.command == crate::run::RunCommand::Plan && s.head_sha.as_str() == super::MERGE_SHA)
        .collect();
    assert_eq!(replans.len(), 1, "planned again at the merge commit");
    (lp, bin, replans.remove(0))
}

/// The plan made again at the merge commit fails its set, so it is held back; once an owner
/// approves, `landfall apply` on the merged PR applies that very plan (before, the apply took
/// it for a plan of another head than the merged one and planned it again, for ever).
#[tokio::test]
async fn a_plan_made_again_on_merge_and_held_for_its_policies_applies_once_an_owner_approves() {
    let (lp, _bin, (replan, credential)) = Box::pin(planned_again_on_merge()).await;
    let planfile = StoredArtifact {
        key: crate::context::run_artifact_keys(&replan).0,
        sha256: "cd".repeat(32),
        size: 10,
    };
    let mut planned = report(&replan, RunStatus::Planned, Some(planfile.clone()));
    planned.head_sha = replan.head_sha.clone();
    planned.result.policies = failing_tags(&replan);
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &body(&replan, planned)).await,
        ReportAnswer::Recorded
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 2, "held back: nothing applied");

    may(&lp, "security-lead", "read").await;
    let by_owner = say(&lp, "security-lead", "landfall approve_policies", "approve-1").await;
    assert!(by_owner.contains("approved (1 of 1"), "{by_owner}");
    say(&lp, "maintainer", "landfall apply", "apply-1").await;
    let envs = super::merge::runs(&lp, 3).await;
    let said = lp.comments().await;
    assert_eq!(envs.len(), 3, "one more run: {said:#?}");
    let (apply, _) = super::merge::the_apply(&envs);
    let applied = apply.apply.expect("the held plan is applied");
    assert_eq!(applied.planned_sha.as_str(), super::MERGE_SHA);
    assert_eq!(applied.planfile, planfile);
}

/// A plan records the base branch it was made for (from the run's signed spec). Retargeted
/// since, the pull request's plan is not applied, by comment or on merge: it was made under
/// another branch's policy.
#[tokio::test]
async fn a_plan_of_a_pull_request_retargeted_since_is_not_applied() {
    let (lp, _bin, _) = super::merge::planned("repos:\n- id: /.*/\n  apply_on_merge: true\n").await;
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.result.unwrap().base_branch.as_deref(), Some("main"));
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 1, "state": "open", "merged": false, "mergeable_state": "clean",
            "head": {"ref": "feature", "sha": super::SHA, "repo": {"full_name": REPO}},
            "base": {"ref": "release", "sha": super::SHA, "repo": {"full_name": REPO}},
            "user": {"login": "author"}
        })))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    may(&lp, "maintainer", "write").await;
    let refused = say(&lp, "maintainer", "landfall apply", "apply-1").await;
    assert!(
        refused.contains("made for the base branch `main`") && refused.contains("`release`"),
        "{refused}"
    );
    assert_eq!(run_envs(&lp).len(), 1, "nothing applied");
}

/// The refusal of an apply of one plan never writes over another: a plan made since (another
/// planfile) keeps its record, its checks and its base, and the refused apply's older planfile
/// does not take their place.
#[tokio::test]
async fn a_refused_apply_of_an_older_plan_leaves_a_newer_plan_as_it_is() {
    let (lp, _bin, plan) = super::merge::planned("repos:\n- id: /.*/\n").await;
    let newer = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    let mut apply = plan.clone();
    apply.command = crate::run::RunCommand::Apply;
    apply.trigger = "apply-old".to_owned();
    apply.apply = Some(crate::run::PlanToApply {
        planfile: StoredArtifact {
            key: "plans/older.tfplan".to_owned(),
            sha256: "ef".repeat(32),
            size: 10,
        },
        planned_sha: plan.head_sha.clone(),
    });
    let refused = crate::orchestrate::select::refused(&apply, "an earlier stage did not apply");
    let outcome = lp
        .ctx
        .reporter()
        .record_status(
            &apply,
            &apply.run_id(),
            crate::store::PlanStatus::Planned,
            None,
            Some(&refused),
        )
        .await
        .unwrap();
    assert_eq!(outcome, crate::store::PlanOutcome::Changed);
    let now = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(now.planfile, newer.planfile);
    assert_eq!(now.run_id, newer.run_id);
    assert_eq!(now.result, newer.result);
}
