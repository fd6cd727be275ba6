//! The Gitea adapter against a wiremock Gitea asserting the documented v1 requests
//! (`Authorization: token`), Link pagination, comments, statuses and reviews, and the tree read
//! from one `archive/{sha}.tar.gz` (served, or redirected to storage and fetched without the
//! token; a malformed one read file by file instead).

use std::time::Duration;

mod archive_common;

use archive_common::{TREE, tarball, tree_archived, tree_head, tree_wanted};

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitea::GiteaClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    CommitStatus, PrState, RetryPolicy, StatusState, TreeFilter, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
            "head": {"ref": "feature", "sha": SHA}, "base": {"ref": "main", "sha": "x"}, "user": {"login": "dev"}
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
async fn raw_files_trees_comments_statuses_and_reviews_use_the_documented_endpoints() {
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
    get("/api/v1/repos/acme/infra/pulls/3/reviews")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"user": {"login": "a"}, "state": "REQUEST_CHANGES"},
            {"user": {"login": "b"}, "state": "APPROVED"}
        ])))
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
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
    assert!(c.is_approved(&repo(), PR).await.unwrap());
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

const ARCHIVE: &str =
    "/api/v1/repos/acme/infra/archive/ec26c3e57ca3a959ca5aad62de7213c562f8c821.tar.gz";

/// Gitea's archive: `git archive --prefix=<repo>/`.
fn gitea_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    tarball("infra", SHA, files)
}

fn archive_reply(archive: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/octet-stream")
        .set_body_bytes(archive)
}

/// The recursive listing of [`TREE`], and each of its wanted files readable on its own,
/// `reads` times each.
async fn serve_listing_and_files(server: &MockServer, reads: u64) {
    let listing: Vec<_> = TREE
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob"}))
        .collect();
    get(&format!("/api/v1/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "true"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": listing})),
        )
        .expect(1)
        .mount(server)
        .await;
    for (file, bytes) in tree_wanted() {
        get(&format!("/api/v1/repos/acme/infra/raw/{file}"))
            .and(query_param("ref", SHA))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(*bytes))
            .expect(reads)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("^/api/v1/repos/acme/infra/raw/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

async fn read_head(c: &GiteaClient) -> HeadFiles {
    HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &["atlantis.yaml".into()])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_tree_is_read_from_one_archive_download_with_the_token_after_a_503() {
    let server = MockServer::start().await;
    get(ARCHIVE)
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    get(ARCHIVE)
        .respond_with(archive_reply(gitea_archive(TREE)))
        .expect(1)
        .mount(&server)
        .await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&server)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), tree_archived());
}

/// Gitea serving archives from its storage (`SERVE_DIRECT`) redirects to a pre-signed URL on
/// `storage`, which must get no token, even on the API's own host.
async fn assert_fetched_from_storage_without_the_token(server: &MockServer, storage: &MockServer) {
    let signed = format!(
        "{}/repo-archive/infra.tar.gz?X-Amz-Signature=abc",
        storage.uri()
    );
    get(ARCHIVE)
        .respond_with(ResponseTemplate::new(307).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repo-archive/infra.tar.gz"))
        .and(query_param("X-Amz-Signature", "abc"))
        .respond_with(archive_reply(gitea_archive(TREE)))
        .expect(1)
        .mount(storage)
        .await;
    serve_listing_and_files(server, 0).await;
    assert_eq!(read_head(&client(server)).await, tree_head());
    let requests = storage.received_requests().await.unwrap();
    let download = requests
        .iter()
        .find(|r| r.url.path() == "/repo-archive/infra.tar.gz")
        .unwrap();
    assert_eq!(download.headers.get("authorization"), None);
}

#[tokio::test]
async fn an_archive_served_from_storage_is_fetched_without_the_token() {
    let (server, storage) = (MockServer::start().await, MockServer::start().await);
    assert_fetched_from_storage_without_the_token(&server, &storage).await;
}

#[tokio::test]
async fn an_archive_redirect_on_the_same_host_is_fetched_without_the_token() {
    let server = MockServer::start().await;
    assert_fetched_from_storage_without_the_token(&server, &server).await;
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file() {
    let server = MockServer::start().await;
    let mut archive = gitea_archive(TREE);
    archive.truncate(archive.len() / 2);
    get(ARCHIVE)
        .respond_with(archive_reply(archive))
        .expect(1)
        .mount(&server)
        .await;
    serve_listing_and_files(&server, 1).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}
