//! What a scheduled drift run asks of Gitea: the repository (`default_branch`, `clone_url`),
//! the default branch's `commit.id`, and the tracking issue: `issueCreateIssue`,
//! `issueGetIssue`, `issueEditIssue` with `state`.

use landfall_function::vcs::{TrackingIssue, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::drift_harness::{assert_repository, created_then_kept};

use super::{SHA, client, get, repo};

const REPO: &str = "/api/v1/repos/acme/infra";
const URL: &str = "https://gitea.example.com/acme/infra/issues/9";

fn issue(body: &str, state: &str) -> Value {
    json!({
        "id": 90, "number": 9, "title": "Drift", "body": body, "state": state,
        "html_url": URL, "user": {"login": "landfall"}, "is_locked": false
    })
}

#[tokio::test]
async fn the_repository_names_its_default_branch_head_and_clone_url() {
    let server = MockServer::start().await;
    get(REPO)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 3, "full_name": "acme/infra", "default_branch": "main", "empty": false,
            "clone_url": "https://gitea.example.com/acme/infra.git",
            "ssh_url": "git@gitea.example.com:acme/infra.git"
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(&format!("{REPO}/branches/main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "main", "commit": {"id": SHA, "message": "x"}, "protected": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = client(&server).repository(&repo()).await.unwrap();
    assert_repository(
        &info,
        ("main", SHA),
        "https://gitea.example.com/acme/infra.git",
    );
}

#[tokio::test]
async fn an_issue_is_created_then_closed_with_state() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/issues")))
        .and(header("authorization", "token gt0k"))
        .and(body_json(json!({"title": "Drift", "body": "none"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue("none", "open")))
        .expect(1)
        .mount(&server)
        .await;
    get(&format!("{REPO}/issues/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("none", "open")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/issues/9")))
        .and(header("authorization", "token gt0k"))
        .and(body_json(
            json!({"title": "Drift", "body": "none", "state": "closed"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue("none", "closed")))
        .expect(1)
        .mount(&server)
        .await;
    let wanted = TrackingIssue {
        title: "Drift".into(),
        body: "none".into(),
        open: true,
    };
    let closed = TrackingIssue {
        open: false,
        ..wanted.clone()
    };
    let both = (&wanted, &closed);
    created_then_kept(&client(&server), &repo(), both, (9, URL)).await;
}
