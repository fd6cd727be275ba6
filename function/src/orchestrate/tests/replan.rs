//! A plan without `-p`/`-d`/`-w` replaces every plan of the PR, as in Atlantis: an earlier
//! targeted plan of a project it does not select cannot be applied afterwards.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::merge::spec_of;
use super::reports::{dispatched_env, reporting_loop_with, reports};
use super::{Loop, REPO, SHA, comment};
use crate::store::Store as _;

/// The PR changes `app/main.tf`; its head also holds `prod/main.tf`, which it does not change.
async fn host_has_app_changed_beside_prod(lp: &Loop) {
    host_has_changed_beside_prod(lp, "app/main.tf").await;
}

/// The PR changes `changed`; its head holds `app/main.tf` and `prod/main.tf`.
async fn host_has_changed_beside_prod(lp: &Loop, changed: &str) {
    let get = |p: String| Mock::given(method("GET")).and(path(p));
    get(format!("/repos/{REPO}/pulls/1/files"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": changed, "status": "modified"}
        ])))
        .mount(&lp.host)
        .await;
    let tree: Vec<_> = ["app/main.tf", "prod/main.tf"]
        .iter()
        .map(|f| json!({"path": f, "type": "blob", "mode": "100644", "sha": SHA}))
        .collect();
    get(format!("/repos/{REPO}/git/trees/{SHA}"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": tree})),
        )
        .mount(&lp.host)
        .await;
    for file in ["app/main.tf", "prod/main.tf"] {
        get(format!("/repos/{REPO}/contents/{file}"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string("resource \"terraform_data\" \"a\" {}\n"),
            )
            .mount(&lp.host)
            .await;
    }
}

/// `text` commented by a writer: its one run dispatched and reported planned, with a planfile.
async fn planned_by(lp: &Loop, text: &str, delivery: &str) -> crate::run::RunSpec {
    says(lp, "maintainer", text, delivery).await;
    let run = spec_of(&dispatched_env(lp).await);
    reports(lp, &run, crate::run::RunStatus::Planned).await;
    run.0
}

/// `text` commented by a writer is answered that there is nothing to apply.
async fn nothing_applied_by(lp: &Loop, text: &str) {
    says(lp, "maintainer", text, "apply-1").await;
    let comments = lp.comments().await;
    assert!(
        comments.last().unwrap().contains("Nothing to apply"),
        "{comments:?}"
    );
}

fn labels(keys: impl Iterator<Item = crate::store::LockKey>) -> Vec<String> {
    keys.map(|key| key.dir).collect()
}

#[tokio::test]
async fn a_plan_without_flags_discards_an_earlier_targeted_plan_so_apply_cannot_apply_it() {
    let (lp, _bin) = reporting_loop_with(None).await;
    lp.host_knows("maintainer", "write").await;
    host_has_app_changed_beside_prod(&lp).await;

    let spec = planned_by(&lp, "landfall plan -d prod -- -destroy", "plan-1").await;
    assert_eq!(spec.project.dir, "prod");

    says(&lp, "maintainer", "landfall plan", "plan-2").await;
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert_eq!(labels(records.into_iter().map(|r| r.key)), ["app"]);
    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    assert_eq!(labels(locks.into_iter().map(|l| l.key)), ["app"]);
    lp.assert_commented(&["earlier plan of `prod` was discarded"]).await;

    nothing_applied_by(&lp, "landfall apply -d prod").await;
}

#[tokio::test]
async fn a_targeted_plan_keeps_the_other_plans() {
    let (lp, _bin) = reporting_loop_with(None).await;
    lp.host_knows("maintainer", "write").await;
    host_has_app_changed_beside_prod(&lp).await;

    planned_by(&lp, "landfall plan -d prod", "plan-1").await;
    says(&lp, "maintainer", "landfall plan -d app", "plan-2").await;
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert_eq!(labels(records.into_iter().map(|r| r.key)), ["app", "prod"]);
}

/// An automatic plan that finds nothing to plan (a push of the README, a ready event) leaves
/// the PR's plans and locks as they are, as Atlantis' autoplan does.
#[tokio::test]
async fn an_autoplan_that_selects_nothing_keeps_the_plans() {
    let (lp, _bin) = reporting_loop_with(None).await;
    lp.host_knows("maintainer", "write").await;
    host_has_changed_beside_prod(&lp, "README.md").await;
    planned_by(&lp, "landfall plan -d prod", "plan-1").await;

    lp.ctx.process(&super::opened()).await.unwrap();
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert_eq!(labels(records.into_iter().map(|r| r.key)), ["prod"]);
    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    assert_eq!(labels(locks.into_iter().map(|l| l.key)), ["prod"]);
}

/// `apply -p network`, where `network` is a configured name and only the unnamed project in
/// `network/` has a plan, applies nothing: the name never means the other project's label.
#[tokio::test]
async fn apply_by_a_configured_name_never_takes_an_unnamed_projects_plan() {
    let (lp, _bin) = reporting_loop_with(None).await;
    lp.host_knows("maintainer", "write").await;
    let tf = "resource \"terraform_data\" \"a\" {}\n";
    let config = "version: 3\nprojects:\n- name: network\n  dir: envs/net\n- dir: network\n";
    lp.host_has_files(&[
        ("atlantis.yaml", config),
        ("network/main.tf", tf),
        ("envs/net/main.tf", tf),
    ])
    .await;
    let spec = planned_by(&lp, "landfall plan -d network", "plan-1").await;
    assert_eq!(spec.project.name, None);

    nothing_applied_by(&lp, "landfall apply -p network").await;
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert_eq!(records[0].status, crate::store::PlanStatus::Planned);
}

/// `who` comments `text` (delivery `delivery`), and the function handles it.
async fn says(lp: &Loop, who: &str, text: &str, delivery: &str) {
    lp.ctx.process(&comment(who, text, delivery)).await.unwrap();
}

/// The PR's head planned by its author (who has `permission`; a maintainer may write), the plan
/// reported: its records.
async fn planned_by_the_author(lp: &Loop, permission: &str) -> Vec<crate::store::PlanRecord> {
    lp.host_knows("maintainer", "write").await;
    lp.host_grants("author", permission).await;
    host_has_app_changed_beside_prod(lp).await;
    says(lp, "author", "landfall plan", "plan-1").await;
    let run = spec_of(&dispatched_env(lp).await);
    reports(lp, &run, crate::run::RunStatus::Planned).await;
    lp.ctx.store.list_plans(REPO, 1).await.unwrap()
}

/// An approval is the commit's, not the plan's: once the PR's head commit was planned, its
/// author (who may plan, not apply) plans it no more, neither the projects planned (a new plan
/// of the same commit could differ from the one the approver saw) nor others (a plan nobody
/// reviewed); a plan without flags would also have discarded the reviewed one. A writer can.
#[tokio::test]
async fn only_someone_who_may_apply_plans_a_planned_commit_again() {
    let (lp, _bin) = reporting_loop_with(None).await;
    let reviewed = Box::pin(planned_by_the_author(&lp, "read")).await;
    let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
    let comments = lp.comments().await.len();

    // Reopening the PR (autoplan) plans nothing and says nothing.
    let mut reopened = super::opened();
    reopened.kind = crate::event::EventKind::Reopened;
    reopened.delivery = Some(crate::event::DeliveryId::new("reopen-1"));
    lp.ctx.process(&reopened).await.unwrap();
    assert_eq!(lp.comments().await.len(), comments);
    // The author's plans of the same commit, of the planned project or another, are refused.
    for (text, delivery) in [("landfall plan", "plan-2"), ("landfall plan -d prod", "plan-3")] {
        says(&lp, "author", text, delivery).await;
        assert_eq!(lp.ctx.store.list_plans(REPO, 1).await.unwrap(), reviewed, "{text}");
        assert_eq!(lp.ctx.store.list_locks(Some(REPO)).await.unwrap(), locks, "{text}");
    }
    assert_eq!(std::fs::read_dir(lp.runs.path()).unwrap().count(), 1);
    lp.assert_commented(&["**Not planned:**", "only someone who may apply"])
        .await;

    // A writer's plan of the same commit replaces it.
    says(&lp, "maintainer", "landfall plan", "plan-4").await;
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert_ne!(records[0].run_id, reviewed[0].run_id);
}

/// Once a writer approved the commit, the PR's author, though they may apply, plans it no more,
/// whatever the policy (an approval can gate apply through `approved`, a repository's override,
/// `mergeable` under branch protection, or a merge): a new plan of it (another project,
/// `-destroy`) would be applied under the approval given for the one reviewed. Before any
/// approval they still can; so can a writer who is not the author.
#[tokio::test]
async fn the_author_does_not_plan_an_approved_commit_again_whatever_the_policy() {
    for rule in [
        "apply_requirements: [approved]",
        "allowed_overrides: [apply_requirements]",
        "apply_requirements: [mergeable]",
        "apply_requirements: []",
    ] {
        let text = format!("repos:\n- id: /.*/\n  {rule}\n");
        let policy = crate::repo_config::Policy::parse("repos.yaml", &text).unwrap();
        let (lp, _bin) = reporting_loop_with(Some(policy)).await;
        Box::pin(planned_by_the_author(&lp, "write")).await;
        let runs = || std::fs::read_dir(lp.runs.path()).unwrap().count();
        let approved = |by: &str| json!([{"user": {"login": by}, "state": "APPROVED", "commit_id": SHA}]);
        let reviews = Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/pulls/1/reviews")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount_as_scoped(&lp.host)
            .await;
        // Before any approval, the author plans again (a plan that failed, a project beside it).
        says(&lp, "author", "landfall plan -d prod", "plan-2").await;
        assert_eq!(runs(), 2, "{rule}: planned again before any approval");
        drop(reviews);
        Mock::given(method("GET"))
            .and(path(format!("/repos/{REPO}/pulls/1/reviews")))
            .respond_with(ResponseTemplate::new(200).set_body_json(approved("maintainer")))
            .mount(&lp.host)
            .await;
        let before = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
        says(&lp, "author", "landfall plan -d prod -- -destroy", "plan-3").await;
        assert_eq!(runs(), 2, "{rule}: nothing dispatched");
        assert_eq!(lp.ctx.store.list_plans(REPO, 1).await.unwrap(), before);
        lp.assert_commented(&["**Not planned:**", "other than the pull request's author"])
            .await;
        says(&lp, "maintainer", "landfall plan -d prod", "plan-4").await;
        assert_eq!(runs(), 3, "{rule}: a writer who is not the author plans it");
    }
}

/// An approval that cannot be read counts as given: the author is refused, not let through.
#[tokio::test]
async fn the_author_does_not_plan_a_planned_commit_again_when_approvals_cannot_be_read() {
    let (lp, _bin) = reporting_loop_with(None).await;
    Box::pin(planned_by_the_author(&lp, "write")).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1/reviews")))
        .respond_with(ResponseTemplate::new(502))
        .mount(&lp.host)
        .await;
    says(&lp, "author", "landfall plan -d prod", "plan-2").await;
    assert_eq!(std::fs::read_dir(lp.runs.path()).unwrap().count(), 1, "nothing dispatched");
}

/// A commit stays planned after its records are gone (an `unlock`, a close and reopen): its
/// author, who may plan but not apply, cannot plan the approved commit anew, whose new plan
/// could differ from the one reviewed; someone who may apply still can.
#[tokio::test]
async fn a_planned_commit_is_not_planned_again_by_its_author_after_an_unlock() {
    let text = "repos:\n- id: /.*/\n  permissions:\n    apply: {access: nobody, users: [maintainer]}\n";
    let lp = Loop::with_policy(Some(crate::repo_config::Policy::parse("repos.yaml", text).unwrap()))
        .await;
    lp.host_has_a_terraform_pr("open", false).await;
    lp.host_grants("author", "write").await;
    let runs = || std::fs::read_dir(lp.runs.path()).map_or(0, Iterator::count);

    lp.ctx.process(&comment("author", "landfall plan", "d-1")).await.unwrap();
    assert_eq!(runs(), 1, "the first plan runs");
    lp.ctx.process(&comment("author", "landfall unlock", "d-2")).await.unwrap();
    assert!(lp.ctx.store.list_plans(REPO, 1).await.unwrap().is_empty(), "the records are gone");

    lp.ctx.process(&comment("author", "landfall plan", "d-3")).await.unwrap();
    assert_eq!(runs(), 1, "the author planned the same commit again");
    let said = lp.comments().await;
    assert!(said.last().unwrap().contains("was planned already"), "{said:?}");

    lp.host_grants("maintainer", "write").await;
    lp.ctx.process(&comment("maintainer", "landfall plan", "d-4")).await.unwrap();
    assert_eq!(runs(), 2, "one who may apply plans it again");
}
