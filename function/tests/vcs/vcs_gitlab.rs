//! The GitLab adapter against a wiremock GitLab asserting the documented v4 requests:
//! `PRIVATE-TOKEN`, URL-encoded project paths, `X-Next-Page` pagination, notes and statuses, a
//! `429 Retry-After` reply, and the tree read from one `archive.tar.gz` (a malformed one read
//! file by file instead). And who may do what: a user's role from
//! `members/all/:user_id` (looked up by username when the delivery gave no id), approvals only
//! while the head is the caller's, `undiverged` from `diverged_commits_count`, group
//! membership, and a fork's project from `source_project_id`.

use std::time::Duration;

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState,
    VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod access;
mod delete_branch;
mod drift;
mod merge;
mod tree;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const PROJECT: &str = "/api/v4/projects/acme%2Fplatform%2Finfra";
const MR: PullRequestNumber = PullRequestNumber(12);

fn client(server: &MockServer) -> GitlabClient {
    let policy = RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    };
    GitlabClient::new(
        Some(&format!("{}/api/v4", server.uri())),
        &SecretString::from("glpat-test"),
        policy,
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("acme/platform/infra")
}

fn get(p: String) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("private-token", "glpat-test"))
}

#[tokio::test]
async fn a_merge_request_is_read_from_its_encoded_project_path() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "iid": 12, "sha": SHA, "source_branch": "feature", "target_branch": "main",
            "author": {"username": "dev"}, "state": "opened",
            "detailed_merge_status": "mergeable", "has_conflicts": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
    assert_eq!((pr.head_sha.as_str(), pr.author.as_str()), (SHA, "dev"));
    assert_eq!((pr.state, pr.mergeable), (PrState::Open, Some(true)));
    assert_eq!(pr.head_repo, None, "no source project named: a fork");
}

/// A merge request as `GET .../merge_requests/12` answers, from `source` into `target`.
fn mr_json(sha: &str, source: Option<u64>, target: u64, status: &str) -> serde_json::Value {
    json!({
        "iid": 12, "sha": sha, "source_branch": "feature", "target_branch": "main",
        "author": {"username": "dev"}, "state": "opened",
        "detailed_merge_status": status, "has_conflicts": false,
        "source_project_id": source, "target_project_id": target
    })
}

#[tokio::test]
async fn a_merge_request_from_the_project_itself_names_it_as_the_head_repository() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(7),
            7,
            "ci_still_running",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/api/v4/projects/[0-9]+$"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    statuses(
        &server,
        &[
            ("landfall/plan: a", "success", BOT),
            ("build", "running", "dev"),
        ],
    )
    .await;
    let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
    assert_eq!(pr.head_repo, Some(repo()));
    assert!(!pr.is_fork(&repo()));
    assert_eq!(
        pr.mergeable,
        Some(false),
        "ci_still_running on someone else's pipeline is not mergeable"
    );
}

/// The token's own account, which writes Landfall's statuses.
const BOT: &str = "landfall-bot";

/// The head commit's statuses (name, state, author), as
/// `GET .../repository/commits/:sha/statuses?all=true` answers, and the token's own user.
/// Merge request 12, from this project, in `detailed_merge_status` `status`.
async fn merge_request_in(server: &MockServer, status: &str) {
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(SHA, Some(7), 7, status)))
        .mount(server)
        .await;
}

