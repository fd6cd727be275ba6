//! The GitHub adapter against a wiremock GitHub that asserts the requests GitHub's REST API
//! documents: method, path, query, headers (auth, media type, API version) and JSON body,
//! including Link pagination, rate-limit replies, GitHub App installation tokens, and the
//! tree read from one tarball download (GitHub's 302 to a pre-signed URL on another host,
//! followed without the token) with planning's selection made from it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus, Request, select};
use landfall_function::repo_config::{EffectivePolicy, REPO_CONFIG_FILES, load};
use landfall_function::vcs::archive::ArchiveLimits;
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    Access, Actor, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, TreeFilter,
    VcsClient, VcsError,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{
    body_json, header, header_regex, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common::{Entry, github_tarball, gzip, tar};

mod checks;
mod delete_branch;
mod drift;
mod merge;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    }
}

fn client(server: &MockServer) -> GithubClient {
    GithubClient::personal_token(
        Some(&server.uri()),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("acme/infra")
}

const PR: PullRequestNumber = PullRequestNumber(7);

fn github_get(p: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("x-github-api-version", "2022-11-28"))
}

#[tokio::test]
async fn a_pull_request_is_read_with_head_base_author_state_and_mergeability() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open", "merged": false, "mergeable": true,
            "mergeable_state": "clean",
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": "0000000000000000000000000000000000000000",
                     "repo": {"full_name": "acme/infra"}},
            "user": {"login": "octocat"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.head_sha.as_str(), SHA);
    assert_eq!(
        (pr.head_branch.as_str(), pr.base_branch.as_str()),
        ("feature", "main")
    );
    assert_eq!(pr.author, "octocat");
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(pr.mergeable, Some(true));
    assert_eq!(pr.head_repo, Some(repo()));
    assert!(!pr.is_fork(&repo()));
}

#[tokio::test]
async fn a_fork_pull_request_names_the_fork_and_a_deleted_fork_is_a_fork_too() {
    let server = MockServer::start().await;
    let pr = |number: u64, head_repo: serde_json::Value| {
        json!({
            "number": number, "state": "open", "mergeable_state": "clean",
            "head": {"ref": "main", "sha": SHA, "repo": head_repo},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "evil-outsider"}
        })
    };
    github_get("/repos/acme/infra/pulls/8")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr(
            8,
            json!({"full_name": "evil-outsider/infra", "fork": true}),
        )))
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/pulls/9")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr(9, json!(null))))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let fork = c.pull_request(&repo(), PullRequestNumber(8)).await.unwrap();
    assert_eq!(fork.head_repo, Some(RepoName::new("evil-outsider/infra")));
    assert!(fork.is_fork(&repo()));
    let deleted = c.pull_request(&repo(), PullRequestNumber(9)).await.unwrap();
    assert_eq!(deleted.head_repo, None);
    assert!(deleted.is_fork(&repo()));
}

