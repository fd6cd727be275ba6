//! `depends_on` applies under Lambda (runs report back, later stages wait in the store), judged
//! by what was dispatched: a dependent is applied only once its dependency has been.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::merge::spec_of;
use super::reports::{reporting_loop_with, reports, run_envs};
use super::{Loop, REPO, comment, opened};
use crate::run::{RunCommand, RunSpec, RunStatus};
use crate::store::Store as _;

const CONFIG: &str = "version: 3
projects:
- name: network
  dir: network
- name: app
  dir: app
  depends_on: [network]
";

/// The runs of `command` dispatched so far (each once it has ended), by project name.
pub(super) async fn dispatched(lp: &Loop, command: RunCommand) -> Vec<(RunSpec, String)> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let envs: Vec<HashMap<String, String>> = run_envs(lp);
    let mut runs: Vec<_> = envs
        .iter()
        .map(spec_of)
        .filter(|(spec, _)| spec.command == command)
        .collect();
    runs.sort_by_key(|(spec, _)| spec.project.name.clone());
    runs
}

/// The PR's files: the config and both projects.
pub(super) fn files(config: &'static str) -> [(&'static str, &'static str); 3] {
    let tf = "resource \"terraform_data\" \"a\" {}\n";
    [
        ("atlantis.yaml", config),
        ("network/main.tf", tf),
        ("app/main.tf", tf),
    ]
}

/// The host says the PR merged (its files at the merge commit as at its head, unless the test
/// mounted others first), and a maintainer's merge is handled.
async fn merged_by_a_maintainer(lp: &Loop) {
    merged_by_a_maintainer_with(lp, CONFIG).await;
}

/// [`merged_by_a_maintainer`], the repo config being `config`.
async fn merged_by_a_maintainer_with(lp: &Loop, config: &'static str) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    lp.host_has_pr("closed", true).await;
    lp.host_has_files(&files(config)).await;
    let tree: Vec<_> = files(config)
        .iter()
        .map(|(f, _)| serde_json::json!({"path": f, "type": "blob", "mode": "100644", "sha": super::SHA}))
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/git/trees/{}", super::MERGE_SHA)))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"sha": super::MERGE_SHA, "truncated": false, "tree": tree}),
        ))
        .mount(&lp.host)
        .await;
    lp.host_grants("maintainer", "write").await;
    let mut merged = opened();
    merged.kind = crate::event::EventKind::Merged;
    merged.delivery = Some(crate::event::DeliveryId::new("merge-1"));
    merged.sender = Some("maintainer".to_owned());
    lp.ctx.process(&merged).await.unwrap();
}

/// A loop whose PR planned `network` and then `app`, each plan reported.
async fn both_planned() -> (Loop, tempfile::TempDir) {
    both_planned_under("repos:\n- id: /.*/\n").await
}

/// [`both_planned`] under the policy `text`.
async fn both_planned_under(text: &str) -> (Loop, tempfile::TempDir) {
    both_planned_with(text, CONFIG).await
}

