//! Runners' reports in process, judged by their effect: a forged report, one signed for another
//! run, one naming another run's planfile, and a replay after the run was recorded leave the
//! plan record, the lock and the PR as they were; the run's own report is recorded.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Loop, REPO, opened};
use crate::handler::ReportAnswer;
use crate::run::report_auth::ReportEnvelope;
use crate::run::{Outcome, ProjectResult, RunReport, RunSpec, RunStatus, StoredArtifact};
use crate::store::{PlanStatus, Store as _};

/// A loop whose runners report back, dispatched by a runner that only writes down the
/// environment it was given (as `<run folder>/env`) and ends.
async fn reporting_loop() -> (Loop, tempfile::TempDir) {
    reporting_loop_with(None).await
}

/// The runner of [`reporting_loop`]: it writes its environment down beside its report.
pub(super) const ENV_RUNNER: &str = "#!/bin/sh\nenv > \"$(dirname \"$LANDFALL_RUN_REPORT\")/env\"\n";

/// [`reporting_loop`] under `policy`.
pub(super) async fn reporting_loop_with(
    policy: Option<crate::repo_config::Policy>,
) -> (Loop, tempfile::TempDir) {
    reporting_loop_running(policy, ENV_RUNNER).await
}

/// [`reporting_loop_with`] whose runner is the shell script `script`.
pub(super) async fn reporting_loop_running(
    policy: Option<crate::repo_config::Policy>,
    script: &str,
) -> (Loop, tempfile::TempDir) {
    let bin = tempfile::tempdir().unwrap();
    let runner = bin.path().join("runner");
    std::fs::write(&runner, script).unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut lp = Loop::with_runner(&runner, policy).await;
    let ctx = Arc::get_mut(&mut lp.ctx).unwrap();
    ctx.report_back = true;
    ctx.report_url = Some("http://127.0.0.1:9".to_owned());
    (lp, bin)
}

