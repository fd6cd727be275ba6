//! What a scheduled drift run asks of Bitbucket. Cloud: the repository (`mainbranch.name`, the
//! `links.clone` named `https`), the branch's `target.hash`, and the issue tracker (create, get,
//! `changes`; a repository without the tracker a clear error). Data Center: the repository's
//! `links.clone` named `http`, its `default-branch` and that branch's `latestCommit`; tracking
//! issues refused without a request.

use landfall_function::vcs::{TrackingIssue, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::drift_harness::{assert_repository, created_then_kept};

use super::{CLOUD, SERVER, SHA, basic, cloud, server_client};

const URL: &str = "https://bitbucket.org/acme/infra/issues/3";

fn repo() -> landfall_function::event::RepoName {
    landfall_function::event::RepoName::new("acme/infra")
}

fn cloud_get(p: String) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", basic().as_str()))
}

fn issue(state: &str) -> Value {
    json!({
        "type": "issue", "id": 3, "title": "Drift", "state": state, "kind": "bug",
        "priority": "major", "content": {"raw": "old", "markup": "markdown", "html": "<p>old</p>"},
        "links": {"html": {"href": URL}}
    })
}

fn drift(open: bool) -> TrackingIssue {
    TrackingIssue {
        title: "Drift".into(),
        body: "1 to change".into(),
        open,
    }
}

#[tokio::test]
async fn cloud_names_the_main_branch_head_and_the_https_clone_link() {
    let server = MockServer::start().await;
    cloud_get(CLOUD.to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "repository", "full_name": "acme/infra", "mainbranch": {"name": "main"},
            "links": {"clone": [
                {"name": "https", "href": "https://bot@bitbucket.org/acme/infra.git"},
                {"name": "ssh", "href": "git@bitbucket.org:acme/infra.git"}
            ]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    cloud_get(format!("{CLOUD}/refs/branches/main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "branch", "name": "main", "target": {"type": "commit", "hash": SHA}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let info = cloud(&server).repository(&repo()).await.unwrap();
    assert_repository(
        &info,
        ("main", SHA),
        "https://bot@bitbucket.org/acme/infra.git",
    );
}

#[tokio::test]
async fn cloud_creates_an_issue_then_resolves_it_with_a_change() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{CLOUD}/issues")))
        .and(header("authorization", basic().as_str()))
        .and(body_json(
            json!({"title": "Drift", "content": {"raw": "1 to change"}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue("new")))
        .expect(1)
        .mount(&server)
        .await;
    cloud_get(format!("{CLOUD}/issues/3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("new")))
        .expect(1)
        .mount(&server)
        .await;
    let change = json!({"changes": {
        "title": {"new": "Drift"}, "content": {"new": "1 to change"}, "state": {"new": "resolved"}
    }});
    Mock::given(method("POST"))
        .and(path(format!("{CLOUD}/issues/3/changes")))
        .and(header("authorization", basic().as_str()))
        .and(body_json(change))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "type": "issue_change", "id": 1, "changes": {"state": {"old": "new", "new": "resolved"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let both = (&drift(true), &drift(false));
    created_then_kept(&cloud(&server), &repo(), both, (3, URL)).await;
}

#[tokio::test]
async fn cloud_without_the_issue_tracker_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{CLOUD}/issues")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "type": "error", "error": {"message": "Repository has no issue tracker."}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let error = cloud(&server)
        .tracking_issue(&repo(), None, &drift(true))
        .await;
    let error = error.unwrap_err().to_string();
    assert!(error.contains("no issue tracker"), "{error}");
}

#[tokio::test]
async fn data_center_names_the_default_branch_head_and_the_http_clone_link() {
    let server = MockServer::start().await;
    let bbs = landfall_function::event::RepoName::new("PLAT/infra");
    let get = |p: String| {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", "Bearer bbs-token"))
    };
    get(SERVER.to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "slug": "infra", "id": 1, "name": "infra", "project": {"key": "PLAT"},
            "links": {"clone": [
                {"href": "ssh://git@bitbucket.example.com:7999/plat/infra.git", "name": "ssh"},
                {"href": "https://bitbucket.example.com/scm/plat/infra.git", "name": "http"}
            ]}
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{SERVER}/default-branch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "refs/heads/master", "displayId": "master", "type": "BRANCH"
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{SERVER}/branches"))
        .and(query_param("filterText", "master"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "isLastPage": true, "values": [
                {"id": "refs/heads/master-old", "displayId": "master-old", "latestCommit": "0000000000000000000000000000000000000001"},
                {"id": "refs/heads/master", "displayId": "master", "latestCommit": SHA}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = server_client(&server);
    let info = c.repository(&bbs).await.unwrap();
    assert_eq!(
        (info.default_branch.as_str(), info.head_sha.as_str()),
        ("master", SHA)
    );
    assert_eq!(
        info.clone_url,
        "https://bitbucket.example.com/scm/plat/infra.git"
    );
    let refused = c.tracking_issue(&bbs, None, &drift(true)).await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("tracking issues is not supported")
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}
