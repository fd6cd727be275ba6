//! Running under AWS Lambda: the same [`WebhookService`] behind a Function URL or an API Gateway
//! HTTP API (v2 payloads; `lambda_http` decodes base64 bodies), the hand-off invocations (see
//! [`crate::handoff`]: an event, or what follows a recorded run), the scheduled sweep
//! (`{"landfall": "sweep"}`, see [`crate::orchestrate::is_sweep`]) and drift sweep
//! (`{"landfall": "drift"}`).
//!
//! Cold start: the configuration is read and checked, and the secrets resolved, before the first
//! poll of the runtime API, so a missing or invalid setting still stops start-up. The clients
//! behind the sink (store, Kubernetes, VCS host), whose construction loads TLS roots and AWS
//! settings, are built by a lazy [`Sink`] on the first invocation that needs them, once.

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service as _, service_fn};
use serde_json::Value;

use crate::handler::{WebhookHandler, WebhookService};
use crate::orchestrate::Sink;

/// Polls the Lambda runtime API for invocations until the runtime stops: a hand-off payload is
/// handled to the end; anything else is an HTTP event answered by `handler`.
pub async fn run(handler: Arc<WebhookHandler<Sink>>) -> Result<(), lambda_http::Error> {
    let http = Adapter::from(WebhookService::new(Arc::clone(&handler)));
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        let mut http = http.clone();
        async move {
            let LambdaEvent { payload, context } = invocation;
            // Both futures are boxed: inline, the orchestration's state machine would make the
            // runtime loop's future (held on the main thread's stack) tens of kilobytes, whose
            // stack pages every cold start would fault in before the first poll.
            if crate::orchestrate::is_sweep(&payload) {
                let report = Box::pin(handler.sink().sweep()).await?;
                return Ok(serde_json::json!({ "swept": report }));
            }
            if crate::orchestrate::is_drift(&payload) {
                let report = Box::pin(handler.sink().drift()).await?;
                return Ok(serde_json::json!({ "drift": report }));
            }
            if crate::handoff::is_settled(&payload) {
                Box::pin(handler.sink().handle_settled(&payload)).await?;
                return Ok(serde_json::json!({ "handled": true }));
            }
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
    use crate::config::{Config, FromVariables as _, Secrets};
    use crate::event::{Event, EventKind, Provider, RepoName};
    use crate::handler::EventSink as _;

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
            drift_webhook_url: None,
        };
        let sink = Sink::lazy(config, secrets);
        assert!(!sink.is_built(), "nothing is built at start-up");
        let mut event = Event::new(Provider::Github, EventKind::Opened);
        event.repo = Some(RepoName::new("acme/infra"));
        sink.record(&event).await.unwrap();
        assert!(sink.is_built(), "built by the first event");
        sink.record(&event).await.unwrap();
    }
}
