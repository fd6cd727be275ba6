//! Drift checks in process, by their effect: a remediation whose plan would also apply a change
//! of the code is refused (nothing dispatched, the lock given back, the refusal recorded and
//! reported), and a drift check whose runner vanished is failed by the sweeper without any
//! pull-request comment.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{Loop, REPO, SHA};
use crate::run::{DriftFacts, Outcome, ProjectResult, ProjectSpec, RunCommand};
use crate::store::{
    DriftRecord, DriftState, Drifts as _, LockHolder, LockKey, PlanRecord, PlanStatus, Store as _,
    StoredArtifact, now_secs,
};

/// The host's issue and status endpoints, answering as GitHub does.
async fn host_takes_reports(lp: &Loop) {
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPO}/issues")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "number": 7, "html_url": format!("https://github.com/{REPO}/issues/7"),
            "state": "open", "title": "t", "body": "b"
        })))
        .mount(&lp.host)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPO}/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .mount(&lp.host)
        .await;
}

/// The drift check of `dir` holding its lock, ended as `status` with `facts`.
async fn ended_check(lp: &Loop, dir: &str, status: PlanStatus, facts: DriftFacts) -> PlanRecord {
    let key = LockKey::new(REPO, dir, "default");
    let holder = LockHolder {
        pr: 0,
        user: super::super::DRIFT_USER.to_owned(),
        head_sha: SHA.to_owned(),
        pull_url: String::new(),
    };
    let taken = lp
        .ctx
        .store
        .acquire_locks(&holder, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(taken, crate::store::LockOutcome::Acquired);
    let mut result = ProjectResult::new(
        &ProjectSpec::new(dir),
        RunCommand::Plan,
        Outcome::Planned {
            summary: "Plan: 0 to add, 2 to change, 0 to destroy.".to_owned(),
            plan_text: String::new(),
        },
    );
    result.drift = Some(facts);
    let record = PlanRecord {
        key,
        pr: 0,
        head_sha: SHA.to_owned(),
        run_id: "lf-drift-1".to_owned(),
        status,
        planfile: Some(StoredArtifact {
            key: "planfiles/drift.tfplan".to_owned(),
            sha256: "ab".repeat(32),
            size: 1,
        }),
        updated_at: now_secs(),
        trigger: Some("drift-remediate-1".to_owned()),
        result: Some(result),
        deadline: None,
    };
    let written = lp.ctx.store.put_plan(&record).await.unwrap();
    assert_eq!(written, crate::store::PlanOutcome::Written);
    record
}

/// The remediation of a `net` check that ended with `facts`, in a project Landfall never
/// applied: refused, nothing dispatched, the lock given back, the refusal recorded and reported
/// (the tracking issue, a failing status, no pull-request comment). Returns the refusal.
async fn refused_remediation(facts: DriftFacts) -> String {
    refused_remediation_under(facts, None, false).await
}

/// [`refused_remediation`] while the operator's apply lock `lock` is set, in a project Landfall
/// applied at the check's commit when `applied`.
async fn refused_remediation_under(
    facts: DriftFacts,
    lock: Option<crate::store::ApplyLock>,
    applied: bool,
) -> String {
    let lp = Loop::new().await;
    host_takes_reports(&lp).await;
    if let Some(lock) = &lock {
        let set = crate::store::ApplyLocks::set_apply_lock(&lp.ctx.store, lock).await;
        assert_eq!(set.unwrap(), None);
    }
    let record = ended_check(&lp, "net", PlanStatus::Planned, facts).await;
    if applied {
        // Applied at the checked commit, whose project calls a module from a Git repository.
        lp.host_has_files(&[(
            "net/main.tf",
            "module \"vpc\" {\n  source = \"git::https://example.com/modules.git//vpc?ref=main\"\n}\n",
        )])
        .await;
        let mut drift = crate::store::DriftRecord::new(record.key.clone());
        drift.applied_sha = Some(SHA.to_owned());
        assert!(lp.ctx.store.put_drift(&drift).await.unwrap());
    }

    let spec = crate::run::RunSpec {
        provider: crate::event::Provider::Github,
        repo: crate::event::RepoName::new(REPO),
        head_repo: crate::event::RepoName::new(REPO),
        pr: crate::run::DRIFT_PR,
        head_sha: crate::event::CommitSha::new(SHA),
        head_branch: "main".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("https://github.com/{REPO}.git"),
        user: super::super::DRIFT_USER.to_owned(),
        pull_author: String::new(),
        command: RunCommand::Plan,
        project: ProjectSpec::new("net"),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: "drift-remediate-1".to_owned(),
        apply: None,
        report_back: None,
    };
    lp.ctx.after_drift(&record, Some(&spec)).await.unwrap();

    assert!(lp.nothing_dispatched(), "no apply was dispatched");
    assert!(
        lp.ctx.store.get_lock(&record.key).await.unwrap().is_none(),
        "the check's lock is given back"
    );
    let drift = lp.ctx.store.get_drift(&record.key).await.unwrap().unwrap();
    assert_eq!(drift.state, DriftState::Drifted);
    let refused = drift.remediations.last().unwrap();
    assert_eq!(refused.outcome, "refused");
    let issues = lp.sent("POST", &format!("/repos/{REPO}/issues")).await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    let body = issues[0]["body"].as_str().unwrap();
    assert!(body.contains("**refused**"), "{body}");
    let statuses = lp.sent("POST", "/statuses/").await;
    assert_eq!(statuses.last().unwrap()["context"], "landfall/drift: net");
    assert_eq!(statuses.last().unwrap()["state"], "failure");
    assert!(lp.comments().await.is_empty());
    refused.detail.clone()
}

#[tokio::test]
async fn a_remediation_that_would_also_apply_a_code_change_is_refused() {
    // Refresh found `a` changed outside Terraform; `b` changes because the code did.
    let detail = refused_remediation(DriftFacts {
        changed: vec!["terraform_data.a".to_owned(), "terraform_data.b".to_owned()],
        drifted: vec!["terraform_data.a".to_owned()],
    })
    .await;
    assert!(detail.contains("`terraform_data.b`"), "{detail}");
    assert!(!detail.contains("`terraform_data.a`"), "{detail}");
}

#[tokio::test]
async fn a_remediation_changing_what_did_not_drift_is_refused_when_a_remote_module_may_have_moved() {
    // The project's files are the ones Landfall applied, yet `b` changes, and the project calls
    // a module from a Git branch: that module's code may have moved. Only drift is put back.
    let detail = refused_remediation_under(
        DriftFacts {
            changed: vec!["terraform_data.a".to_owned(), "terraform_data.b".to_owned()],
            drifted: vec!["terraform_data.a".to_owned()],
        },
        None,
        true,
    )
    .await;
    assert!(detail.contains("`terraform_data.b`"), "{detail}");
    assert!(detail.contains("modules from outside the repository"), "{detail}");
}

#[tokio::test]
async fn a_remediation_of_drifted_resources_only_is_refused_until_landfall_applied_the_project() {
    // Every resource the plan changes drifted, but a change merged and never applied (another
    // attribute of `a`, a replace, an output) would be applied with the drift's: only the
    // project's code being the one Landfall applied says it would not.
    let detail = refused_remediation(DriftFacts {
        changed: vec!["terraform_data.a".to_owned()],
        drifted: vec!["terraform_data.a".to_owned()],
    })
    .await;
    assert!(detail.contains("has not applied this project yet"), "{detail}");
}

#[tokio::test]
async fn no_remediation_applies_while_the_operators_apply_lock_is_set() {
    let lock = crate::store::ApplyLock {
        by: "ops".to_owned(),
        since: 1,
        reason: Some("freeze".to_owned()),
    };
    let drifted = vec!["terraform_data.a".to_owned()];
    let facts = DriftFacts {
        changed: drifted.clone(),
        drifted,
    };
    let detail = refused_remediation_under(facts, Some(lock), false).await;
    assert!(detail.contains("apply is locked") && detail.contains("freeze"), "{detail}");
}

#[tokio::test]
async fn a_lost_drift_check_is_failed_by_the_sweeper_without_a_comment() {
    let lp = Loop::new().await;
    host_takes_reports(&lp).await;
    let mut record = ended_check(&lp, "net", PlanStatus::Planning, DriftFacts::default()).await;
    record.deadline = Some(1);
    record.result = None;
    let written = lp.ctx.store.put_plan(&record).await.unwrap();
    assert_eq!(written, crate::store::PlanOutcome::Written);

    let swept = lp.ctx.sweep().await.unwrap();

    assert_eq!(swept.runs_failed, ["lf-drift-1"]);
    let drift = lp.ctx.store.get_drift(&record.key).await.unwrap().unwrap();
    assert_eq!(drift.state, DriftState::Failed);
    assert!(lp.ctx.store.get_lock(&record.key).await.unwrap().is_none());
    assert!(lp.comments().await.is_empty(), "no pull request 0 is commented");
    assert!(
        swept.prs_released.is_empty(),
        "the host is never asked about pull request 0"
    );
    let record_now = DriftRecord::new(record.key.clone());
    assert_ne!(drift, record_now);
}

#[tokio::test]
async fn a_sweep_does_not_start_a_check_again_while_it_runs() {
    let policy = crate::repo_config::Policy::parse(
        "repos.yaml",
        "repos:\n  - id: /.*/\ndrift:\n  repositories: [acme/infra]\n  projects: all\n  schedule: rate(1 minute)\n",
    )
    .unwrap();
    let mut lp = Loop::with_policy(Some(policy)).await;
    // As under Lambda: the runner reports back, so a sweep ends once its checks are started.
    let ctx = std::sync::Arc::get_mut(&mut lp.ctx).unwrap();
    ctx.report_back = true;
    ctx.report_url = Some("http://127.0.0.1:9".to_owned());
    lp.host_has_a_terraform_pr("open", false).await;
    host_takes_reports(&lp).await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "full_name": REPO, "default_branch": "main",
            "clone_url": format!("https://github.com/{REPO}.git")
        })))
        .mount(&lp.host)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/git/ref/heads/main")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ref": "refs/heads/main", "object": {"sha": SHA, "type": "commit"}
        })))
        .mount(&lp.host)
        .await;

    let first = lp.ctx.drift_sweep().await.unwrap();
    assert_eq!(first.checked, ["acme/infra ."], "{first:?}");
    let started = std::fs::read_dir(lp.runs.path()).unwrap().count();
    assert_eq!(started, 1);

    // The check has not reported: the next tick leaves it running.
    let second = lp.ctx.drift_sweep().await.unwrap();
    assert!(second.checked.is_empty(), "{second:?}");
    assert_eq!(second.running, 1);
    assert_eq!(std::fs::read_dir(lp.runs.path()).unwrap().count(), started);
}

