//! The sweeper in process: a runner killed with SIGKILL, a run past its deadline, and the locks
//! of a pull request closed without its webhook, each ended within one sweep, by its effect.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Loop, REPO, opened};
use crate::store::{PlanStatus, Store as _, Sweeps as _};

#[tokio::test]
async fn a_runner_killed_with_sigkill_ends_as_a_failed_run_within_one_sweep() {
    let bin = tempfile::tempdir().unwrap();
    let runner = bin.path().join("runner");
    std::fs::write(&runner, "#!/bin/sh\nkill -9 $$\n").unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut lp = Loop::with_runner(&runner, None).await;
    // As on DynamoDB: the runner records its own result, the function does not wait for it.
    Arc::get_mut(&mut lp.ctx).unwrap().report_back = true;
    lp.host_has_a_terraform_pr("open", false).await;

    lp.ctx.process(&opened()).await.unwrap();
    let runs: Vec<_> = std::fs::read_dir(lp.runs.path())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "one run dispatched");
    let exit = runs[0].path().join("exit");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exit.exists() {
        assert!(Instant::now() < deadline, "the runner never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stuck = lp.ctx.store.unfinished_runs().await.unwrap();
    assert_eq!(stuck.len(), 1, "the killed run is still `planning`");

    let report = lp.ctx.sweep().await.unwrap();

    assert_eq!(report.runs_failed, [stuck[0].run_id.clone()]);
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Failed);
    let said = serde_json::to_string(&record.result).unwrap();
    assert!(said.contains("SIGKILL"), "{said}");
    let comments = lp.comments().await;
    let comment = comments.last().unwrap();
    assert!(
        comment.contains("ended without reporting") && comment.contains("SIGKILL"),
        "{comment}"
    );
    let statuses = lp.sent("POST", "/statuses/").await;
    let own = |context: &str| statuses.iter().rev().find(|s| s["context"] == context).cloned();
    let project = own("landfall/plan: .").expect("the project's status");
    assert_eq!(project["state"], "failure", "{statuses:?}");
    // The pull request's own status follows its one project's.
    assert_eq!(own("landfall/plan").expect("the PR's status")["state"], "failure");
    assert!(lp.ctx.store.unfinished_runs().await.unwrap().is_empty());
    // The lock stays with the PR (a new plan takes it again); a second sweep changes nothing.
    assert_eq!(lp.ctx.store.list_locks(Some(REPO)).await.unwrap().len(), 1);
    let again = lp.ctx.sweep().await.unwrap();
    assert!(
        again.runs_failed.is_empty() && again.prs_released.is_empty(),
        "{again:?}"
    );
    assert_eq!(lp.comments().await.len(), comments.len());
}

#[tokio::test]
async fn a_run_past_its_deadline_is_failed_and_one_still_in_time_is_left() {
    let lp = Loop::new().await;
    lp.host_has_pr("open", false).await;
    let now = crate::store::now_secs();
    for (dir, deadline) in [("late", now - 1), ("in-time", now + 600)] {
        lp.running_plan(dir, &format!("lf-plan-1-{dir}"), deadline)
            .await;
    }

    let report = lp.ctx.sweep().await.unwrap();

    assert_eq!(report.runs_checked, 2);
    assert_eq!(report.runs_failed, ["lf-plan-1-late"]);
    let left = lp.ctx.store.unfinished_runs().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key.dir, "in-time");
    let comments = lp.comments().await;
    assert!(
        comments[0].contains("passed its time limit"),
        "{comments:?}"
    );
}

#[tokio::test]
async fn the_locks_of_a_pr_closed_without_its_webhook_are_released_by_the_sweep() {
    let lp = Loop::new().await;
    lp.host_has_pr("closed", true).await;
    lp.hold_lock(1, "envs/prod").await;

    let report = lp.ctx.sweep().await.unwrap();

    assert_eq!(report.prs_released, [format!("{REPO}#1")]);
    assert!(lp.ctx.store.list_locks(None).await.unwrap().is_empty());
    let comments = lp.comments().await;
    assert!(comments[0].contains("merged"), "{comments:?}");
}