async fn statuses(server: &MockServer, named: &[(&str, &str, &str)]) {
    let body: Vec<serde_json::Value> = (1..)
        .zip(named)
        .map(|(id, (name, status, author))| {
            json!({"id": id, "name": name, "status": status, "sha": SHA, "author": {"username": author}})
        })
        .collect();
    get("/api/v4/user".to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"username": BOT})))
        .mount(server)
        .await;
    get(format!("{PROJECT}/repository/commits/{SHA}/statuses"))
        .and(query_param("all", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

/// Landfall's own pending or failed statuses do not block its own apply: with only those left
/// unfinished, `ci_must_pass` and `ci_still_running` are mergeable.
#[tokio::test]
async fn landfalls_own_statuses_do_not_make_a_merge_request_unmergeable() {
    for status in ["ci_still_running", "ci_must_pass"] {
        let server = MockServer::start().await;
        merge_request_in(&server, status).await;
        statuses(
            &server,
            &[
                ("landfall/apply: envs/prod", "running", BOT),
                ("landfall/plan: envs/dev", "failed", BOT),
                ("build", "success", "dev"),
            ],
        )
        .await;
        let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
        assert_eq!(pr.mergeable, Some(true), "{status}");
    }
}

/// A merge request's author can name a failing CI job `landfall/...`: only statuses Landfall's
/// own account wrote are left out.
#[tokio::test]
async fn a_ci_job_named_like_landfalls_status_still_blocks() {
    let server = MockServer::start().await;
    merge_request_in(&server, "ci_must_pass").await;
    statuses(
        &server,
        &[
            ("landfall/plan: envs/dev", "running", BOT),
            ("landfall/tests", "failed", "dev"),
        ],
    )
    .await;
    let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
    assert_eq!(pr.mergeable, Some(false));
}

/// A CI job retried to success leaves its older failure in `all=true`'s list: only the newest
/// status of a name counts, and with Landfall's own left, the merge request is mergeable.
#[tokio::test]
async fn a_retried_jobs_older_failure_does_not_count() {
    for (retried, mergeable) in [("success", true), ("failed", false)] {
        let server = MockServer::start().await;
        merge_request_in(&server, "ci_must_pass").await;
        let named = [
            ("build", "failed", "dev"),
            ("landfall/plan: envs/dev", "running", BOT),
            ("build", retried, "dev"),
        ];
        statuses(&server, &named).await;
        let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
        assert_eq!(pr.mergeable, Some(mergeable), "{retried}");
    }
}

/// Under another status name (`LANDFALL_VCS_STATUS_NAME=atlantis`), Landfall's own statuses are
/// the `atlantis/...` ones it wrote, and a `landfall/...` one is anybody's.
#[tokio::test]
async fn the_operators_status_name_says_which_statuses_are_landfalls_own() {
    for (unfinished, mergeable) in [
        ("atlantis/apply: envs/prod", true),
        ("landfall/apply: x", false),
    ] {
        let server = MockServer::start().await;
        merge_request_in(&server, "ci_still_running").await;
        statuses(&server, &[(unfinished, "running", BOT)]).await;
        let client = client(&server).with_status_name("atlantis");
        let pr = client.pull_request(&repo(), MR).await.unwrap();
        assert_eq!(pr.mergeable, Some(mergeable), "{unfinished}");
    }
}

#[tokio::test]
async fn a_fork_merge_request_names_the_fork_from_one_project_request() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(99),
            7,
            "checking",
        )))
        .mount(&server)
        .await;
    get("/api/v4/projects/99".to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 99, "path_with_namespace": "evil-outsider/infra"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
    assert_eq!(pr.head_repo, Some(RepoName::new("evil-outsider/infra")));
    assert!(pr.is_fork(&repo()));
    assert_eq!(pr.mergeable, None, "still checking");
}

#[tokio::test]
async fn a_fork_gitlab_no_longer_shows_is_a_fork_without_a_name() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(99),
            7,
            "mergeable",
        )))
        .mount(&server)
        .await;
    get("/api/v4/projects/99".to_owned())
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), MR).await.unwrap();
    assert_eq!(pr.head_repo, None);
    assert!(pr.is_fork(&repo()));
}

fn actor(login: &str, id: Option<&str>) -> Actor {
    Actor {
        login: login.to_owned(),
        id: id.map(str::to_owned),
    }
}

fn pull_request() -> PullRequest {
    PullRequest {
        number: MR,
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".into(),
        base_branch: "main".into(),
        author: "dev".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(repo()),
        merge_sha: None,
    }
}

#[tokio::test]
async fn diffs_follow_x_next_page_and_a_rate_limit_is_waited_out() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12/diffs"))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    get(format!("{PROJECT}/merge_requests/12/diffs"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-next-page", "2").set_body_json(json!([
            {"old_path": "a/main.tf", "new_path": "a/main.tf", "new_file": false, "renamed_file": false, "deleted_file": false},
            {"old_path": "b/old.tf", "new_path": "b/old.tf", "new_file": false, "renamed_file": false, "deleted_file": true}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{PROJECT}/merge_requests/12/diffs"))
        .and(query_param("page", "2"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-next-page", "").set_body_json(json!([
            {"old_path": "c/x.tf", "new_path": "d/x.tf", "new_file": false, "renamed_file": true, "deleted_file": false},
            {"old_path": "e/n.tf", "new_path": "e/n.tf", "new_file": true, "renamed_file": false, "deleted_file": false}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let count = get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"changes_count": "4"})))
        .expect(1)
        .mount_as_scoped(&server)
        .await;
    let files = client(&server).changed_files(&repo(), MR).await.unwrap();
    assert_eq!(
        files,
        [
            ChangedFile::modified("a/main.tf"),
            ChangedFile::new("b/old.tf", FileStatus::Removed),
            ChangedFile::renamed("c/x.tf", "d/x.tf"),
            ChangedFile::new("e/n.tf", FileStatus::Added),
        ]
    );
    drop(count);
}

