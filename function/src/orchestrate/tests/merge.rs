//! Apply on merge and `automerge` in process, judged by their effect: what was dispatched (the
//! runs' own environments), what the store holds (records, locks), what the host was sent.

use std::collections::HashMap;

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::reports::{body, dispatched_env, report, run_envs};
use super::{Loop, MERGE_SHA, REPO, SHA, opened};
use crate::event::{EventKind, RepoName};
use crate::handler::ReportAnswer;
use crate::run::{RunCommand, RunSpec, RunStatus, StoredArtifact};
use crate::store::{PlanStatus, Store as _};

/// A run's spec and report credential, from the environment it was given.
pub(super) fn spec_of(env: &HashMap<String, String>) -> (RunSpec, String) {
    let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
    let credential = env[crate::config::env_vars::RUN_REPORT_TOKEN].clone();
    (spec, credential)
}

/// A loop under `policy` whose PR was planned (its plan recorded with a planfile); returns it
/// with the plan's spec.
pub(super) async fn planned(policy: &str) -> (Loop, tempfile::TempDir, RunSpec) {
    planned_running(policy, super::reports::ENV_RUNNER).await
}

/// [`planned`] with the runner `script`.
pub(super) async fn planned_running(
    policy: &str,
    script: &str,
) -> (Loop, tempfile::TempDir, RunSpec) {
    let policy = crate::repo_config::Policy::parse("repos.yaml", policy).unwrap();
    let (lp, bin) = super::reports::reporting_loop_running(Some(policy), script).await;
    lp.host_has_a_terraform_pr("open", false).await;
    lp.ctx.process(&opened()).await.unwrap();
    let run = spec_of(&dispatched_env(&lp).await);
    super::reports::reports(&lp, &run, RunStatus::Planned).await;
    (lp, bin, run.0)
}

/// The host now says the PR merged (at [`MERGE_SHA`]), merged by `merger` with `permission`;
/// the merge commit's `main.tf` is `merged_main_tf`.
pub(super) async fn host_says_merged(lp: &Loop, merger: &str, permission: &str, merged_main_tf: &str) {
    lp.host.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/contents/main.tf")))
        .and(query_param("ref", MERGE_SHA))
        .respond_with(ResponseTemplate::new(200).set_body_string(merged_main_tf))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    lp.host_has_a_terraform_pr("closed", true).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/git/trees/{MERGE_SHA}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sha": MERGE_SHA, "truncated": false,
            "tree": [{"path": "main.tf", "type": "blob", "mode": "100644", "sha": MERGE_SHA}]
        })))
        .mount(&lp.host)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/repos/{REPO}/collaborators/{merger}/permission"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "permission": permission, "role_name": permission, "user": {"login": merger}
        })))
        .mount(&lp.host)
        .await;
}

/// A loop under `policy` whose planned PR `merger` (with `permission`) merged, the merge
/// commit's `main.tf` being `merged_main_tf`; returns it with the plan's spec.
pub(super) async fn merged_after_plan(
    policy: &str,
    (merger, permission): (&str, &str),
    merged_main_tf: &str,
) -> (Loop, tempfile::TempDir, RunSpec) {
    let (lp, bin, plan) = Box::pin(planned(policy)).await;
    host_says_merged(&lp, merger, permission, merged_main_tf).await;
    Box::pin(lp.ctx.process(&merged_by(merger))).await.unwrap();
    (lp, bin, plan)
}

/// The repository's locks.
pub(super) async fn locks(lp: &Loop) -> Vec<crate::store::Lock> {
    lp.ctx.store.list_locks(Some(REPO)).await.unwrap()
}

pub(super) fn merged_by(merger: &str) -> crate::event::Event {
    let mut event = opened();
    event.kind = EventKind::Merged;
    event.delivery = Some(crate::event::DeliveryId::new("merge-1"));
    event.sender = Some(merger.to_owned());
    event
}

pub(super) const SAME: &str = "resource \"terraform_data\" \"a\" {}\n";
pub(super) const ON_MERGE: &str = "repos:\n- id: /.*/\n  apply_on_merge: true\n";

