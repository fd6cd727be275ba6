//! The Gitea adapter against a wiremock Gitea asserting the documented v1 requests
//! (`Authorization: token`), Link pagination, comments and statuses; who may do what (a user's
//! permission, approvals on the head, the merge base against the base branch, team
//! membership); and the tree read from one `archive/{sha}.tar.gz` (served, or redirected to
//! storage and fetched without the token; a malformed one read file by file instead).

use std::time::Duration;

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitea::GiteaClient;
use landfall_function::vcs::{
    Access, Actor, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, VcsClient,
    VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod delete_branch;
mod drift;
mod merge;
mod tree;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const PR: PullRequestNumber = PullRequestNumber(3);

fn client(server: &MockServer) -> GiteaClient {
    let policy = RetryPolicy {
        max_retries: 1,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    };
    GiteaClient::new(
        Some(&format!("{}/api/v1", server.uri())),
        &SecretString::from("gt0k"),
        policy,
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("acme/infra")
}

fn get(p: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", "token gt0k"))
}

#[tokio::test]
async fn a_pull_request_and_its_paginated_files_are_read() {
    let server = MockServer::start().await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "closed", "merged": true, "mergeable": false,
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": "x", "repo": {"full_name": "acme/infra"}},
            "user": {"login": "dev"}
        })))
        .mount(&server)
        .await;
    let next = format!(
        "{}/api/v1/repos/acme/infra/pulls/3/files?limit=50&page=2",
        server.uri()
    );
    get("/api/v1/repos/acme/infra/pulls/3/files")
        .and(query_param("limit", "50"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                .insert_header("x-total-count", "2")
                .set_body_json(json!([{"filename": "a/main.tf", "status": "changed"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    get("/api/v1/repos/acme/infra/pulls/3/files")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": "b/new.tf", "status": "renamed", "previous_filename": "b/old.tf"},
            {"filename": "c/gone.tf", "status": "deleted"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let pr = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.state, PrState::Merged);
    assert_eq!(pr.mergeable, Some(false));
    assert_eq!(pr.head_repo, Some(repo()));
    assert!(!pr.is_fork(&repo()));
    assert_eq!(
        c.changed_files(&repo(), PR).await.unwrap(),
        [
            ChangedFile::modified("a/main.tf"),
            ChangedFile::renamed("b/old.tf", "b/new.tf"),
            ChangedFile::new("c/gone.tf", FileStatus::Removed),
        ]
    );
}

#[tokio::test]
async fn raw_files_trees_comments_and_statuses_use_the_documented_endpoints() {
    let server = MockServer::start().await;
    get("/api/v1/repos/acme/infra/raw/landfall.yaml")
        .and(query_param("ref", SHA))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .mount(&server)
        .await;
    get(&format!("/api/v1/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "true"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sha": SHA, "truncated": true, "page": 1, "total_count": 2, "tree": [{"path": "a.tf", "type": "blob"}]
        })))
        .mount(&server)
        .await;
    get(&format!("/api/v1/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sha": SHA, "truncated": false, "page": 2, "total_count": 2, "tree": [{"path": "b/c.tf", "type": "blob"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/repos/acme/infra/issues/3/comments"))
        .and(header("authorization", "token gt0k"))
        .and(body_json(json!({"body": "hello"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/repos/acme/infra/issues/comments/77"))
        .and(body_json(json!({"body": "bye"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 77})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v1/repos/acme/infra/statuses/{SHA}")))
        .and(body_json(json!({
            "state": "pending", "context": "landfall/apply: a", "description": "Applying", "target_url": "https://ci/log"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo(), &sha, "landfall.yaml")
            .await
            .unwrap()
            .unwrap(),
        b"version: 3\n"
    );
    assert_eq!(
        c.list_files(&repo(), &sha).await.unwrap(),
        ["a.tf", "b/c.tf"]
    );
    let id = c.post_comment(&repo(), PR, "hello").await.unwrap();
    c.edit_comment(&repo(), PR, &id, "bye").await.unwrap();
    let status = CommitStatus {
        context: "landfall/apply: a".into(),
        state: StatusState::Pending,
        description: "Applying".into(),
        target_url: Some("https://ci/log".into()),
        branch: Some("feature".into()),
        pull: None,
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
}

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

/// `GET .../pulls/3` answers `first`, then `second`, once each.
async fn pull_read_twice(server: &MockServer, first: serde_json::Value, second: serde_json::Value) {
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_fork_pull_request_names_the_fork_and_a_deleted_fork_is_a_fork_too() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let pr = |head_repo: serde_json::Value| {
        json!({
            "number": 3, "state": "open", "mergeable": true,
            "head": {"ref": "main", "sha": SHA, "repo_id": 9, "repo": head_repo},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "evil-outsider"}
        })
    };
    pull_read_twice(
        &server,
        pr(json!({"full_name": "evil-outsider/infra", "fork": true})),
        pr(json!(null)),
    )
    .await;
    let c = client(&server);
    let fork = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(fork.head_repo, Some(RepoName::new("evil-outsider/infra")));
    assert!(fork.is_fork(&repo()));
    let deleted = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(deleted.head_repo, None);
    assert!(deleted.is_fork(&repo()));
}

fn permission_json(login: &str, permission: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "permission": permission, "role_name": permission, "user": {"login": login}
    }))
}

async fn permission_reply(server: &MockServer, login: &str, reply: ResponseTemplate) {
    get(&format!(
        "/api/v1/repos/acme/infra/collaborators/{login}/permission"
    ))
    .respond_with(reply)
    .expect(1)
    .mount(server)
    .await;
}

#[tokio::test]
async fn permission_maps_gitea_access_modes_and_an_unknown_user_has_none() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let cases = [
        ("founder", "owner", Access::Admin),
        ("lead", "admin", Access::Admin),
        ("dev", "write", Access::Write),
        ("viewer", "read", Access::Read),
        ("nobody", "none", Access::None),
        ("odd", "something-new", Access::None),
    ];
    for (login, permission, _) in cases {
        permission_reply(&server, login, permission_json(login, permission)).await;
    }
    permission_reply(
        &server,
        "ghost",
        ResponseTemplate::new(404)
            .set_body_json(json!({"message": "user does not exist [name: ghost]"})),
    )
    .await;
    let c = client(&server);
    for (login, _, expected) in cases {
        assert_eq!(
            c.permission(&repo(), &Actor::login(login)).await.unwrap(),
            expected,
            "{login}"
        );
    }
    assert_eq!(
        c.permission(&repo(), &Actor::login("ghost")).await.unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_token_that_may_not_read_others_permissions_is_an_error_that_says_so() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    permission_reply(
        &server,
        "dev",
        ResponseTemplate::new(403).set_body_json(json!({
            "message": "Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own"
        })),
    )
    .await;
    let err = client(&server)
        .permission(&repo(), &Actor::login("dev"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VcsError::Status { status: 403, message, .. } if message.contains("admin")),
        "{err:?}"
    );
}

const OLD: &str = "0123456789abcdef0123456789abcdef01234567";

fn review(
    id: u64,
    login: &str,
    state: &str,
    commit: &str,
    is_stale: bool,
    dismissed: bool,
) -> serde_json::Value {
    json!({
        "id": id, "user": {"login": login}, "team": null, "state": state, "body": "",
        "commit_id": commit, "stale": is_stale, "official": true, "dismissed": dismissed,
        "comments_count": 0
    })
}

#[tokio::test]
async fn approvals_are_each_reviewers_latest_decision_on_the_head_commit() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    // Gitea pages the reviews by number and says how many there are (`X-Total-Count`), with no
    // `Link` header: a full page of 50 is followed by the next.
    let mut first = vec![
        // alice approved an older commit (now stale), then the head: counts.
        review(1, "alice", "APPROVED", OLD, true, false),
        // bob approved an older commit only: stale, does not count.
        review(2, "bob", "APPROVED", OLD, true, false),
        // carol approved the head, then asked for changes (page 2): withdrawn.
        review(3, "carol", "APPROVED", SHA, false, false),
        // dave's approval of the head was dismissed.
        review(4, "dave", "APPROVED", SHA, false, true),
        review(5, "alice", "APPROVED", SHA, false, false),
        // erin approved the head, then commented and was asked again: counts.
        review(6, "erin", "APPROVED", SHA, false, false),
        review(7, "erin", "COMMENT", SHA, false, false),
        review(8, "erin", "REQUEST_REVIEW", "", false, false),
        // frank's review is pending.
        review(9, "frank", "PENDING", SHA, false, false),
        // gus approved the head, but Gitea says it is stale all the same.
        review(10, "gus", "APPROVED", SHA, true, false),
    ];
    // Comments fill the rest of the page.
    first.extend((100..140).map(|id| review(id, "zed", "COMMENT", SHA, false, false)));
    get("/api/v1/repos/acme/infra/pulls/3/reviews")
        .and(query_param("limit", "50"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "52")
                .set_body_json(first),
        )
        .expect(1)
        .mount(&server)
        .await;
    get("/api/v1/repos/acme/infra/pulls/3/reviews")
        .and(query_param("limit", "50"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "52")
                .set_body_json(json!([
                    review(11, "carol", "REQUEST_CHANGES", SHA, false, false),
                    // Not official (outside the branch's approvals whitelist): still an approval
                    // here; whether hanna may approve is the caller's decision.
                    {
                        "id": 12, "user": {"login": "hanna"}, "state": "APPROVED", "commit_id": SHA,
                        "stale": false, "official": false, "dismissed": false
                    },
                ])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let approvals = client(&server)
        .approvals(&repo(), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    let logins: Vec<_> = approvals.into_iter().map(|a| a.login).collect();
    assert_eq!(logins, ["alice", "erin", "hanna"]);
}

fn pull_request(base: &str) -> PullRequest {
    PullRequest {
        number: PR,
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".into(),
        base_branch: base.into(),
        author: "dev".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(repo()),
        merge_sha: None,
    }
}

fn pr_with_merge_base(head: &str, merge_base: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "number": 3, "state": "open", "mergeable": true, "merge_base": merge_base,
        "head": {"ref": "feature", "sha": head}, "base": {"ref": "release/2024", "sha": OLD},
        "user": {"login": "dev"}
    }))
}

async fn branch_head(server: &MockServer, branch: &str, head: &str) {
    get(&format!("/api/v1/repos/acme/infra/branches/{branch}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": branch, "commit": {"id": head, "message": "m"}, "protected": false
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn undiverged_is_a_merge_base_at_the_base_branchs_head() {
    const BASE_HEAD: &str = "fedcba9876543210fedcba9876543210fedcba98";
    // The head contains the base branch: its merge base is the base branch's head.
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(pr_with_merge_base(SHA, BASE_HEAD))
        .expect(1)
        .mount(&server)
        .await;
    branch_head(&server, "release/2024", BASE_HEAD).await;
    let c = client(&server);
    assert!(
        c.contains_base(&repo(), &pull_request("release/2024"))
            .await
            .unwrap()
    );

    // The base branch moved on: the merge base is an older commit.
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(pr_with_merge_base(SHA, OLD))
        .expect(1)
        .mount(&server)
        .await;
    branch_head(&server, "main", BASE_HEAD).await;
    let c = client(&server);
    assert!(
        !c.contains_base(&repo(), &pull_request("main"))
            .await
            .unwrap()
    );

    // The PR's head is no longer the one asked about: no answer about it, so false (and the
    // branch is not asked for).
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(pr_with_merge_base(OLD, BASE_HEAD))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(
        !c.contains_base(&repo(), &pull_request("main"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn team_membership_finds_the_team_by_its_exact_name() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let search = |q: &'static str| {
        get("/api/v1/orgs/acme/teams/search")
            .and(query_param("q", q))
            .and(query_param("include_desc", "false"))
            .and(query_param("limit", "50"))
    };
    search("platform")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "data": [
                {"id": 5, "name": "platform-admins", "permission": "admin"},
                {"id": 6, "name": "platform", "permission": "write"}
            ]
        })))
        .expect(2)
        .mount(&server)
        .await;
    search("ghosts")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "data": []})))
        .expect(1)
        .mount(&server)
        .await;
    get("/api/v1/teams/6/members/alice")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "login": "alice"})))
        .expect(1)
        .mount(&server)
        .await;
    get("/api/v1/teams/6/members/bob")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "not found"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(
        c.is_member("acme/platform", &Actor::login("alice"))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &Actor::login("bob"))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/ghosts", &Actor::login("alice"))
            .await
            .unwrap()
    );
    for team in ["platform", "acme/", "/platform", "acme/a/b"] {
        let err = c.is_member(team, &Actor::login("alice")).await.unwrap_err();
        assert!(matches!(err, VcsError::Config { .. }), "{team}: {err:?}");
    }
}

#[tokio::test]
async fn a_rate_limit_beyond_the_retries_is_reported() {
    let server = MockServer::start().await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server).pull_request(&repo(), PR).await.unwrap_err();
    assert!(matches!(err, VcsError::RateLimited { .. }), "{err:?}");
}

/// An AGit pull request (`git push origin HEAD:refs/for/main`, open to anyone who may read)
/// names the base repository as its head's, no branch and an empty label: a fork's. A branch of
/// the repository deleted after its merge names the pull request's ref too, but keeps its label:
/// the repository's own.
#[tokio::test]
async fn an_agit_pull_request_is_a_fork_and_a_deleted_branch_is_not() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let pr = |label: &str, state: &str, merged: bool| {
        json!({
            "number": 3, "state": state, "merged": merged, "mergeable": true,
            "head": {"label": label, "ref": "refs/pull/3/head", "sha": SHA, "repo_id": 1,
                     "repo": {"full_name": "acme/infra"}},
            "base": {"label": "main", "ref": "main", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "reader"}
        })
    };
    pull_read_twice(
        &server,
        pr("", "open", false),
        pr("feature", "closed", true),
    )
    .await;
    let c = client(&server);
    let agit = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(agit.head_repo, None);
    assert!(agit.is_fork(&repo()));
    let merged = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(merged.head_repo, Some(repo()));
    assert!(!merged.is_fork(&repo()));
}
