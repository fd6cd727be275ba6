//! What a scheduled drift run asks of GitLab: the project (`default_branch`,
//! `http_url_to_repo`), the default branch's `commit.id`, and the tracking issue: `POST
//! :id/issues` (`title`, `description`), `GET` and `PUT :id/issues/:iid` with `state_event`.

use landfall_function::vcs::{TrackingIssue, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::drift_harness::{assert_repository, created_then_kept};

use super::{PROJECT, SHA, client, get, repo};

const URL: &str = "https://gitlab.com/acme/platform/infra/-/issues/4";

fn issue(title: &str, description: &str, state: &str) -> Value {
    json!({
        "id": 84, "iid": 4, "project_id": 1, "title": title, "description": description,
        "state": state, "web_url": URL, "author": {"username": "landfall-bot"}
    })
}

fn write(verb: &str, p: String, body: Value) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(p))
        .and(header("private-token", "glpat-test"))
        .and(body_json(body))
}

#[tokio::test]
async fn the_project_names_its_default_branch_head_and_https_clone_url() {
    let server = MockServer::start().await;
    get(PROJECT.to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "default_branch": "main", "path_with_namespace": "acme/platform/infra",
            "http_url_to_repo": "https://gitlab.com/acme/platform/infra.git",
            "ssh_url_to_repo": "git@gitlab.com:acme/platform/infra.git"
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{PROJECT}/repository/branches/main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "main", "commit": {"id": SHA, "short_id": "ec26c3e5"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = client(&server).repository(&repo()).await.unwrap();
    assert_repository(
        &info,
        ("main", SHA),
        "https://gitlab.com/acme/platform/infra.git",
    );
}

#[tokio::test]
async fn an_issue_is_created_then_reopened_with_state_event() {
    let server = MockServer::start().await;
    let wanted = TrackingIssue {
        title: "Drift".into(),
        body: "1 to change".into(),
        open: true,
    };
    let text = json!({"title": "Drift", "description": "1 to change"});
    write("POST", format!("{PROJECT}/issues"), text)
        .respond_with(ResponseTemplate::new(201).set_body_json(issue("Drift", "x", "opened")))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{PROJECT}/issues/4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("Drift", "x", "closed")))
        .expect(1)
        .mount(&server)
        .await;
    let reopen = json!({"title": "Drift", "description": "1 to change", "state_event": "reopen"});
    write("PUT", format!("{PROJECT}/issues/4"), reopen)
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("Drift", "x", "opened")))
        .expect(1)
        .mount(&server)
        .await;
    let both = (&wanted, &wanted);
    created_then_kept(&client(&server), &repo(), both, (4, URL)).await;
}
