//! The Azure DevOps adapter against a wiremock Azure DevOps asserting the documented 7.1
//! requests: Basic auth with the PAT, iteration changes paged by `nextSkip`/`nextTop`, threads,
//! comment edits, commit statuses and reviewer votes.

use std::time::Duration;

use base64::Engine as _;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::azure_devops::AzureDevopsClient;
use landfall_function::vcs::{CommitStatus, PrState, RetryPolicy, StatusState, VcsClient};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const REPO: &str = "/acme/Platform/_apis/git/repositories/infra";
const PR: PullRequestNumber = PullRequestNumber(42);

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(":azpat")
    )
}

fn client(server: &MockServer) -> AzureDevopsClient {
    let policy = RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    };
    AzureDevopsClient::new(
        Some(&format!("{}/acme", server.uri())),
        &SecretString::from("azpat"),
        policy,
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("Platform/infra")
}

fn get(p: String) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", basic().as_str()))
        .and(query_param("api-version", "7.1"))
}

#[tokio::test]
async fn a_pull_request_is_read_with_refs_shortened_and_votes_counted() {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullrequests/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pullRequestId": 42, "status": "active", "mergeStatus": "succeeded",
            "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main",
            "lastMergeSourceCommit": {"commitId": SHA},
            "createdBy": {"uniqueName": "dev@acme.com"},
            "reviewers": [{"vote": 10}, {"vote": 0}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let pr = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(
        (pr.head_branch.as_str(), pr.base_branch.as_str()),
        ("feature", "main")
    );
    assert_eq!((pr.state, pr.mergeable), (PrState::Open, Some(true)));
    assert!(c.is_approved(&repo(), PR).await.unwrap());
}

#[tokio::test]
async fn changes_of_the_last_iteration_are_paged_by_next_skip_and_next_top() {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 2, "value": [{"id": 1}, {"id": 2}]})),
        )
        .mount(&server)
        .await;
    get(format!("{REPO}/pullRequests/42/iterations/2/changes"))
        .and(query_param("$skip", "0"))
        .and(query_param("$top", "2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "changeEntries": [
                {"changeType": "edit", "item": {"path": "/envs/prod/main.tf"}},
                {"changeType": "add", "item": {"path": "/envs", "isFolder": true}},
                {"changeType": "delete", "item": {"path": "/envs/old/main.tf"}}
            ],
            "nextSkip": 3, "nextTop": 2000
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{REPO}/pullRequests/42/iterations/2/changes"))
        .and(query_param("$skip", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "changeEntries": [
                {"changeType": "rename, edit", "item": {"path": "/b/new.tf"}, "originalPath": "/b/old.tf"}
            ],
            "nextSkip": 0, "nextTop": 0
        })))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server).changed_files(&repo(), PR).await.unwrap();
    assert_eq!(
        files,
        [
            ChangedFile::modified("envs/prod/main.tf"),
            ChangedFile::new("envs/old/main.tf", FileStatus::Removed),
            ChangedFile::renamed("b/old.tf", "b/new.tf"),
        ]
    );
}

#[tokio::test]
async fn items_threads_comment_edits_and_statuses_use_the_documented_endpoints() {
    let server = MockServer::start().await;
    get(format!("{REPO}/items"))
        .and(query_param("path", "/atlantis.yaml"))
        .and(query_param("versionDescriptor.version", SHA))
        .and(query_param("versionDescriptor.versionType", "commit"))
        .and(query_param("$format", "octetStream"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pullRequests/42/threads")))
        .and(header("authorization", basic().as_str()))
        .and(query_param("api-version", "7.1"))
        .and(body_json(json!({
            "comments": [{"parentCommentId": 0, "content": "Planning...", "commentType": 1}],
            "status": 1
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 9, "comments": [{"id": 1}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/pullRequests/42/threads/9/comments/1")))
        .and(body_json(json!({"content": "Planned"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/commits/{SHA}/statuses")))
        .and(body_json(json!({
            "state": "succeeded",
            "description": "Applied",
            "context": {"name": "landfall/apply: envs/prod", "genre": "landfall"}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
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
    let id = c.post_comment(&repo(), PR, "Planning...").await.unwrap();
    assert_eq!(id.0, "9/1");
    c.edit_comment(&repo(), PR, &id, "Planned").await.unwrap();
    let status = CommitStatus {
        context: "landfall/apply: envs/prod".into(),
        state: StatusState::Success,
        description: "Applied".into(),
        target_url: None,
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
}
