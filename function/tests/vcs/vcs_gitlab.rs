//! The GitLab adapter against a wiremock GitLab asserting the documented v4 requests:
//! `PRIVATE-TOKEN`, URL-encoded project paths, `X-Next-Page` pagination, notes and statuses, a
//! `429 Retry-After` reply, and the tree read from one `archive.tar.gz` (a malformed one read
//! file by file instead). And who may do what: a user's role from
//! `members/all/:user_id` (looked up by username when the delivery gave no id), approvals only
//! while the head is the caller's, `undiverged` from `diverged_commits_count`, group
//! membership, and a fork's project from `source_project_id`.

use std::time::Duration;

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState,
    TreeFilter, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common::{TREE, tarball, tree_archived, tree_head, tree_wanted};

mod delete_branch;
mod drift;
mod merge;

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
async fn statuses(server: &MockServer, named: &[(&str, &str, &str)]) {
    let body: Vec<serde_json::Value> = named
        .iter()
        .map(|(name, status, author)| {
            json!({"name": name, "status": status, "sha": SHA, "author": {"username": author}})
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
        get(format!("{PROJECT}/merge_requests/12"))
            .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
                SHA,
                Some(7),
                7,
                status,
            )))
            .mount(&server)
            .await;
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
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(7),
            7,
            "ci_must_pass",
        )))
        .mount(&server)
        .await;
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

