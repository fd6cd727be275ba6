use std::sync::Mutex;

use http_body_util::Full;
use secrecy::SecretString;

use super::*;
use crate::event::{CommentId, Provider};
use crate::webhook::auth::sign;

/// What was recorded, then the changed comments that were noted.
#[derive(Default)]
struct MemorySink(Mutex<Vec<Event>>, Mutex<Vec<Event>>);

impl EventSink for MemorySink {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn note_changed_comment(&self, event: &Event) -> Result<(), SinkError> {
        self.1.lock().unwrap().push(event.clone());
        Ok(())
    }
}

struct FailingSink;

impl EventSink for FailingSink {
    async fn record(&self, _: &Event) -> Result<(), SinkError> {
        Err(SinkError("disk full".into()))
    }
}

fn handler<S: EventSink>(allowlist: &str, limit: usize, sink: S) -> WebhookHandler<S> {
    let verifier = Verifier::new(Provider::Github, SecretString::from("s".to_owned()), false);
    WebhookHandler::new(
        verifier,
        RepoAllowlist::parse(allowlist).unwrap(),
        limit,
        sink,
    )
}

const OPENED: &str = r#"{"action":"opened","number":5,"pull_request":{"number":5,"head":{"ref":"f","sha":"abc"},"base":{"ref":"main"}},"repository":{"full_name":"acme/infra"}}"#;

