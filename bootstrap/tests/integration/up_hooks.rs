//! Webhook registration against a fake host per VCS adapter (wiremock): the documented
//! endpoints and bodies, an existing hook for the same URL updated and never duplicated, and one
//! already as wanted left alone.

use landfall_function::event::Provider;
use landfall_function::vcs::hooks::{HookChange, HookClient, HookScope, HookSpec, events};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const URL: &str = "https://abc.lambda-url.us-east-1.on.aws/";

/// How a host pages a list, as its API description says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// A JSON array; the next page in `Link: <...>; rel="next"` (GitHub, Gitea).
    Link,
    /// A JSON array; the next page's number in `X-Next-Page` (GitLab).
    NextPage,
    /// `{"values": [...], "next": URL}` (Bitbucket Cloud).
    Next,
    /// `{"values": [...], "isLastPage", "nextPageStart"}` (Bitbucket Data Center).
    Start,
}

/// One host's hook API as its published description has it.
struct Host {
    provider: Provider,
    /// Base path of the API on the fake server.
    base: &'static str,
    scope: HookScope,
    /// The hooks collection, from the server's root.
    collection: &'static str,
    /// How the created hook's body must look (the secret's field included).
    create: Value,
    update_method: &'static str,
    /// The hook as the host lists it, with these events.
    listed: fn(&[&str]) -> Value,
    /// How the host pages its list of hooks.
    paging: Paging,
    /// The id in the update path.
    id: &'static str,
}

fn hosts() -> Vec<Host> {
    vec![
        Host {
            provider: Provider::Github,
            base: "/api/v3",
            scope: HookScope::Repo("acme/infra".into()),
            collection: "/api/v3/repos/acme/infra/hooks",
            create: json!({"name": "web", "active": true, "events": events(Provider::Github),
                "config": {"url": URL, "content_type": "json", "secret": "s3cret", "insecure_ssl": "0"}}),
            update_method: "PATCH",
            listed: |e| json!({"id": 11, "active": true, "events": e, "config": {"url": URL, "content_type": "json"}}),
            paging: Paging::Link,
            id: "11",
        },
        Host {
            provider: Provider::Github,
            base: "",
            scope: HookScope::Org("acme".into()),
            collection: "/orgs/acme/hooks",
            create: json!({"name": "web", "config": {"url": URL, "secret": "s3cret"}}),
            update_method: "PATCH",
            listed: |e| json!({"id": 12, "active": true, "events": e, "config": {"url": URL}}),
            paging: Paging::Link,
            id: "12",
        },
        Host {
            provider: Provider::Gitlab,
            base: "/api/v4",
            scope: HookScope::Repo("acme/platform/infra".into()),
            collection: "/api/v4/projects/acme%2Fplatform%2Finfra/hooks",
            create: json!({"url": URL, "token": "s3cret", "merge_requests_events": true, "note_events": true}),
            update_method: "PUT",
            listed: |e| json!({"id": 21, "url": URL, "merge_requests_events": !e.is_empty(), "note_events": true}),
            paging: Paging::NextPage,
            id: "21",
        },
        Host {
            provider: Provider::Gitlab,
            base: "/api/v4",
            scope: HookScope::Org("acme".into()),
            collection: "/api/v4/groups/acme/hooks",
            create: json!({"url": URL, "token": "s3cret", "merge_requests_events": true}),
            update_method: "PUT",
            listed: |e| json!({"id": 22, "url": URL, "merge_requests_events": !e.is_empty(), "note_events": true}),
            paging: Paging::NextPage,
            id: "22",
        },
        Host {
            provider: Provider::Gitea,
            base: "/api/v1",
            scope: HookScope::Repo("acme/infra".into()),
            collection: "/api/v1/repos/acme/infra/hooks",
            create: json!({"type": "gitea", "active": true, "events": events(Provider::Gitea),
                "config": {"url": URL, "content_type": "json", "secret": "s3cret"}}),
            update_method: "PATCH",
            listed: |e| json!({"id": 31, "type": "gitea", "active": true, "events": e, "config": {"url": URL, "content_type": "json"}}),
            paging: Paging::Link,
            id: "31",
        },
        Host {
            provider: Provider::BitbucketCloud,
            base: "/2.0",
            scope: HookScope::Repo("acme/infra".into()),
            collection: "/2.0/repositories/acme/infra/hooks",
            create: json!({"url": URL, "active": true, "events": events(Provider::BitbucketCloud), "secret": "s3cret"}),
            update_method: "PUT",
            listed: |e| json!({"uuid": "{4e1a}", "url": URL, "active": true, "events": e}),
            paging: Paging::Next,
            id: "%7B4e1a%7D",
        },
        Host {
            provider: Provider::BitbucketServer,
            base: "",
            scope: HookScope::Repo("ACME/infra".into()),
            collection: "/rest/api/1.0/projects/ACME/repos/infra/webhooks",
            create: json!({"name": "Landfall", "url": URL, "active": true, "events": events(Provider::BitbucketServer),
                "configuration": {"secret": "s3cret"}}),
            update_method: "PUT",
            listed: |e| json!({"id": 41, "name": "Landfall", "url": URL, "active": true, "events": e}),
            paging: Paging::Start,
            id: "41",
        },
    ]
}