/// `members/all/:user_id` answering `access_level` for user `id`.
async fn member(server: &MockServer, of: &str, id: u64, access_level: u64) {
    get(format!("{of}/members/all/{id}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "username": format!("user{id}"), "state": "active",
            "access_level": access_level
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_users_access_is_their_role_in_the_project_inherited_included() {
    let server = MockServer::start().await;
    let levels = [
        (5, Access::None),
        (10, Access::Read),
        (15, Access::Read),
        (20, Access::Read),
        (30, Access::Write),
        (40, Access::Write),
        (50, Access::Admin),
    ];
    for (id, (level, _)) in (1u64..).zip(levels) {
        member(&server, PROJECT, id, level).await;
    }
    get(format!("{PROJECT}/members/all/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v4/users"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    for (id, (level, access)) in (1u64..).zip(levels) {
        let who = actor("someone", Some(&id.to_string()));
        assert_eq!(
            c.permission(&repo(), &who).await.unwrap(),
            access,
            "access_level {level}"
        );
    }
    let outsider = actor("outsider", Some("404"));
    assert_eq!(
        c.permission(&repo(), &outsider).await.unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_blocked_user_or_an_awaiting_membership_has_no_access() {
    let server = MockServer::start().await;
    for (id, extra) in [
        (1, json!({"state": "blocked"})),
        (
            2,
            json!({"state": "active", "membership_state": "awaiting"}),
        ),
    ] {
        let mut body = json!({"id": id, "username": "u", "access_level": 40});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        get(format!("{PROJECT}/members/all/{id}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for id in ["1", "2"] {
        assert_eq!(
            c.permission(&repo(), &actor("u", Some(id))).await.unwrap(),
            Access::None,
            "{id}"
        );
    }
}

#[tokio::test]
async fn an_actor_known_by_username_only_is_looked_up_once_by_exact_username() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(header("private-token", "glpat-test"))
        .and(query_param("username", "Dev.Lead"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 42, "username": "dev.lead", "state": "active"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("username", "ghost"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    member(&server, PROJECT, 42, 30).await;
    let c = client(&server);
    assert_eq!(
        c.permission(&repo(), &Actor::login("Dev.Lead"))
            .await
            .unwrap(),
        Access::Write
    );
    assert_eq!(
        c.permission(&repo(), &Actor::login("ghost")).await.unwrap(),
        Access::None,
        "a username GitLab does not know has no access, and no membership is asked"
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_number_is_refused_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_level": 50})))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    for id in ["../../groups/x", "", "12a"] {
        let result = c.permission(&repo(), &actor("dev", Some(id))).await;
        assert!(
            matches!(result, Err(VcsError::Config { .. })),
            "{id:?}: {result:?}"
        );
    }
}

const OLD: &str = "0000000000000000000000000000000000000000";

async fn approvals_of_mr_12(server: &MockServer, head: &str) {
    get(format!("{PROJECT}/merge_requests/12/approvals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "iid": 12, "approvals_required": 1, "approvals_left": 0,
            "approved": true,
            "approved_by": [
                {"user": {"id": 1, "username": "root", "name": "Administrator", "state": "active"}},
                {"user": {"id": 7, "username": "lead", "name": "Lead", "state": "active"}}
            ]
        })))
        .expect(1)
        .mount(server)
        .await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            head,
            Some(7),
            7,
            "mergeable",
        )))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn approvals_are_the_approvers_while_the_head_is_the_callers() {
    let server = MockServer::start().await;
    approvals_of_mr_12(&server, SHA).await;
    let approvals = client(&server)
        .approvals(&repo(), MR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(
        approvals,
        [actor("root", Some("1")), actor("lead", Some("7"))]
    );
}

#[tokio::test]
async fn approvals_for_a_head_that_is_no_longer_the_merge_requests_are_none() {
    let server = MockServer::start().await;
    approvals_of_mr_12(&server, SHA).await;
    let approvals = client(&server)
        .approvals(&repo(), MR, &CommitSha::new(OLD))
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
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
async fn undiverged_is_no_commit_of_the_target_branch_missing() {
    for (count, contains) in [(0, true), (3, false)] {
        let server = MockServer::start().await;
        get(format!("{PROJECT}/merge_requests/12"))
            .and(query_param("include_diverged_commits_count", "true"))
            .respond_with(ResponseTemplate::new(200).set_body_json({
                let mut mr = mr_json(SHA, Some(7), 7, "mergeable");
                mr["diverged_commits_count"] = json!(count);
                mr
            }))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(
            client(&server)
                .contains_base(&repo(), &pull_request())
                .await
                .unwrap(),
            contains,
            "{count}"
        );
    }
}

#[tokio::test]
async fn a_merge_request_without_a_diverged_count_fails_rather_than_passes_undiverged() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(7),
            7,
            "mergeable",
        )))
        .mount(&server)
        .await;
    let result = client(&server)
        .contains_base(&repo(), &pull_request())
        .await;
    assert!(matches!(result, Err(VcsError::Decode { .. })), "{result:?}");
}

#[tokio::test]
async fn group_membership_is_read_from_the_encoded_group_path() {
    const GROUP: &str = "/api/v4/groups/acme%2Fplatform";
    let server = MockServer::start().await;
    member(&server, GROUP, 42, 10).await;
    member(&server, GROUP, 43, 5).await;
    get(format!("{GROUP}/members/all/44"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(
        c.is_member("acme/platform", &actor("guest", Some("42")))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &actor("minimal", Some("43")))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &actor("outsider", Some("44")))
            .await
            .unwrap()
    );
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
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
}

/// GitLab's `archive.tar.gz`: everything under `<project>-<sha>-<sha>/`.
fn gitlab_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    tarball(&format!("infra-{SHA}-{SHA}"), SHA, files)
}

/// The archive endpoint, as GitLab documents it, answering `archive` once.
async fn serve_archive(server: &MockServer, archive: Vec<u8>) {
    get(format!("{PROJECT}/repository/archive.tar.gz"))
        .and(query_param("sha", SHA))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(archive),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// The recursive listing of [`TREE`], and each of its files readable on its own, read
/// `reads` times each.
async fn serve_listing_and_files(server: &MockServer, reads: u64) {
    let listing: Vec<_> = TREE
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob"}))
        .collect();
    get(format!("{PROJECT}/repository/tree"))
        .and(query_param("ref", SHA))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing))
        .expect(1)
        .mount(server)
        .await;
    for (file, bytes) in tree_wanted() {
        get(format!(
            "{PROJECT}/repository/files/{}/raw",
            file.replace('/', "%2F")
        ))
        .and(query_param("ref", SHA))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(*bytes))
        .expect(reads)
        .mount(server)
        .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("/repository/files/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

async fn read_head(c: &GitlabClient) -> HeadFiles {
    HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &["atlantis.yaml".into()])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_tree_is_read_from_one_archive_download_with_the_token() {
    let server = MockServer::start().await;
    serve_archive(&server, gitlab_archive(TREE)).await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&server)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), tree_archived());
}

#[tokio::test]
async fn planning_reads_the_head_from_the_archive_and_no_file_on_its_own() {
    let server = MockServer::start().await;
    serve_archive(&server, gitlab_archive(TREE)).await;
    serve_listing_and_files(&server, 0).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file() {
    let server = MockServer::start().await;
    let mut archive = gitlab_archive(TREE);
    archive.truncate(archive.len() / 2);
    serve_archive(&server, archive).await;
    serve_listing_and_files(&server, 1).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}

#[tokio::test]
async fn a_redirect_off_the_host_is_not_followed_with_the_private_token() {
    let (server, elsewhere) = (MockServer::start().await, MockServer::start().await);
    get(format!("{PROJECT}/repository/files/main.tf/raw"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/stolen", elsewhere.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let read = client(&server)
        .read_file(&repo(), &CommitSha::new(SHA), "main.tf")
        .await;
    assert!(
        matches!(read, Err(VcsError::Status { status: 302, .. })),
        "{read:?}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_archive_redirected_off_the_host_is_fetched_without_the_private_token() {
    let (server, storage) = (MockServer::start().await, MockServer::start().await);
    let signed = format!("{}/archive.tar.gz?signature=abc", storage.uri());
    get(format!("{PROJECT}/repository/archive.tar.gz"))
        .and(query_param("sha", SHA))
        .respond_with(ResponseTemplate::new(302).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/archive.tar.gz"))
        .and(query_param("signature", "abc"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(gitlab_archive(TREE)))
        .expect(1)
        .mount(&storage)
        .await;
    serve_listing_and_files(&server, 0).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
    for request in storage.received_requests().await.unwrap() {
        assert_eq!(request.headers.get("private-token"), None);
        assert_eq!(request.headers.get("authorization"), None);
    }
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
    get("/api/v4/groups/acme%2Fplatform/members/all/43".to_owned())
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
