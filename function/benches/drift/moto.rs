//! The DynamoDB client of the drift bench: moto's endpoint, the request counter, at most
//! [`IN_FLIGHT`] requests at a time and the SDK's timeouts [`STRETCH`] times longer. moto is one
//! Python process that copies every table for each `TransactWriteItems`: the thousand requests
//! a sweep sends at once (it starts every check together) queue there for longer than the
//! store's 5 s attempt timeout, and the retries would be counted as requests DynamoDB never
//! needs.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{
    AsyncSleep, BehaviorVersion, Credentials, Region, RuntimeComponents, SharedAsyncSleep,
    SharedCredentialsProvider, Sleep,
};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use tokio::sync::Semaphore;

use super::dynamo_count::DynamoCount;

/// Requests sent to moto at once.
const IN_FLIGHT: usize = 4;

/// How many times longer the SDK's timeouts are (the store's 5 s attempt timeout, 2 s connect).
const STRETCH: u32 = 60;

/// The SDK's sleeps (its timeouts), [`STRETCH`] times longer.
#[derive(Debug)]
struct Stretched;

impl AsyncSleep for Stretched {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration * STRETCH))
    }
}

/// An HTTP client that sends at most [`IN_FLIGHT`] requests at a time.
#[derive(Debug, Clone)]
struct Limited {
    inner: SharedHttpClient,
    permits: Arc<Semaphore>,
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    permits: Arc<Semaphore>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, permits) = (self.inner.clone(), Arc::clone(&self.permits));
        HttpConnectorFuture::new(async move {
            let _permit = permits.acquire().await.expect("the semaphore stays open");
            inner.call(request).await
        })
    }
}

impl HttpClient for Limited {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            permits: Arc::clone(&self.permits),
        })
    }
}

/// A DynamoDB client for moto at `endpoint`, its requests counted by `count`.
pub fn dynamodb(endpoint: String, count: &DynamoCount) -> aws_sdk_dynamodb::Client {
    let http = Limited {
        inner: landfall_function::aws::http_client(),
        permits: Arc::new(Semaphore::new(IN_FLIGHT)),
    };
    let sdk = aws_config::SdkConfig::builder()
        .http_client(http)
        .sleep_impl(SharedAsyncSleep::new(Stretched))
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(landfall_e2e::AWS_REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(count.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
