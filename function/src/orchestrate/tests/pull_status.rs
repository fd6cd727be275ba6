//! The pull request's own statuses, `landfall/plan` and `landfall/apply`, judged by what the
//! host was last sent for each: they pass only once every changed project is planned, and
//! applied or unchanged; a project another PR holds keeps `landfall/plan` from passing, also
//! after a narrowed plan of the others; a PR that changes no project passes both.

use std::time::{Duration, Instant};

use super::depends::{both_planned_with, dispatched, files};
use super::reports::{reporting_loop_with, reports};
use super::{Loop, comment, opened};
use crate::event::{DeliveryId, Event, EventKind};
use crate::run::{RunCommand, RunStatus};
use crate::store::Store as _;

const TWO_PROJECTS: &str = "version: 3
projects:
- dir: network
- dir: app
";

/// The state and description the host was last sent for the status `context`.
pub(super) async fn last_status(lp: &Loop, context: &str) -> Option<(String, String)> {
    let sent = lp.sent("POST", "/statuses/").await;
    sent.iter().rev().find(|s| s["context"] == context).map(|s| {
        let field = |name: &str| s[name].as_str().unwrap_or_default().to_owned();
        (field("state"), field("description"))
    })
}

/// Whether neither status says more than pending (never posted: a required check the host
/// still waits for).
async fn neither_passes(lp: &Loop) -> bool {
    let (plan, apply) = states(lp).await;
    [plan, apply].iter().all(|s| s.is_empty() || s == "pending")
}

async fn states(lp: &Loop) -> (String, String) {
    let state = |s: Option<(String, String)>| s.map(|(state, _)| state).unwrap_or_default();
    (
        state(last_status(lp, "landfall/plan").await),
        state(last_status(lp, "landfall/apply").await),
    )
}

/// Reports every dispatched run of `command` not reported yet as `status`, until `count` are.
async fn report_all(lp: &Loop, command: RunCommand, count: usize, status: RunStatus) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut reported = Vec::new();
    while reported.len() < count {
        assert!(Instant::now() < deadline, "the runs never came");
        for run in dispatched(lp, command).await {
            if !reported.contains(&run.0.run_id()) && !lp.recorded(&run.0).await {
                reports(lp, &run, status).await;
                reported.push(run.0.run_id());
            }
        }
    }
}

/// The PR's event of `kind`, delivered as `delivery`.
fn pr_event(kind: EventKind, delivery: &str) -> Event {
    let mut event = opened();
    event.kind = kind;
    event.delivery = Some(DeliveryId::new(delivery));
    event
}

/// A reporting loop whose open PR changes the two projects of `config`.
async fn open_pr(config: &'static str) -> (Loop, tempfile::TempDir) {
    let policy = crate::repo_config::Policy::parse("repos.yaml", "repos:\n- id: /.*/\n").unwrap();
    let (lp, bin) = reporting_loop_with(Some(policy)).await;
    lp.host_has_pr("open", false).await;
    lp.host_has_files(&files(config)).await;
    (lp, bin)
}

impl Loop {
    /// `text` commented by a maintainer, and its runs of `command` reported `status`.
    async fn ran(&self, text: &str, runs: (RunCommand, usize), status: RunStatus) {
        let delivery = format!("{text}-{}", self.sent("POST", "/statuses/").await.len());
        self.ctx
            .process(&comment("maintainer", text, &delivery))
            .await
            .unwrap();
        report_all(self, runs.0, runs.1, status).await;
    }

    /// Whether the run's record has left the state its dispatch wrote.
    async fn recorded(&self, spec: &crate::run::RunSpec) -> bool {
        use crate::store::PlanStatus;
        let record = self.ctx.store.get_plan(&spec.lock_key(), 1).await.unwrap();
        record.is_none_or(|r| {
            r.run_id != spec.run_id()
                || !matches!(r.status, PlanStatus::Planning | PlanStatus::Applying)
        })
    }
}