/// The environments the dispatched runs were given, once each run has ended.
pub(super) fn run_envs(lp: &Loop) -> Vec<HashMap<String, String>> {
    let mut envs = Vec::new();
    for run in std::fs::read_dir(lp.runs.path()).unwrap().flatten() {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !run.path().join("exit").exists() {
            assert!(Instant::now() < deadline, "a run never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        let env = std::fs::read_to_string(run.path().join("env")).unwrap();
        envs.push(
            env.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        );
    }
    envs
}

/// The environment the one dispatched run was given.
pub(super) async fn dispatched_env(lp: &Loop) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs: Vec<_> = std::fs::read_dir(lp.runs.path())
            .unwrap()
            .flatten()
            .collect();
        if let [run] = runs.as_slice()
            && let Ok(env) = std::fs::read_to_string(run.path().join("env"))
            && run.path().join("exit").exists()
        {
            return env
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
        }
        assert!(Instant::now() < deadline, "the run was never dispatched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) fn report(
    spec: &RunSpec,
    status: RunStatus,
    planfile: Option<StoredArtifact>,
) -> RunReport {
    RunReport {
        run_id: spec.run_id(),
        repo: spec.repo.clone(),
        pr: spec.pr,
        head_sha: spec.head_sha.clone(),
        status,
        result: ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::Planned {
                summary: "1 to add".to_owned(),
                plan_text: "+ terraform_data.forged".to_owned(),
            },
        ),
        summary: None,
        planfile,
        log: None,
        comment: String::new(),
        timings: crate::run::Timings::default(),
    }
}

pub(super) fn body(spec: &RunSpec, report: RunReport) -> Vec<u8> {
    serde_json::to_vec(&ReportEnvelope::new(spec, report)).unwrap()
}

/// Reports that the run `spec` (with its report `credential`) ended `status`, with a planfile
/// under its own key for a plan; the report must be recorded.
pub(super) async fn reports(lp: &Loop, (spec, credential): &(RunSpec, String), status: RunStatus) {
    let planfile = (status == RunStatus::Planned).then(|| StoredArtifact {
        key: crate::context::run_artifact_keys(spec).0,
        sha256: "ab".repeat(32),
        size: 10,
    });
    let sent = body(spec, report(spec, status, planfile));
    assert_eq!(
        lp.ctx.take_report(Some(credential), &sent).await,
        ReportAnswer::Recorded
    );
}

#[tokio::test]
async fn only_the_runs_own_credential_and_keys_are_recorded_and_only_once() {
    let (lp, _bin) = reporting_loop().await;
    lp.host_has_a_terraform_pr("open", false).await;
    lp.ctx.process(&opened()).await.unwrap();
    let env = dispatched_env(&lp).await;
    let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
    let credential = env
        .get(crate::config::env_vars::RUN_REPORT_TOKEN)
        .expect("the run was given its report credential")
        .clone();
    assert!(
        env.get(crate::config::env_vars::RUN_REPORT_URL)
            .is_some_and(|url| url.ends_with("/runs/report"))
    );
    let (planfile_key, _) = crate::context::run_artifact_keys(&spec);
    let own_planfile = StoredArtifact {
        key: planfile_key,
        sha256: "ab".repeat(32),
        size: 10,
    };
    let unchanged = |lp: &Loop| {
        let ctx = Arc::clone(&lp.ctx);
        async move {
            let record = ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
            assert_eq!(record.status, PlanStatus::Planning, "nothing was recorded");
            assert!(record.planfile.is_none());
            assert_eq!(ctx.store.list_locks(Some(REPO)).await.unwrap().len(), 1);
        }
    };
    let comments_before = lp.comments().await.len();
    let planned = report(&spec, RunStatus::Planned, Some(own_planfile.clone()));

    // No credential, a made-up one, and the real one for an altered spec (another PR's comment).
    let good = body(&spec, planned.clone());
    assert_eq!(
        lp.ctx.take_report(None, &good).await,
        ReportAnswer::Unauthorized
    );
    assert_eq!(
        lp.ctx.take_report(Some(&"00".repeat(32)), &good).await,
        ReportAnswer::Unauthorized
    );
    let mut altered = spec.clone();
    if let Some(thread) = &mut altered.report_back {
        thread.comment_id = Some(crate::event::CommentId("999".to_owned()));
    }
    let forged = body(&altered, planned.clone());
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &forged).await,
        ReportAnswer::Unauthorized
    );
    // Signed right, but naming another run's planfile.
    let other_key = StoredArtifact {
        key: own_planfile.key.replace(&spec.run_id(), "another-run"),
        ..own_planfile.clone()
    };
    let elsewhere = body(&spec, report(&spec, RunStatus::Planned, Some(other_key)));
    assert!(matches!(
        lp.ctx.take_report(Some(&credential), &elsewhere).await,
        ReportAnswer::Invalid(_)
    ));
    // Signed right, but its result names another run's planfile as its log (which the
    // function would presign), approves its own policies, or is another project's.
    let mut foreign = planned.clone();
    foreign.result.log = Some(StoredArtifact {
        key: own_planfile.key.replace(&spec.run_id(), "another-run"),
        ..own_planfile.clone()
    });
    let mut approved = planned.clone();
    approved.result.policy_approvals = vec!["owner".to_owned()];
    let mut other_project = planned.clone();
    other_project.result.dir = "elsewhere".to_owned();
    for altered in [foreign, approved, other_project] {
        assert!(matches!(
            lp.ctx.take_report(Some(&credential), &body(&spec, altered)).await,
            ReportAnswer::Invalid(_)
        ));
    }
    assert!(matches!(
        lp.ctx.take_report(Some(&credential), b"{not json").await,
        ReportAnswer::Invalid(_)
    ));
    unchanged(&lp).await;
    assert_eq!(
        lp.comments().await.len(),
        comments_before,
        "no comment was touched"
    );

    // The run's own report is recorded; a replay of it changes nothing more.
    assert_eq!(
        lp.ctx.take_report(Some(&credential), &good).await,
        ReportAnswer::Recorded
    );
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(record.status, PlanStatus::Planned);
    assert_eq!(record.planfile, Some(own_planfile));
    let failed = body(&spec, report(&spec, RunStatus::Failed, None));
    assert!(matches!(
        lp.ctx.take_report(Some(&credential), &failed).await,
        ReportAnswer::Conflict(_)
    ));
    let record = lp.ctx.store.list_plans(REPO, 1).await.unwrap().remove(0);
    assert_eq!(
        record.status,
        PlanStatus::Planned,
        "a replay changes nothing"
    );
}