#[tokio::test]
async fn a_drift_lock_with_no_check_running_is_given_back_after_its_grace() {
    let lp = Loop::new().await;
    // The function stopped between taking the lock and dispatching: no run, no record.
    let key = lp.hold_lock(0, "net").await;
    let since = lp.ctx.store.get_lock(&key).await.unwrap().unwrap().since;
    let grace = super::super::sweep::DRIFT_LOCK_GRACE_SECS;

    let early = lp.ctx.sweep_at(since + grace - 60).await.unwrap();
    assert!(early.drift_locks_released.is_empty());
    assert!(lp.ctx.store.get_lock(&key).await.unwrap().is_some());

    let late = lp.ctx.sweep_at(since + grace + 1).await.unwrap();
    assert_eq!(late.drift_locks_released, ["acme/infra net"]);
    assert!(lp.ctx.store.get_lock(&key).await.unwrap().is_none());
    assert!(lp.comments().await.is_empty(), "no pull request 0 is commented");
}

#[tokio::test]
async fn the_drift_issue_renders_addresses_and_project_names_as_code_only() {
    use crate::markdown::tests::{lines_outside_code, outside_inline_code};
    let lp = Loop::new().await;
    host_takes_reports(&lp).await;
    // A `for_each` key comes from data, which whoever controls that data chose.
    let payload = "x` @acme/everyone **Applied.** </code></summary><b>y</b>";
    let address = format!("terraform_data.a[\"{payload}\"]");
    let facts = DriftFacts {
        changed: vec![address.clone()],
        drifted: vec![address],
    };
    let record = ended_check(&lp, &format!("net{payload}"), PlanStatus::Planned, facts).await;
    lp.ctx.after_drift(&record, None).await.unwrap();

    let issues = lp.sent("POST", &format!("/repos/{REPO}/issues")).await;
    let body = issues[0]["body"].as_str().unwrap();
    assert!(body.contains("@acme/everyone"), "the payload is shown: {body}");
    for line in lines_outside_code(body) {
        // HTML's `<code>` holds text with `<` escaped: what it holds is code too.
        let mut line = line.to_owned();
        while let Some(start) = line.find("<code>")
            && let Some(end) = line[start..].find("</code>")
        {
            line.replace_range(start..start + end + "</code>".len(), "");
        }
        let text = outside_inline_code(&line);
        assert!(
            !text.contains("@acme") && !text.contains("**Applied") && !text.contains("<b>"),
            "rendered outside code: {line}\n{body}"
        );
    }
}
