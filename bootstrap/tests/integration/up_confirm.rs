//! Whether the host reached the function, asked of a fake host per VCS adapter (wiremock): the
//! documented test or ping request, exactly, and the documented reply read into a
//! [`Confirmation`], a function's refusal (a wrong secret: 401) reported with its status.

use landfall_function::event::Provider;
use landfall_function::vcs::hooks::{Confirmation, HookScope, HookSpec};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::up_hooks::{URL, azure_devops, hook_client, spec};

/// The requests the fake host received, as `METHOD path?query`.
async fn requests(server: &MockServer) -> Vec<String> {
    let line = |r: &Request| {
        let query = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{} {}{query}", r.method, r.url.path())
    };
    let received = server.received_requests().await.unwrap_or_default();
    received.iter().map(line).collect()
}

/// A GitHub whose hook at `hook` lists `before` as its deliveries until it is pinged, then
/// `after`.
async fn github_pinged(hook: &str, before: Value, after: Value) -> MockServer {
    let server = MockServer::start().await;
    let deliveries = format!("{hook}/deliveries");
    Mock::given(method("GET"))
        .and(path(deliveries.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(before))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(deliveries.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(after))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{hook}/pings")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn github_confirms_by_the_new_pings_delivery_for_an_organisation_hook_too() {
    // An organisation hook has no last_response: its deliveries say whether the ping arrived.
    // The ping of an earlier registration (id 1) failed; the new one (id 2) got a 200.
    let old = json!({"id": 1, "event": "ping", "status_code": 502, "status": "Bad Gateway"});
    let new = json!({"id": 2, "event": "ping", "status_code": 200, "status": "OK"});
    let server = github_pinged(
        "/orgs/acme/hooks/12",
        json!([old.clone()]),
        json!([new, old]),
    )
    .await;
    let client = hook_client(Provider::Github, &server, "");
    let confirmed = client
        .confirm(&HookScope::Org("acme".into()), "12", &spec(false))
        .await
        .unwrap();
    assert_eq!(confirmed, Confirmation::Delivered(Some(200)));
    server.verify().await;
}

#[tokio::test]
async fn github_reports_a_ping_the_function_refused_with_its_status() {
    let refused = json!({"id": 3, "event": "ping", "status_code": 401, "status": "Unauthorized"});
    let server = github_pinged("/repos/acme/infra/hooks/11", json!([]), json!([refused])).await;
    let client = hook_client(Provider::Github, &server, "");
    let confirmed = client
        .confirm(&HookScope::Repo("acme/infra".into()), "11", &spec(false))
        .await
        .unwrap();
    let reason = "Unauthorized".to_owned();
    let status = Some(401);
    assert_eq!(confirmed, Confirmation::Failed { status, reason });
    server.verify().await;
}

/// A GitLab answering the hook's test of `push_events` at `test` with `reply`.
async fn gitlab(test: &str, reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(test))
        .respond_with(reply)
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn gitlab_tests_the_project_or_group_hook_and_reads_201_as_delivered() {
    let cases = [
        (
            HookScope::Repo("acme/platform/infra".into()),
            "21",
            "/api/v4/projects/acme%2Fplatform%2Finfra/hooks/21/test/push_events",
        ),
        (
            HookScope::Org("acme".into()),
            "22",
            "/api/v4/groups/acme/hooks/22/test/push_events",
        ),
    ];
    for (scope, id, test) in cases {
        let created = ResponseTemplate::new(201).set_body_json(json!({"message": "201 Created"}));
        let server = gitlab(test, created).await;
        let client = hook_client(Provider::Gitlab, &server, "/api/v4");
        let confirmed = client.confirm(&scope, id, &spec(false)).await.unwrap();
        assert_eq!(confirmed, Confirmation::Delivered(None), "{scope:?}");
        let received = server.received_requests().await.unwrap();
        assert!(received[0].body.is_empty(), "the test takes no body");
        assert_eq!(requests(&server).await, [format!("POST {test}")]);
    }
}

#[tokio::test]
async fn gitlab_reports_the_functions_refusal_and_cannot_tell_without_the_endpoint() {
    let test = "/api/v4/projects/acme%2Finfra/hooks/21/test/push_events";
    let scope = HookScope::Repo("acme/infra".into());
    // GitLab answers 422 with what the hook's endpoint answered when it was not 2xx.
    let refused = json!({"message": "invalid token"});
    let server = gitlab(test, ResponseTemplate::new(422).set_body_json(refused)).await;
    let client = hook_client(Provider::Gitlab, &server, "/api/v4");
    let confirmed = client.confirm(&scope, "21", &spec(false)).await.unwrap();
    let reason = "invalid token".to_owned();
    assert_eq!(
        confirmed,
        Confirmation::Failed {
            status: None,
            reason
        }
    );
    // A GitLab older than the test endpoint.
    let server = gitlab(test, ResponseTemplate::new(404)).await;
    let client = hook_client(Provider::Gitlab, &server, "/api/v4");
    let confirmed = client.confirm(&scope, "21", &spec(false)).await.unwrap();
    assert_eq!(confirmed, Confirmation::Unknown);
}

/// A Bitbucket Data Center whose test of webhook 41 got `status` and `body` from the function.
async fn bitbucket_server(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    let reply = json!({
        "request": {"url": URL, "method": "POST", "headers": {"X-Event-Key": "diagnostics:ping"}},
        "response": {"statusCode": status, "body": body, "headers": {}},
    });
    Mock::given(method("POST"))
        .and(path(
            "/rest/api/1.0/projects/ACME/repos/infra/webhooks/test",
        ))
        .and(query_param("webhookId", "41"))
        .and(query_param("url", URL))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn bitbucket_server_tests_the_webhook_by_its_id_and_reads_the_functions_status() {
    let scope = HookScope::Repo("ACME/infra".into());
    let server = bitbucket_server(200, "").await;
    let client = hook_client(Provider::BitbucketServer, &server, "");
    let confirmed = client.confirm(&scope, "41", &spec(false)).await.unwrap();
    assert_eq!(confirmed, Confirmation::Delivered(Some(200)));
    let received = server.received_requests().await.unwrap();
    assert!(
        received[0].body.is_empty(),
        "no basic-auth credentials sent"
    );
    assert_eq!(
        requests(&server).await,
        [
            "POST /rest/api/1.0/projects/ACME/repos/infra/webhooks/test?webhookId=41&url=https%3A%2F%2Fabc.lambda-url.us-east-1.on.aws%2F"
        ]
    );

    let server = bitbucket_server(401, "invalid signature").await;
    let client = hook_client(Provider::BitbucketServer, &server, "");
    let confirmed = client.confirm(&scope, "41", &spec(false)).await.unwrap();
    let reason = "invalid signature".to_owned();
    let status = Some(401);
    assert_eq!(confirmed, Confirmation::Failed { status, reason });
}

/// The test notification Azure DevOps must get for subscription `s-1` (PR created) of
/// repository `r-1` in project `p-1`, built from what the subscription was created with.
fn azure_test_notification() -> Value {
    json!({
        "subscriptionId": "s-1",
        "details": {
            "publisherId": "tfs", "eventType": "git.pullrequest.created",
            "consumerId": "webHooks", "consumerActionId": "httpRequest",
            "publisherInputs": {"projectId": "p-1", "repository": "r-1"},
            "consumerInputs": {"url": URL, "basicAuthUsername": "landfall", "basicAuthPassword": "pw"},
        },
    })
}

/// An Azure DevOps that queues the test notification (5), then reads it back as `done`.
async fn azure_devops_testing(done: Value) -> MockServer {
    let server = azure_devops().await;
    let queued = json!({"id": 5, "subscriptionId": "s-1", "result": "pending", "status": "queued"});
    Mock::given(method("POST"))
        .and(path("/acme/_apis/hooks/testnotifications"))
        .and(query_param("api-version", "7.1"))
        .and(body_json(azure_test_notification()))
        .respond_with(ResponseTemplate::new(200).set_body_json(queued))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions/s-1/notifications/5"))
        .and(query_param("api-version", "7.1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(done))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn azure_spec() -> HookSpec {
    HookSpec {
        url: URL.into(),
        secret: SecretString::from("landfall:pw"),
        secret_changed: false,
    }
}

#[tokio::test]
async fn azure_devops_sends_a_test_notification_of_the_pr_subscription_and_reads_its_result() {
    let scope = HookScope::Repo("infra/tf".into());
    let delivered = json!({"id": 5, "subscriptionId": "s-1", "result": "succeeded", "status": "completed",
        "details": {"response": "Status Code: 200\r\nReason Phrase: OK\r\nHttp Version: 1.1"}});
    let server = azure_devops_testing(delivered).await;
    let client = hook_client(Provider::AzureDevops, &server, "/acme");
    let confirmed = client.confirm(&scope, "s-1", &azure_spec()).await.unwrap();
    assert_eq!(confirmed, Confirmation::Delivered(Some(200)));
    server.verify().await;
    assert_eq!(
        requests(&server).await,
        [
            "GET /acme/infra/_apis/git/repositories/tf?api-version=7.1",
            "POST /acme/_apis/hooks/testnotifications?api-version=7.1",
            "GET /acme/_apis/hooks/subscriptions/s-1/notifications/5?api-version=7.1",
        ]
    );
}

#[tokio::test]
async fn azure_devops_reports_a_refused_test_notification_without_the_request_it_sent() {
    let scope = HookScope::Repo("infra/tf".into());
    // The notification echoes the request Azure DevOps sent, basic auth included.
    let failed = json!({"id": 5, "subscriptionId": "s-1", "result": "failed", "status": "completed",
        "details": {"errorMessage": "The remote server returned an error: (401) Unauthorized.",
            "request": "POST https://abc.lambda-url.us-east-1.on.aws/\nAuthorization: Basic bGFuZGZhbGw6cHc=",
            "response": "Status Code: 401\r\nReason Phrase: Unauthorized"}});
    let server = azure_devops_testing(failed).await;
    let client = hook_client(Provider::AzureDevops, &server, "/acme");
    let confirmed = client.confirm(&scope, "s-1", &azure_spec()).await.unwrap();
    let Confirmation::Failed { status, reason } = confirmed else {
        panic!("{confirmed:?}");
    };
    assert_eq!(status, Some(401));
    assert_eq!(
        reason,
        "The remote server returned an error: (401) Unauthorized."
    );
    server.verify().await;
}

#[tokio::test]
async fn gitea_and_bitbucket_cloud_have_no_delivery_status_to_ask_for() {
    for (provider, scope) in [
        (Provider::Gitea, HookScope::Repo("acme/infra".into())),
        (
            Provider::BitbucketCloud,
            HookScope::Repo("acme/infra".into()),
        ),
    ] {
        let server = MockServer::start().await;
        let client = hook_client(provider, &server, "");
        let confirmed = client.confirm(&scope, "31", &spec(false)).await.unwrap();
        assert_eq!(confirmed, Confirmation::Unknown, "{provider}");
        assert!(requests(&server).await.is_empty(), "{provider}: no request");
    }
}
