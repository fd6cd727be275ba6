//! The HTTP handler: one request in, one response out, the same under Lambda and `serve`.
//!
//! The flow of one webhook: refuse bodies over the limit (by `Content-Length` first, then while
//! reading); authenticate the raw body; parse it into an [`Event`]; check the repository against
//! the allowlist; refuse a delivery without the host's delivery id (a replay of it could not be
//! told from a new delivery, see [`webhook::delivery_id`]); hand actionable events to the
//! [`EventSink`]; answer. Nothing slow happens before the answer: the sink records, later stages
//! act. Every [`Rejection`] becomes its status in [`Rejection::status`], the one place where
//! errors meet HTTP.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use serde_json::json;
use tracing::{Instrument, field};

use crate::allowlist::RepoAllowlist;
use crate::event::{Event, EventKind, RepoName};
use crate::webhook::{self, AuthError, ParseError, Verifier};

/// Where accepted events go. Production records them in the store (a later stage); until then,
/// and in tests, [`LogSink`] logs them.
pub trait EventSink: Send + Sync + 'static {
    /// Records one actionable event. Must be quick: the host is waiting for the answer.
    fn record(&self, event: &Event) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// The sink could not record an event; the host should redeliver (500).
#[derive(Debug, thiserror::Error)]
#[error("cannot record the event")]
pub struct SinkError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// A sink that logs each event, for deployments without a store yet and for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        tracing::info!(
            event = event.kind.name(),
            head_sha = event.head_sha.as_ref().map(crate::event::CommitSha::as_str),
            "event recorded"
        );
        Ok(())
    }
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Only `POST` delivers webhooks.
    #[error("method {0} is not allowed")]
    MethodNotAllowed(Method),
    /// The body is over the limit.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read.
    #[error("cannot read the request body")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The delivery is not authentic.
    #[error("unauthenticated delivery")]
    Unauthorized(#[source] AuthError),
    /// The delivery is authentic but not a payload we can read.
    #[error("invalid payload")]
    BadPayload(#[source] ParseError),
    /// The repository is not on the allowlist.
    #[error("repository {0} is not allowed")]
    RepoNotAllowed(RepoName),
    /// An actionable event that names no repository, so the allowlist cannot be checked.
    #[error("the delivery names no repository")]
    UnknownRepo,
    /// The delivery has no delivery id, so a replay of it could not be told from a new one.
    #[error(
        "the delivery has no {expected}: deliveries without the host's delivery id are refused, \
         since a replay could not be told from a new delivery"
    )]
    MissingDeliveryId {
        /// Where the id should have been.
        expected: &'static str,
    },
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl Rejection {
    /// The HTTP status for this rejection: the one place errors become statuses.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyRead(_)
            | Rejection::BadPayload(_)
            | Rejection::MissingDeliveryId { .. } => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Rejection::RepoNotAllowed(_) | Rejection::UnknownRepo => StatusCode::FORBIDDEN,
            Rejection::Sink(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response body. Authentication failures say nothing that would help a forger.
    fn body(&self) -> serde_json::Value {
        match self {
            Rejection::Unauthorized(_) => json!({ "error": "unauthorized" }),
            Rejection::TooLarge { limit } => {
                json!({ "error": "payload too large", "limit_bytes": limit })
            }
            Rejection::BadPayload(e) => json!({ "error": error_chain(e) }),
            Rejection::Sink(_) => json!({ "error": "internal error" }),
            other => json!({ "error": other.to_string() }),
        }
    }
}

/// What the handler did with an authentic delivery.
#[derive(Debug)]
pub enum Handled {
    /// An actionable event, recorded (202).
    Accepted(Event),
    /// A ping, an ignored delivery or a comment without a command (200).
    Acknowledged(Event),
}

/// The webhook handler: verifier, allowlist, body limit and sink, built once at start-up.
#[derive(Debug)]
pub struct WebhookHandler<S = LogSink> {
    verifier: Verifier,
    allowlist: RepoAllowlist,
    max_body_bytes: usize,
    sink: S,
}

impl<S: EventSink> WebhookHandler<S> {
    /// A handler that authenticates with `verifier`, admits repositories on `allowlist`, refuses
    /// bodies over `max_body_bytes` and records accepted events in `sink`.
    pub fn new(
        verifier: Verifier,
        allowlist: RepoAllowlist,
        max_body_bytes: usize,
        sink: S,
    ) -> Self {
        WebhookHandler {
            verifier,
            allowlist,
            max_body_bytes,
            sink,
        }
    }

    /// A handler for `config`, with the secrets read at start-up.
    pub fn from_config(
        config: &crate::config::Config,
        secrets: &crate::config::Secrets,
        sink: S,
    ) -> Self {
        let verifier = Verifier::new(
            config.vcs,
            secrets.webhook_secret.clone(),
            config.allow_sha1,
        );
        Self::new(
            verifier,
            config
                .allowlist
                .clone()
                .with_vcs_url(config.vcs_url.as_deref()),
            config.max_body_bytes,
            sink,
        )
    }

    /// The sink, for tests and later stages.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The synchronous part of handling: authenticate, parse, check the repository, and require
    /// the delivery id. Pure but for logging; this is what the benchmark measures.
    pub fn admit(&self, headers: &HeaderMap, body: &[u8]) -> Result<Event, Rejection> {
        if body.len() > self.max_body_bytes {
            return Err(Rejection::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        self.verifier
            .verify(headers, body)
            .map_err(Rejection::Unauthorized)?;
        let event = webhook::parse(self.verifier.provider(), headers, body)
            .map_err(Rejection::BadPayload)?;
        let span = tracing::Span::current();
        if let Some(delivery) = &event.delivery {
            span.record("delivery", delivery.as_str());
        }
        if let Some(repo) = &event.repo {
            span.record("repo", repo.as_str());
        }
        if let Some(number) = event.number {
            span.record("pr", number.0);
        }
        match &event.repo {
            Some(repo) if !self.allowlist.allows(repo, event.clone_url.as_deref()) => {
                return Err(Rejection::RepoNotAllowed(repo.clone()));
            }
            None if event.is_actionable() => return Err(Rejection::UnknownRepo),
            _ => {}
        }
        // Every delivery, pings and ignored ones too: each host sends its id with all of them.
        if event
            .delivery
            .as_ref()
            .is_none_or(|d| d.as_str().trim().is_empty())
        {
            return Err(Rejection::MissingDeliveryId {
                expected: webhook::expected_delivery_id(self.verifier.provider(), headers),
            });
        }
        Ok(event)
    }

    /// Handles a delivery whose body has been read: authenticate, parse, check, record.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Handled, Rejection> {
        let event = self.admit(headers, body)?;
        if !event.is_actionable() {
            return Ok(Handled::Acknowledged(event));
        }
        self.sink.record(&event).await?;
        Ok(Handled::Accepted(event))
    }

    /// Serves one HTTP request: reads the body within the limit, handles it, and answers.
    pub async fn respond<B>(&self, request: Request<B>) -> Response<String>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let provider = self.verifier.provider();
        let span = tracing::info_span!(
            "webhook",
            provider = provider.as_str(),
            delivery = field::Empty,
            repo = field::Empty,
            pr = field::Empty,
        );
        if let Some(delivery) = webhook::delivery_id(provider, request.headers()) {
            span.record("delivery", delivery.as_str());
        }
        async move {
            if request.method() == Method::GET && matches!(request.uri().path(), "/healthz" | "/health") {
                return json_response(StatusCode::OK, &json!({ "status": "ok" }));
            }
            let outcome = match self.read_body(request).await {
                Ok((headers, body)) => self.handle(&headers, &body).await,
                Err(rejection) => Err(rejection),
            };
            match outcome {
                Ok(Handled::Accepted(event)) => {
                    tracing::info!(event = event.kind.name(), "accepted");
                    json_response(StatusCode::ACCEPTED, &json!({ "status": "accepted", "event": event.view(Some(true)) }))
                }
                Ok(Handled::Acknowledged(event)) => {
                    let view = event.view(Some(true));
                    if matches!(&event.kind, EventKind::Ignored(reason) if reason.needs_operator()) {
                        // Deliveries that should act are lost until the host is set up right.
                        tracing::warn!(event = event.kind.name(), reason = view.reason.as_deref(), "acknowledged, but the VCS host needs fixing");
                    } else {
                        tracing::info!(event = event.kind.name(), reason = view.reason.as_deref(), "acknowledged");
                    }
                    json_response(StatusCode::OK, &json!({ "status": event.kind.name(), "event": view }))
                }
                Err(rejection) => {
                    let status = rejection.status();
                    if status.is_server_error() {
                        tracing::error!(status = status.as_u16(), error = %error_chain(&rejection), "rejected");
                    } else {
                        // A client's bad request is not our error: log it below error level.
                        tracing::warn!(status = status.as_u16(), error = %error_chain(&rejection), "rejected");
                    }
                    json_response(status, &rejection.body())
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn read_body<B>(&self, request: Request<B>) -> Result<(HeaderMap, Bytes), Rejection>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.method() != Method::POST {
            return Err(Rejection::MethodNotAllowed(request.method().clone()));
        }
        let limit = self.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Rejection::TooLarge { limit });
        }
        let (parts, body) = request.into_parts();
        let collected = Limited::new(body, limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Rejection::TooLarge { limit }
            } else {
                Rejection::BodyRead(e)
            }
        })?;
        Ok((parts.headers, collected.to_bytes()))
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .expect("a status and a static header always build a response")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The handler as a `tower` service over any request body: what `lambda_http::run` and the
/// `serve` loop both call.
#[derive(Debug)]
pub struct WebhookService<S = LogSink>(Arc<WebhookHandler<S>>);

impl<S> Clone for WebhookService<S> {
    fn clone(&self) -> Self {
        WebhookService(Arc::clone(&self.0))
    }
}

impl<S: EventSink> WebhookService<S> {
    /// Wraps a handler.
    pub fn new(handler: Arc<WebhookHandler<S>>) -> Self {
        WebhookService(handler)
    }
}

impl<S, B> tower_service::Service<Request<B>> for WebhookService<S>
where
    S: EventSink,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let handler = Arc::clone(&self.0);
        Box::pin(async move { Ok(handler.respond(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http_body_util::Full;
    use secrecy::SecretString;

    use super::*;
    use crate::event::Provider;
    use crate::webhook::auth::sign;

    #[derive(Default)]
    struct MemorySink(Mutex<Vec<Event>>);

    impl EventSink for MemorySink {
        async fn record(&self, event: &Event) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(event.clone());
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

            let (status, json) =
                status_and_json(&h, post(&headers(&with_id, true), &with_id)).await;
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
            crate::webhook::auth::sign_standard_webhook(SIGNING_TOKEN, id, timestamp, body)
                .unwrap();
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
}
