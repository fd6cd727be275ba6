//! A runner for a deployment that acts as a GitHub App has no token of its own: the real
//! `landfall-runner` binary finds the repository's installation, mints an installation token with
//! the App's key (a JWT, never the key itself, goes over the wire), and records its result on the
//! PR with that token. Against a wiremock GitHub; the run fails at its clone on purpose, so no
//! `terraform` is needed and the failure is what it reports.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use landfall_function::event::Provider;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::run::{CommentThread, ProjectSpec, RunCommand, RunSpec};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_KEY: &str = include_str!("../vcs_fixtures/github-app-test-key.pem");
const MINTED: &str = "ghs_runner-minted-token-3b1f";
const CLONE_TOKEN: &str = "ghs_clone-read-only-token-8c2d";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn spec(dir: &std::path::Path) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new("acme/infra"),
        head_repo: RepoName::new("acme/infra"),
        pr: PullRequestNumber(7),
        head_sha: CommitSha::new(SHA),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("file://{}", dir.join("no-such-repo").display()),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec {
            name: Some("app".to_owned()),
            timeout: Duration::from_mins(5),
            ..ProjectSpec::new("envs/app")
        },
        extra_args: Vec::new(),
        trigger: "app-plan-1".to_owned(),
        report_back: Some(CommentThread::new(
            landfall_function::event::CommentId("555".to_owned()),
            "Planning 1 project".to_owned(),
        )),
        apply: None,
    }
}

/// The App's two tokens: the clone's (this repository alone, contents read-only), then the
/// reporting client's own.
async fn mount_tokens(github: &MockServer, expires_at: &str) {
    let minting = |token: &str| {
        ResponseTemplate::new(201).set_body_json(json!({"token": token, "expires_at": expires_at}))
    };
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .and(wiremock::matchers::body_json(
            json!({"repositories": ["infra"], "permissions": {"contents": "read"}}),
        ))
        .respond_with(minting(CLONE_TOKEN))
        .expect(1)
        .mount(github)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .respond_with(minting(MINTED))
        .expect(1)
        .mount(github)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_app_runner_mints_its_installation_token_and_reports_with_it() {
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42, "app_id": 12345})))
        .expect(1)
        .mount(&github)
        .await;
    let expires = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_hours(1);
    let expires_at =
        aws_smithy_types::DateTime::from_secs(i64::try_from(expires.as_secs()).unwrap())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap();
    mount_tokens(&github, &expires_at).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/pulls/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open",
            "head": {"ref": "change", "sha": SHA},
            "base": {"ref": "main"},
            "user": {"login": "octocat"}
        })))
        .mount(&github)
        .await;
    // Whatever else the report makes (status, comment edit) succeeds; checked below.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 555})))
        .mount(&github)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landfall-runner"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LANDFALL_") {
            cmd.env_remove(name);
        }
    }
    let output = cmd
        .envs(spec.to_env())
        .env("LANDFALL_STORE", "embedded")
        .env("LANDFALL_DATA_DIR", dir.path().join("data"))
        .env("LANDFALL_WORK_DIR", dir.path().join("work"))
        .env("LANDFALL_VCS_URL", github.uri())
        .env("LANDFALL_GITHUB_APP_ID", "12345")
        .env("LANDFALL_GITHUB_APP_KEY", APP_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stdout.contains(MINTED)
            && !stderr.contains(MINTED)
            && !stdout.contains(CLONE_TOKEN)
            && !stderr.contains(CLONE_TOKEN)
            && !stderr.contains("PRIVATE KEY"),
        "a token or the key leaked into the runner's output:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}); stderr:\n{stderr}"));
    assert_eq!(report["status"], "failed", "{report}");

    let requests = github.received_requests().await.unwrap();
    let auth = |r: &wiremock::Request| {
        r.headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let mut reported = Vec::new();
    for r in &requests {
        let p = r.url.path();
        if p.starts_with("/app/") || p.ends_with("/installation") {
            // The App's own calls carry its JWT (three base64url parts), never the key.
            let jwt = auth(r)
                .strip_prefix("Bearer ")
                .unwrap_or_default()
                .to_owned();
            assert_eq!(jwt.split('.').count(), 3, "{p}: {}", auth(r));
        } else {
            assert!(
                auth(r).ends_with(MINTED),
                "{} {p} without the minted token",
                r.method
            );
            reported.push(format!("{} {p}", r.method));
        }
    }
    assert!(
        reported.contains(&format!("POST /repos/acme/infra/statuses/{SHA}")),
        "{reported:?}"
    );
    assert!(
        reported.contains(&"PATCH /repos/acme/infra/issues/comments/555".to_owned()),
        "{reported:?}"
    );
}