/// A hook client for `provider` at `base` on the fake server.
pub(crate) fn hook_client(provider: Provider, server: &MockServer, base: &str) -> HookClient {
    let base = format!("{}{base}", server.uri());
    HookClient::new(provider, Some(&base), &SecretString::from("tok")).unwrap()
}

/// A fake Azure DevOps organisation `acme` whose repository `infra/tf` is `r-1` of `p-1`.
pub(crate) async fn azure_devops() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/acme/infra/_apis/git/repositories/tf"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "r-1", "project": {"id": "p-1"}})),
        )
        .mount(&server)
        .await;
    server
}

pub(crate) fn spec(secret_changed: bool) -> HookSpec {
    HookSpec {
        url: URL.into(),
        secret: SecretString::from("s3cret"),
        secret_changed,
    }
}

/// The create body as an edit sends it: GitHub's `update-webhook` takes no `name`, Gitea's
/// `EditHookOption` no `type`.
fn update_body(host: &Host) -> Value {
    let mut body = host.create.clone();
    if matches!(host.provider, Provider::Github | Provider::Gitea) {
        let fields = body.as_object_mut().unwrap();
        fields.remove("name");
        fields.remove("type");
    }
    body
}

/// The JSON bodies of the requests with `verb`.
async fn bodies(server: &MockServer, verb: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
        .collect()
}

async fn count(server: &MockServer, verb: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .count()
}

fn list_body(host: &Host, hooks: Vec<Value>) -> Value {
    if matches!(host.paging, Paging::Next | Paging::Start) {
        json!({"values": hooks, "isLastPage": true})
    } else {
        Value::Array(hooks)
    }
}

/// `ensure` against `server`, which lists a hook for the URL with other events: that hook is
/// updated with the documented edit body, once, and no hook is created.
async fn updated_not_duplicated(host: &Host, server: &MockServer) {
    let label = format!("{} {:?}", host.provider, host.scope);
    let hook_path = format!("{}/{}", host.collection, host.id);
    Mock::given(method(host.update_method))
        .and(path(hook_path.as_str()))
        .and(body_partial_json(update_body(host)))
        .respond_with(
            ResponseTemplate::new(200).set_body_json((host.listed)(events(host.provider))),
        )
        .expect(1)
        .mount(server)
        .await;
    let client = hook_client(host.provider, server, host.base);
    let change = client
        .ensure(&host.scope, &spec(false))
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:#}"));
    assert!(
        matches!(change.as_slice(), [HookChange::Updated(_)]),
        "{label}: {change:?}"
    );
    assert_eq!(count(server, "POST").await, 0, "{label}: no second hook");
    server.verify().await;
}

async fn create_update_and_leave(host: &Host) {
    let label = format!("{} {:?}", host.provider, host.scope);
    // No hook yet: one is created with the documented body.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(host.collection))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_body(host, vec![])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(host.collection))
        .and(body_partial_json(&host.create))
        .respond_with(
            ResponseTemplate::new(201).set_body_json((host.listed)(events(host.provider))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = hook_client(host.provider, &server, host.base);
    let change = client
        .ensure(&host.scope, &spec(true))
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:#}"));
    assert!(
        matches!(change.as_slice(), [HookChange::Created(_)]),
        "{label}: {change:?}"
    );
    server.verify().await;

    // A hook for the same URL with other events: updated in place, not duplicated.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(host.collection))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(list_body(host, vec![(host.listed)(&[])])),
        )
        .mount(&server)
        .await;
    updated_not_duplicated(host, &server).await;
    let updated = bodies(&server, host.update_method).await;
    assert!(
        updated[0].get("name").is_none() || host.provider != Provider::Github,
        "GitHub's update-webhook takes no name: {updated:?}"
    );
    assert!(
        updated[0].get("type").is_none(),
        "Gitea's EditHookOption has no type: {updated:?}"
    );

    // Already as wanted, same secret: nothing is written.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(host.collection))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list_body(host, vec![(host.listed)(events(host.provider))])),
        )
        .mount(&server)
        .await;
    let client = hook_client(host.provider, &server, host.base);
    let change = client.ensure(&host.scope, &spec(false)).await.unwrap();
    assert!(
        matches!(change.as_slice(), [HookChange::Unchanged(_)]),
        "{label}: {change:?}"
    );
    let writes =
        count(&server, "POST").await + count(&server, "PUT").await + count(&server, "PATCH").await;
    assert_eq!(writes, 0, "{label}");
}

