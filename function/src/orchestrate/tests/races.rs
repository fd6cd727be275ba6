//! Races between commands, judged by their effect: how many runs were dispatched, who holds the
//! lock, what the plan record says.

use super::merge::{planned, spec_of};
use super::reports::{body, report, run_envs};
use super::{Loop, REPO, comment};
use crate::handler::ReportAnswer;
use crate::run::{RunCommand, RunSpec, RunStatus};
use crate::store::{LockHolder, LockOutcome, PlanStatus, Store as _};

const POLICY: &str = "repos:\n- id: /.*/\n";

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

#[tokio::test]
async fn unlock_while_an_apply_runs_keeps_the_lock_until_the_apply_reports() {
    let (lp, _bin, plan) = planned(POLICY).await;
    lp.host_grants("maintainer", "write").await;
    lp.ctx
        .process(&comment("maintainer", "landfall apply", "apply-1"))
        .await
        .unwrap();
    let (apply, credential) = applies(&lp).await.remove(0);

    // While Terraform applies, the PR is unlocked, and another PR plans the same project.
    lp.ctx
        .process(&comment("maintainer", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
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

    // The apply's result is recorded when it reports.
    let applied = body(&apply, report(&apply, RunStatus::Applied, None));
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &applied).await,
        ReportAnswer::Recorded
    );
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Applied);
}