#[tokio::test]
async fn a_deployment_whose_runners_do_not_report_back_takes_no_report() {
    let lp = Loop::new().await;
    let spec = crate::run::env::tests::plan_spec();
    let credential = lp.ctx.report_key.credential(&spec);
    let answer = lp
        .ctx
        .take_report(
            Some(secrecy::ExposeSecret::expose_secret(&credential)),
            &body(&spec, report(&spec, RunStatus::Planned, None)),
        )
        .await;
    assert_eq!(answer, ReportAnswer::NotHere);
}

/// A PR changing `a`, `b` and `c`, three projects in execution order groups 1, 2 and 3.
async fn host_has_a_grouped_pr(lp: &Loop) {
    lp.host_has_pr("open", false).await;
    let config = "version: 3\nprojects:\n  - dir: a\n    execution_order_group: 1\n  \
                  - dir: b\n    execution_order_group: 2\n  - dir: c\n    \
                  execution_order_group: 3\n";
    let main = "resource \"terraform_data\" \"a\" {}\n";
    lp.host_has_files(&[
        ("a/main.tf", main),
        ("b/main.tf", main),
        ("c/main.tf", main),
        ("atlantis.yaml", config),
    ])
    .await;
}

/// Reports run `env`'s plan as done, with no changes.
async fn report_done(lp: &Loop, env: &HashMap<String, String>) -> ReportAnswer {
    let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
    let mut done = report(&spec, RunStatus::NoChanges, None);
    done.result.outcome = Outcome::NoChanges {
        plan_text: "No changes.".to_owned(),
    };
    let credential = &env[crate::config::env_vars::RUN_REPORT_TOKEN];
    lp.ctx
        .take_report(Some(credential), &body(&spec, done))
        .await
}

fn dir_of(env: &HashMap<String, String>) -> &str {
    &env["LANDFALL_RUN_DIR"]
}

#[tokio::test]
async fn execution_order_groups_start_one_after_another_from_the_reports_without_waiting() {
    let (lp, _bin) = reporting_loop().await;
    host_has_a_grouped_pr(&lp).await;

    // The command returns with only the first group started: nothing waits for it.
    tokio::time::timeout(Duration::from_secs(20), lp.ctx.process(&opened()))
        .await
        .expect("the command returns at once")
        .unwrap();
    let envs = run_envs(&lp);
    assert_eq!(envs.iter().map(dir_of).collect::<Vec<_>>(), ["a"]);

    // Group 1's report starts group 2, once: a replay of it starts nothing more.
    assert_eq!(report_done(&lp, &envs[0]).await, ReportAnswer::Recorded);
    assert_eq!(run_envs(&lp).len(), 2);
    assert!(matches!(
        report_done(&lp, &envs[0]).await,
        ReportAnswer::Conflict(_)
    ));
    let envs = run_envs(&lp);
    assert_eq!(envs.len(), 2);
    let b = envs
        .iter()
        .find(|e| dir_of(e) == "b")
        .expect("group 2 started");
    assert_eq!(report_done(&lp, b).await, ReportAnswer::Recorded);
    let envs = run_envs(&lp);
    let c = envs
        .iter()
        .find(|e| dir_of(e) == "c")
        .expect("group 3 started");
    assert_eq!(report_done(&lp, c).await, ReportAnswer::Recorded);
    assert_eq!(run_envs(&lp).len(), 3, "nothing more");
    let records = lp.ctx.store.list_plans(REPO, 1).await.unwrap();
    assert!(
        records.iter().all(|r| r.status == PlanStatus::NoChanges),
        "{records:?}"
    );
}

