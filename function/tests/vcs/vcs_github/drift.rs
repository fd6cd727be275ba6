//! What a scheduled drift run asks of GitHub: the repository (`repos/get`: `default_branch`,
//! `clone_url`; `git/get-ref` of the default branch: `object.sha`) and its tracking issue
//! (`issues/create`, `issues/get`, `issues/update` with `state`), a deleted issue (410)
//! replaced by a new one.

use landfall_function::vcs::{IssueRef, TrackingIssue, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::drift_harness::assert_repository;

use super::{SHA, client, github_get, repo};

const ISSUES: &str = "/repos/acme/infra/issues";
const URL: &str = "https://github.com/acme/infra/issues/12";

fn issue(title: &str, body: &str, state: &str) -> Value {
    json!({
        "id": 1, "node_id": "MDU6SXNzdWUx", "number": 12, "title": title, "body": body,
        "state": state, "html_url": URL, "url": "https://api.github.com/repos/acme/infra/issues/12",
        "user": {"login": "landfall-bot"}, "labels": [], "comments": 0
    })
}

fn drift(open: bool) -> TrackingIssue {
    TrackingIssue {
        title: "Drift in acme/infra".into(),
        body: "## envs/prod\n\n1 to change".into(),
        open,
    }
}

fn write(verb: &str, p: &str, body: Value) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(p))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(body_json(body))
}

#[tokio::test]
async fn the_repository_names_its_default_branch_head_and_clone_url() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "full_name": "acme/infra", "default_branch": "trunk",
            "clone_url": "https://github.com/acme/infra.git",
            "ssh_url": "git@github.com:acme/infra.git"
        })))
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/git/ref/heads/trunk")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ref": "refs/heads/trunk", "object": {"sha": SHA, "type": "commit"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = client(&server).repository(&repo()).await.unwrap();
    assert_repository(&info, ("trunk", SHA), "https://github.com/acme/infra.git");
}

#[tokio::test]
async fn an_open_issue_is_created_and_a_closed_one_needs_none() {
    let server = MockServer::start().await;
    let wanted = drift(true);
    write(
        "POST",
        ISSUES,
        json!({"title": wanted.title, "body": wanted.body}),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(issue("t", "b", "open")))
    .expect(1)
    .mount(&server)
    .await;
    let c = client(&server);
    let created = c.tracking_issue(&repo(), None, &wanted).await.unwrap();
    let twelve = IssueRef {
        number: 12,
        url: URL.into(),
    };
    assert_eq!(created, Some(twelve));
    assert_eq!(
        c.tracking_issue(&repo(), None, &drift(false))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_issue_is_closed_in_place_and_left_alone_when_already_as_asked() {
    let server = MockServer::start().await;
    let wanted = drift(false);
    github_get(&format!("{ISSUES}/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("Drift", "old", "open")))
        .expect(1)
        .mount(&server)
        .await;
    let close = json!({"title": wanted.title, "body": wanted.body, "state": "closed"});
    write("PATCH", &format!("{ISSUES}/12"), close)
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("t", "b", "closed")))
        .expect(1)
        .mount(&server)
        .await;
    github_get(&format!("{ISSUES}/13"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(
            &wanted.title,
            &wanted.body,
            "closed",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let twelve = IssueRef {
        number: 12,
        url: "stale".into(),
    };
    let kept = c.tracking_issue(&repo(), Some(&twelve), &wanted).await;
    assert_eq!(kept.unwrap().map(|i| i.url), Some(URL.to_owned()));
    // Already closed with this text: no write (the PATCH above expects one call only).
    let thirteen = IssueRef {
        number: 13,
        url: URL.into(),
    };
    let same = c.tracking_issue(&repo(), Some(&thirteen), &wanted).await;
    assert!(same.unwrap().is_some());
}

#[tokio::test]
async fn a_deleted_issue_is_replaced_when_drift_remains_and_forgotten_when_not() {
    let server = MockServer::start().await;
    github_get(&format!("{ISSUES}/12"))
        .respond_with(ResponseTemplate::new(410).set_body_json(json!({
            "message": "This issue was deleted", "documentation_url": "https://docs.github.com"
        })))
        .mount(&server)
        .await;
    let wanted = drift(true);
    write(
        "POST",
        ISSUES,
        json!({"title": wanted.title, "body": wanted.body}),
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(issue("t", "b", "open")))
    .expect(1)
    .mount(&server)
    .await;
    let c = client(&server);
    let gone = IssueRef {
        number: 12,
        url: URL.into(),
    };
    let replaced = c.tracking_issue(&repo(), Some(&gone), &wanted).await;
    assert_eq!(replaced.unwrap().map(|i| i.number), Some(12));
    let forgotten = c.tracking_issue(&repo(), Some(&gone), &drift(false)).await;
    assert_eq!(forgotten.unwrap(), None);
}

#[tokio::test]
async fn issues_turned_off_are_a_clear_error_and_a_failed_create_is_not_repeated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(
            ResponseTemplate::new(410)
                .set_body_json(json!({"message": "Issues are disabled for this repo"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server)
        .tracking_issue(&repo(), None, &drift(true))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("issues are turned off"), "{error}");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let failed = client(&server)
        .tracking_issue(&repo(), None, &drift(true))
        .await;
    assert!(failed.is_err());
}