/// Waits for the `n`th dispatched run and returns every run's environment, in dispatch order.
pub(super) async fn runs(lp: &Loop, n: usize) -> Vec<HashMap<String, String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let count = std::fs::read_dir(lp.runs.path()).unwrap().count();
        if count >= n {
            let mut envs = run_envs(lp);
            envs.sort_by_key(|e| e.get("LANDFALL_RUN_COMMAND").cloned());
            return envs;
        }
        assert!(std::time::Instant::now() < deadline, "run {n} never came");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub(super) fn the_apply(envs: &[HashMap<String, String>]) -> (RunSpec, String) {
    let applies: Vec<_> = envs
        .iter()
        .map(spec_of)
        .filter(|(s, _)| s.command == RunCommand::Apply)
        .collect();
    assert_eq!(applies.len(), 1, "one apply was dispatched");
    applies.into_iter().next().unwrap()
}

/// Waits for the merge's apply (the second run), reports it `status` with its own credential
/// and returns its spec.
pub(super) async fn the_apply_reports(lp: &Loop, status: RunStatus) -> RunSpec {
    let (apply, credential) = the_apply(&runs(lp, 2).await);
    let reported = body(&apply, report(&apply, status, None));
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &reported).await,
        ReportAnswer::Recorded
    );
    apply
}

#[tokio::test]
async fn a_merge_that_changed_nothing_applies_the_stored_plan_and_then_releases_the_lock() {
    let (lp, _bin, plan) =
        merged_after_plan(ON_MERGE, ("maintainer", "write"), SAME).await;

    let (apply, credential) = the_apply(&runs(&lp, 2).await);
    let stored = apply.apply.clone().expect("the stored plan is applied");
    assert_eq!(stored.planned_sha.as_str(), SHA);
    assert_eq!(apply.head_sha.as_str(), SHA);
    assert_eq!(
        stored.planfile.key,
        crate::context::run_artifact_keys(&plan).0,
        "the planfile the plan stored"
    );
    assert!(crate::run::is_merge_trigger(&apply.trigger));
    assert_eq!(
        locks(&lp).await.len(),
        1,
        "the lock is held while the apply runs"
    );

    let applied = body(&apply, report(&apply, RunStatus::Applied, None));
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &applied).await,
        ReportAnswer::Recorded
    );
    assert!(
        locks(&lp).await.is_empty()
    );
    lp.assert_commented(&["applied on merge"]).await;
}

#[tokio::test]
async fn a_failed_apply_on_merge_keeps_the_lock_and_says_so() {
    let (lp, _bin, _) =
        merged_after_plan(ON_MERGE, ("maintainer", "write"), SAME).await;
    the_apply_reports(&lp, RunStatus::Failed).await;
    assert_eq!(locks(&lp).await.len(), 1);
    lp.assert_commented(&["was not applied on merge", "lock stays"]).await;
    the_lock_stays_through_sweeps_until_unlocked(&lp).await;
}