#[test]
fn a_plan_report_answers_for_every_policy_set_its_run_was_given_and_no_other() {
    use crate::run::policy::{Namespaces, PolicyModule, PolicySet, PolicySetResult};
    let mut spec = crate::run::env::tests::plan_spec();
    spec.project.policy_sets = vec![PolicySet {
        name: "cost".to_owned(),
        modules: vec![PolicyModule {
            path: "cost.rego".to_owned(),
            text: "package main\ndeny contains \"too dear\" if { true }\n".to_owned(),
        }],
        namespaces: Namespaces::default(),
    }];
    let mut planned = report(&spec, RunStatus::Planned, None);
    assert!(super::super::reports::belongs_to(&spec, &planned).is_err());
    let given = spec.project.policy_sets[0].clone();
    planned.result.policies = vec![PolicySetResult {
        failures: vec!["too dear".to_owned()],
        ..PolicySetResult::of(&given)
    }];
    assert_eq!(super::super::reports::belongs_to(&spec, &planned), Ok(()));
    // ... with the rules it was given: a result for other rules (or none named, from a runner
    // that predates them) is not believed.
    let mut other_rules = given.clone();
    other_rules.modules[0].text.push_str("# changed\n");
    planned.result.policies[0].digest = other_rules.digest();
    assert!(super::super::reports::belongs_to(&spec, &planned).is_err());
    planned.result.policies[0].digest = String::new();
    assert!(super::super::reports::belongs_to(&spec, &planned).is_err());
    planned.result.policies[0].digest = given.digest();
    assert_eq!(super::super::reports::belongs_to(&spec, &planned), Ok(()));
    // ... in the packages it was given: a runner that reads `main` alone is not believed.
    spec.project.policy_sets[0].namespaces = Namespaces::All;
    assert!(super::super::reports::belongs_to(&spec, &planned).is_err());
    planned.result.policies[0].namespaces = Namespaces::All;
    assert_eq!(super::super::reports::belongs_to(&spec, &planned), Ok(()));
    // ... and for no other set.
    planned.result.policies.push(PolicySetResult {
        name: "unasked".to_owned(),
        failures: vec!["made up".to_owned()],
        ..PolicySetResult::of(&given)
    });
    assert!(super::super::reports::belongs_to(&spec, &planned).is_err());
}

/// `landfall plan --verbose`: the comment links the project's full log though nothing was cut;
/// without it, a comment that fits links nothing.
#[tokio::test]
async fn a_verbose_plan_links_the_full_log_in_its_comment() {
    for (text, linked) in [("landfall plan --verbose", true), ("landfall plan", false)] {
        let (lp, _bin) = reporting_loop().await;
        lp.host_has_a_terraform_pr("open", false).await;
        lp.host_knows("maintainer", "write").await;
        lp.ctx
            .process(&super::comment("maintainer", text, "plan-1"))
            .await
            .unwrap();
        let env = dispatched_env(&lp).await;
        let spec = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap();
        let credential = env[crate::config::env_vars::RUN_REPORT_TOKEN].clone();
        let (planfile, log) = crate::context::run_artifact_keys(&spec);
        let artifact = |key: String| StoredArtifact {
            key,
            sha256: "ab".repeat(32),
            size: 10,
        };
        let mut planned = report(&spec, RunStatus::Planned, Some(artifact(planfile)));
        planned.log = Some(artifact(log.clone()));
        planned.result.log.clone_from(&planned.log);
        assert_eq!(
            lp.ctx.take_report(Some(&credential), &body(&spec, planned)).await,
            ReportAnswer::Recorded
        );
        let edits = lp.sent("PATCH", "/comments").await;
        let last = edits.last().map(|e| e["body"].as_str().unwrap_or_default().to_owned());
        let last = last.unwrap_or_default();
        assert!(last.contains("terraform_data.forged"), "the plan is shown: {last}");
        assert_eq!(last.contains("Full logs:") && last.contains(&log), linked, "{text}: {last}");
    }
}
