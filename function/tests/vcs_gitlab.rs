//! The GitLab adapter against a wiremock GitLab asserting the documented v4 requests:
//! `PRIVATE-TOKEN`, URL-encoded project paths, `X-Next-Page` pagination, notes, statuses and
//! approvals, a `429 Retry-After` reply, and the tree read from one `archive.tar.gz` (a
//! malformed one read file by file instead).

use std::time::Duration;

mod archive_common;

use archive_common::{TREE, tarball, tree_archived, tree_head, tree_wanted};

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    CommentId, CommitStatus, PrState, RetryPolicy, StatusState, TreeFilter, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
async fn files_trees_notes_statuses_and_approvals_use_the_documented_endpoints() {
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
        .and(body_json(json!({"state": "failed", "name": "landfall/plan: envs/prod", "description": "Plan failed"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{PROJECT}/merge_requests/12/approvals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "approved": true, "approvals_left": 0, "approved_by": [{"user": {"username": "lead"}}]
        })))
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
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
    assert!(c.is_approved(&repo(), MR).await.unwrap());
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