#[tokio::test]
async fn mergeable_is_read_from_the_merge_state_not_from_mergeable() {
    let server = MockServer::start().await;
    let cases: [(Option<&str>, Option<bool>); 10] = [
        (Some("clean"), Some(true)),
        (Some("has_hooks"), Some(true)),
        (Some("unstable"), Some(true)),
        (Some("dirty"), Some(false)),
        (Some("blocked"), Some(false)),
        (Some("behind"), Some(false)),
        (Some("draft"), Some(false)),
        (Some("unknown"), None),
        (Some("something-new"), None),
        (None, None),
    ];
    for (n, (state, _)) in (1u64..).zip(cases) {
        // `mergeable` says "no conflicts" in every case: it must not decide.
        let mut body = json!({
            "number": n, "state": "open", "mergeable": true,
            "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        });
        if let Some(state) = state {
            body["mergeable_state"] = json!(state);
        }
        github_get(&format!("/repos/acme/infra/pulls/{n}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for (n, (state, expected)) in (1u64..).zip(cases) {
        let pr = c.pull_request(&repo(), PullRequestNumber(n)).await.unwrap();
        assert_eq!(pr.mergeable, expected, "mergeable_state {state:?}");
    }
}

#[tokio::test]
async fn changed_files_follow_the_link_header_across_pages() {
    let server = MockServer::start().await;
    let next = format!(
        "{}/repositories/1/pulls/7/files?per_page=100&page=2",
        server.uri()
    );
    github_get("/repos/acme/infra/pulls/7/files")
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                )
                .set_body_json(json!([
                    {"filename": "envs/prod/main.tf", "status": "modified"},
                    {"filename": "envs/dev/old.tf", "status": "removed"}
                ])),
        )
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repositories/1/pulls/7/files")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": "envs/stg/main.tf", "status": "renamed", "previous_filename": "envs/staging/main.tf"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server).changed_files(&repo(), PR).await.unwrap();
    assert_eq!(
        files,
        [
            ChangedFile::modified("envs/prod/main.tf"),
            ChangedFile::new("envs/dev/old.tf", FileStatus::Removed),
            ChangedFile::renamed("envs/staging/main.tf", "envs/stg/main.tf"),
        ]
    );
}

#[tokio::test]
async fn files_are_read_raw_at_the_sha_and_a_missing_file_is_none() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/contents/atlantis.yaml")
        .and(query_param("ref", SHA))
        .and(header("accept", "application/vnd.github.raw+json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/contents/landfall.yaml")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo(), &sha, "atlantis.yaml")
            .await
            .unwrap()
            .unwrap(),
        b"version: 3\n"
    );
    assert_eq!(
        c.read_file(&repo(), &sha, "landfall.yaml").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_tree_is_listed_recursively_and_only_blobs_are_files() {
    let server = MockServer::start().await;
    github_get(&format!("/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sha": SHA, "truncated": false,
            "tree": [
                {"path": "envs", "type": "tree"},
                {"path": "envs/main.tf", "type": "blob"},
                {"path": "vendor/mod", "type": "commit"}
            ]
        })))
        .mount(&server)
        .await;
    let files = client(&server)
        .list_files(&repo(), &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(files, ["envs/main.tf"]);
}

#[tokio::test]
async fn a_comment_is_posted_then_edited_in_place() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"body": "Planning 2 projects..."})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 1001, "body": "Planning 2 projects..."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/infra/issues/comments/1001"))
        .and(body_json(json!({"body": "Plan: 1 to add"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1001})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let id = c
        .post_comment(&repo(), PR, "Planning 2 projects...")
        .await
        .unwrap();
    assert_eq!(id.0, "1001");
    c.edit_comment(&repo(), PR, &id, "Plan: 1 to add")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_commit_status_names_the_project_and_command() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/infra/statuses/{SHA}")))
        .and(body_json(json!({
            "state": "success",
            "context": "landfall/plan: envs/prod",
            "description": "Plan: 1 to add, 0 to change, 0 to destroy",
            "target_url": "https://github.com/acme/infra/pull/7#issuecomment-1001"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let status = CommitStatus {
        context: landfall_function::vcs::status_context("plan", "envs/prod"),
        state: StatusState::Success,
        description: "Plan: 1 to add, 0 to change, 0 to destroy".into(),
        target_url: Some("https://github.com/acme/infra/pull/7#issuecomment-1001".into()),
        branch: Some("feature".into()),
    };
    client(&server)
        .set_status(&repo(), &CommitSha::new(SHA), &status)
        .await
        .unwrap();
}

const OLD: &str = "0123456789abcdef0123456789abcdef01234567";

/// Anything the adapter asks for that no test mock names fails loudly (wiremock's own
/// default, 404, would read as "no access" or "not a member").
async fn refuse_unexpected(server: &MockServer) {
    Mock::given(path_regex(".*"))
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected request"))
        .with_priority(200)
        .expect(0)
        .mount(server)
        .await;
}

fn review(id: u64, login: Option<&str>, state: &str, commit: &str) -> serde_json::Value {
    json!({
        "id": id,
        "user": login.map(|l| json!({"login": l, "type": "User"})),
        "state": state,
        "commit_id": commit,
        "author_association": "COLLABORATOR",
        "body": ""
    })
}

#[tokio::test]
async fn approvals_are_each_reviewers_latest_decision_on_the_head_commit() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let next = format!(
        "{}/repositories/1/pulls/7/reviews?per_page=100&page=2",
        server.uri()
    );
    github_get("/repos/acme/infra/pulls/7/reviews")
        .and(header("accept", "application/vnd.github+json"))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                .set_body_json(json!([
                    // alice approved an older commit, then the head: counts.
                    review(1, Some("alice"), "APPROVED", OLD),
                    // bob approved an older commit only: does not count.
                    review(2, Some("bob"), "APPROVED", OLD),
                    // carol approved the head, then asked for changes (page 2): withdrawn.
                    review(3, Some("carol"), "APPROVED", SHA),
                    // dave's approval of the head was dismissed.
                    review(4, Some("dave"), "DISMISSED", SHA),
                    review(5, Some("alice"), "APPROVED", SHA),
                    // erin approved the head, then only commented: still counts.
                    review(6, Some("erin"), "APPROVED", SHA),
                    review(7, Some("erin"), "COMMENTED", SHA),
                    // frank's review is still pending; a deleted account counts for nobody.
                    review(8, Some("frank"), "PENDING", SHA),
                    review(9, None, "APPROVED", SHA),
                ])),
        )
        .expect(2)
        .mount(&server)
        .await;
    github_get("/repositories/1/pulls/7/reviews")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            review(10, Some("carol"), "CHANGES_REQUESTED", SHA),
            review(11, Some("gina"), "APPROVED", SHA),
        ])))
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let logins = |actors: Vec<Actor>| actors.into_iter().map(|a| a.login).collect::<Vec<_>>();
    assert_eq!(
        logins(
            c.approvals(&repo(), PR, &CommitSha::new(SHA))
                .await
                .unwrap()
        ),
        ["alice", "erin", "gina"]
    );
    // At the older commit, only bob's latest decision was given there and approves.
    assert_eq!(
        logins(
            c.approvals(&repo(), PR, &CommitSha::new(OLD))
                .await
                .unwrap()
        ),
        ["bob"]
    );
}

