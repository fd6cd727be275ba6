//! Commands on a merged or closed PR, judged by their effect: what was dispatched, which locks
//! the store still holds, what the PR was told. Only `unlock`, `cancel` and `approve_policies`
//! run there; a merged PR's `apply` is apply on merge's, with its comparison and its gates.

use super::merge::{
    ON_MERGE, SAME, host_says_merged, locks, merged_after_plan, merged_by, runs, the_apply,
    the_apply_reports,
    the_lock_stays_through_sweeps_until_unlocked,
};
use super::reports::run_envs;
use super::{Loop, REPO, comment};
use crate::run::RunStatus;
use crate::store::{ApplyLock, ApplyLocks as _, PlanStatus, Store as _};

#[tokio::test]
async fn no_command_applies_the_stale_plan_of_a_merged_pr_whose_project_the_merge_changed() {
    // The merge changed the project after its plan, so apply on merge refused: a writer's
    // `landfall apply` goes through the same comparison, and nothing plans on a merged PR.
    let changed = "resource \"terraform_data\" \"b\" {}\n";
    let (lp, _bin, _) =
        merged_after_plan(ON_MERGE, ("maintainer", "write"), changed).await;
    let commands = [
        "landfall apply",
        "landfall apply -d .",
        "landfall plan",
        "landfall plan -d .",
    ];
    for (i, command) in commands.iter().enumerate() {
        let delivery = format!("after-merge-{i}");
        lp.ctx
            .process(&super::comment("maintainer", command, &delivery))
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 1, "only the first plan ever ran");
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Planned);
    let comments = lp.comments().await;
    let count = |text: &str| comments.iter().filter(|c| c.contains(text)).count();
    assert_eq!(count("**not applied**"), 2, "the merge's and the apply's: {comments:?}");
    assert_eq!(count("Nothing was run"), 3, "{comments:?}");
    the_lock_stays_through_sweeps_until_unlocked(&lp).await;
}

#[tokio::test]
async fn an_apply_on_the_merged_pr_keeps_the_lock_of_a_project_whose_apply_on_merge_failed() {
    let (lp, _bin, _) = merged_after_plan(ON_MERGE, ("maintainer", "write"), SAME).await;
    the_apply_reports(&lp, RunStatus::Failed).await;
    let failed_lock = locks(&lp).await.remove(0);
    // A second project apply on merge held back, its plan still waiting for the merge.
    let mut waiting = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    waiting.key = lp.hold_lock(1, "other").await;
    waiting.status = PlanStatus::Planned;
    let _ = lp.ctx.store.put_plan(&waiting).await.unwrap();
    assert!(lp.ctx.store.keep_after_merge(&waiting.key, 1).await.unwrap());

    Box::pin(lp.ctx.process(&super::comment("maintainer", "landfall apply", "apply-2")))
        .await
        .unwrap();
    let held = locks(&lp).await;
    assert!(
        held.iter()
            .any(|lock| lock.key == failed_lock.key && lock.kept_after_merge),
        "the failed apply's lock stays kept: {held:?}"
    );
    // Nor is the waiting project applied without the one whose apply failed.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 2, "only the plan and the failed apply ran");
    lp.assert_commented(&["apply on merge of", "failed", "Nothing was run"])
        .await;
}

#[tokio::test]
async fn the_operators_apply_lock_stops_apply_on_merge_until_a_writer_applies_after_it_is_lifted() {
    let (lp, _bin, _) = super::merge::planned(ON_MERGE).await;
    let lock = ApplyLock {
        by: "ops".to_owned(),
        since: 1,
        reason: Some("freeze".to_owned()),
    };
    assert_eq!(lp.ctx.store.set_apply_lock(&lock).await.unwrap(), None);
    host_says_merged(&lp, "maintainer", "write", SAME).await;
    Box::pin(lp.ctx.process(&merged_by("maintainer"))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 1, "only the plan ran");
    assert!(locks(&lp).await[0].kept_after_merge);
    lp.assert_commented(&["Not applied on merge", "apply is locked", "freeze"])
        .await;

    // Lifted, a writer's apply on the merged PR applies what the merge would have; it links
    // no log (`--verbose`): refused, not dropped without a word.
    let _ = lp.ctx.store.clear_apply_lock().await.unwrap();
    Box::pin(lp.ctx.process(&comment("maintainer", "landfall apply --verbose", "apply-0")))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(run_envs(&lp).len(), 1, "`--verbose` ran nothing");
    lp.assert_commented(&["`--verbose`", "Nothing was run"]).await;
    Box::pin(lp.ctx.process(&comment("maintainer", "landfall apply", "apply-1")))
        .await
        .unwrap();
    the_apply_reports(&lp, RunStatus::Applied).await;
    assert!(locks(&lp).await.is_empty(), "applied: the lock is given back");
    lp.assert_commented(&["applied by @maintainer"]).await;
}

#[tokio::test]
async fn a_closed_prs_plan_and_apply_run_nothing_and_its_unlock_still_releases() {
    let lp = Loop::new().await;
    lp.host_has_pr("closed", false).await;
    lp.host_grants("maintainer", "write").await;
    let key = lp.hold_lock(1, "envs/prod").await;
    for (i, text) in ["landfall plan", "landfall apply"].iter().enumerate() {
        let delivery = format!("closed-{i}");
        Box::pin(lp.ctx.process(&comment("maintainer", text, &delivery)))
            .await
            .unwrap();
    }
    assert!(run_envs(&lp).is_empty(), "nothing ran");
    let held = locks(&lp).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].key, key);
    let comments = lp.comments().await;
    let refusals = comments.iter().filter(|c| c.contains("is closed")).count();
    assert_eq!(refusals, 2, "{comments:?}");
    Box::pin(lp.ctx.process(&comment("maintainer", "landfall unlock", "closed-2")))
        .await
        .unwrap();
    assert!(locks(&lp).await.is_empty(), "{:?}", lp.comments().await);
}

#[tokio::test]
async fn a_plan_held_back_at_merge_for_its_policy_checks_applies_once_an_owner_approves_it() {
    let policy = super::policies::POLICY.replace("- id: /.*/\n", "- id: /.*/\n  apply_on_merge: true\n");
    let (lp, _bin) = super::policies::planned_with_a_failing_policy_under(&policy).await;
    host_says_merged(&lp, "maintainer", "write", SAME).await;
    lp.host_grants("security-lead", "read").await;
    Box::pin(lp.ctx.process(&merged_by("maintainer"))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(run_envs(&lp).len(), 1, "held back: nothing applied");

    for (i, (user, text)) in [
        ("security-lead", "landfall approve_policies"),
        ("maintainer", "landfall apply"),
    ]
    .iter()
    .enumerate()
    {
        let delivery = format!("after-merge-{i}");
        Box::pin(lp.ctx.process(&comment(user, text, &delivery)))
            .await
            .unwrap();
    }
    let (apply, _) = the_apply(&runs(&lp, 2).await);
    assert_eq!(apply.head_sha.as_str(), super::SHA, "the stored plan, applied");
}
