//! `import` and `state rm` in process: what they refuse, by its effect (nothing dispatched, no
//! lock taken).

use std::sync::Arc;

use super::{Loop, REPO, comment};
use crate::config::AllowedCommands;
use crate::store::{Drifts as _, Store as _};

const MAIN_TF: &str = "resource \"terraform_data\" \"a\" {}\n";

/// A loop whose operator allows every command and custom workflows, on a PR whose
/// `atlantis.yaml` is `config`, `maintainer` may write.
async fn loop_with_config(config: &str) -> Loop {
    let policy = crate::repo_config::Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\n  allow_custom_workflows: true\n  allowed_overrides: [workflow]\n",
    )
    .unwrap();
    let mut lp = Loop::with_policy(Some(policy)).await;
    Arc::get_mut(&mut lp.ctx).unwrap().switches.allow_commands =
        AllowedCommands::parse("all").unwrap();
    lp.host_knows("maintainer", "write").await;
    lp.host_has_files(&[("main.tf", MAIN_TF), ("atlantis.yaml", config)])
        .await;
    lp
}

/// A workflow whose plan stage chooses the backend with a `run` step (or an `env` one).
fn prepared_by(step: &str, own_stages: &str) -> String {
    format!(
        "version: 3\nprojects:\n- dir: .\n  workflow: prepared\nworkflows:\n  prepared:\n    \
         plan:\n      steps:\n      - {step}\n      - init\n      - plan\n{own_stages}"
    )
}

#[tokio::test]
async fn an_edit_of_the_state_is_refused_when_the_plan_stage_prepares_what_it_cannot_repeat() {
    let steps = [
        "run: cp backends/prod.hcl backend.hcl",
        "env:\n          name: TF_CLI_ARGS_init\n          value: -backend-config=prod.hcl",
    ];
    for step in steps {
        for text in [
            "landfall import -d . terraform_data.a id-1",
            "landfall state rm -d . terraform_data.a",
        ] {
            let lp = loop_with_config(&prepared_by(step, "")).await;

            lp.ctx
                .process(&comment("maintainer", text, "d-state"))
                .await
                .unwrap();

            assert!(lp.nothing_dispatched(), "{text} after {step}");
            let locks = lp.ctx.store.list_locks(Some(REPO)).await.unwrap();
            assert!(locks.is_empty(), "{text} after {step}: {locks:?}");
            let said = lp.comments().await.join("\n");
            assert!(said.contains("refused"), "{said}");
            let stage = if text.contains("import") { "`import` stage" } else { "`state_rm` stage" };
            assert!(said.contains(stage), "{said}");
        }
    }
}

#[tokio::test]
async fn an_edit_of_the_state_runs_when_the_workflow_spells_its_stage_out() {
    let stages = "    import:\n      steps:\n      - run: cp backends/prod.hcl backend.hcl\n      \
                  - init\n      - import\n";
    let lp = loop_with_config(&prepared_by("run: cp backends/prod.hcl backend.hcl", stages)).await;
    lp.planned_here(".").await;

    lp.ctx
        .process(&comment("maintainer", "landfall import -d . terraform_data.a id-1", "d-import"))
        .await
        .unwrap();

    assert!(!lp.nothing_dispatched(), "the import was started");
}

/// A reporting loop over a repository swept for drift, where every command runs and
/// `maintainer` may write.
async fn swept_for_drift() -> (Loop, tempfile::TempDir) {
    let policy = crate::repo_config::Policy::parse(
        "repos.yaml",
        "repos:\n- id: /.*/\ndrift:\n  repositories: [acme/infra]\n  projects: all\n  schedule: rate(1 hour)\n",
    )
    .unwrap();
    let (mut lp, bin) = super::reports::reporting_loop_with(Some(policy)).await;
    Arc::get_mut(&mut lp.ctx).unwrap().switches.allow_commands =
        AllowedCommands::parse("all").unwrap();
    lp.host_knows("maintainer", "write").await;
    lp.host_has_files(&[("main.tf", MAIN_TF)]).await;
    (lp, bin)
}

/// Projects `keys` applied at a commit Landfall knows, then a maintainer's `import` of `.` at a
/// head the pull request planned.
async fn imported_after_an_apply(lp: &Loop, keys: &[&crate::store::LockKey]) {
    for key in keys {
        let mut drift = crate::store::DriftRecord::new((*key).clone());
        drift.applied_sha = Some("a".repeat(40));
        assert!(lp.ctx.store.put_drift(&drift).await.unwrap());
    }
    lp.planned_here(".").await;
    let import = comment("maintainer", "landfall import -d . terraform_data.a id-1", "d-i");
    lp.ctx.process(&import).await.unwrap();
}