/// [`both_planned`] under the policy `text`, with the repo config `config`.
pub(super) async fn both_planned_with(text: &str, config: &'static str) -> (Loop, tempfile::TempDir) {
    let policy = crate::repo_config::Policy::parse("repos.yaml", text).unwrap();
    let (lp, bin) = reporting_loop_with(Some(policy)).await;
    lp.host_has_pr("open", false).await;
    lp.host_has_files(&files(config)).await;
    lp.ctx.process(&opened()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut reported = Vec::new();
    while reported.len() < 2 {
        assert!(Instant::now() < deadline, "the plans never came");
        for plan in dispatched(&lp, RunCommand::Plan).await {
            if !reported.contains(&plan.0.run_id()) {
                reports(&lp, &plan, RunStatus::Planned).await;
                reported.push(plan.0.run_id());
            }
        }
    }
    lp.host_grants("maintainer", "write").await;
    (lp, bin)
}

#[tokio::test]
async fn of_two_applies_at_once_neither_applies_a_dependent_before_its_dependency() {
    let (lp, _bin) = both_planned().await;

    let first = comment("maintainer", "landfall apply", "apply-1");
    let second = comment("maintainer", "landfall apply", "apply-2");
    let (a, b) = tokio::join!(lp.ctx.process(&first), lp.ctx.process(&second));
    a.unwrap();
    b.unwrap();

    // One command applies `network`; the other's `network` is refused, and with it its `app`.
    let applies = dispatched(&lp, RunCommand::Apply).await;
    let names: Vec<_> = applies.iter().map(|(s, _)| s.project.name.clone()).collect();
    assert_eq!(names, [Some("network".to_owned())], "app applied while network applies");

    // Once `network` is applied, the winner's next stage applies `app`, once.
    reports(&lp, &applies[0], RunStatus::Applied).await;
    let applies = dispatched(&lp, RunCommand::Apply).await;
    let names: Vec<_> = applies.iter().map(|(s, _)| s.project.name.clone()).collect();
    assert_eq!(names, [Some("app".to_owned()), Some("network".to_owned())]);
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert!(
        records.iter().all(|r| r.trigger == Some(applies[0].0.trigger.clone())),
        "both applies belong to one command: {records:?}"
    );
}

#[tokio::test]
async fn a_dependent_waits_while_its_dependency_applies() {
    let (lp, _bin) = both_planned().await;
    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let first = dispatched(&lp, RunCommand::Apply).await;
    assert_eq!(first.len(), 1, "network first");

    // While `network` applies, neither another apply nor `-p app` applies `app`.
    for (text, delivery) in [("landfall apply", "apply-2"), ("landfall apply -p app", "apply-3")] {
        let said = only_network_applied_after(&lp, text, delivery).await;
        assert!(said.contains("still in progress"), "{said}");
    }
}

/// Comments `text` as a maintainer, checks that `network` is still the only project applied,
/// and returns the last comment.
async fn only_network_applied_after(lp: &Loop, text: &str, delivery: &str) -> String {
    lp.ctx
        .process(&comment("maintainer", text, delivery))
        .await
        .unwrap();
    let names: Vec<_> = dispatched(lp, RunCommand::Apply)
        .await
        .iter()
        .map(|(s, _)| s.project.name.clone())
        .collect();
    assert_eq!(names, [Some("network".to_owned())], "after {text:?}");
    lp.comments().await.last().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_dependent_is_not_applied_when_its_dependency_is_refused() {
    let (lp, _bin) = both_planned().await;
    // `network`'s plan no longer matches the head: its apply is refused as stale.
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    let mut network = records
        .into_iter()
        .find(|r| r.key.project.as_deref() == Some("network"))
        .unwrap();
    network.head_sha = "0".repeat(40);
    assert_eq!(
        lp.ctx.store.put_plan(&network).await.unwrap(),
        crate::store::PlanOutcome::Written
    );

    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    assert!(
        dispatched(&lp, RunCommand::Apply).await.is_empty(),
        "app was applied without network"
    );
    let said = lp.comments().await.last().cloned().unwrap_or_default();
    assert!(said.contains("this apply does not apply"), "{said}");
}

/// As Atlantis: a dependency whose apply failed holds its dependents back, as one not applied.
#[tokio::test]
async fn a_dependent_is_not_applied_after_its_dependency_failed_to_apply() {
    let (lp, _bin) = both_planned().await;
    lp.ctx
        .process(&comment("maintainer", "landfall apply -p network", "apply-1"))
        .await
        .unwrap();
    let network = dispatched(&lp, RunCommand::Apply).await;
    assert_eq!(network.len(), 1, "network's apply");
    reports(&lp, &network[0], RunStatus::Failed).await;

    let said = only_network_applied_after(&lp, "landfall apply -p app", "apply-2").await;
    assert!(said.contains("depends on `network`, which is not applied"), "{said}");
}

/// Apply on merge of a `depends_on` chain under Lambda: `network`'s apply gives its lock (and
/// record) back when it reports, and `app`'s stage starts then.
#[tokio::test]
async fn apply_on_merge_applies_the_dependent_once_its_dependency_is_applied() {
    let (lp, _bin) = both_planned_under("repos:\n- id: /.*/\n  apply_on_merge: true\n").await;
    lp.host.reset().await;
    merged_by_a_maintainer(&lp).await;

    let applies = dispatched(&lp, RunCommand::Apply).await;
    let names: Vec<_> = applies.iter().map(|(s, _)| s.project.name.clone()).collect();
    assert_eq!(names, [Some("network".to_owned())]);
    reports(&lp, &applies[0], RunStatus::Applied).await;
    let applies = dispatched(&lp, RunCommand::Apply).await;
    let names: Vec<_> = applies.iter().map(|(s, _)| s.project.name.clone()).collect();
    let said = lp.comments().await;
    assert_eq!(
        names,
        [Some("app".to_owned()), Some("network".to_owned())],
        "{said:#?}"
    );
}

const GROUPS: &str = "version: 3
projects:
- name: network
  dir: network
  execution_order_group: 1
- name: app
  dir: app
  execution_order_group: 2
";

/// `network` before `app` by execution order group alone, no `depends_on`: an apply follows
/// the groups (as Atlantis' applies do), and a group that did not apply stops the later ones.
#[tokio::test]
async fn an_apply_follows_execution_order_groups_and_stops_after_a_failed_one() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", GROUPS).await;

    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let applies = dispatched(&lp, RunCommand::Apply).await;
    let names: Vec<_> = applies.iter().map(|(s, _)| s.project.name.clone()).collect();
    assert_eq!(names, [Some("network".to_owned())], "app applied beside network");

    reports(&lp, &applies[0], RunStatus::Failed).await;
    let applies = dispatched(&lp, RunCommand::Apply).await;
    assert_eq!(applies.len(), 1, "app applied after network failed");
    let app = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    let app = app.iter().find(|r| r.key.dir == "app").unwrap();
    assert_eq!(app.status, crate::store::PlanStatus::Planned);
}

/// Both planned under `policy`, then merged by a maintainer, the merge having changed `network`
/// (not `app`, which depends on it).
async fn merged_with_network_changed(policy: &str) -> (Loop, tempfile::TempDir) {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};
    let (lp, bin) = both_planned_under(policy).await;
    lp.host.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/contents/network/main.tf")))
        .and(query_param("ref", super::MERGE_SHA))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("resource \"terraform_data\" \"b\" {}\n"),
        )
        .with_priority(1)
        .mount(&lp.host)
        .await;
    merged_by_a_maintainer(&lp).await;
    (lp, bin)
}

