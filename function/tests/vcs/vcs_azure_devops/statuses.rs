//! Statuses on Azure DevOps. A pull request's status is a pull request status
//! (`POST pullRequests/{id}/statuses`, what a branch policy's status check reads) on the newest
//! iteration made of the commit (`iterationId`), so that it expires with that iteration where the
//! policy resets on new changes. A status of no pull request (a drift check's), or of a commit no
//! iteration is made of (a merge commit), is a commit status (`POST commits/{sha}/statuses`).

use landfall_function::event::CommitSha;
use landfall_function::vcs::{CommitStatus, StatusState, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, REPO, SHA, client, get, repo};

const OTHER: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const MERGE_COMMIT: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

fn status(pull: bool) -> CommitStatus {
    CommitStatus {
        context: "landfall/plan".into(),
        state: StatusState::Success,
        description: "2 projects planned".into(),
        target_url: Some("https://dev.azure.com/acme/Platform/_git/infra/pullrequest/42".into()),
        branch: Some("feature".into()),
        pull: pull.then_some(PR),
    }
}

/// The body both kinds of status share.
fn body() -> Value {
    json!({
        "state": "succeeded",
        "description": "2 projects planned",
        "targetUrl": "https://dev.azure.com/acme/Platform/_git/infra/pullrequest/42",
        "context": {"name": "landfall/plan", "genre": "landfall"}
    })
}

/// Iterations 1 to 4: `SHA`, another commit, `SHA` again (a force-push back), then another.
async fn iterations(server: &MockServer) {
    let at = |id: u64, sha: &str| json!({"id": id, "sourceRefCommit": {"commitId": sha}});
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [at(1, SHA), at(2, OTHER), at(3, &SHA.to_uppercase()), at(4, OTHER)],
            "count": 4
        })))
        .mount(server)
        .await;
}

/// Counts the commit statuses posted on `sha`.
async fn commit_statuses(server: &MockServer, sha: &str, expected: u64) {
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/commits/{sha}/statuses")))
        .and(query_param("api-version", "7.1"))
        .and(body_json(body()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(expected)
        .mount(server)
        .await;
}

/// Counts the pull request statuses posted on iteration 3.
async fn pull_request_statuses(server: &MockServer, expected: u64) {
    let mut on_iteration = body();
    on_iteration["iterationId"] = json!(3);
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pullRequests/42/statuses")))
        .and(query_param("api-version", "7.1"))
        .and(body_json(on_iteration))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "iterationId": 3})))
        .expect(expected)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_pull_requests_status_goes_on_the_newest_iteration_made_of_its_commit() {
    let server = MockServer::start().await;
    iterations(&server).await;
    pull_request_statuses(&server, 1).await;
    commit_statuses(&server, SHA, 0).await;
    let c = client(&server);
    c.set_status(&repo(), &CommitSha::new(SHA), &status(true))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_commit_no_iteration_is_made_of_and_a_drift_checks_commit_get_commit_statuses() {
    let server = MockServer::start().await;
    iterations(&server).await;
    pull_request_statuses(&server, 0).await;
    commit_statuses(&server, MERGE_COMMIT, 1).await;
    commit_statuses(&server, SHA, 1).await;
    let c = client(&server);
    let merged = CommitSha::new(MERGE_COMMIT);
    c.set_status(&repo(), &merged, &status(true)).await.unwrap();
    c.set_status(&repo(), &CommitSha::new(SHA), &status(false))
        .await
        .unwrap();
}

#[tokio::test]
async fn iterations_that_cannot_be_read_set_no_status() {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "TF401180"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7})))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    let set = c
        .set_status(&repo(), &CommitSha::new(SHA), &status(true))
        .await;
    assert!(set.is_err(), "{set:?}");
}

#[tokio::test]
async fn under_the_status_name_atlantis_a_status_is_spelled_as_atlantis_spells_it() {
    let server = MockServer::start().await;
    iterations(&server).await;
    let mut atlantis = body();
    atlantis["context"] = json!({"name": "plan", "genre": "Atlantis Bot/atlantis"});
    atlantis["iterationId"] = json!(3);
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pullRequests/42/statuses")))
        .and(body_json(atlantis))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server).with_status_name("atlantis");
    let status = CommitStatus {
        context: "atlantis/plan".into(),
        ..status(true)
    };
    c.set_status(&repo(), &CommitSha::new(SHA), &status)
        .await
        .unwrap();
}