#[tokio::test]
async fn both_pass_only_once_every_project_is_planned_and_then_applied() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    let (plan, apply) = states(&lp).await;
    assert_eq!((plan.as_str(), apply.as_str()), ("success", "pending"));
    assert_eq!(
        last_status(&lp, "landfall/plan").await.unwrap().1,
        "2 of 2 projects planned"
    );
    // A policy without policy checks: no status of them.
    assert_eq!(last_status(&lp, "landfall/policy_check").await, None);

    lp.ran("landfall apply -d network", (RunCommand::Apply, 1), RunStatus::Applied)
        .await;
    assert_eq!(states(&lp).await, ("success".into(), "pending".into()), "app is not applied");

    lp.ran("landfall apply", (RunCommand::Apply, 1), RunStatus::Applied)
        .await;
    assert_eq!(states(&lp).await, ("success".into(), "success".into()));
    assert_eq!(
        last_status(&lp, "landfall/apply").await.unwrap().1,
        "2 of 2 projects applied or unchanged"
    );
}

/// A policy whose sets apply elsewhere but not to this pull request's base: its
/// `landfall/policy_check` passes, saying so, so that a check required everywhere does not wait
/// forever, and one from before a retarget or a policy change does not stand.
#[tokio::test]
async fn where_no_policy_check_applies_landfall_policy_check_passes_saying_so() {
    let policy = "repos:
- id: /.*/
  policy_check: false
policies:
  policy_sets:
  - name: tags
    path: policies/tags
    source: local
";
    let (lp, _bin) = both_planned_with(policy, TWO_PROJECTS).await;
    let (state, line) = last_status(&lp, "landfall/policy_check").await.unwrap();
    assert_eq!(state, "success");
    assert_eq!(line, "No policy checks apply to main");
}

#[tokio::test]
async fn a_failed_apply_fails_landfall_apply() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    lp.ran("landfall apply -d network", (RunCommand::Apply, 1), RunStatus::Failed)
        .await;
    lp.ran("landfall apply -d app", (RunCommand::Apply, 1), RunStatus::Applied)
        .await;
    assert_eq!(states(&lp).await, ("success".into(), "failure".into()));
}

#[tokio::test]
async fn a_project_another_pr_holds_keeps_landfall_plan_from_passing() {
    let (lp, _bin) = open_pr(TWO_PROJECTS).await;
    lp.host_grants("maintainer", "write").await;
    let app = lp.hold_lock(2, "app").await;

    lp.ctx.process(&opened()).await.unwrap();
    report_all(&lp, RunCommand::Plan, 1, RunStatus::Planned).await;
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));

    // A plan of the project that could run changes nothing for the one that could not.
    lp.ran("landfall plan -d network", (RunCommand::Plan, 1), RunStatus::NoChanges)
        .await;
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));

    // Once the other PR lets go, a plan of the whole PR plans both, and both pass.
    let _ = lp.ctx.store.release_lock(&app, Some(2)).await.unwrap();
    lp.ran("landfall plan", (RunCommand::Plan, 2), RunStatus::NoChanges)
        .await;
    assert_eq!(states(&lp).await, ("success".into(), "success".into()));
}

#[tokio::test]
async fn a_pull_request_that_changes_no_project_passes_both() {
    let lp = Loop::new().await;
    lp.host_has_pr("open", false).await;
    lp.host_has_files(&[("README.md", "docs\n")]).await;
    lp.ctx.process(&opened()).await.unwrap();
    assert_eq!(states(&lp).await, ("success".into(), "success".into()));
    assert!(lp.nothing_dispatched());
}

#[tokio::test]
async fn a_later_execution_order_group_keeps_both_from_passing_until_it_is_planned() {
    const GROUPS: &str = "version: 3
projects:
- dir: network
  execution_order_group: 1
- dir: app
  execution_order_group: 2
";
    let (lp, _bin) = open_pr(GROUPS).await;
    lp.ctx.process(&opened()).await.unwrap();
    report_all(&lp, RunCommand::Plan, 1, RunStatus::NoChanges).await;
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()), "app is not planned");
    report_all(&lp, RunCommand::Plan, 1, RunStatus::NoChanges).await;
    assert_eq!(states(&lp).await, ("success".into(), "success".into()));
}

#[tokio::test]
async fn without_a_plan_of_the_whole_pr_a_narrowed_plan_passes_neither() {
    let (lp, _bin) = open_pr(TWO_PROJECTS).await;
    lp.host_grants("maintainer", "write").await;
    lp.ran("landfall plan -d network", (RunCommand::Plan, 1), RunStatus::NoChanges)
        .await;
    assert!(neither_passes(&lp).await, "{:?}", states(&lp).await);
}