async fn permission_reply(server: &MockServer, login: &str, reply: ResponseTemplate) {
    github_get(&format!(
        "/repos/acme/infra/collaborators/{login}/permission"
    ))
    .and(header("accept", "application/vnd.github+json"))
    .respond_with(reply)
    .expect(1)
    .mount(server)
    .await;
}

fn permission_json(login: &str, permission: &str, role: Option<&str>) -> ResponseTemplate {
    let mut body = json!({"permission": permission, "user": {"login": login}});
    if let Some(role) = role {
        body["role_name"] = json!(role);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn permission_reads_the_role_name_and_a_non_collaborator_has_none() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    // (login, legacy permission, role_name, expected)
    let cases = [
        ("owner", "admin", Some("admin"), Access::Admin),
        ("lead", "write", Some("maintain"), Access::Write),
        ("dev", "write", Some("write"), Access::Write),
        ("triager", "read", Some("triage"), Access::Read),
        ("viewer", "read", Some("read"), Access::Read),
        ("nobody", "none", Some("none"), Access::None),
        // A custom role: its base role (the legacy `permission`) decides.
        ("auditor", "write", Some("security-auditor"), Access::Write),
        ("watcher", "read", Some("compliance-viewer"), Access::Read),
        // An older GitHub Enterprise Server without role_name: the legacy permission.
        ("legacy", "write", None, Access::Write),
    ];
    for (login, permission, role, _) in cases {
        permission_reply(&server, login, permission_json(login, permission, role)).await;
    }
    permission_reply(
        &server,
        "outsider",
        ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
        })),
    )
    .await;
    let c = client(&server);
    for (login, _, _, expected) in cases {
        assert_eq!(
            c.permission(&repo(), &Actor::login(login)).await.unwrap(),
            expected,
            "{login}"
        );
    }
    assert_eq!(
        c.permission(&repo(), &Actor::login("outsider"))
            .await
            .unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_refused_permission_lookup_is_an_error_not_an_answer() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    permission_reply(
        &server,
        "dev",
        ResponseTemplate::new(403).set_body_json(
            json!({"message": "Must have push access to view collaborator permission."}),
        ),
    )
    .await;
    let err = client(&server)
        .permission(&repo(), &Actor::login("dev"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 403, .. }),
        "{err:?}"
    );
}

fn pull_request(base: &str) -> PullRequest {
    PullRequest {
        number: PR,
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".into(),
        base_branch: base.into(),
        author: "octocat".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(repo()),
        merge_sha: None,
    }
}

