//! What authorizing a comment command costs us, beside the host's own answer:
//!
//! - `decide`: parse the comment, resolve the operator's policy for the repository (100 `repos`
//!   entries, regex ids, later ones overriding) and decide;
//! - `permission_request`: the one host request a comment command costs, the GitHub adapter's
//!   `permission` against a local fake answering at once (loopback HTTP: building the request,
//!   the round trip, reading the answer);
//! - `autoplan_decide`: autoplan of a non-fork PR, which asks the host nothing.
//!
//! The target: at most one host request (the tests count them) and at most 2 ms of our
//! own time beside it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use landfall_function::authz::{self, Facts, Request};
use landfall_function::command::{Action, ParsedComment, parse_comment};
use landfall_function::event::RepoName;
use landfall_function::repo_config::Policy;
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::{Access, Actor, RetryPolicy, VcsClient};
use secrecy::SecretString;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn policy() -> Policy {
    use std::fmt::Write as _;
    let mut text = String::from("repos:\n");
    for i in 0..99 {
        let _ = write!(
            text,
            "- id: /^github.com/team{i}/.*$/\n  apply_requirements: [approved]\n  permissions:\n    apply: {{access: admin, teams: [team{i}/ops]}}\n"
        );
    }
    text.push_str("- id: github.com/acme/infra\n  allow_fork_prs: true\n  permissions:\n    plan: {access: write, pr_author: true, users: [bot]}\n");
    Policy::parse("repos.yaml", &text).unwrap()
}

fn bench(c: &mut Criterion) {
    let policy = policy();
    c.bench_function("authz/decide", |b| {
        b.iter(|| {
            let Some(ParsedComment::Command(command)) = parse_comment(black_box(
                "landfall plan -d envs/app -- -target=terraform_data.a",
            )) else {
                unreachable!()
            };
            let rules = policy
                .resolve("github.com", black_box("acme/infra"), "main")
                .permissions;
            let request = Request {
                action: command.action,
                automatic: false,
                fork: false,
                sender: "octocat",
                is_author: false,
                extra_args: &command.extra_args,
            };
            authz::decide(&request, &rules, &Facts::access(Access::Write))
        });
    });
    c.bench_function("authz/autoplan_decide", |b| {
        b.iter(|| {
            let rules = policy
                .resolve("github.com", black_box("acme/infra"), "main")
                .permissions;
            let request = Request {
                action: Action::Plan,
                automatic: true,
                fork: false,
                sender: "octocat",
                is_author: true,
                extra_args: &[],
            };
            authz::decide_without_lookup(&request, &rules)
        });
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/collaborators/octocat/permission"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "permission": "write", "role_name": "write", "user": {"login": "octocat"}
            })))
            .mount(&server),
    );
    // The client is built inside the runtime its connections belong to.
    let _guard = runtime.enter();
    let client = GithubClient::personal_token(
        Some(&server.uri()),
        SecretString::from("bench-token"),
        RetryPolicy::default(),
    )
    .unwrap();
    let repo = RepoName::new("acme/infra");
    let user = Actor::login("octocat");
    c.bench_function("authz/permission_request", |b| {
        b.iter(|| {
            runtime.block_on(async {
                assert_eq!(
                    client.permission(&repo, &user).await.unwrap(),
                    Access::Write
                );
            });
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
