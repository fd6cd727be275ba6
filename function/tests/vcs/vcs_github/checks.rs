//! Statuses on GitHub: a GitHub App creates check runs (`POST /repos/{o}/{r}/check-runs`,
//! operation `checks/create`) with the installation's token, the summary line in the run's
//! output; a personal token sets commit statuses, never a check run (only an App may).

use landfall_function::event::CommitSha;
use landfall_function::vcs::{CommitStatus, StatusState, VcsClient, status_context};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{SHA, access_token, app, client, expires_in, mint, repo};

fn status(state: StatusState) -> CommitStatus {
    CommitStatus {
        context: status_context("landfall", "plan", "envs/prod"),
        state,
        description: "2 to add, 0 to change, 1 to destroy".to_owned(),
        target_url: Some("https://github.com/acme/infra/pull/7#issuecomment-9".to_owned()),
        branch: Some("feature".to_owned()),
        pull: None,
    }
}

#[tokio::test]
async fn a_github_app_reports_each_project_as_a_check_run_with_its_summary() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
        .mount(&server)
        .await;
    mint(42)
        .respond_with(access_token("ghs_installation", &expires_in(3600)))
        .mount(&server)
        .await;
    let summary = "2 to add, 0 to change, 1 to destroy\n\n\
                   [Details](https://github.com/acme/infra/pull/7#issuecomment-9)";
    let output = json!({"title": "2 to add, 0 to change, 1 to destroy", "summary": summary});
    for body in [
        json!({
            "name": "landfall/plan: envs/prod", "head_sha": SHA, "status": "in_progress",
            "details_url": "https://github.com/acme/infra/pull/7#issuecomment-9", "output": output
        }),
        json!({
            "name": "landfall/plan: envs/prod", "head_sha": SHA, "status": "completed",
            "conclusion": "success",
            "details_url": "https://github.com/acme/infra/pull/7#issuecomment-9", "output": output
        }),
        json!({
            "name": "landfall/plan: envs/prod", "head_sha": SHA, "status": "completed",
            "conclusion": "failure",
            "details_url": "https://github.com/acme/infra/pull/7#issuecomment-9", "output": output
        }),
    ] {
        Mock::given(method("POST"))
            .and(path("/repos/acme/infra/check-runs"))
            .and(header("authorization", "Bearer ghs_installation"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(body_json(body))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 4})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = app(&server, None);
    let sha = CommitSha::new(SHA);
    for state in [
        StatusState::Pending,
        StatusState::Success,
        StatusState::Failure,
    ] {
        c.set_status(&repo(), &sha, &status(state)).await.unwrap();
    }
    let statuses = server.received_requests().await.unwrap_or_default();
    assert!(
        !statuses.iter().any(|r| r.url.path().contains("/statuses/")),
        "an App sets no commit status"
    );
}

#[tokio::test]
async fn a_personal_token_sets_a_commit_status_and_no_check_run() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/infra/statuses/{SHA}")))
        .and(body_json(json!({
            "state": "success", "description": "2 to add, 0 to change, 1 to destroy",
            "context": "landfall/plan: envs/prod",
            "target_url": "https://github.com/acme/infra/pull/7#issuecomment-9"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .set_status(&repo(), &CommitSha::new(SHA), &status(StatusState::Success))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(
        !requests
            .iter()
            .any(|r| r.url.path().ends_with("/check-runs"))
    );
}
