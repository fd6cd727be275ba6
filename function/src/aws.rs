//! The AWS SDK configuration every part of the function and the runner loads, with the SDK's
//! requests sent by reqwest: the HTTP client the VCS hosts already use, so the
//! binary carries one HTTP and TLS client stack instead of one per library.
//!
//! The SDK asks its HTTP client for a connector per timeout setting
//! ([`HttpConnectorSettings`]); each distinct setting gets its own reqwest client (a pool),
//! built once. Connectors follow no redirect and add no header (reqwest is built without its
//! decompression features): the SDK signs, retries and reads every response itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The SDK configuration from the environment (region, credentials chain, endpoint overrides),
/// with [`http_client`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// An SDK configuration for a local endpoint (moto) with fixed test credentials: for tests and
/// benches, which must not depend on the environment they run in.
#[cfg(any(test, feature = "test-support"))]
#[must_use]
pub fn local_sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    aws_config::SdkConfig::builder()
        .http_client(http_client())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "local",
        )))
        .build()
}

/// Under Lambda, the URL of the function `name` (its own, `AWS_LAMBDA_FUNCTION_NAME`;
/// `lambda:GetFunctionUrlConfig`), without its trailing slash: where its runners post reports.
///
/// # Errors
///
/// When the URL cannot be read (no URL, no permission).
pub async fn own_function_url(name: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let client = aws_sdk_lambda::Client::new(&sdk_config().await);
    let answer = client
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
        .map_err(aws_sdk_lambda::Error::from)
        .with_context(|| format!("lambda:GetFunctionUrlConfig of {name} failed"))?;
    Ok(answer.function_url().trim_end_matches('/').to_owned())
}

/// The SDK's HTTP client, backed by reqwest.
#[must_use]
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct ReqwestHttpClient {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(ReqwestConnector::new(key)))
            .clone()
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    /// `Err`: the client could not be built (TLS set-up); every call reports it.
    client: Result<reqwest::Client, Arc<reqwest::Error>>,
}

impl ReqwestConnector {
    fn new((connect, read): Timeouts) -> Self {
        let mut builder = crate::tls::reqwest_builder().redirect(reqwest::redirect::Policy::none());
        if let Some(timeout) = connect {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = read {
            builder = builder.read_timeout(timeout);
        }
        ReqwestConnector {
            client: builder.build().map_err(Arc::new),
        }
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::user(Box::new(SetupError(e))))?;
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(Box::new(e)))?
                .map(reqwest::Body::wrap);
            let request = reqwest::Request::try_from(request)
                .map_err(|e| ConnectorError::user(Box::new(e)))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

/// Timeouts are timeouts; failures to connect, and failures once connected (a reset, a body cut
/// short), are I/O errors the SDK retries; anything else is not retried.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(Box::new(e))
    } else if e.is_connect() {
        ConnectorError::io(Box::new(e)).never_connected()
    } else if e.is_request() || e.is_body() {
        ConnectorError::io(Box::new(e))
    } else {
        ConnectorError::other(Box::new(e), None)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for AWS: {0}")]
struct SetupError(Arc<reqwest::Error>);

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use http_body_util::BodyExt as _;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn connector(connect: Option<Duration>, read: Option<Duration>) -> SharedHttpConnector {
        let mut settings = HttpConnectorSettings::builder();
        if let Some(t) = connect {
            settings = settings.connect_timeout(t);
        }
        if let Some(t) = read {
            settings = settings.read_timeout(t);
        }
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        http_client().http_connector(&settings.build(), &components)
    }

    fn request(method: &str, uri: &str, body: &'static str) -> HttpRequest {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("x-amz-target", "DynamoDB_20120810.PutItem")
            .body(SdkBody::from(body))
            .unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    #[tokio::test]
    async fn a_request_goes_out_as_signed_and_its_response_comes_back_whole() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/table"))
            .and(header("x-amz-target", "DynamoDB_20120810.PutItem"))
            .and(body_string("{\"Item\":{}}"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-amzn-requestid", "r-1")
                    .set_body_string("{}"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let response = connector(None, None)
            .call(request(
                "POST",
                &format!("{}/table", server.uri()),
                "{\"Item\":{}}",
            ))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("r-1"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }

    #[tokio::test]
    async fn a_redirect_is_handed_to_the_sdk_not_followed() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(301).insert_header("location", "/elsewhere"))
            .expect(1)
            .mount(&server)
            .await;
        let response = connector(None, None)
            .call(request("GET", &format!("{}/bucket/key", server.uri()), ""))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 301);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_before_anything_was_sent() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = connector(Some(Duration::from_secs(2)), None)
            .call(request("GET", &format!("http://127.0.0.1:{port}/"), ""))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn the_sdks_read_timeout_applies() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let error = connector(None, Some(Duration::from_millis(100)))
            .call(request("GET", &server.uri(), ""))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }
}
