//! The report-back path, from a runner's report to the PR comment edited: the HTTP request to
//! `/runs/report` through the handler (the same code under `serve` and Lambda), the credential
//! checked against the run's spec, the run in progress read, the plan record written, the
//! commit status set and the shared comment edited on a local fake GitHub, and the check for a
//! next execution order group. Embedded store; the host answers at once, so what is measured is
//! our own time plus loopback round trips. Prints p50 and p99 over `ROUNDS` reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use landfall_function::context::Context;
use landfall_function::dispatch::{AnyDispatcher, LocalDispatcher};
use landfall_function::event::{CommentId, CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::handler::WebhookHandler;
use landfall_function::orchestrate::{Orchestrator, Sink};
use landfall_function::run::report_auth::{REPORT_PATH, ReportEnvelope};
use landfall_function::run::{
    CommentThread, Outcome, ProjectResult, ProjectSpec, RunCommand, RunReport, RunSpec, RunStatus,
};
use landfall_function::store::artifacts::LocalArtifacts;
use landfall_function::store::{
    AnyArtifacts, AnyStore, EmbeddedStore, LockHolder, PlanRecord, PlanStatus, Store as _,
};
use landfall_function::vcs::{AnyVcs, RetryPolicy, VcsSettings};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROUNDS: u64 = 300;
const REPO: &str = "acme/infra";
const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn spec(round: u64) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new(REPO),
        head_repo: RepoName::new(REPO),
        pr: PullRequestNumber(1),
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: "https://github.com/acme/infra.git".to_owned(),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec::new("envs/app"),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: format!("github:bench-{round}"),
        apply: None,
        report_back: Some(CommentThread::new(
            CommentId("99".to_owned()),
            "Planning 1 project".to_owned(),
        )),
    }
}

fn report(spec: &RunSpec) -> RunReport {
    RunReport {
        run_id: spec.run_id(),
        repo: spec.repo.clone(),
        pr: spec.pr,
        head_sha: spec.head_sha.clone(),
        status: RunStatus::NoChanges,
        result: ProjectResult::new(
            &spec.project,
            spec.command,
            Outcome::NoChanges {
                plan_text: "No changes. Your infrastructure matches the configuration.".into(),
            },
        ),
        summary: None,
        planfile: None,
        log: None,
        comment: String::new(),
        timings: landfall_function::run::Timings::default(),
    }
}

async fn fake_github() -> MockServer {
    let host = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/repos/acme/infra/pulls/1$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 1, "state": "open", "merged": false,
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": REPO}},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": REPO}},
            "user": {"login": "octocat"}
        })))
        .mount(&host)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 99})))
        .mount(&host)
        .await;
    host
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let host = fake_github().await;
    let data = tempfile::tempdir().unwrap();
    let store = AnyStore::Embedded(EmbeddedStore::open_dir(data.path()).unwrap());
    let artifacts = AnyArtifacts::Local(LocalArtifacts::new(data.path().join("artifacts")));
    let vcs = AnyVcs::new(&VcsSettings {
        provider: Provider::Github,
        base_url: Some(host.uri()),
        token: SecretString::from("t0ken".to_owned()),
        retry: RetryPolicy::default(),
        status_name: landfall_function::vcs::DEFAULT_STATUS_NAME.to_owned(),
    })
    .unwrap();
    let dispatcher = AnyDispatcher::Local(LocalDispatcher::new(
        "/bin/true",
        data.path().join("runs"),
        Vec::new(),
        None,
    ));
    let mut ctx = Context::new(
        Provider::Github,
        Some(host.uri()),
        (store, artifacts),
        dispatcher,
        vcs,
        None,
    );
    ctx.report_back = true;
    ctx.report_url = Some("http://127.0.0.1:9".to_owned());
    let ctx = Arc::new(ctx);
    let key = spec(0).lock_key();
    let holder = LockHolder {
        pr: 1,
        user: "octocat".to_owned(),
        head_sha: SHA.to_owned(),
        pull_url: String::new(),
    };
    let _ = ctx
        .store
        .acquire_locks(&holder, std::slice::from_ref(&key))
        .await
        .unwrap();
    let handler = WebhookHandler::new(
        landfall_function::webhook::Verifier::new(
            Provider::Github,
            SecretString::from("s".to_owned()),
            false,
        ),
        landfall_function::allowlist::RepoAllowlist::allow_all(),
        25 * 1024 * 1024,
        Sink::with(Some(Orchestrator::new_shared(Arc::clone(&ctx)))),
    );

    let mut took = Vec::new();
    for round in 0..ROUNDS {
        let spec = spec(round);
        let _ = ctx
            .store
            .put_plan(&PlanRecord {
                key: key.clone(),
                pr: 1,
                head_sha: SHA.to_owned(),
                run_id: spec.run_id(),
                status: PlanStatus::Planning,
                planfile: None,
                updated_at: 0,
                trigger: Some(spec.trigger.clone()),
                result: None,
                deadline: None,
            })
            .await
            .unwrap();
        let credential = ctx.report_key.credential(&spec);
        let body = serde_json::to_vec(&ReportEnvelope::new(&spec, report(&spec))).unwrap();
        let request = http::Request::builder()
            .method("POST")
            .uri(REPORT_PATH)
            .header(
                "authorization",
                format!("Bearer {}", credential.expose_secret()),
            )
            .body(http_body_util::Full::new(Bytes::from(body)))
            .unwrap();
        let start = Instant::now();
        let response = handler.respond(request).await;
        took.push(start.elapsed());
        assert_eq!(response.status(), 202, "{}", response.body());
    }
    took.sort();
    println!(
        "report_back: {ROUNDS} reports, report → comment edited: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.99).as_secs_f64() * 1e3,
        took.last().unwrap().as_secs_f64() * 1e3,
    );
}