#[tokio::test]
async fn an_unlock_discards_the_plans_and_both_wait_for_a_new_one() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    assert_eq!(states(&lp).await.0, "success");
    lp.ctx
        .process(&comment("maintainer", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));
    // A narrowed plan afterwards plans one of the two: neither passes.
    lp.ran("landfall plan -d app", (RunCommand::Plan, 1), RunStatus::NoChanges)
        .await;
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));
}

#[tokio::test]
async fn a_close_and_reopen_leaves_neither_passing_on_the_discarded_plans() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    lp.host_grants("author", "write").await;
    assert_eq!(states(&lp).await, ("success".into(), "pending".into()));
    lp.ctx.process(&pr_event(EventKind::Closed, "close-1")).await.unwrap();
    // Reopened by its author, who may plan but not apply: the planned commit is not planned
    // again, and its plans are gone.
    lp.ctx.process(&pr_event(EventKind::Reopened, "reopen-1")).await.unwrap();
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));
}

#[tokio::test]
async fn a_plan_with_terraform_arguments_is_no_plan_of_the_whole_pr() {
    let (lp, _bin) = open_pr(TWO_PROJECTS).await;
    lp.host_grants("maintainer", "write").await;
    lp.ran(
        "landfall plan -- -target=terraform_data.a",
        (RunCommand::Plan, 2),
        RunStatus::NoChanges,
    )
    .await;
    assert!(neither_passes(&lp).await, "{:?}", states(&lp).await);
}

#[tokio::test]
async fn the_operators_status_name_names_every_status() {
    let mut lp = Loop::new().await;
    let ctx = std::sync::Arc::get_mut(&mut lp.ctx).unwrap();
    ctx.switches.vcs_status_name = Some("atlantis".to_owned());
    lp.host_has_pr("open", false).await;
    lp.host_has_files(&[("README.md", "docs\n")]).await;
    lp.ctx.process(&opened()).await.unwrap();
    let contexts: Vec<String> = (lp.sent("POST", "/statuses/").await.iter())
        .map(|s| s["context"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(contexts, ["atlantis/plan", "atlantis/apply"]);
}

/// Retargets main → release → main handled out of order, the first last: the statuses are set
/// for the base the pull request has now, not the one the late delivery names.
#[tokio::test]
async fn a_late_retarget_sets_the_statuses_for_the_base_the_pull_request_has_now() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    assert_eq!(states(&lp).await.0, "success");
    let posted = lp.sent("POST", "/statuses/").await.len();
    let mut late = pr_event(EventKind::Pushed, "edited-late");
    late.base_branch = Some("release".to_owned());
    lp.ctx.process(&late).await.unwrap();
    assert!(lp.sent("POST", "/statuses/").await.len() > posted, "set again");
    assert_eq!(states(&lp).await.0, "success", "planned for main, which it targets");
}

#[tokio::test]
async fn a_push_of_a_commit_planned_already_sets_them_again() {
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    assert_eq!(states(&lp).await.0, "success");
    // Its plans gone (as a close discards them), the commit is pushed again.
    let _ = lp.ctx.store.release_pr(super::REPO, 1).await.unwrap();
    lp.ctx.process(&pr_event(EventKind::Pushed, "push-2")).await.unwrap();
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));
}

#[tokio::test]
async fn a_retarget_leaves_neither_passing_on_plans_made_for_the_old_base() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (lp, _bin) = both_planned_with("repos:\n- id: /.*/\n", TWO_PROJECTS).await;
    assert_eq!(states(&lp).await.0, "success");
    // The PR now targets `release`; the host delivers `edited` with `changes.base`.
    let mut retargeted = super::pr_json("open", false);
    retargeted["base"]["ref"] = "release".into();
    Mock::given(method("GET"))
        .and(path(format!("/repos/{}/pulls/1", super::REPO)))
        .respond_with(ResponseTemplate::new(200).set_body_json(retargeted))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    let mut retarget = pr_event(EventKind::Pushed, "edited-1");
    retarget.base_branch = Some("release".to_owned());
    lp.ctx.process(&retarget).await.unwrap();
    assert_eq!(states(&lp).await, ("pending".into(), "pending".into()));
}