/// Without `apply_on_merge_replan`, the merge applies nothing of `network`, which it changed:
/// `app`, which depends on it, is not applied either (before, `depends_on` ordered only the runs,
/// so `app` applied alone).
#[tokio::test]
async fn a_merge_that_does_not_apply_a_dependency_applies_no_dependent() {
    let (lp, _bin) =
        Box::pin(merged_with_network_changed("repos:\n- id: /.*/\n  apply_on_merge: true\n")).await;
    let said = nothing_applied_and_both_locks_kept(&lp).await;
    assert!(
        said.iter()
            .any(|c| c.contains("`app`: **not applied**: it depends on `network`")),
        "{said:#?}"
    );
}

/// `network` turns its own apply on merge off: the merge leaves its plan unapplied, so `app`,
/// which depends on it, is not applied either, then or by a `landfall apply` on the merged pull
/// request (before, only the merge's own projects counted, and `app` applied without `network`,
/// which `landfall apply` refuses).
#[tokio::test]
async fn a_merge_applies_no_dependent_of_a_project_whose_apply_on_merge_is_off() {
    const NETWORK_OFF: &str = "version: 3
projects:
- name: network
  dir: network
  apply_on_merge: false
- name: app
  dir: app
  depends_on: [network]
";
    let policy = "repos:\n- id: /.*/\n  apply_on_merge: true\n  allowed_overrides: [apply_on_merge]\n";
    let (lp, _bin) = both_planned_with(policy, NETWORK_OFF).await;
    lp.host.reset().await;
    merged_by_a_maintainer_with(&lp, NETWORK_OFF).await;

    let said = lp.comments().await;
    assert!(
        dispatched(&lp, RunCommand::Apply).await.is_empty(),
        "app applied without network: {said:#?}"
    );
    assert!(
        said.iter()
            .any(|c| c.contains("`app`: **not applied**: it depends on `network`")),
        "{said:#?}"
    );
    // `network` keeps its plan and lock too: released, a later `landfall apply` on the merged
    // pull request would no longer know to hold `app` back.
    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    let mut kept: Vec<_> = locks.iter().map(|lock| lock.key.dir.as_str()).collect();
    kept.sort_unstable();
    assert_eq!(kept, ["app", "network"], "{locks:?}");
    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-after-merge"))
        .await
        .unwrap();
    let said = lp.comments().await;
    assert!(
        dispatched(&lp, RunCommand::Apply).await.is_empty(),
        "app applied without network after the merge: {said:#?}"
    );
}

