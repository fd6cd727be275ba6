//! What a scheduled drift run asks of Azure DevOps: the repository (`defaultBranch`,
//! `remoteUrl`) and its default branch's `objectId` (Refs - List), and the tracking issue, a
//! work item of type `Issue` (Work Items - Create, Get Work Item, Update; JSON Patch), closed
//! to the state the process's `Issue` type puts in category `Completed`.

use landfall_function::vcs::{TrackingIssue, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::drift_harness::{assert_repository, created_then_kept};

use super::{REPO, SHA, basic, client, get, repo};

const ITEMS: &str = "/acme/Platform/_apis/wit/workitems";
const URL: &str = "https://dev.azure.com/acme/Platform/_workitems/edit/77";

fn work_item(state: &str, description: &str) -> Value {
    json!({
        "id": 77, "rev": 3,
        "fields": {
            "System.WorkItemType": "Issue", "System.State": state,
            "System.Title": "Drift in Platform/infra", "System.Description": description
        },
        "_links": {"html": {"href": URL}},
        "url": "https://dev.azure.com/acme/Platform/_apis/wit/workItems/77"
    })
}

fn patch(verb: &str, p: &str, body: Value) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(p))
        .and(query_param("api-version", "7.1"))
        .and(header("authorization", basic().as_str()))
        .and(header("content-type", "application/json-patch+json"))
        .and(body_json(body))
}

#[tokio::test]
async fn the_repository_names_its_default_branch_head_and_remote_url() {
    let server = MockServer::start().await;
    get(REPO.to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "4bc14d40", "name": "infra", "defaultBranch": "refs/heads/main",
            "remoteUrl": "https://acme@dev.azure.com/acme/Platform/_git/infra",
            "project": {"id": "6ce954b1", "name": "Platform"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{REPO}/refs"))
        .and(query_param("filter", "heads/main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 2, "value": [
            {"name": "refs/heads/main-old", "objectId": "0000000000000000000000000000000000000001"},
            {"name": "refs/heads/main", "objectId": SHA}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let info = client(&server).repository(&repo()).await.unwrap();
    assert_repository(
        &info,
        ("main", SHA),
        "https://acme@dev.azure.com/acme/Platform/_git/infra",
    );
}

#[tokio::test]
async fn an_issue_work_item_is_created_then_closed_to_the_completed_state() {
    let server = MockServer::start().await;
    let wanted = TrackingIssue {
        title: "Drift in Platform/infra".into(),
        body: "a < b & c".into(),
        open: true,
    };
    let html = "<pre>a &lt; b &amp; c</pre>";
    let set = |field: &str, value: &str| json!({"op": "add", "path": format!("/fields/{field}"), "value": value});
    let create = json!([
        set("System.Title", &wanted.title),
        set("System.Description", html)
    ]);
    patch("POST", &format!("{ITEMS}/$Issue"), create)
        .respond_with(ResponseTemplate::new(200).set_body_json(work_item("To Do", html)))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{ITEMS}/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(work_item("Doing", html)))
        .expect(1)
        .mount(&server)
        .await;
    get("/acme/Platform/_apis/wit/workitemtypes/Issue/states".to_owned())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 3, "value": [
                {"name": "To Do", "color": "b2b2b2", "category": "Proposed"},
                {"name": "Doing", "color": "007acc", "category": "InProgress"},
                {"name": "Done", "color": "339933", "category": "Completed"}
            ]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    patch(
        "PATCH",
        &format!("{ITEMS}/77"),
        json!([set("System.State", "Done")]),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(work_item("Done", html)))
    .expect(1)
    .mount(&server)
    .await;
    let closed = TrackingIssue {
        open: false,
        ..wanted.clone()
    };
    let both = (&wanted, &closed);
    created_then_kept(&client(&server), &repo(), both, (77, URL)).await;
}

#[tokio::test]
async fn a_process_without_the_issue_type_refuses_with_its_reason() {
    let server = MockServer::start().await;
    let reason = "VS402323: Work item type Issue does not exist in project Platform";
    Mock::given(method("POST"))
        .and(path(format!("{ITEMS}/$Issue")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": reason})))
        .expect(1)
        .mount(&server)
        .await;
    let wanted = TrackingIssue {
        title: "Drift".into(),
        body: String::new(),
        open: true,
    };
    let error = client(&server).tracking_issue(&repo(), None, &wanted).await;
    let error = error.unwrap_err().to_string();
    assert!(error.contains("VS402323"), "{error}");
}
