//! Running under AWS Lambda: the same [`WebhookService`] behind a Function URL or an API Gateway
//! HTTP API (v2 payloads; `lambda_http` decodes base64 bodies). The handler and its clients are
//! built once, before the runtime loop starts.

use std::sync::Arc;

use crate::handler::{EventSink, WebhookHandler, WebhookService};

/// Polls the Lambda runtime API for invocations and answers each with `handler`, until the
/// runtime stops.
pub async fn run<S: EventSink>(handler: Arc<WebhookHandler<S>>) -> Result<(), lambda_http::Error> {
    lambda_http::run(WebhookService::new(handler)).await
}