#[tokio::test]
async fn diffs_cut_at_the_diff_limits_are_an_error_not_a_shorter_list() {
    for changes_count in ["2+", "3"] {
        let server = MockServer::start().await;
        get(format!("{PROJECT}/merge_requests/12/diffs"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"old_path": "a/main.tf", "new_path": "a/main.tf", "new_file": false, "renamed_file": false, "deleted_file": false},
                {"old_path": "b/main.tf", "new_path": "b/main.tf", "new_file": false, "renamed_file": false, "deleted_file": false}
            ])))
            .mount(&server)
            .await;
        get(format!("{PROJECT}/merge_requests/12"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"changes_count": changes_count})),
            )
            .mount(&server)
            .await;
        let err = client(&server)
            .changed_files(&repo(), MR)
            .await
            .expect_err(changes_count);
        assert!(
            matches!(&err, VcsError::Incomplete { message, .. } if message.contains(&format!("2 of the {changes_count} files"))),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn files_trees_notes_and_statuses_use_the_documented_endpoints() {
    let server = MockServer::start().await;
    get(format!(
        "{PROJECT}/repository/files/envs%2Fprod%2Fmain.tf/raw"
    ))
    .and(query_param("ref", SHA))
    .respond_with(ResponseTemplate::new(200).set_body_string("terraform {}"))
    .mount(&server)
    .await;
    get(format!("{PROJECT}/repository/tree"))
        .and(query_param("ref", SHA))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"path": "envs", "type": "tree"}, {"path": "envs/prod/main.tf", "type": "blob"}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/merge_requests/12/notes")))
        .and(header("private-token", "glpat-test"))
        .and(body_json(json!({"body": "Planning..."})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 301})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{PROJECT}/merge_requests/12/notes/301")))
        .and(body_json(json!({"body": "Planned"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 301})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PROJECT}/statuses/{SHA}")))
        .and(body_json(json!({
            "state": "failed", "name": "landfall/plan: envs/prod", "description": "Plan failed",
            "ref": "feature/vpc"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo(), &sha, "envs/prod/main.tf")
            .await
            .unwrap()
            .unwrap(),
        b"terraform {}"
    );
    assert_eq!(
        c.read_file(&repo(), &sha, "missing.tf").await.unwrap(),
        None
    );
    assert_eq!(
        c.list_files(&repo(), &sha).await.unwrap(),
        ["envs/prod/main.tf"]
    );
    let id = c.post_comment(&repo(), MR, "Planning...").await.unwrap();
    assert_eq!(id, CommentId("301".into()));
    c.edit_comment(&repo(), MR, &id, "Planned").await.unwrap();
    let status = CommitStatus {
        context: "landfall/plan: envs/prod".into(),
        state: StatusState::Failure,
        description: "Plan failed".into(),
        target_url: None,
        branch: Some("feature/vpc".into()),
        pull: None,
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
}

/// Every request the fake GitLab received, one line each: method, path, query, and whether the
/// `PRIVATE-TOKEN` was sent.
async fn request_log(server: &MockServer) -> String {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let token = if r.headers.get("private-token").is_some() {
                "PRIVATE-TOKEN"
            } else {
                "none"
            };
            let query = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{} {}{query} (auth: {token})", r.method, r.url.path())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The requests behind each decision, in order: a commenter known by username (one lookup,
/// then the project membership), one known by id (the membership only), approvals (then the
/// head), `undiverged`, a group, and a fork's merge request (then its source project).
#[tokio::test]
async fn the_authorization_requests_are_the_documented_ones() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("username", "dev"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 42, "username": "dev"}])),
        )
        .mount(&server)
        .await;
    for id in [42, 43] {
        get(format!("{PROJECT}/members/all/{id}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "username": "dev", "state": "active", "access_level": 30
            })))
            .mount(&server)
            .await;
    }
    get(format!("{PROJECT}/merge_requests/12/approvals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"approved_by": []})))
        .mount(&server)
        .await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json({
            let mut mr = mr_json(SHA, Some(99), 7, "mergeable");
            mr["diverged_commits_count"] = json!(0);
            mr
        }))
        .mount(&server)
        .await;
    get("/api/v4/groups/acme%2Fplatform/members/43".to_owned())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    get("/api/v4/projects/99".to_owned())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"path_with_namespace": "fork/infra"})),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.permission(&repo(), &Actor::login("dev")).await.unwrap(),
        Access::Write
    );
    assert_eq!(
        c.permission(&repo(), &actor("dev", Some("43")))
            .await
            .unwrap(),
        Access::Write
    );
    assert!(c.approvals(&repo(), MR, &sha).await.unwrap().is_empty());
    assert!(c.contains_base(&repo(), &pull_request()).await.unwrap());
    assert!(
        !c.is_member("acme/platform", &actor("dev", Some("43")))
            .await
            .unwrap()
    );
    let pr = c.pull_request(&repo(), MR).await.unwrap();
    assert_eq!(pr.head_repo, Some(RepoName::new("fork/infra")));
    insta::assert_snapshot!("authorization_requests", request_log(&server).await);
}
