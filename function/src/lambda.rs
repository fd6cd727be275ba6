//! Running under AWS Lambda: the same [`WebhookService`] behind a Function URL or an API Gateway
//! HTTP API (v2 payloads; `lambda_http` decodes base64 bodies), and the hand-off invocations
//! the function sends itself (see [`crate::handoff`]).
//!
//! Cold start: the configuration is read and checked, and the secrets resolved, before the first
//! poll of the runtime API, so a missing or invalid setting still stops start-up. The clients
//! behind the sink (store, Kubernetes, VCS host), whose construction loads TLS roots and AWS
//! settings, are built by [`LazySink`] on the first invocation that needs them, once.

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service as _, service_fn};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::config::{Config, Secrets};
use crate::event::Event;
use crate::handler::{EventSink, SinkError, WebhookHandler, WebhookService};
use crate::orchestrate::AnySink;

/// An [`AnySink`] built on first use from the configuration and secrets read at start-up. A
/// failed build fails that invocation (500, so the host redelivers) and is tried again on the
/// next one.
#[derive(Debug)]
pub struct LazySink {
    config: Config,
    secrets: Secrets,
    sink: OnceCell<AnySink>,
}

impl LazySink {
    /// A sink that will be built from `config` and `secrets`.
    #[must_use]
    pub fn new(config: Config, secrets: Secrets) -> Self {
        LazySink {
            config,
            secrets,
            sink: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&AnySink, SinkError> {
        self.sink
            .get_or_try_init(|| AnySink::from_config(&self.config, &self.secrets))
            .await
            .map_err(|err| SinkError(err.into()))
    }

    /// Handles a hand-off invocation (see [`crate::handoff`]).
    pub async fn handle_handoff(&self, payload: &Value) -> Result<(), SinkError> {
        self.get().await?.handle_handoff(payload).await
    }
}

impl EventSink for LazySink {
    async fn record(&self, event: &Event) -> Result<(), SinkError> {
        self.get().await?.record(event).await
    }
}

/// Polls the Lambda runtime API for invocations until the runtime stops: a hand-off payload is
/// handled to the end; anything else is an HTTP event answered by `handler`.
pub async fn run(handler: Arc<WebhookHandler<LazySink>>) -> Result<(), lambda_http::Error> {
    let http = Adapter::from(WebhookService::new(Arc::clone(&handler)));
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        let mut http = http.clone();
        async move {
            let LambdaEvent { payload, context } = invocation;
            // Both futures are boxed: inline, the orchestration's state machine would make the
            // runtime loop's future (held on the main thread's stack) tens of kilobytes, whose
            // stack pages every cold start would fault in before the first poll.
            if crate::handoff::is_handoff(&payload) {
                Box::pin(handler.sink().handle_handoff(&payload)).await?;
                return Ok::<Value, lambda_http::Error>(serde_json::json!({ "handled": true }));
            }
            let request: LambdaRequest = serde_json::from_value(payload)?;
            let response = Box::pin(http.call(LambdaEvent::new(request, context))).await?;
            Ok(serde_json::to_value(response)?)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::event::{EventKind, Provider, RepoName};

    #[tokio::test]
    async fn the_sink_is_built_on_first_use_and_once() {
        let config = Config::from_lookup(
            |name| (name == "LANDFALL_WEBHOOK_SECRET").then(|| "s".to_owned()),
            false,
        )
        .unwrap();
        let secrets = Secrets {
            webhook_secret: SecretString::from("s".to_owned()),
            vcs_token: None,
            github_app_key: None,
        };
        let sink = LazySink::new(config, secrets);
        assert!(sink.sink.get().is_none(), "nothing is built at start-up");
        let mut event = Event::new(Provider::Github, EventKind::Opened);
        event.repo = Some(RepoName::new("acme/infra"));
        sink.record(&event).await.unwrap();
        let first: *const AnySink = sink.sink.get().unwrap();
        sink.record(&event).await.unwrap();
        assert!(std::ptr::eq(first, sink.sink.get().unwrap()));
        assert!(matches!(sink.get().await.unwrap(), AnySink::Log(_)));
    }
}
