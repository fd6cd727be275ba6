//! The HTTP handler: one request in, one response out, the same under Lambda and `serve`.
//!
//! The flow of one webhook: refuse bodies over the limit (by `Content-Length` first, then while
//! reading); authenticate the raw body; parse it into an [`Event`]; check the repository against
//! the allowlist; refuse a delivery without the host's delivery id (a replay of it could not be
//! told from a new delivery, see [`webhook::delivery_id`]); hand actionable events to the
//! [`EventSink`] (and note a changed comment's id to it, see [`EventSink::note_changed_comment`]);
//! answer. Nothing slow happens before the answer: the sink records, later stages
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
use crate::event::{Event, EventKind, IgnoreReason, RepoName};
use crate::webhook::{self, AuthError, ParseError, Verifier};

/// Where accepted events go. Production records them in the store (a later stage); until then,
/// and in tests, [`LogSink`] logs them.
pub trait EventSink: Send + Sync + 'static {
    /// Records one actionable event. Must be quick: the host is waiting for the answer.
    fn record(&self, event: &Event) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Notes a comment that was edited or deleted, so that a signed delivery of it sent again
    /// as a new comment (an event type the signature does not cover) runs nothing. A sink
    /// that runs nothing notes nothing.
    fn note_changed_comment(
        &self,
        event: &Event,
    ) -> impl Future<Output = Result<(), SinkError>> + Send {
        let _ = event;
        async { Ok(()) }
    }

    /// Takes a runner's report (`POST /runs/report`, see [`crate::run::report_auth`]) with the
    /// bearer credential it came with. A sink that runs nothing takes none.
    fn run_report(
        &self,
        credential: Option<String>,
        body: Bytes,
    ) -> impl Future<Output = ReportAnswer> + Send {
        let _ = (credential, body);
        async { ReportAnswer::NotHere }
    }
}

/// The function's answer to a runner's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAnswer {
    /// Checked against its run and recorded (202).
    Recorded,
    /// This deployment takes no reports (404).
    NotHere,
    /// No credential, or not the one minted for the run the report names (401).
    Unauthorized,
    /// Not a report of its run: why (400).
    Invalid(String),
    /// The run is no longer in progress (recorded already, overtaken, released): why (409).
    Conflict(String),
    /// It could not be recorded now; the runner tries again (500).
    Failed,
}

impl ReportAnswer {
    fn response(&self) -> Response<String> {
        match self {
            Self::Recorded => json_response(StatusCode::ACCEPTED, &json!({ "status": "recorded" })),
            Self::NotHere => json_response(
                StatusCode::NOT_FOUND,
                &json!({ "error": "this deployment takes no run reports" }),
            ),
            Self::Unauthorized => json_response(
                StatusCode::UNAUTHORIZED,
                &json!({ "error": "unauthorized" }),
            ),
            Self::Invalid(why) => json_response(StatusCode::BAD_REQUEST, &json!({ "error": why })),
            Self::Conflict(why) => json_response(StatusCode::CONFLICT, &json!({ "error": why })),
            Self::Failed => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": "internal error" }),
            ),
        }
    }
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
    /// `LANDFALL_BOT_USER`: comments that @-mention another login, and its own, are ignored.
    bot_user: Option<String>,
    /// `LANDFALL_ALLOW_DRAFT_PRS`: unset, a draft's own events are ignored.
    allow_draft_prs: bool,
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
            bot_user: None,
            allow_draft_prs: false,
        }
    }

    /// The same handler, taking comments that @-mention `login` as addressed to it (and
    /// ignoring those that mention anyone else, and those `login` writes; without it, every
    /// @-mention is ignored).
    #[must_use]
    pub fn with_bot_user(mut self, login: Option<String>) -> Self {
        self.bot_user = login;
        self
    }

    /// The same handler, planning draft pull requests on their events too when `allow`.
    #[must_use]
    pub fn with_draft_prs(mut self, allow: bool) -> Self {
        self.allow_draft_prs = allow;
        self
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
        .with_bot_user(config.switches.bot_user.clone())
        .with_draft_prs(config.switches.allow_draft_prs)
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
        // A delivery with nothing to do (a branch push, a comment with no command) from outside
        // the allowlist is acknowledged like any other: group and organisation hooks send them
        // for every repository, and GitLab disables a hook that keeps answering 4xx.
        let checked = event.is_actionable() || event.kind == EventKind::Ping;
        match &event.repo {
            Some(repo) if checked && !self.allowlist.allows(repo, event.clone_url.as_deref()) => {
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

    /// Whether `event`, ignored, is a comment change the sink notes
    /// ([`EventSink::note_changed_comment`]): an edit or deletion whose text reads as a command
    /// (any other text runs nothing, whatever event it is sent again as), in an allowed
    /// repository (a hook over a whole organisation or group sends every repository's), by
    /// someone other than the bot (whose own comments change at every report).
    fn notes_change(&self, event: &Event) -> bool {
        if !matches!(event.kind, EventKind::Ignored(IgnoreReason::CommentChanged(_))) {
            return false;
        }
        let allowed = event
            .repo
            .as_ref()
            .is_some_and(|repo| self.allowlist.allows(repo, event.clone_url.as_deref()));
        let by_the_bot = event
            .sender
            .as_deref()
            .is_some_and(|login| crate::config::is_the_bot(self.bot_user.as_deref(), login));
        allowed
            && !by_the_bot
            && event
                .comment
                .as_deref()
                .and_then(crate::command::parse_comment)
                .is_some()
    }

    /// Handles a delivery whose body has been read: authenticate, parse, check, record.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Handled, Rejection> {
        let mut event = self.admit(headers, body)?;
        event.ignore_unaddressed(|login| {
            crate::config::is_the_bot(self.bot_user.as_deref(), login)
        });
        if !self.allow_draft_prs {
            event.ignore_draft();
        }
        if !event.is_actionable() {
            if self.notes_change(&event) {
                self.sink.note_changed_comment(&event).await?;
            }
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
            if request.uri().path() == crate::run::report_auth::REPORT_PATH {
                return self.take_report(request).await;
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

    /// A runner's report: read within the body limit, handed to the sink with its credential.
    async fn take_report<B>(&self, request: Request<B>) -> Response<String>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = std::time::Instant::now();
        let credential = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        let answer = match self.read_body(request).await {
            Ok((_, body)) => self.sink.run_report(credential, body).await,
            Err(rejection) => return json_response(rejection.status(), &rejection.body()),
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &answer {
            ReportAnswer::Recorded => tracing::info!(elapsed_ms, "run report recorded"),
            ReportAnswer::Failed => tracing::error!("a run report could not be recorded"),
            other => tracing::warn!(answer = ?other, "run report refused"),
        }
        answer.response()
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
mod tests;
