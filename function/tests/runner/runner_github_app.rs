//! A deployment that acts as a GitHub App mints each run a token of its own: an installation
//! token for the run's repository alone, `contents: read` only (GitHub's `repositories` and
//! `permissions`), minted by the function with the App's key. The run's Secret holds that token,
//! its Job reads it from there, and neither carries anything of the App: not its key, not the
//! key's ARN, not its id. Against a wiremock GitHub.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use landfall_function::context::Context;
use landfall_function::dispatch::{
    AnyDispatcher, LocalDispatcher, RunnerSettings, job_secret, job_spec_with,
};
use landfall_function::event::Provider;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::run::{CommentThread, ProjectSpec, RunCommand, RunSpec};
use landfall_function::store::artifacts::LocalArtifacts;
use landfall_function::store::{AnyArtifacts, AnyStore, EmbeddedStore};
use landfall_function::vcs::{AnyVcs, RetryPolicy, github::GithubClient};
use secrecy::ExposeSecret as _;
use serde_json::json;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_KEY: &str = include_str!("../vcs_fixtures/github-app-test-key.pem");
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
        operands: Vec::new(),
        trigger: "app-plan-1".to_owned(),
        report_back: Some(CommentThread::new(
            landfall_function::event::CommentId("555".to_owned()),
            "Planning 1 project".to_owned(),
        )),
        apply: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_app_run_gets_a_read_only_token_of_its_own_and_nothing_of_the_app() {
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
    Mock::given(method("POST"))
        .and(path("/app/installations/42/access_tokens"))
        .and(body_json(
            json!({"repositories": ["infra"], "permissions": {"contents": "read"}}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"token": CLONE_TOKEN, "expires_at": expires_at})),
        )
        .expect(1)
        .mount(&github)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let store = AnyStore::Embedded(EmbeddedStore::open_dir(dir.path()).unwrap());
    let artifacts = AnyArtifacts::Local(LocalArtifacts::new(dir.path().join("artifacts")));
    let app = GithubClient::app(
        Some(&github.uri()),
        12345,
        APP_KEY.as_bytes(),
        None,
        RetryPolicy::default(),
    )
    .unwrap();
    let dispatcher = AnyDispatcher::Local(LocalDispatcher::new(
        "/bin/true",
        dir.path().join("runs"),
        Vec::new(),
        None,
    ));
    let ctx = Context::new(
        Provider::Github,
        Some(github.uri()),
        (store, artifacts),
        dispatcher,
        AnyVcs::Github(app),
        None,
    );
    let spec = spec(dir.path());

    let secrets = ctx.run_secrets(&spec).await.unwrap();

    let token = secrets
        .vcs_token
        .as_ref()
        .expect("the run has a token of its own");
    assert_eq!(token.expose_secret(), CLONE_TOKEN);
    let settings = RunnerSettings::new("runners", "runner:1", "landfall-runner");
    let job = serde_json::to_value(job_spec_with(&spec, &secrets, &settings)).unwrap();
    super::dispatch_kubernetes_secrets::assert_read_from_the_runs_secret(
        &job,
        "LANDFALL_VCS_TOKEN",
    );
    let secret = serde_json::to_value(job_secret(&spec, &secrets, &settings)).unwrap();
    assert_eq!(secret["stringData"]["LANDFALL_VCS_TOKEN"], CLONE_TOKEN);
    for text in [job.to_string(), secret.to_string()] {
        assert!(
            !text.contains("GITHUB_APP") && !text.contains("PRIVATE KEY"),
            "nothing of the App reaches the Job or its Secret: {text}"
        );
    }
    assert!(
        !job.to_string().contains(CLONE_TOKEN),
        "the token is not in the Job"
    );
}