#[tokio::test]
async fn undiverged_compares_the_base_branch_with_the_head_commit() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let compare = |base: &str, behind_by: u64, status: &str| {
        github_get(&format!("/repos/acme/infra/compare/{base}...{SHA}"))
            .and(header("accept", "application/vnd.github+json"))
            .and(query_param("per_page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": status, "ahead_by": 2, "behind_by": behind_by, "total_commits": 2,
                "commits": [], "files": []
            })))
            .expect(1)
    };
    // The branch is one URL-escaped path segment.
    compare("release%2F2024", 0, "ahead").mount(&server).await;
    compare("main", 3, "diverged").mount(&server).await;
    let c = client(&server);
    assert!(
        c.contains_base(&repo(), &pull_request("release/2024"))
            .await
            .unwrap()
    );
    assert!(
        !c.contains_base(&repo(), &pull_request("main"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn team_membership_counts_only_an_active_membership() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    for (login, state) in [("alice", "active"), ("bob", "pending")] {
        github_get(&format!(
            "/orgs/acme/teams/platform-admins/memberships/{login}"
        ))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("https://api.github.com/teams/1/memberships/{login}"),
            "role": "member",
            "state": state
        })))
        .expect(1)
        .mount(&server)
        .await;
    }
    github_get("/orgs/acme/teams/platform-admins/memberships/carol")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let c = &c;
    let member = |login: &'static str| async move {
        c.is_member("acme/platform-admins", &Actor::login(login))
            .await
    };
    assert!(member("alice").await.unwrap());
    assert!(!member("bob").await.unwrap(), "an invitation not accepted");
    assert!(!member("carol").await.unwrap());
    for team in ["platform-admins", "acme/", "/platform", "acme/a/b"] {
        let err = c.is_member(team, &Actor::login("alice")).await.unwrap_err();
        assert!(matches!(err, VcsError::Config { .. }), "{team}: {err:?}");
    }
}

#[tokio::test]
async fn a_github_app_checks_team_membership_with_the_organisations_installation() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/installation"))
        .and(header_regex("authorization", JWT))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42, "app_id": 12345, "account": {"login": "acme"}, "target_type": "Organization"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mint(42)
        .respond_with(access_token("ghs_acme", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams/platform/memberships/alice"))
        .and(header("authorization", "Bearer ghs_acme"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"url": "u", "role": "maintainer", "state": "active"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let c = app(&server, None);
    for _ in 0..2 {
        assert!(
            c.is_member("acme/platform", &Actor::login("alice"))
                .await
                .unwrap()
        );
    }
    assert_app_jwts(&server, 2).await;
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_and_the_refused_post_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&server)
        .await;
    let id = client(&server)
        .post_comment(&repo(), PR, "hi")
        .await
        .unwrap();
    assert_eq!(id.0, "5");
}

#[tokio::test]
async fn a_comment_post_that_failed_with_a_5xx_is_not_repeated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .post_comment(&repo(), PR, "hi")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 502, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_get_that_failed_with_a_5xx_is_retried() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "closed", "merged": true, "mergeable": null,
            "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.state, PrState::Merged);
    assert_eq!(pr.mergeable, None);
}

#[tokio::test]
async fn an_exhausted_primary_rate_limit_that_resets_later_fails_without_retrying() {
    let server = MockServer::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).pull_request(&repo(), PR).await.unwrap_err();
    assert!(
        matches!(err, VcsError::RateLimited { retry_after: Some(d), .. } if d.as_secs() > 3500),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_enterprise_base_url_keeps_its_api_v3_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghp_test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "open", "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = GithubClient::personal_token(
        Some(&format!("{}/api/v3", server.uri())),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap();
    c.pull_request(&repo(), PR).await.unwrap();
}

const APP_KEY: &[u8] = include_bytes!("../vcs_fixtures/github-app-test-key.pem");
const APP_PUBLIC_KEY: &[u8] = include_bytes!("../vcs_fixtures/github-app-test-key.pub.pem");
const JWT: &str = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$";

fn app(server: &MockServer, installation: Option<u64>) -> GithubClient {
    GithubClient::app(Some(&server.uri()), 12345, APP_KEY, installation, policy()).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `expires_at` as GitHub writes it (RFC 3339, UTC), `secs` from now.
fn expires_in(secs: u64) -> String {
    aws_smithy_types::DateTime::from_secs(i64::try_from(now() + secs).unwrap())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// GitHub's documented reply to `POST /app/installations/{id}/access_tokens`.
fn access_token(token: &str, expires_at: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "token": token,
        "expires_at": expires_at,
        "permissions": {"pull_requests": "write", "contents": "read", "statuses": "write"},
        "repository_selection": "selected"
    }))
}

fn mint(installation: u64) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{installation}/access_tokens"
        )))
        .and(header_regex("authorization", JWT))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}

