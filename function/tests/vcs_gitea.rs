//! The Gitea adapter against a wiremock Gitea asserting the documented v1 requests
//! (`Authorization: token`), Link pagination, comments, statuses and reviews.

use std::time::Duration;

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::gitea::GiteaClient;
use landfall_function::vcs::{
    CommitStatus, PrState, RetryPolicy, StatusState, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
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