/// An `import` (or `state rm`) edits the state outside any merged commit: the project's last
/// applied commit no longer describes it, so a drift remediation, which applies only when the
/// code is the one Landfall applied, cannot undo the edit (destroy what was imported).
#[tokio::test]
async fn an_edit_of_the_state_keeps_drift_remediation_from_undoing_it() {
    let (lp, _bin) = swept_for_drift().await;
    let key = crate::store::LockKey::new(REPO, ".", "default");
    imported_after_an_apply(&lp, &[&key]).await;
    let run = super::merge::spec_of(&super::reports::dispatched_env(&lp).await);
    super::reports::reports(&lp, &run, crate::run::RunStatus::Applied).await;

    let drift = lp.ctx.store.get_drift(&key).await.unwrap().unwrap();
    assert_eq!(drift.applied_sha, None, "no commit describes the state now");
}

/// An apply that failed may have changed part of the state: no commit describes it either, so
/// a drift remediation cannot destroy what it created before it failed.
#[tokio::test]
async fn a_failed_apply_keeps_drift_remediation_from_undoing_it() {
    let policy = "repos:\n- id: /.*/\ndrift:\n  repositories: [acme/infra]\n  projects: all\n  schedule: rate(1 hour)\n";
    let (lp, _bin, plan) = super::merge::planned(policy).await;
    let key = plan.lock_key();
    let mut drift = crate::store::DriftRecord::new(key.clone());
    drift.applied_sha = Some("a".repeat(40));
    assert!(lp.ctx.store.put_drift(&drift).await.unwrap());
    lp.host_grants("maintainer", "write").await;

    let apply = comment("maintainer", "landfall apply", "d-a");
    lp.ctx.process(&apply).await.unwrap();
    let run = super::merge::the_apply(&super::merge::runs(&lp, 2).await);
    super::reports::reports(&lp, &run, crate::run::RunStatus::Failed).await;

    let drift = lp.ctx.store.get_drift(&key).await.unwrap().unwrap();
    assert_eq!(drift.applied_sha, None, "no commit describes the state now");
}

/// An `import` that never reports (its pod lost, or cancelled where it runs) is failed by the
/// sweeper: it may have written the state all the same, so no commit describes it, for this
/// project or one of the same directory and workspace under another name (a pull request's
/// config may rename it), and a drift remediation cannot undo the edit.
#[tokio::test]
async fn an_edit_of_the_state_that_never_reported_keeps_drift_remediation_from_undoing_it() {
    let (lp, _bin) = swept_for_drift().await;
    let key = crate::store::LockKey::new(REPO, ".", "default");
    let renamed = key.clone().named("network");
    let other_dir = crate::store::LockKey::new(REPO, "envs/dev", "default");
    imported_after_an_apply(&lp, &[&key, &renamed, &other_dir]).await;
    assert!(!lp.nothing_dispatched(), "the import was started");
    let swept = lp.ctx.sweep_at(crate::store::now_secs() + 30 * 86_400).await.unwrap();
    let record = lp.ctx.store.get_plan(&key, 1).await.unwrap().unwrap();
    assert_eq!(record.status, crate::store::PlanStatus::Failed, "{swept:?}");

    for (key, applied) in [(&key, None), (&renamed, None), (&other_dir, Some("a".repeat(40)))] {
        let drift = lp.ctx.store.get_drift(key).await.unwrap().unwrap();
        assert_eq!(drift.applied_sha, applied, "{key:?}");
    }
}

/// An edit of the state runs the head's code with the apply role, and no stored plan pins
/// which head: it runs only at a head this pull request planned, never at one nobody saw
/// planned (a push between the comment and its handling).
#[tokio::test]
async fn an_edit_of_the_state_runs_only_at_a_head_that_was_planned() {
    for text in [
        "landfall import -d . terraform_data.a id-1",
        "landfall state rm -d . terraform_data.a",
    ] {
        let lp = loop_with_config("version: 3\nprojects:\n- dir: .\n").await;

        lp.ctx.process(&comment("maintainer", text, "d-unplanned")).await.unwrap();

        assert!(lp.nothing_dispatched(), "{text}");
        let said = lp.comments().await.join("\n");
        assert!(said.contains("has not been planned"), "{said}");

        // Planned at this head, the same comment runs.
        lp.planned_here(".").await;
        lp.ctx.process(&comment("maintainer", text, "d-planned")).await.unwrap();
        assert!(!lp.nothing_dispatched(), "{text} after a plan");
    }
}