/// Installation `id` answers two exchanges, each once, with these tokens and lifetimes (s).
async fn mint_in_turn(server: &MockServer, id: u64, tokens: [(&str, u64); 2]) {
    for (priority, (token, lifetime)) in (1u8..).zip(tokens) {
        mint(id)
            .respond_with(access_token(token, &expires_in(lifetime)))
            .up_to_n_times(1)
            .expect(1)
            .with_priority(priority)
            .mount(server)
            .await;
    }
}

fn pr_json() -> serde_json::Value {
    json!({"state": "open", "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}})
}

/// The DER prefix of an RSA-2048 `SubjectPublicKeyInfo` (rsaEncryption, NULL parameters, a bit
/// string of 270 bytes): what is left is the PKCS#1 `RSAPublicKey` that ring verifies with.
const RSA_2048_SPKI_PREFIX: [u8; 24] = [
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
];

/// Verifies an RS256 JWT against the App's public key (ring, independent of the function's
/// signing code) and returns its claims.
fn verified_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let pem = std::str::from_utf8(APP_PUBLIC_KEY).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = STANDARD.decode(body).unwrap();
    let pkcs1 = spki
        .strip_prefix(&RSA_2048_SPKI_PREFIX[..])
        .expect("the fixture is an RSA-2048 public key");
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let (header, claims) = signed.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256", "{header}");
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, pkcs1)
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("signed by the App's key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

/// Checks every JWT the App sent: RS256 signed by the App's key, `iss` the App id, `iat`
/// backdated for clock drift, `exp` at most 10 minutes after `iat` (GitHub's limit).
async fn assert_app_jwts(server: &MockServer, expected: usize) {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: u64,
        iat: u64,
        exp: u64,
    }
    let requests = server.received_requests().await.unwrap();
    let jwts: Vec<String> = requests
        .iter()
        .filter_map(|r| r.headers.get("authorization")?.to_str().ok())
        .filter_map(|h| h.strip_prefix("Bearer "))
        .filter(|t| t.matches('.').count() == 2)
        .map(str::to_owned)
        .collect();
    assert_eq!(jwts.len(), expected, "JWT-authenticated requests");
    for jwt in jwts {
        let claims: Claims = serde_json::from_value(verified_claims(&jwt)).unwrap();
        let now = now();
        assert_eq!(claims.iss, 12345);
        assert!(
            claims.iat + 30 <= now,
            "iat is backdated: {} vs {now}",
            claims.iat
        );
        assert!(claims.exp > now && claims.exp - claims.iat <= 600);
    }
}

#[tokio::test]
async fn a_github_app_mints_an_installation_token_and_refreshes_it_before_it_expires() {
    let server = MockServer::start().await;
    // The first token expires in two minutes, inside the refresh margin: the next call mints a
    // new one, which then lasts an hour and is reused.
    mint_in_turn(&server, 99, [("ghs_first", 120), ("ghs_second", 3600)]).await;
    for (token, times) in [("ghs_first", 1), ("ghs_second", 2)] {
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/pulls/7"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
            .expect(times)
            .mount(&server)
            .await;
    }
    let c = app(&server, Some(99));
    for _ in 0..3 {
        c.pull_request(&repo(), PR).await.unwrap();
    }
    assert_app_jwts(&server, 2).await;
}

#[tokio::test]
async fn without_an_installation_id_it_is_found_from_the_repository_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/installation"))
        .and(header_regex("authorization", JWT))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42, "app_id": 12345, "account": {"login": "acme"}, "target_type": "Organization"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mint(42)
        .respond_with(access_token("ghs_acme", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    mint(7)
        .respond_with(access_token("ghs_other", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    for (repo, token) in [("acme/infra", "ghs_acme"), ("other/infra", "ghs_other")] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repo}/pulls/7")))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
            .expect(2)
            .mount(&server)
            .await;
    }
    let c = app(&server, None);
    c.pull_request(&repo(), PR).await.unwrap();
    c.pull_request(&repo(), PR).await.unwrap();
    // A delivery's installation.id saves the lookup.
    let other = RepoName::new("other/infra");
    c.remember_installation(&other, 7);
    c.pull_request(&other, PR).await.unwrap();
    c.pull_request(&other, PR).await.unwrap();
    assert_app_jwts(&server, 3).await;
}

#[tokio::test]
async fn a_token_github_no_longer_accepts_is_replaced_once() {
    let server = MockServer::start().await;
    mint_in_turn(&server, 99, [("ghs_revoked", 3600), ("ghs_new", 3600)]).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghs_revoked"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghs_new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
        .expect(1)
        .mount(&server)
        .await;
    app(&server, Some(99))
        .pull_request(&repo(), PR)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_token_exchange_is_a_clear_error_and_the_runner_token_is_scoped_to_one_repo_read_only()
 {
    let server = MockServer::start().await;
    mint(99)
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "'Expiration time' claim ('exp') is too far in the future",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = app(&server, Some(99))
        .pull_request(&repo(), PR)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VcsError::Status { status: 401, message, .. } if message.contains("too far")),
        "{err:?}"
    );
    assert!(err.to_string().contains("installation 99"), "{err}");

    let server = MockServer::start().await;
    mint(5)
        .respond_with(access_token("ghs_runner", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    let c = app(&server, Some(5));
    let hour = Duration::from_mins(50);
    let token = c.token_for(&repo(), hour).await.unwrap();
    assert_eq!(token.expose_secret(), "ghs_runner");
    // The runner's token reaches this repository alone, and can only read its contents.
    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let name = repo().as_str().rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"repositories": [name], "permissions": {"contents": "read"}})
    );
}

