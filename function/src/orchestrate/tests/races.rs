//! Races between commands, judged by their effect: how many runs were dispatched, who holds the
//! lock, what the plan record says.

use super::merge::{planned, spec_of};
use super::reports::{body, report, run_envs};
use super::{Loop, REPO, comment, opened};
use crate::event::{DeliveryId, EventKind};
use crate::handler::ReportAnswer;
use crate::run::{RunCommand, RunSpec, RunStatus};
use crate::store::{LockHolder, LockOutcome, PlanStatus, Store as _};

const POLICY: &str = "repos:\n- id: /.*/\n";

/// Another PR's plan of `plan`'s project is refused its lock.
async fn assert_another_pr_cannot_lock(lp: &Loop, plan: &RunSpec) {
    let other = LockHolder {
        pr: 2,
        user: "someone".to_owned(),
        head_sha: "b".repeat(40),
        pull_url: format!("https://github.com/{REPO}/pull/2"),
    };
    let taken = lp
        .ctx
        .store
        .acquire_locks(&other, &[plan.lock_key()])
        .await
        .unwrap();
    assert!(
        matches!(taken, LockOutcome::HeldBy(_)),
        "another PR took the lock of a running apply"
    );
}

/// The apply runs dispatched so far, with their report credentials.
async fn applies(lp: &Loop) -> Vec<(RunSpec, String)> {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    run_envs(lp)
        .iter()
        .map(spec_of)
        .filter(|(spec, _)| spec.command == RunCommand::Apply)
        .collect()
}

#[tokio::test]
async fn two_apply_comments_delivered_at_once_apply_the_plan_once() {
    let (lp, _bin, _) = planned(POLICY).await;
    lp.host_grants("maintainer", "write").await;

    let first = comment("maintainer", "landfall apply", "apply-1");
    let second = comment("maintainer", "landfall apply", "apply-2");
    let (a, b) = tokio::join!(lp.ctx.process(&first), lp.ctx.process(&second));
    a.unwrap();
    b.unwrap();

    let applies = applies(&lp).await;
    assert_eq!(applies.len(), 1, "one plan, one apply: {applies:?}");
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Applying);
    assert_eq!(record.run_id, applies[0].0.run_id());
}

/// A loop whose PR's plan is being applied: the plan's spec, the apply's and its credential.
async fn apply_running() -> (Loop, tempfile::TempDir, RunSpec, (RunSpec, String)) {
    let (lp, bin, plan) = planned(POLICY).await;
    lp.host_grants("maintainer", "write").await;
    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let apply = applies(&lp).await.remove(0);
    (lp, bin, plan, apply)
}

/// The apply reports success, and its result is recorded.
async fn apply_reports(lp: &Loop, (apply, credential): &(RunSpec, String)) {
    let applied = body(apply, report(apply, RunStatus::Applied, None));
    assert_eq!(
        lp.ctx.take_report(Some(credential), &applied).await,
        ReportAnswer::Recorded
    );
}

#[tokio::test]
async fn unlock_while_an_apply_runs_keeps_the_lock_until_the_apply_reports() {
    let (lp, _bin, plan, apply) = Box::pin(apply_running()).await;

    // While Terraform applies, the PR is unlocked, and another PR plans the same project.
    lp.ctx
        .process(&comment("maintainer", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
    assert_another_pr_cannot_lock(&lp, &plan).await;

    // The apply's result is recorded when it reports.
    apply_reports(&lp, &apply).await;
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Applied);
}

#[tokio::test]
async fn a_merge_while_an_apply_runs_keeps_its_lock_until_the_apply_reports() {
    let (lp, _bin, plan, apply) = Box::pin(apply_running()).await;

    // The PR merges while Terraform applies.
    lp.host.reset().await;
    lp.host_has_pr("closed", true).await;
    let mut merged = opened();
    merged.kind = EventKind::Merged;
    merged.delivery = Some(DeliveryId::new("merge-1"));
    lp.ctx.process(&merged).await.unwrap();
    assert_another_pr_cannot_lock(&lp, &plan).await;

    // The apply's result is recorded, and with it the lock given back.
    apply_reports(&lp, &apply).await;
    assert!(lp.ctx.store.list_locks(None).await.unwrap().is_empty());
    let comments = lp.comments().await;
    assert!(
        comments.last().is_some_and(|c| c.contains("Locks released")),
        "{comments:?}"
    );
}

#[tokio::test]
async fn a_cancelled_apply_keeps_its_lock_until_its_runner_has_stopped() {
    // An apply that takes two seconds to stop once told to, as Terraform finishing a call.
    let script = format!(
        "{}if [ \"$LANDFALL_RUN_COMMAND\" = apply ]; then\n  \
         trap 'sleep 2; exit 1' INT\n  sleep 30\nfi\n",
        super::reports::ENV_RUNNER
    );
    let (lp, _bin, plan) = super::merge::planned_running(POLICY, &script).await;
    lp.host_grants("maintainer", "write").await;
    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_dir(lp.runs.path()).unwrap().flatten().any(|run| {
        std::fs::read_to_string(run.path().join("env"))
            .is_ok_and(|env| env.contains("LANDFALL_RUN_COMMAND=apply"))
    }) {
        assert!(std::time::Instant::now() < deadline, "the apply never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // While the runner stops, the PR is unlocked: the lock stays.
    let ctx = std::sync::Arc::clone(&lp.ctx);
    let cancel = tokio::spawn(async move {
        ctx.process(&comment("maintainer", "landfall cancel", "cancel-1"))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!cancel.is_finished(), "the runner takes two seconds to stop");
    lp.ctx
        .process(&comment("maintainer", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
    assert_another_pr_cannot_lock(&lp, &plan).await;
    cancel.await.unwrap().unwrap();
    let said = lp.comments().await;
    assert!(
        said.iter().any(|c| c.contains("**Cancelled**") && c.contains("stopped")),
        "{said:?}"
    );
}
