//! Running under AWS Lambda: the same [`WebhookService`] behind a Function URL or an API Gateway
//! HTTP API (v2 payloads; `lambda_http` decodes base64 bodies), and the hand-off invocations
//! the function sends itself (see [`crate::handoff`]). The handler and its clients are built
//! once, before the runtime loop starts.

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service as _, service_fn};
use serde_json::Value;

use crate::handler::{WebhookHandler, WebhookService};
use crate::orchestrate::AnySink;

/// Polls the Lambda runtime API for invocations until the runtime stops: a hand-off payload is
/// handled to the end; anything else is an HTTP event answered by `handler`.
pub async fn run(handler: Arc<WebhookHandler<AnySink>>) -> Result<(), lambda_http::Error> {
    let http = Adapter::from(WebhookService::new(Arc::clone(&handler)));
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        let handler = Arc::clone(&handler);
        let mut http = http.clone();
        async move {
            let LambdaEvent { payload, context } = invocation;
            if crate::handoff::is_handoff(&payload) {
                handler.sink().handle_handoff(&payload).await?;
                return Ok::<Value, lambda_http::Error>(serde_json::json!({ "handled": true }));
            }
            let request: LambdaRequest = serde_json::from_value(payload)?;
            let response = http.call(LambdaEvent::new(request, context)).await?;
            Ok(serde_json::to_value(response)?)
        }
    }))
    .await
}