/// The sweep (which releases the locks of merged PRs whose merge webhook was lost) leaves the
/// lock the merge kept, with its record; `landfall unlock` on the PR gives it back.
pub(super) async fn the_lock_stays_through_sweeps_until_unlocked(lp: &Loop) {
    for _ in 0..2 {
        let swept = lp.ctx.sweep().await.unwrap();
        assert!(swept.prs_released.is_empty(), "{swept:?}");
        let held = locks(lp).await;
        assert_eq!(held.len(), 1, "the merge's lock is still held");
        assert!(held[0].kept_after_merge);
        assert_eq!(lp.ctx.store.list_plans(REPO, 1).await.unwrap().len(), 1);
    }
    lp.host_knows("maintainer", "write").await;
    lp.ctx
        .process(&super::comment("maintainer", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
    assert!(
        locks(lp).await.is_empty(),
        "{:?}",
        lp.comments().await
    );
}

#[tokio::test]
async fn a_kept_lock_whose_project_applied_is_released_by_the_sweep() {
    // The merge kept the lock and the project's apply was recorded, but the release that
    // follows it was lost (the function stopped between the two).
    let (lp, _bin, _) = planned(ON_MERGE).await;
    host_says_merged(&lp, "maintainer", "write", SAME).await;
    let mut record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert!(lp.ctx.store.keep_after_merge(&record.key, 1).await.unwrap());
    let swept = lp.ctx.sweep().await.unwrap();
    assert!(swept.prs_released.is_empty(), "a planned project's lock stays");

    record.status = PlanStatus::Applied;
    let _ = lp.ctx.store.put_plan(&record).await.unwrap();
    let swept = lp.ctx.sweep().await.unwrap();
    assert_eq!(swept.prs_released, [format!("{REPO}#1")]);
    assert!(
        locks(&lp).await.is_empty()
    );
}

#[tokio::test]
async fn a_merge_by_someone_who_may_not_apply_applies_nothing_and_keeps_the_lock() {
    let (lp, _bin, _) =
        merged_after_plan(ON_MERGE, ("triager", "read"), SAME).await;

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let envs = run_envs(&lp);
    assert_eq!(envs.len(), 1, "only the plan ever ran");
    assert_eq!(locks(&lp).await.len(), 1);
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Planned);
    the_lock_stays_through_sweeps_until_unlocked(&lp).await;
}

#[tokio::test]
async fn a_merge_that_changed_the_project_is_not_applied_unless_the_policy_replans() {
    let changed = "resource \"terraform_data\" \"b\" {}\n";
    let (lp, _bin, _) =
        merged_after_plan(ON_MERGE, ("maintainer", "write"), changed).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 1, "nothing more was dispatched");
    assert_eq!(locks(&lp).await.len(), 1);
    lp.assert_commented(&["**not applied**"]).await;
    the_lock_stays_through_sweeps_until_unlocked(&lp).await;

    // With `apply_on_merge_replan`, planned again at the merge commit, then that plan applied.
    let replan = "repos:\n- id: /.*/\n  apply_on_merge: true\n  apply_on_merge_replan: true\n";
    let (lp, _bin, _) =
        merged_after_plan(replan, ("maintainer", "write"), changed).await;
    let envs = runs(&lp, 2).await;
    let replans: Vec<_> = envs
        .iter()
        .map(spec_of)
        .filter(|(s, _)| s.head_sha.as_str() == MERGE_SHA)
        .collect();
    assert_eq!(replans.len(), 1, "one plan at the merge commit");
    let (plan, credential) = replans.into_iter().next().unwrap();
    assert_eq!(plan.command, RunCommand::Plan);
    assert_eq!(plan.head_repo, RepoName::new(REPO));
    let (planfile_key, _) = crate::context::run_artifact_keys(&plan);
    let planfile = StoredArtifact {
        key: planfile_key,
        sha256: "cd".repeat(32),
        size: 10,
    };
    let mut planned_report = report(&plan, RunStatus::Planned, Some(planfile.clone()));
    planned_report.head_sha = plan.head_sha.clone();
    assert_eq!(
        lp.ctx
            .take_report(Some(&credential), &body(&plan, planned_report))
            .await,
        ReportAnswer::Recorded
    );
    let (apply, _) = the_apply(&runs(&lp, 3).await);
    let applied = apply.apply.expect("the new plan is applied");
    assert_eq!(applied.planned_sha.as_str(), MERGE_SHA);
    assert_eq!(applied.planfile, planfile);
}

#[tokio::test]
async fn a_merge_after_an_import_applies_nothing_names_the_project_and_keeps_the_lock() {
    let (lp, _bin, _) = planned(ON_MERGE).await;
    // An import ran after the plan: the record is `state_changed`, without its planfile.
    let mut record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    record.status = PlanStatus::StateChanged;
    record.planfile = None;
    assert_eq!(
        lp.ctx.store.put_plan(&record).await.unwrap(),
        crate::store::PlanOutcome::Written
    );
    host_says_merged(&lp, "maintainer", "write", SAME).await;

    lp.ctx.process(&merged_by("maintainer")).await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 1, "only the plan ever ran");
    assert_eq!(locks(&lp).await.len(), 1);
    lp.assert_commented(&["**not applied**", "`import` or `state rm`"]).await;
}