/// Asserts that no apply was dispatched and that both locks stay, kept after the merge; returns
/// the comments.
async fn nothing_applied_and_both_locks_kept(lp: &Loop) -> Vec<String> {
    let said = lp.comments().await;
    assert!(
        dispatched(lp, RunCommand::Apply).await.is_empty(),
        "app applied before network: {said:#?}"
    );
    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    assert!(
        locks.iter().all(|lock| lock.kept_after_merge) && locks.len() == 2,
        "{locks:?}"
    );
    said
}

/// A merge that changed `network` plans it again at the merge commit; `app`, which depends on
/// it, has a stored plan the merge did not touch. Apply on merge cannot order `app`'s apply
/// after `network`'s new plan is applied, so `app` is not applied and keeps its lock.
#[tokio::test]
async fn a_merge_that_plans_a_dependency_again_applies_no_dependent_before_it() {
    let policy = "repos:\n- id: /.*/\n  apply_on_merge: true\n  apply_on_merge_replan: true\n";
    let (lp, _bin) = Box::pin(merged_with_network_changed(policy)).await;

    let said = nothing_applied_and_both_locks_kept(&lp).await;
    let replans: Vec<_> = dispatched(&lp, RunCommand::Plan)
        .await
        .into_iter()
        .filter(|(spec, _)| spec.head_sha.as_str() == super::MERGE_SHA)
        .map(|(spec, _)| spec.project.name)
        .collect();
    assert_eq!(replans, [Some("network".to_owned())]);
    assert!(
        said.iter()
            .any(|c| c.contains("`app`: **not applied**") && !c.contains("`app`: its stored plan")),
        "{said:#?}"
    );
}

/// Both projects planned in two execution order groups and a maintainer's apply started: the
/// loop and the first stage's run.
async fn first_stage_running() -> (Loop, tempfile::TempDir, (RunSpec, String)) {
    let (lp, bin) = both_planned_with("repos:\n- id: /.*/\n", GROUPS).await;
    Box::pin(lp.ctx.process(&comment("maintainer", "landfall apply", "apply-1")))
        .await
        .unwrap();
    let first = dispatched(&lp, RunCommand::Apply).await.remove(0);
    (lp, bin, first)
}

/// Once the first stage reports applied: `app`, the second, was not applied, its plan kept, and
/// the comment says `why`.
async fn second_stage_refused(lp: &Loop, first: &(RunSpec, String), why: &str) {
    reports(lp, first, RunStatus::Applied).await;
    assert_eq!(dispatched(lp, RunCommand::Apply).await.len(), 1, "app was not applied");
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    let app = records.iter().find(|r| r.key.dir == "app").unwrap();
    assert_eq!(app.status, crate::store::PlanStatus::Planned);
    let said = lp.sent("PATCH", "/comments/").await;
    assert!(
        said.iter().any(|c| c["body"].as_str().unwrap_or_default().contains(why)),
        "{said:?}"
    );
}

/// The operator's apply lock, set while an apply's first stage runs, stops the later ones: every
/// apply run reads it again as it starts.
#[tokio::test]
async fn an_apply_lock_set_during_an_apply_stops_its_later_stages() {
    let (lp, _bin, first) = Box::pin(first_stage_running()).await;
    let lock = crate::store::ApplyLock {
        by: "ops".to_owned(),
        since: 1,
        reason: None,
    };
    let set = crate::store::ApplyLocks::set_apply_lock(&lp.ctx.store, &lock).await;
    assert_eq!(set.unwrap(), None);
    second_stage_refused(&lp, &first, "apply is locked").await;
}

/// A push while an apply's first stage runs stops the later ones: their plans were made at the
/// commit the apply was asked at, which the PR (and maybe its approval) has left.
#[tokio::test]
async fn a_push_during_an_apply_stops_its_later_stages() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (lp, _bin, first) = Box::pin(first_stage_running()).await;
    let pushed = "b".repeat(40);
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "number": 1, "state": "open", "merged": false, "mergeable": true,
            "head": {"ref": "feature", "sha": pushed, "repo": {"full_name": REPO}},
            "base": {"ref": "main", "sha": super::SHA, "repo": {"full_name": REPO}},
            "user": {"login": "author"}
        })))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    second_stage_refused(&lp, &first, "moved on to bbbbbbb").await;
}
