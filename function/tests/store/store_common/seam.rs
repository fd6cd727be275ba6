//! The SDK seams the store tests use: an interceptor that counts DynamoDB requests by action,
//! and an HTTP client wrapper that answers chosen requests with canned DynamoDB errors instead
//! of sending them (so an injected fault never half-applies on the server).
//!
//! The wrapper also sends one request at a time. DynamoDB applies each request atomically;
//! moto serves requests on threads, and its `TransactWriteItems` snapshots whole tables and
//! restores them when a condition fails, so two concurrent requests can undo each other there.
//! Sending requests one at a time gives moto DynamoDB's per-request atomicity while the tasks
//! of a test still interleave freely between requests, which is where the store's races are.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use landfall_e2e::MotoServer;

const TARGET_PREFIX: &str = "DynamoDB_20120810.";

fn action_of(request: &HttpRequest) -> String {
    request
        .headers()
        .get("x-amz-target")
        .unwrap_or("?")
        .trim_start_matches(TARGET_PREFIX)
        .to_owned()
}

/// Counts every DynamoDB request attempt (retries included) by action, in order.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// The actions sent since the last [`take`](Self::take).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.lock().unwrap().push(action_of(context.request()));
        Ok(())
    }
}

/// A canned DynamoDB error.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `ProvisionedThroughputExceededException`, HTTP 400.
    Throttled,
    /// `TransactionCanceledException` with a `TransactionConflict` reason.
    TransactionConflict,
    /// `InternalServerError`, HTTP 500.
    ServerError,
    /// `ValidationException`: not retryable.
    Invalid,
    /// HTTP 502 with an HTML page, as a proxy (or moto's own server under load) answers.
    ProxyPage,
}

impl Fault {
    fn response(self) -> HttpResponse {
        let (status, body) = match self {
            Fault::Throttled => (
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected throttling"}"#,
            ),
            Fault::TransactionConflict => (
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]","CancellationReasons":[{"Code":"TransactionConflict","Message":"injected conflict"}]}"#,
            ),
            Fault::ServerError => (
                500,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected server error"}"#,
            ),
            Fault::Invalid => (
                400,
                r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"injected validation error"}"#,
            ),
            Fault::ProxyPage => (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("a valid status"),
            SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
    }
}

/// Answers requests of `action` with `fault`: skips the first `skip` of them, then faults the
/// next `times` (`usize::MAX` for all).
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: &'static str,
    pub skip: usize,
    pub times: usize,
    pub fault: Fault,
}

/// An HTTP client that applies [`Rule`]s before the real client.
#[derive(Debug, Clone)]
pub struct FaultyHttp {
    inner: SharedHttpClient,
    rules: Arc<Mutex<Vec<Rule>>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl FaultyHttp {
    pub fn new() -> Self {
        let inner = landfall_function::aws::http_client();
        Self {
            inner,
            rules: Arc::default(),
            turn: Arc::default(),
        }
    }

    /// Replaces the rules.
    pub fn set(&self, rules: Vec<Rule>) {
        *self.rules.lock().unwrap() = rules;
    }

    fn fault_for(&self, action: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|rule| rule.action == action)?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        if rule.times == 0 {
            return None;
        }
        rule.times = rule.times.saturating_sub(1);
        Some(rule.fault)
    }
}

#[derive(Debug)]
struct FaultyConnector {
    client: FaultyHttp,
    inner: SharedHttpConnector,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(fault) = self.client.fault_for(&action_of(&request)) {
            return HttpConnectorFuture::ready(Ok(fault.response()));
        }
        let turn = Arc::clone(&self.client.turn);
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let _turn = turn.lock().await;
            inner.call(request).await
        })
    }
}

impl HttpClient for FaultyHttp {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            client: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

/// A DynamoDB client for `moto` that logs requests and applies `faults`.
pub fn instrumented_client(
    moto: &MotoServer,
    log: &RequestLog,
    faults: &FaultyHttp,
) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&super::sdk_config(moto))
        .interceptor(log.clone())
        .http_client(faults.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