/// A planned PR whose repo file says `automerge: true`, applied by a maintainer's comment; the
/// apply reports `status`. Returns the merge requests the host received.
async fn automerge_after_apply(status: RunStatus) -> Vec<serde_json::Value> {
    Box::pin(automerge_under(
        "repos:\n- id: /.*/\n  automerge_method: squash\n",
        status,
    ))
    .await
    .0
}

/// [`automerge_after_apply`] under `policy`; with the DELETE requests the host received.
async fn automerge_under(policy: &str, status: RunStatus) -> (Vec<serde_json::Value>, Vec<String>) {
    let (lp, _bin, _) = planned(policy).await;
    lp.host_can_delete_the_branch().await;
    // Once merged, the host says so.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1")))
        .respond_with(PullRequestAfterMerge(done.clone()))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/repos/{REPO}/pulls/1/merge")))
        .respond_with(Merge(done))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/contents/landfall.yaml")))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\nautomerge: true\n"))
        .mount(&lp.host)
        .await;
    lp.host_grants("maintainer", "write").await;
    let apply = super::comment("maintainer", "landfall apply", "apply-1");
    lp.ctx.process(&apply).await.unwrap();
    let (apply, credential) = the_apply(&runs(&lp, 2).await);
    let reported = body(&apply, report(&apply, status, None));
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &reported).await,
        ReportAnswer::Recorded
    );
    let requests = lp.host.received_requests().await.unwrap_or_default();
    let merges = requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT" && r.url.path().ends_with("/merge"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    (merges, lp.deletions().await)
}

/// The host's PR: open until [`Merge`] merged it.
struct PullRequestAfterMerge(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl wiremock::Respond for PullRequestAfterMerge {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let merged = self.0.load(std::sync::atomic::Ordering::SeqCst);
        let state = if merged { "closed" } else { "open" };
        ResponseTemplate::new(200).set_body_json(super::pr_json(state, merged))
    }
}

/// The host's merge of the PR.
struct Merge(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl wiremock::Respond for Merge {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({"merged": true}))
    }
}

/// `delete_source_branch_on_merge` deletes the branch of a PR Landfall merged, and only with it.
#[tokio::test]
async fn an_automerged_pr_loses_its_source_branch_only_when_the_policy_says_so() {
    let on = "repos:\n- id: /.*/\n  delete_source_branch_on_merge: true\n";
    let (merges, deleted) = Box::pin(automerge_under(on, RunStatus::Applied)).await;
    assert_eq!(merges.len(), 1);
    assert_eq!(deleted, [format!("/repos/{REPO}/git/refs/heads/feature")]);
    let (merges, deleted) =
        Box::pin(automerge_under("repos:\n- id: /.*/\n", RunStatus::Applied)).await;
    assert_eq!(merges.len(), 1);
    assert!(deleted.is_empty(), "{deleted:?}");
}

#[tokio::test]
async fn automerge_merges_at_the_applied_head_only_once_every_plan_is_applied() {
    let merges = Box::pin(automerge_after_apply(RunStatus::Applied)).await;
    assert_eq!(merges, [json!({"merge_method": "squash", "sha": SHA})]);
    let merges = Box::pin(automerge_after_apply(RunStatus::Failed)).await;
    assert!(
        merges.is_empty(),
        "a failed apply is never merged: {merges:?}"
    );
}