fn request(event: &str, body: &str, signed: bool) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", "d-1");
    if signed {
        let (name, value) = sign(Provider::Github, "s", body.as_bytes());
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

async fn status_and_json<S: EventSink>(
    h: &WebhookHandler<S>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, serde_json::Value) {
    let response = h.respond(req).await;
    (
        response.status(),
        serde_json::from_str(response.body()).unwrap(),
    )
}

#[tokio::test]
async fn a_signed_pull_request_is_accepted_and_recorded() {
    let h = handler("acme/*", 1 << 20, MemorySink::default());
    let (status, body) = status_and_json(&h, request("pull_request", OPENED, true)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["event"]["event"], "opened");
    assert_eq!(h.sink().0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unsigned_delivery_is_refused_without_detail() {
    let h = handler("*", 1 << 20, MemorySink::default());
    let (status, body) = status_and_json(&h, request("pull_request", OPENED, false)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({ "error": "unauthorized" }));
    assert!(h.sink().0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn repositories_outside_the_allowlist_are_forbidden() {
    let h = handler("other/*", 1 << 20, MemorySink::default());
    let (status, _) = status_and_json(&h, request("pull_request", OPENED, true)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let command = comment_by("alice", "landfall apply");
    let (status, _) = status_and_json(&h, request("issue_comment", &command, true)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Deliveries with nothing to do are acknowledged: an organisation hook sends them for every
    // repository, and a host disables a hook that keeps failing.
    let push = r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/infra"}}"#;
    let (status, body) = status_and_json(&h, request("push", push, true)).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ignored")));
    let chatter = comment_by("alice", "looks good to me");
    let (status, body) = status_and_json(&h, request("issue_comment", &chatter, true)).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("comment")));
    let edited = comment_by("alice", "landfall apply").replace(r#""created""#, r#""edited""#);
    let (status, _) = status_and_json(&h, request("issue_comment", &edited, true)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.sink().0.lock().unwrap().is_empty(), "nothing recorded");
    assert!(h.sink().1.lock().unwrap().is_empty(), "no edit noted for another repository");
    let allowed = handler("acme/*", 1 << 20, MemorySink::default());
    let (status, _) = status_and_json(&allowed, request("issue_comment", &edited, true)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(allowed.sink().1.lock().unwrap().len(), 1, "an allowed repository's edit is noted");
    // The bot's own comments change at every report: their edits are not noted.
    let bot = handler("acme/*", 1 << 20, MemorySink::default()).with_bot_user(Some("Landfall-Bot".into()));
    let by_bot = comment_by("landfall-bot", "landfall apply").replace(r#""created""#, r#""edited""#);
    let (status, _) = status_and_json(&bot, request("issue_comment", &by_bot, true)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bot.sink().1.lock().unwrap().is_empty(), "the bot's edit is not noted");
}

#[tokio::test]
async fn a_draft_is_not_planned_by_its_own_events_unless_the_operator_allows_drafts() {
    let draft = OPENED.replace(r#""number":5,"head""#, r#""number":5,"draft":true,"head""#);
    assert_ne!(draft, OPENED);
    let strict = handler("*", 1 << 20, MemorySink::default());
    let (status, body) = status_and_json(&strict, request("pull_request", &draft, true)).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ignored")));
    assert!(body["event"]["reason"].as_str().unwrap().contains("draft"), "{body}");
    for action in ["synchronize", "reopened"] {
        let pushed = draft.replace(r#""action":"opened""#, &format!(r#""action":"{action}""#));
        let (status, _) = status_and_json(&strict, request("pull_request", &pushed, true)).await;
        assert_eq!(status, StatusCode::OK, "{action}");
    }
    assert!(strict.sink().0.lock().unwrap().is_empty(), "nothing recorded");
    // Marked ready (the draft flag now false), the pull request is planned.
    let ready = OPENED.replace(r#""action":"opened""#, r#""action":"ready_for_review""#);
    let (status, _) = status_and_json(&strict, request("pull_request", &ready, true)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let lenient = handler("*", 1 << 20, MemorySink::default()).with_draft_prs(true);
    let (status, _) = status_and_json(&lenient, request("pull_request", &draft, true)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn oversized_bodies_are_refused_by_declared_length_and_while_reading() {
    let h = handler("*", 64, MemorySink::default());
    let (status, body) = status_and_json(&h, request("pull_request", OPENED, true)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["limit_bytes"], 64);
    let mut req = request("pull_request", OPENED, true);
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, "10".parse().unwrap());
    assert_eq!(h.respond(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn pings_and_ignored_events_are_acknowledged_but_not_recorded() {
    let h = handler("*", 1 << 20, MemorySink::default());
    let (status, body) = status_and_json(&h, request("ping", r#"{"zen":"x"}"#, true)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ping"))
    );
    let (status, body) = status_and_json(
        &h,
        request("push", r#"{"repository":{"full_name":"a/b"}}"#, true),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    assert!(h.sink().0.lock().unwrap().is_empty());
}

fn comment_by(sender: &str, body: &str) -> String {
    json!({
        "action": "created",
        "issue": { "number": 5, "pull_request": { "url": "u" } },
        "comment": { "id": 1, "body": body },
        "sender": { "login": sender, "id": 7 },
        "repository": { "full_name": "acme/infra" },
    })
    .to_string()
}

#[tokio::test]
async fn a_mention_of_another_login_or_the_bots_own_comment_is_acknowledged_but_not_recorded() {
    let plain = handler("*", 1 << 20, MemorySink::default());
    let bot = handler("*", 1 << 20, MemorySink::default()).with_bot_user(Some("Landfall-Bot".into()));
    for (h, sender, body, recorded) in [
        (&bot, "alice", "@landfall-bot plan", true),
        (&bot, "alice", "landfall plan", true),
        (&bot, "alice", "@atlantis plan", false),
        (&plain, "alice", "@landfall-bot plan", false),
        // The bot's own comments are never commands.
        (&bot, "landfall-bot", "landfall plan", false),
        (&plain, "landfall-bot", "landfall plan", true),
    ] {
        let before = h.sink().0.lock().unwrap().len();
        let delivery = comment_by(sender, body);
        let (status, view) = status_and_json(h, request("issue_comment", &delivery, true)).await;
        let after = h.sink().0.lock().unwrap().len();
        assert_eq!(after - before, usize::from(recorded), "{body}: {view}");
        let expected = if recorded { StatusCode::ACCEPTED } else { StatusCode::OK };
        assert_eq!(status, expected, "{body}: {view}");
        if !recorded {
            assert_eq!(view["status"], "ignored", "{body}: {view}");
        }
    }
}

#[tokio::test]
async fn an_authentic_but_malformed_payload_is_a_bad_request() {
    let h = handler("*", 1 << 20, MemorySink::default());
    let (status, body) = status_and_json(&h, request("pull_request", "{not json", true)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("github pull_request")
    );
}

#[tokio::test]
async fn a_failing_sink_asks_for_redelivery() {
    let h = handler("*", 1 << 20, FailingSink);
    let (status, body) = status_and_json(&h, request("pull_request", OPENED, true)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({ "error": "internal error" }));
}

#[tokio::test]
async fn only_post_delivers_but_get_healthz_answers() {
    let h = handler("*", 1 << 20, MemorySink::default());
    let get = Request::get("/").body(Full::new(Bytes::new())).unwrap();
    assert_eq!(
        h.respond(get).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let health = Request::get("/healthz")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(h.respond(health).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_delivery_without_its_id_is_refused_and_not_recorded() {
    let h = handler("*", 1 << 20, MemorySink::default());
    for (event, body) in [("pull_request", OPENED), ("ping", r#"{"zen":"x"}"#)] {
        let mut req = request(event, body, true);
        req.headers_mut().remove("x-github-delivery");
        let (status, json) = status_and_json(&h, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{event}: {json}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("no X-GitHub-Delivery header"), "{error}");
        let mut req = request(event, body, true);
        req.headers_mut()
            .insert("x-github-delivery", "  ".parse().unwrap());
        assert_eq!(h.respond(req).await.status(), StatusCode::BAD_REQUEST);
    }
    assert!(h.sink().0.lock().unwrap().is_empty());
    // Unsigned and id-less: still a bare 401, nothing said about the id.
    let mut req = request("pull_request", OPENED, false);
    req.headers_mut().remove("x-github-delivery");
    let (status, json) = status_and_json(&h, req).await;
    assert_eq!(
        (status, json),
        (StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }))
    );
}

fn corpus(rel: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn handler_for(provider: Provider, secret: &str) -> WebhookHandler<MemorySink> {
    WebhookHandler::new(
        Verifier::new(provider, SecretString::from(secret.to_owned()), false),
        RepoAllowlist::parse("**").unwrap(),
        1 << 20,
        MemorySink::default(),
    )
}

fn post(headers: &[(&str, String)], body: &[u8]) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Full::new(Bytes::from(body.to_vec()))).unwrap()
}

/// A host's pull-request delivery in the shared corpus, and where its delivery id goes.
struct Host {
    provider: Provider,
    /// The corpus file.
    delivery: &'static str,
    /// The header naming the event.
    event: (&'static str, &'static str),
    /// The delivery id's header; `None` where the payload carries it (Azure DevOps).
    id_header: Option<&'static str>,
    /// What a refusal names as missing.
    named: &'static str,
}

/// One real pull-request delivery per host from the shared corpus, signed the host's way:
/// refused (400, nothing recorded) without the host's delivery id, accepted with it.
#[tokio::test]
async fn every_host_refuses_a_delivery_without_its_own_delivery_id() {
    let github = "github-octokit-webhooks/pull_request/opened.payload.json";
    let cases = [
        Host {
            provider: Provider::Github,
            delivery: github,
            event: ("X-GitHub-Event", "pull_request"),
            id_header: Some("X-GitHub-Delivery"),
            named: "X-GitHub-Delivery",
        },
        Host {
            provider: Provider::Gitlab,
            delivery: "atlantis-webhooks/gitlab/gitlab-merge-request-event.json",
            event: ("X-Gitlab-Event", "Merge Request Hook"),
            id_header: Some("X-Gitlab-Event-UUID"),
            named: "X-Gitlab-Event-UUID",
        },
        Host {
            provider: Provider::BitbucketCloud,
            delivery: "atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-pull-event-created.json",
            event: ("X-Event-Key", "pullrequest:created"),
            id_header: Some("X-Request-UUID"),
            named: "X-Request-UUID",
        },
        Host {
            provider: Provider::BitbucketServer,
            delivery: "atlantis-webhooks/bitbucket-server/bitbucket-server-pull-event-created.json",
            event: ("X-Event-Key", "pr:opened"),
            id_header: Some("X-Request-Id"),
            named: "X-Request-Id",
        },
        Host {
            provider: Provider::Gitea,
            delivery: github,
            event: ("X-Gitea-Event", "pull_request"),
            id_header: Some("X-Gitea-Delivery"),
            named: "X-Gitea-Delivery",
        },
        Host {
            provider: Provider::AzureDevops,
            delivery: "azuredevops-mcdafydd-go-azuredevops/git.pullrequest.created_test.json",
            event: ("X-VSS-ActivityId", "a"),
            id_header: None,
            named: "notification id",
        },
    ];
    let secret = "user:s3cret";
    for Host {
        provider,
        delivery: rel,
        event,
        id_header,
        named,
    } in cases
    {
        let with_id = corpus(rel);
        let without_id = if provider == Provider::AzureDevops {
            // Azure DevOps sends its id in the payload only.
            let mut value: serde_json::Value = serde_json::from_slice(&with_id).unwrap();
            assert!(value.as_object_mut().unwrap().remove("id").is_some());
            serde_json::to_vec(&value).unwrap()
        } else {
            with_id.clone()
        };
        let h = handler_for(provider, secret);
        let headers = |body: &[u8], id: bool| {
            let (name, value) = sign(provider, secret, body);
            let mut pairs = vec![(event.0, event.1.to_owned()), (name, value)];
            if let (true, Some(header)) = (id, id_header) {
                pairs.push((header, format!("{provider}-delivery-1")));
            }
            pairs
        };
        let (status, json) =
            status_and_json(&h, post(&headers(&without_id, false), &without_id)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{provider}: {json}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(named), "{provider}: {error}");
        assert!(h.sink().0.lock().unwrap().is_empty(), "{provider}");

        let (status, json) = status_and_json(&h, post(&headers(&with_id, true), &with_id)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{provider}: {json}");
        let recorded = h.sink().0.lock().unwrap();
        assert_eq!(recorded.len(), 1, "{provider}");
        assert!(recorded[0].delivery.is_some(), "{provider}");
        if id_header.is_some() {
            let expected = format!("{provider}-delivery-1");
            assert_eq!(recorded[0].delivery.as_ref().unwrap().as_str(), expected);
        }
    }
}

const SIGNING_TOKEN: &str = "whsec_bGFuZGZhbGwtZ2l0bGFiLXNpZ25pbmcta2V5LTMyYiE=";
const GITLAB_MR: &str = "atlantis-webhooks/gitlab/gitlab-merge-request-event.json";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A GitLab delivery signed with [`SIGNING_TOKEN`] as `id`, carrying `event_uuid`.
fn signed_gitlab(id: &str, event_uuid: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = now();
    let signature =
        crate::webhook::auth::sign_standard_webhook(SIGNING_TOKEN, id, timestamp, body).unwrap();
    vec![
        ("X-Gitlab-Event", "Merge Request Hook".to_owned()),
        ("X-Gitlab-Event-UUID", event_uuid.to_owned()),
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}

#[tokio::test]
async fn a_signed_gitlab_delivery_is_recorded_under_its_signed_webhook_id() {
    let h = handler_for(Provider::Gitlab, SIGNING_TOKEN);
    let body = corpus(GITLAB_MR);
    // The delivery, then a replay of it under a fresh event UUID: both carry the signed id,
    // which the store's de-duplication then refuses the second time.
    for uuid in ["uuid-first", "uuid-replayed"] {
        let (status, json) =
            status_and_json(&h, post(&signed_gitlab("msg_signed_1", uuid, &body), &body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    }
    let ids: Vec<String> = h
        .sink()
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.delivery.as_ref().unwrap().as_str().to_owned())
        .collect();
    assert_eq!(ids, ["msg_signed_1", "msg_signed_1"]);
    // Changing the id breaks the signature.
    let mut headers = signed_gitlab("msg_signed_1", "uuid-3", &body);
    headers[2].1 = "msg_signed_2".to_owned();
    assert_eq!(
        h.respond(post(&headers, &body)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(h.sink().0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn with_a_signing_token_an_unsigned_gitlab_delivery_carrying_it_is_refused() {
    let h = handler_for(Provider::Gitlab, SIGNING_TOKEN);
    let body = corpus(GITLAB_MR);
    let headers = [
        ("X-Gitlab-Event", "Merge Request Hook".to_owned()),
        ("X-Gitlab-Event-UUID", "uuid-1".to_owned()),
        ("X-Gitlab-Token", SIGNING_TOKEN.to_owned()),
    ];
    let (status, json) = status_and_json(&h, post(&headers, &body)).await;
    assert_eq!(
        (status, json),
        (StatusCode::UNAUTHORIZED, json!({ "error": "unauthorized" }))
    );
    assert!(h.sink().0.lock().unwrap().is_empty());
}

#[test]
fn every_rejection_maps_to_a_client_or_server_status() {
    let cases = [
        (
            Rejection::Unauthorized(AuthError::Missing { expected: "x" }),
            401,
        ),
        (Rejection::TooLarge { limit: 1 }, 413),
        (Rejection::RepoNotAllowed(RepoName::new("a/b")), 403),
        (Rejection::UnknownRepo, 403),
        (Rejection::MissingDeliveryId { expected: "x" }, 400),
        (Rejection::MethodNotAllowed(Method::PUT), 405),
        (Rejection::Sink(SinkError("x".into())), 500),
    ];
    for (rejection, status) in cases {
        assert_eq!(rejection.status().as_u16(), status, "{rejection}");
    }
}

/// Bitbucket's event key is a header the signature does not cover: a signed delivery of a
/// changed comment is noted by the comment's id (so that it cannot run again as a new one), and a
/// deleted comment sent again as a new one is no command.
#[tokio::test]
async fn a_changed_bitbucket_comment_is_noted_by_its_id_and_a_deleted_one_runs_nothing() {
    let raw = corpus("atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-comment-event.json");
    let command = String::from_utf8(raw).unwrap().replace("my comment", "landfall apply");
    let send = |key: &str, id: &str, body: &str| {
        let (name, value) = sign(Provider::BitbucketCloud, "s", body.as_bytes());
        let headers = [
            ("X-Event-Key", key.to_owned()),
            ("X-Request-UUID", id.to_owned()),
            (name, value),
        ];
        post(&headers, body.as_bytes())
    };
    let h = handler_for(Provider::BitbucketCloud, "s");
    let (status, _) = status_and_json(&h, send("pullrequest:comment_updated", "u-1", &command)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.sink().0.lock().unwrap().is_empty(), "an edit is not recorded");
    let noted: Vec<_> = h.sink().1.lock().unwrap().iter().map(|e| e.comment_id.clone()).collect();
    assert_eq!(noted, [Some(CommentId("70506195".to_owned()))]);

    let deleted = command.replace(r#""deleted": false"#, r#""deleted": true"#);
    assert_ne!(deleted, command);
    let (status, json) = status_and_json(&h, send("pullrequest:comment_created", "u-2", &deleted)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(h.sink().0.lock().unwrap().is_empty(), "a deleted comment is no command");
    assert_eq!(h.sink().1.lock().unwrap().len(), 2, "the deletion is noted too");
    // An edit whose text is no command is not noted: sent again as new, it runs nothing anyway.
    let chatter = command.replace("landfall apply", "looks good");
    let (status, _) = status_and_json(&h, send("pullrequest:comment_updated", "u-4", &chatter)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.sink().1.lock().unwrap().len(), 2, "chatter is not noted");
    let (status, _) = status_and_json(&h, send("pullrequest:comment_created", "u-3", &command)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let recorded = h.sink().0.lock().unwrap();
    assert_eq!(recorded[0].comment_id, Some(CommentId("70506195".to_owned())));
}
