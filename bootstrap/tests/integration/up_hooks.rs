//! Webhook registration against a fake host per VCS adapter (wiremock): the documented
//! endpoints and bodies, an existing hook for the same URL updated and never duplicated, and one
//! already as wanted left alone.

use landfall_function::event::Provider;
use landfall_function::vcs::hooks::{HookChange, HookClient, HookScope, HookSpec, events};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const URL: &str = "https://abc.lambda-url.us-east-1.on.aws/";

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
    /// Whether the list is a page object with `values`.
    paged: bool,
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
            paged: false,
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
            paged: false,
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
            paged: false,
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
            paged: false,
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
            paged: false,
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
            paged: true,
            id: "%7B4e1a%7D",
        },
        Host {
            provider: Provider::BitbucketServer,
            base: "",
            scope: HookScope::Repo("ACME/infra".into()),
            collection: "/rest/api/latest/projects/ACME/repos/infra/webhooks",
            create: json!({"name": "Landfall", "url": URL, "active": true, "events": events(Provider::BitbucketServer),
                "configuration": {"secret": "s3cret"}}),
            update_method: "PUT",
            listed: |e| json!({"id": 41, "name": "Landfall", "url": URL, "active": true, "events": e}),
            paged: true,
            id: "41",
        },
    ]
}

/// A hook client for `provider` at `base` on the fake server.
fn hook_client(provider: Provider, server: &MockServer, base: &str) -> HookClient {
    let base = format!("{}{base}", server.uri());
    HookClient::new(provider, Some(&base), &SecretString::from("tok")).unwrap()
}

/// A fake Azure DevOps organisation `acme` whose repository `infra/tf` is `r-1` of `p-1`.
async fn azure_devops() -> MockServer {
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

fn spec(secret_changed: bool) -> HookSpec {
    HookSpec {
        url: URL.into(),
        secret: SecretString::from("s3cret"),
        secret_changed,
    }
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
    if host.paged {
        json!({"values": hooks, "isLastPage": true})
    } else {
        Value::Array(hooks)
    }
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
    let hook_path = format!("{}/{}", host.collection, host.id);
    Mock::given(method(host.update_method))
        .and(path(hook_path.as_str()))
        .and(body_partial_json(&host.create))
        .respond_with(
            ResponseTemplate::new(200).set_body_json((host.listed)(events(host.provider))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = hook_client(host.provider, &server, host.base);
    let change = client
        .ensure(&host.scope, &spec(false))
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:#}"));
    assert!(
        matches!(change.as_slice(), [HookChange::Updated(_)]),
        "{label}: {change:?}"
    );
    assert_eq!(count(&server, "POST").await, 0, "{label}: no second hook");
    server.verify().await;

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
    Mock::given(method("POST"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .and(body_partial_json(
            json!({"publisherId": "tfs", "resourceVersion": "1.0",
            "publisherInputs": {"projectId": "p-1", "repository": "r-1"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "s-new"})))
        .expect(3)
        .mount(&server)
        .await;
    let client = hook_client(Provider::AzureDevops, &server, "/acme");
    let spec = HookSpec {
        url: URL.into(),
        secret: SecretString::from("landfall:pw"),
        secret_changed: true,
    };
    let changes = client
        .ensure(&HookScope::Repo("infra/tf".into()), &spec)
        .await
        .unwrap();
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(changes[0], HookChange::Updated("s-1".into()));
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
    Mock::given(method("GET"))
        .and(path("/acme/_apis/hooks/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": 3, "value": [
            subscription("s-1", "r-1"), subscription("s-2", "r-2"), subscription("s-3", "r-1")]})),
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