/// `landfall apply` by a writer is refused, saying `refusal`; the same writer then merges.
/// Returns the number of applies the merge dispatched.
async fn applies_on_merge_after_a_refused_apply(lp: &Loop, refusal: &str) -> usize {
    lp.host_grants("maintainer", "write").await;
    lp.ctx
        .process(&super::comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let said = lp.comments().await.join("\n");
    assert!(said.contains(refusal), "{said}");
    assert_eq!(run_envs(lp).len(), 1, "nothing applied by comment");

    host_says_merged(lp, "maintainer", "write", SAME).await;
    lp.ctx.process(&merged_by("maintainer")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    run_envs(lp)
        .iter()
        .map(spec_of)
        .filter(|(s, _)| s.command == RunCommand::Apply)
        .count()
}

/// A plan whose policy set `tags` failed and that no policy owner approved is not applied on
/// merge, as `landfall apply` refuses it.
#[tokio::test]
async fn a_merge_applies_no_plan_whose_policy_checks_no_owner_approved() {
    let (lp, _bin) = super::policies::planned_with_a_failing_policy_under(
        &super::policies::POLICY.replace("- id: /.*/\n", "- id: /.*/\n  apply_on_merge: true\n"),
    )
    .await;
    let applies = applies_on_merge_after_a_refused_apply(&lp, "policy checks failed").await;
    assert_eq!(applies, 0, "applied on merge with no owner's approval");
    let said = lp.comments().await.join("\n");
    assert!(said.contains("**not applied**"), "{said}");
}

/// The PR's head moved from the planned commit A (= SHA) to B after the plan (only files outside
/// the project changed, e.g. a script a pre_workflow_hook runs; no replan happened: autoplan off,
/// or `plan_requirements` unmet at B). The merge applies at A, a commit nobody merged.
#[tokio::test]
async fn a_plan_of_an_earlier_head_than_the_merged_one_is_not_applied_on_merge() {
    const B: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
    let (lp, _bin, _) = planned(ON_MERGE).await;
    host_says_merged(&lp, "maintainer", "write", SAME).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 1, "state": "closed", "merged": true, "mergeable": true,
            "mergeable_state": "clean",
            "head": {"ref": "feature", "sha": B, "repo": {"full_name": REPO}},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": REPO}},
            "user": {"login": "author"},
            "merge_commit_sha": MERGE_SHA
        })))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    let mut event = merged_by("maintainer");
    event.head_sha = Some(crate::event::CommitSha::new(B));
    lp.ctx.process(&event).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for (spec, _) in run_envs(&lp).iter().map(spec_of) {
        if spec.command == RunCommand::Apply {
            assert_eq!(
                spec.head_sha.as_str(),
                B,
                "the apply on merge cloned and ran commit {} (the old planned head), not the merged head",
                spec.head_sha
            );
        }
    }
    let said = lp.comments().await.join("\n");
    assert!(
        said.contains("**not applied**") || said.contains("planned again"),
        "{said}"
    );
}

/// `apply_requirements: [approved]`: without a writer's approval at the head, neither
/// `landfall apply` nor a merge by the same writer applies.
#[tokio::test]
async fn a_merge_applies_no_plan_without_the_approval_apply_requires() {
    let policy = "repos:\n- id: /.*/\n  apply_on_merge: true\n  apply_requirements: [approved]\n";
    let (lp, _bin, _) = planned(policy).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1/reviews")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&lp.host)
        .await;
    let applies = applies_on_merge_after_a_refused_apply(&lp, "approved").await;
    assert_eq!(applies, 0, "applied on merge without the approval `landfall apply` requires");
}

#[tokio::test]
async fn an_apply_that_fails_after_the_merge_kept_its_lock_leaves_the_lock_kept() {
    // The merge by someone who may not apply kept the lock; a writer then applies the PR's plan
    // by comment, and that apply fails: the merged change is still not applied.
    let (lp, _bin, _) =
        merged_after_plan(ON_MERGE, ("triager", "read"), SAME).await;
    assert!(locks(&lp).await[0].kept_after_merge);
    lp.host_grants("maintainer", "write").await;
    lp.ctx
        .process(&super::comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    the_apply_reports(&lp, RunStatus::Failed).await;
    the_lock_stays_through_sweeps_until_unlocked(&lp).await;
}