#[tokio::test]
async fn every_host_creates_then_updates_the_hook_for_the_same_url_and_never_duplicates_it() {
    for host in hosts() {
        create_update_and_leave(&host).await;
    }
}

/// The function's subscriptions made sure of on the fake Azure DevOps `server`, the hook's
/// basic-auth password `pw` (`secret_changed` when it is new).
async fn ensure_azure_devops(server: &MockServer, secret_changed: bool) -> Vec<HookChange> {
    let client = hook_client(Provider::AzureDevops, server, "/acme");
    let spec = HookSpec {
        url: URL.into(),
        secret: SecretString::from("landfall:pw"),
        secret_changed,
    };
    client
        .ensure(&HookScope::Repo("infra/tf".into()), &spec)
        .await
        .unwrap()
}

#[tokio::test]
async fn azure_devops_subscribes_each_event_to_the_function_with_basic_auth() {
    let server = azure_devops().await;
    let existing = json!({"id": "s-1", "status": "enabled", "eventType": "git.pullrequest.created",
        "publisherInputs": {"projectId": "p-1", "repository": "r-1"}, "consumerInputs": {"url": URL}});
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 1, "value": [existing]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT")).and(path("/acme/_apis/hooks/subscriptions/s-1"))
        .and(body_partial_json(json!({"eventType": "git.pullrequest.created", "consumerId": "webHooks",
            "consumerActionId": "httpRequest", "consumerInputs": {"url": URL, "basicAuthUsername": "landfall", "basicAuthPassword": "pw"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "s-1"})))
        .expect(1).mount(&server).await;
    for (event, version) in [
        ("git.pullrequest.updated", "1.0"),
        ("git.pullrequest.merged", "1.0"),
        // 1.0 comment payloads do not name the pull request: the webhook needs 2.0.
        ("ms.vss-code.git-pullrequest-comment-event", "2.0"),
    ] {
        Mock::given(method("POST"))
            .and(path("/acme/_apis/hooks/subscriptions"))
            .and(body_partial_json(
                json!({"publisherId": "tfs", "eventType": event, "resourceVersion": version,
                "publisherInputs": {"projectId": "p-1", "repository": "r-1"}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "s-new"})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let changes = ensure_azure_devops(&server, true).await;
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(changes[0], HookChange::Updated("s-1".into()));
    server.verify().await;
}

#[tokio::test]
async fn azure_devops_moves_a_comment_subscription_of_payload_version_1_to_2() {
    let server = azure_devops().await;
    let subscription = |id: &str, event: &str, version: &str| {
        json!({"id": id, "status": "enabled", "eventType": event, "resourceVersion": version,
            "publisherInputs": {"projectId": "p-1", "repository": "r-1"},
            "consumerInputs": {"url": URL}})
    };
    let listed = vec![
        subscription("s-1", "git.pullrequest.created", "1.0"),
        subscription("s-2", "git.pullrequest.updated", "1.0"),
        subscription("s-3", "git.pullrequest.merged", "1.0"),
        subscription("s-4", "ms.vss-code.git-pullrequest-comment-event", "1.0"),
    ];
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 4, "value": listed})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/acme/_apis/hooks/subscriptions/s-4"))
        .and(body_partial_json(json!({"resourceVersion": "2.0"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "s-4"})))
        .expect(1)
        .mount(&server)
        .await;
    let changes = ensure_azure_devops(&server, false).await;
    assert_eq!(
        changes,
        vec![
            HookChange::Unchanged("s-1".into()),
            HookChange::Unchanged("s-2".into()),
            HookChange::Unchanged("s-3".into()),
            HookChange::Updated("s-4".into()),
        ]
    );
    assert_eq!(count(&server, "POST").await, 0);
    server.verify().await;
}

/// A hook of another tool on the same host: never touched.
fn other_hook(host: &Host) -> Value {
    let mut other: Value = serde_json::from_str(
        &(host.listed)(events(host.provider))
            .to_string()
            .replace(URL, "https://ci.example/hook"),
    )
    .unwrap();
    other["id"] = json!(999);
    other["uuid"] = json!("{other}");
    other
}

#[tokio::test]
async fn every_host_deletes_the_hook_for_the_url_at_its_documented_endpoint_and_nothing_else() {
    for host in hosts() {
        let label = format!("{} {:?}", host.provider, host.scope);
        let server = MockServer::start().await;
        let listed = vec![other_hook(&host), (host.listed)(events(host.provider))];
        Mock::given(method("GET"))
            .and(path(host.collection))
            .respond_with(ResponseTemplate::new(200).set_body_json(list_body(&host, listed)))
            .mount(&server)
            .await;
        let hook_path = format!("{}/{}", host.collection, host.id);
        Mock::given(method("DELETE"))
            .and(path(hook_path.as_str()))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let client = hook_client(host.provider, &server, host.base);
        let removed = client
            .remove(&host.scope, URL)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:#}"));
        assert_eq!(removed.len(), 1, "{label}: {removed:?}");
        assert_eq!(count(&server, "DELETE").await, 1, "{label}: only ours");
        server.verify().await;

        // Gone already: nothing to delete, and no error.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(host.collection))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(list_body(&host, vec![other_hook(&host)])),
            )
            .mount(&server)
            .await;
        let client = hook_client(host.provider, &server, host.base);
        let removed = client.remove(&host.scope, URL).await.unwrap();
        assert!(removed.is_empty(), "{label}: {removed:?}");
        assert_eq!(count(&server, "DELETE").await, 0, "{label}");
    }
}

#[tokio::test]
async fn azure_devops_deletes_the_repositorys_subscriptions_to_the_function() {
    let server = azure_devops().await;
    let subscription = |id: &str, repo: &str| {
        json!({"id": id, "status": "enabled", "eventType": "git.pullrequest.created",
            "publisherInputs": {"projectId": "p-1", "repository": repo}, "consumerInputs": {"url": URL}})
    };
    // Two pages: the second asked for with the first's continuation token.
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .and(wiremock::matchers::query_param("continuationToken", "t-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 1, "value": [subscription("s-3", "r-1")]})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 2, "value": [
                    subscription("s-1", "r-1"), subscription("s-2", "r-2")]}))
                .insert_header("x-ms-continuationtoken", "t-2"),
        )
        .mount(&server)
        .await;
    for id in ["s-1", "s-3"] {
        Mock::given(method("DELETE"))
            .and(path(format!("/acme/_apis/hooks/subscriptions/{id}")))
            .and(wiremock::matchers::query_param("api-version", "7.1"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = hook_client(Provider::AzureDevops, &server, "/acme");
    let removed = client
        .remove(&HookScope::Repo("infra/tf".into()), URL)
        .await
        .unwrap();
    assert_eq!(removed, ["s-1", "s-3"]);
    assert_eq!(
        count(&server, "DELETE").await,
        2,
        "not another repository's"
    );
    server.verify().await;
}

/// Page one holds another tool's hook and points at page two, which holds ours.
async fn two_pages(host: &Host, server: &MockServer) {
    let (key, value) = if host.paging == Paging::Start {
        ("start", "1")
    } else {
        ("page", "2")
    };
    Mock::given(method("GET"))
        .and(path(host.collection))
        .and(wiremock::matchers::query_param(key, value))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(list_body(host, vec![(host.listed)(&[])])),
        )
        .with_priority(1)
        .mount(server)
        .await;
    let next = format!("{}{}?page=2", server.uri(), host.collection);
    let other = other_hook(host);
    let first = match host.paging {
        Paging::Link => ResponseTemplate::new(200)
            .set_body_json(json!([other]))
            .insert_header("link", format!("<{next}>; rel=\"next\"").as_str()),
        Paging::NextPage => ResponseTemplate::new(200)
            .set_body_json(json!([other]))
            .insert_header("x-next-page", "2"),
        Paging::Next => {
            ResponseTemplate::new(200).set_body_json(json!({"values": [other], "next": next}))
        }
        Paging::Start => ResponseTemplate::new(200)
            .set_body_json(json!({"values": [other], "isLastPage": false, "nextPageStart": 1})),
    };
    Mock::given(method("GET"))
        .and(path(host.collection))
        .respond_with(first)
        .mount(server)
        .await;
}

#[tokio::test]
async fn every_host_follows_every_page_so_a_hook_on_page_two_is_updated_not_duplicated() {
    for host in hosts() {
        let label = format!("{} {:?}", host.provider, host.scope);
        let server = MockServer::start().await;
        two_pages(&host, &server).await;
        updated_not_duplicated(&host, &server).await;
        assert_eq!(count(&server, "GET").await, 2, "{label}: both pages read");
    }
}
