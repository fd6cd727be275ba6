//! Statuses on Azure DevOps. A pull request's status is a pull request status
//! (`POST pullRequests/{id}/statuses`, what a branch policy's status check reads) on its newest
//! iteration (`iterationId`), while the pull request is active at the status's commit on the
//! status's base branch. A status that arrives late (the head pushed, the pull request retargeted
//! or completed meanwhile), and a drift check's, is a commit status
//! (`POST commits/{sha}/statuses`), which no policy reads; so is one whose pull request or
//! iterations cannot be read. A context's genre is what precedes its
//! name's last `/`, as the policy editor reads it; under the status name `atlantis`, Atlantis'
//! `Atlantis Bot/atlantis`.

use landfall_function::event::CommitSha;
use landfall_function::vcs::{CommitStatus, PullTarget, StatusState, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, REPO, SHA, client, get, repo};

const OTHER: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";

fn status(pull: bool) -> CommitStatus {
    CommitStatus {
        context: "landfall/plan".into(),
        state: StatusState::Success,
        description: "2 projects planned".into(),
        target_url: Some("https://dev.azure.com/acme/Platform/_git/infra/pullrequest/42".into()),
        branch: Some("feature".into()),
        pull: pull.then(|| PullTarget {
            number: PR,
            base: "main".into(),
        }),
    }
}

/// The body both kinds of status share.
fn body() -> Value {
    json!({
        "state": "succeeded",
        "description": "2 projects planned",
        "targetUrl": "https://dev.azure.com/acme/Platform/_git/infra/pullrequest/42",
        "context": {"name": "plan", "genre": "landfall"}
    })
}

/// The pull request, `status`, at `head`, into `target`.
async fn pull_request(server: &MockServer, status: &str, head: &str, target: &str) {
    get(format!("{REPO}/pullrequests/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pullRequestId": 42, "status": status, "mergeStatus": "succeeded",
            "sourceRefName": "refs/heads/feature", "targetRefName": format!("refs/heads/{target}"),
            "lastMergeSourceCommit": {"commitId": head},
            "createdBy": {"uniqueName": "dev@acme.com"}, "reviewers": []
        })))
        .mount(server)
        .await;
}

/// Iterations 1 to 3: `SHA`, another commit, `SHA` again (a force-push back).
async fn iterations(server: &MockServer) {
    iterations_of(server, &[SHA, OTHER, &SHA.to_uppercase()]).await;
}

/// Iterations 1, 2, ... made of `commits`.
async fn iterations_of(server: &MockServer, commits: &[&str]) {
    let value: Vec<Value> = (1..)
        .zip(commits)
        .map(|(id, sha)| json!({"id": id, "sourceRefCommit": {"commitId": sha}}))
        .collect();
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": value, "count": commits.len()})),
        )
        .mount(server)
        .await;
}

/// Counts the commit statuses posted on `SHA`, and the pull request statuses on iteration 3.
async fn statuses(server: &MockServer, commit: u64, pull_request: u64) {
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/commits/{SHA}/statuses")))
        .and(query_param("api-version", "7.1"))
        .and(body_json(body()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(commit)
        .mount(server)
        .await;
    let mut on_iteration = body();
    on_iteration["iterationId"] = json!(3);
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pullRequests/42/statuses")))
        .and(query_param("api-version", "7.1"))
        .and(body_json(on_iteration))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "iterationId": 3})))
        .expect(pull_request)
        .mount(server)
        .await;
}

async fn set(server: &MockServer, status: &CommitStatus) {
    let c = client(server);
    c.set_status(&repo(), &CommitSha::new(SHA), status)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_pull_requests_status_goes_on_its_newest_iteration() {
    let server = MockServer::start().await;
    pull_request(&server, "active", SHA, "main").await;
    iterations(&server).await;
    statuses(&server, 0, 1).await;
    set(&server, &status(true)).await;
}

#[tokio::test]
async fn a_status_that_arrives_late_is_a_commit_status_no_policy_reads() {
    // The head pushed since, the pull request retargeted, or completed.
    for (state, head, target) in [
        ("active", OTHER, "main"),
        ("active", SHA, "release"),
        ("completed", SHA, "main"),
    ] {
        let server = MockServer::start().await;
        pull_request(&server, state, head, target).await;
        iterations(&server).await;
        statuses(&server, 1, 0).await;
        set(&server, &status(true)).await;
    }
}

#[tokio::test]
async fn a_drift_checks_status_is_a_commit_status() {
    let server = MockServer::start().await;
    statuses(&server, 1, 0).await;
    set(&server, &status(false)).await;
    let asked = server.received_requests().await.unwrap();
    assert!(
        asked.iter().all(|r| r.method.as_str() == "POST"),
        "{asked:?}"
    );
}

#[tokio::test]
async fn iterations_that_cannot_be_read_leave_a_commit_status() {
    let server = MockServer::start().await;
    pull_request(&server, "active", SHA, "main").await;
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "TF401180"})))
        .mount(&server)
        .await;
    statuses(&server, 1, 0).await;
    set(&server, &status(true)).await;
}

#[tokio::test]
async fn a_newest_iteration_of_another_commit_leaves_a_commit_status() {
    // The pull request read at `SHA`, then a push made iteration 4 before the list was read.
    let server = MockServer::start().await;
    pull_request(&server, "active", SHA, "main").await;
    iterations_of(&server, &[SHA, OTHER, SHA, OTHER]).await;
    statuses(&server, 1, 0).await;
    set(&server, &status(true)).await;
}

#[tokio::test]
async fn under_the_status_name_atlantis_a_status_is_spelled_as_atlantis_spells_it() {
    let server = MockServer::start().await;
    pull_request(&server, "active", SHA, "main").await;
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