#[tokio::test]
async fn an_app_key_that_is_not_an_rsa_pem_is_refused_and_one_line_pems_are_accepted() {
    let err = GithubClient::app(None, 1, b"not a key", Some(1), policy()).unwrap_err();
    assert!(
        err.to_string().contains("not an RSA private key in PEM"),
        "{err}"
    );
    let one_line = String::from_utf8(APP_KEY.to_vec())
        .unwrap()
        .trim()
        .replace('\n', "\\n");
    GithubClient::app(None, 1, one_line.as_bytes(), Some(1), policy()).unwrap();
}

#[tokio::test]
async fn a_tree_github_truncates_is_walked_folder_by_folder() {
    let server = MockServer::start().await;
    // The root and `envs` are too big to list recursively; `modules` is not.
    let trees = [
        (
            SHA,
            true,
            json!({"sha": SHA, "truncated": true, "tree": [{"path": "partial.tf", "type": "blob", "sha": "x"}]}),
        ),
        (
            SHA,
            false,
            json!({"sha": SHA, "truncated": false, "tree": [
                {"path": "README.md", "type": "blob", "sha": "b1"},
                {"path": "envs", "type": "tree", "sha": "t-envs"},
                {"path": "modules", "type": "tree", "sha": "t-mods"},
                {"path": "vendor", "type": "commit", "sha": "c1"}
            ]}),
        ),
        (
            "t-envs",
            true,
            json!({"sha": "t-envs", "truncated": true, "tree": []}),
        ),
        (
            "t-envs",
            false,
            json!({"sha": "t-envs", "truncated": false, "tree": [
                {"path": "prod", "type": "tree", "sha": "t-prod"},
                {"path": "versions.tf", "type": "blob", "sha": "b2"}
            ]}),
        ),
        (
            "t-prod",
            true,
            json!({"sha": "t-prod", "truncated": false, "tree": [
                {"path": "main.tf", "type": "blob", "sha": "b3"},
                {"path": "net", "type": "tree", "sha": "t-net"},
                {"path": "net/vpc.tf", "type": "blob", "sha": "b4"}
            ]}),
        ),
        (
            "t-mods",
            true,
            json!({"sha": "t-mods", "truncated": false, "tree": [
                {"path": "vpc/main.tf", "type": "blob", "sha": "b5"}
            ]}),
        ),
    ];
    for (sha, recursive, body) in trees {
        let m = github_get(&format!("/repos/acme/infra/git/trees/{sha}"));
        let m = if recursive {
            m.and(query_param("recursive", "1"))
        } else {
            m.and(query_param_is_missing("recursive"))
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let files = client(&server)
        .list_files(&repo(), &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(
        files,
        [
            "README.md",
            "envs/prod/main.tf",
            "envs/prod/net/vpc.tf",
            "envs/versions.tf",
            "modules/vpc/main.tf"
        ]
    );
}

const CODELOAD_TOKEN: &str = "AABCD3EFGHIJKLMNOPQRSTUVWXYZ";

/// A monorepo at [`SHA`]: `envs/dev` and `envs/prod` use `modules/net`, `envs/edge` nothing
/// local; `envs/prod/providers.tf` is a symlink, which archives hold as a link only.
const MONOREPO: &[(&str, &str)] = &[
    ("README.md", "# infra\n"),
    (
        "envs/dev/main.tf",
        "module \"net\" {\n  source = \"../../modules/net\"\n}\n",
    ),
    (
        "envs/edge/main.tf",
        "resource \"terraform_data\" \"edge\" {}\n",
    ),
    (
        "envs/prod/main.tf",
        "module \"net\" {\n  source = \"../../modules/net\"\n}\n",
    ),
    ("envs/prod/providers.tf", "provider \"aws\" {}\n"),
    ("modules/net/main.tf", "variable \"cidr\" {}\n"),
];
const SYMLINK: &str = "envs/prod/providers.tf";

/// The monorepo as GitHub's tarball holds it.
fn monorepo_tarball() -> Vec<u8> {
    let top = "acme-infra-ec26c3e";
    let paths: Vec<(String, Entry<'_>)> = MONOREPO
        .iter()
        .map(|(p, text)| {
            let entry = if *p == SYMLINK {
                Entry::Symlink("../../shared/providers.tf")
            } else {
                Entry::File(text.as_bytes())
            };
            (format!("{top}/{p}"), entry)
        })
        .collect();
    let entries: Vec<(&str, Entry<'_>)> = paths.iter().map(|(p, e)| (p.as_str(), *e)).collect();
    gzip(&tar(SHA, &entries))
}

/// The recursive tree listing of the monorepo (a symlink is a blob there).
async fn serve_listing(server: &MockServer) {
    let tree: Vec<_> = MONOREPO
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob", "mode": if *p == SYMLINK { "120000" } else { "100644" }}))
        .collect();
    github_get(&format!("/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": tree})),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// The monorepo's Terraform files, each readable on its own (the contents API follows a
/// symlink); nothing else is.
async fn serve_contents(server: &MockServer) {
    for (file, text) in MONOREPO.iter().filter(|(p, _)| is_terraform_file(p)) {
        github_get(&format!("/repos/acme/infra/contents/{file}"))
            .and(query_param("ref", SHA))
            .and(header("accept", "application/vnd.github.raw+json"))
            .respond_with(ResponseTemplate::new(200).set_body_string(*text))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("^/repos/acme/infra/contents/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

/// The paths read on their own through the contents API, sorted.
async fn contents_reads(server: &MockServer) -> Vec<String> {
    let mut reads: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .path()
                .strip_prefix("/repos/acme/infra/contents/")
                .map(str::to_owned)
        })
        .collect();
    reads.sort();
    reads
}

/// GitHub's tarball endpoint (under `api_prefix`): a 302 to a pre-signed URL on `codeload`
/// (a second host standing in for codeload.github.com), which serves `archive`.
async fn serve_tarball(
    api: &MockServer,
    api_prefix: &str,
    codeload: &MockServer,
    archive: Vec<u8>,
) {
    let signed = format!(
        "{}/acme/infra/legacy.tar.gz/{SHA}?token={CODELOAD_TOKEN}",
        codeload.uri()
    );
    github_get(&format!("{api_prefix}/repos/acme/infra/tarball/{SHA}"))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/acme/infra/legacy.tar.gz/{SHA}")))
        .and(query_param("token", CODELOAD_TOKEN))
        .and(header("accept", "*/*"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-gzip")
                .set_body_bytes(archive),
        )
        .expect(1)
        .mount(codeload)
        .await;
}

/// No request to the download host carried a credential.
async fn assert_no_credentials(host: &MockServer) {
    let requests = host.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers.get("authorization"),
            None,
            "{}",
            request.url
        );
    }
}

/// What planning reads at the head, and the projects it selects when `modules/net` changes.
async fn plan_from(c: &GithubClient) -> (HeadFiles, Vec<String>) {
    let config_files: Vec<String> = REPO_CONFIG_FILES.iter().map(|f| (*f).to_owned()).collect();
    let head = HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &config_files)
        .await
        .unwrap();
    let policy = EffectivePolicy::default();
    let config = load(
        &policy,
        head.config.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
    )
    .unwrap();
    let changed = [ChangedFile::modified("modules/net/main.tf")];
    let selection = select(
        &config,
        &policy,
        &head.tree(),
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    let dirs = selection
        .projects
        .into_iter()
        .map(|s| s.project.dir)
        .collect();
    (head, dirs)
}

/// Every Terraform file of the monorepo with its text, as planning must see it.
fn monorepo_terraform() -> Vec<(String, String)> {
    MONOREPO
        .iter()
        .filter(|(p, _)| is_terraform_file(p))
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

/// With `archive` served under `limits`, planning reads every Terraform file on its own and
/// sees and selects exactly what the tree holds.
async fn assert_archive_not_used(archive: Vec<u8>, limits: ArchiveLimits) {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    serve_listing(&api).await;
    serve_tarball(&api, "", &codeload, archive).await;
    serve_contents(&api).await;
    let (head, dirs) = plan_from(&client(&api).with_archive_limits(limits)).await;
    assert_eq!(head.terraform, monorepo_terraform());
    assert_eq!(dirs, ["envs/dev", "envs/prod"]);
    let every_file: Vec<String> = monorepo_terraform().into_iter().map(|(p, _)| p).collect();
    assert_eq!(contents_reads(&api).await, every_file);
}

#[tokio::test]
async fn the_tree_is_read_from_one_tarball_and_the_redirect_is_followed_without_the_token() {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    let archive = github_tarball(
        "acme/infra",
        SHA,
        &[
            ("atlantis.yaml", b"version: 3\n"),
            ("README.md", b"# infra\n"),
            ("envs/prod/main.tf", b"a = 1\n"),
        ],
    );
    serve_tarball(&api, "", &codeload, archive).await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&api)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        [
            ("atlantis.yaml".to_owned(), b"version: 3\n".to_vec()),
            ("envs/prod/main.tf".to_owned(), b"a = 1\n".to_vec()),
        ]
    );
    assert_no_credentials(&codeload).await;
}

#[tokio::test]
async fn an_enterprise_tarball_redirect_on_the_same_host_is_followed_without_the_token() {
    let api = MockServer::start().await;
    let archive = github_tarball("acme/infra", SHA, &[("main.tf", b"a = 1\n")]);
    serve_tarball(&api, "/api/v3", &api, archive).await;
    let c = GithubClient::personal_token(
        Some(&format!("{}/api/v3", api.uri())),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap();
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p));
    let files = c
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.keys().collect::<Vec<_>>(), ["main.tf"]);
    let download = api.received_requests().await.unwrap();
    let download = download
        .iter()
        .find(|r| r.url.path().starts_with("/acme/"))
        .unwrap();
    assert_eq!(download.headers.get("authorization"), None);
}

#[tokio::test]
async fn planning_selects_from_the_archive_and_reads_on_their_own_only_the_files_it_leaves_out() {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    serve_listing(&api).await;
    serve_tarball(&api, "", &codeload, monorepo_tarball()).await;
    serve_contents(&api).await;
    let (head, dirs) = plan_from(&client(&api)).await;
    assert_eq!(head.config, None);
    assert_eq!(head.terraform, monorepo_terraform());
    assert_eq!(dirs, ["envs/dev", "envs/prod"]);
    // The symlink only: archives hold it as a link, the contents API follows it.
    assert_eq!(contents_reads(&api).await, [SYMLINK]);
    assert_no_credentials(&codeload).await;
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file_and_selects_the_same() {
    let mut archive = monorepo_tarball();
    archive.truncate(archive.len() / 2);
    assert_archive_not_used(archive, ArchiveLimits::default()).await;
    assert_archive_not_used(
        b"<html>not an archive</html>".to_vec(),
        ArchiveLimits::default(),
    )
    .await;
}

#[tokio::test]
async fn an_archive_with_a_path_out_of_the_tree_is_not_used() {
    // Were it used, `envs/edge` would seem to use `modules/net` and be planned.
    let archive = gzip(&tar(
        SHA,
        &[
            ("acme-infra-ec26c3e/", Entry::Dir),
            (
                "acme-infra-ec26c3e/envs/../envs/edge/main.tf",
                Entry::File(b"module \"net\" {\n  source = \"../../modules/net\"\n}\n"),
            ),
        ],
    ));
    assert_archive_not_used(archive, ArchiveLimits::default()).await;
}

#[tokio::test]
async fn an_archive_over_its_size_limit_is_not_used() {
    let limits = ArchiveLimits {
        kept: 64,
        ..ArchiveLimits::default()
    };
    assert_archive_not_used(monorepo_tarball(), limits).await;
}
