//! The HTTP layer every adapter shares: bounded retries that honour rate limits (`Retry-After`,
//! reset headers, GitHub's secondary limits) and never repeat a non-idempotent call unless the
//! host said it refused it, plus a small `reqwest` client with the host's authentication, and
//! tree archives read while they download, a redirect followed without credentials.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::VcsError;
use super::archive::{self, ArchiveLimits};
use super::tree::TreeFilter;

/// How hard to try before giving up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest single wait; a rate limit that resets later fails with
    /// [`VcsError::RateLimited`] instead of holding the function.
    pub max_wait: Duration,
    /// The first backoff for transient failures without a hint; doubled each retry.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            max_wait: Duration::from_mins(1),
            backoff: Duration::from_millis(500),
        }
    }
}

/// Whether repeating a request can do harm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, PUT, PATCH of a whole resource, commit statuses (last write wins): retried on
    /// transient failures.
    Idempotent,
    /// POST that creates something (a comment): retried only when the host refused it with a
    /// rate-limit reply, never after a timeout or a 5xx that may have created it.
    NotIdempotent,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, VcsError> {
        serde_json::from_slice(&self.body).map_err(|source| VcsError::Decode {
            what: what.to_owned(),
            source,
        })
    }

    /// A header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request that did not get a response.
#[derive(Debug)]
pub struct TransportError {
    /// Whether the request may have reached the host (a timeout after sending): then a
    /// non-idempotent request must not be repeated.
    pub maybe_sent: bool,
    /// The cause.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What to do with a response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand it to the caller (success or an error it maps).
    Done,
    /// Wait, then try again.
    Retry(Duration),
    /// Rate limited for longer than we wait.
    RateLimited(Option<Duration>),
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn until_epoch(epoch: u64, now: SystemTime) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Duration::from_secs(epoch.saturating_sub(now))
}

/// What a response says about rate limits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// Not a rate-limit reply.
    NotLimited,
    /// "Slow down", with the wait it asks for when it gives one.
    Limited(Option<Duration>),
}

/// Reads a rate-limit reply.
pub(crate) fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Throttle {
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let remaining = header_u64(headers, "x-ratelimit-remaining")
        .or_else(|| header_u64(headers, "ratelimit-remaining"));
    let reset = header_u64(headers, "x-ratelimit-reset")
        .or_else(|| header_u64(headers, "ratelimit-reset"))
        .map(|epoch| until_epoch(epoch, now));
    let limited = match status {
        StatusCode::TOO_MANY_REQUESTS => true,
        // GitHub answers 403 both for its primary limit (remaining 0) and its secondary limits
        // (Retry-After, or a message that says so).
        StatusCode::FORBIDDEN => {
            remaining == Some(0)
                || retry_after.is_some()
                || String::from_utf8_lossy(body)
                    .to_ascii_lowercase()
                    .contains("secondary rate limit")
        }
        _ => false,
    };
    if !limited {
        return Throttle::NotLimited;
    }
    Throttle::Limited(match (retry_after, remaining, reset) {
        (Some(wait), _, _) => Some(wait),
        (None, Some(0), Some(reset)) => Some(reset),
        // GitHub: a secondary limit without Retry-After means "wait at least a minute".
        (None, _, _) if status == StatusCode::FORBIDDEN => Some(Duration::from_mins(1)),
        _ => None,
    })
}

/// Judges one response of attempt `attempt` (0-based).
pub(crate) fn judge(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    attempt: u32,
    response: &RawResponse,
    now: SystemTime,
) -> Verdict {
    let backoff = policy.backoff.saturating_mul(2u32.saturating_pow(attempt));
    if let Throttle::Limited(wait) =
        rate_limit_wait(response.status, &response.headers, &response.body, now)
    {
        let wait_for = wait.unwrap_or(backoff);
        if attempt >= policy.max_retries || wait_for > policy.max_wait {
            return Verdict::RateLimited(wait);
        }
        // A refused request was not carried out, so even a POST may be sent again.
        return Verdict::Retry(wait_for);
    }
    let transient = matches!(
        response.status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    );
    if transient && idempotency == Idempotency::Idempotent && attempt < policy.max_retries {
        let hinted = header_u64(&response.headers, "retry-after").map(Duration::from_secs);
        return Verdict::Retry(hinted.unwrap_or(backoff).min(policy.max_wait));
    }
    Verdict::Done
}

/// Sends with `send` until the response is final, within `policy`.
pub(crate) async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    what: &str,
    mut send: F,
) -> Result<RawResponse, VcsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<RawResponse, TransportError>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Ok(response) => match judge(policy, idempotency, attempt, &response, SystemTime::now())
            {
                Verdict::Done => return Ok(response),
                Verdict::Retry(wait) => {
                    tracing::warn!(what, status = %response.status, wait_ms = wait.as_millis(), attempt, "retrying VCS request");
                    tokio::time::sleep(wait).await;
                }
                Verdict::RateLimited(retry_after) => {
                    return Err(VcsError::RateLimited {
                        what: what.to_owned(),
                        retry_after,
                    });
                }
            },
            Err(e) => {
                let may_repeat = idempotency == Idempotency::Idempotent || !e.maybe_sent;
                if !may_repeat || attempt >= policy.max_retries {
                    return Err(VcsError::Transport {
                        what: what.to_owned(),
                        source: e.source,
                    });
                }
                tokio::time::sleep(policy.backoff.saturating_mul(2u32.saturating_pow(attempt)))
                    .await;
            }
        }
        attempt += 1;
    }
}

/// Maps a final response to `Ok` (2xx) or the error it means.
pub(crate) fn check(response: RawResponse, what: &str) -> Result<RawResponse, VcsError> {
    if response.status.is_success() {
        return Ok(response);
    }
    if response.status == StatusCode::NOT_FOUND {
        return Err(VcsError::NotFound {
            what: what.to_owned(),
        });
    }
    let mut message = String::from_utf8_lossy(&response.body).into_owned();
    // On a character boundary: a host's message may be any UTF-8.
    message.truncate(message.floor_char_boundary(500));
    Err(VcsError::Status {
        what: what.to_owned(),
        status: response.status.as_u16(),
        message,
    })
}

/// How a host wants to be authenticated.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// `Authorization: token <token>` (Gitea).
    Token(SecretString),
    /// `PRIVATE-TOKEN: <token>` (GitLab personal, project and group tokens).
    PrivateToken(SecretString),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user.
        user: String,
        /// The password, app password or PAT.
        password: SecretString,
    },
}

impl Auth {
    /// `user:password` becomes Basic; anything else `fallback`.
    pub fn basic_or(token: &SecretString, fallback: fn(SecretString) -> Auth) -> Auth {
        match token.expose_secret().split_once(':') {
            Some((user, password)) => Auth::Basic {
                user: user.to_owned(),
                password: SecretString::from(password.to_owned()),
            },
            None => fallback(token.clone()),
        }
    }
}

/// A JSON REST client for one host.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    client: reqwest::Client,
    /// For archives: no total timeout (a large archive takes a while) and no redirects, which
    /// [`download_client`] follows without the credentials.
    archive: reqwest::Client,
    /// Follows an archive's redirect.
    download: reqwest::Client,
    base: url::Url,
    auth: Auth,
    policy: RetryPolicy,
}

/// How long an archive download may wait to connect, and for each read.
const ARCHIVE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ARCHIVE_READ_TIMEOUT: Duration = Duration::from_secs(30);

fn client_error(e: impl std::fmt::Display) -> VcsError {
    VcsError::Config {
        message: format!("cannot build the HTTP client: {e}"),
    }
}

/// A reqwest client builder for a VCS host: TLS provider in place, Landfall's user agent.
fn client_builder() -> reqwest::ClientBuilder {
    crate::tls::reqwest_builder().user_agent(concat!("landfall/", env!("CARGO_PKG_VERSION")))
}

/// The client for a host's API: 30 s per request, redirects as `redirect` allows.
pub(crate) fn api_client(redirect: reqwest::redirect::Policy) -> Result<reqwest::Client, VcsError> {
    client_builder()
        .timeout(Duration::from_secs(30))
        .redirect(redirect)
        .build()
        .map_err(client_error)
}

/// The client for the archive downloads a host redirects to (pre-signed URLs, storage
/// buckets): it sends no credentials and no default headers, whatever host it is sent to.
pub(crate) fn download_client() -> Result<reqwest::Client, VcsError> {
    client_builder()
        .connect_timeout(ARCHIVE_CONNECT_TIMEOUT)
        .read_timeout(ARCHIVE_READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(client_error)
}

/// The files `wanted` accepts from the `.tar.gz` body of `response`, read while it downloads
/// ([`archive::download`]), within `limits`.
///
/// # Errors
///
/// [`VcsError::Status`] when `response` is not a success, [`VcsError::Archive`] when the
/// archive cannot be used.
pub(crate) async fn read_archive(
    response: reqwest::Response,
    what: &str,
    wanted: &TreeFilter,
    limits: ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, VcsError> {
    let archive_error = |source| VcsError::Archive {
        what: what.to_owned(),
        source,
    };
    if !response.status().is_success() {
        return Err(VcsError::Status {
            what: what.to_owned(),
            status: response.status().as_u16(),
            message: "the archive download was refused".into(),
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > limits.compressed)
    {
        return Err(archive_error(archive::ArchiveError::TooLarge {
            what: "compressed bytes",
            limit: limits.compressed,
        }));
    }
    archive::download(response, wanted.clone(), limits)
        .await
        .map_err(archive_error)
}

/// Downloads the archive a host redirected to at `url` with `download` (a
/// [`download_client`]: no credentials), then [`read_archive`]s it.
///
/// # Errors
///
/// As [`read_archive`], and [`VcsError::Transport`] when there is no response.
pub(crate) async fn follow_archive(
    download: &reqwest::Client,
    url: url::Url,
    what: &str,
    wanted: &TreeFilter,
    limits: ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, VcsError> {
    let response = download
        .get(url)
        .header(http::header::ACCEPT, "*/*")
        .send()
        .await
        .map_err(|e| VcsError::Transport {
            what: what.to_owned(),
            source: Box::new(e),
        })?;
    read_archive(response, what, wanted, limits).await
}

impl Rest {
    pub fn new(base: &str, auth: Auth, policy: RetryPolicy) -> Result<Self, VcsError> {
        let mut base = url::Url::parse(base).map_err(|e| VcsError::Config {
            message: format!("invalid VCS base URL {base:?}: {e}"),
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = api_client(same_origin_redirects())?;
        let archive = client_builder()
            .connect_timeout(ARCHIVE_CONNECT_TIMEOUT)
            .read_timeout(ARCHIVE_READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(client_error)?;
        Ok(Rest {
            client,
            archive,
            download: download_client()?,
            base,
            auth,
            policy,
        })
    }

    /// The URL for `path` (relative to the base, no leading `/`), or `path` itself when it is an
    /// absolute URL on the same origin (a host's `next` link). Other origins are refused so the
    /// token never leaves the host.
    pub fn url(&self, path: &str) -> Result<url::Url, VcsError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = url::Url::parse(path).map_err(|e| VcsError::Config {
                message: format!("invalid URL {path:?} from the host: {e}"),
            })?;
            if url.origin() != self.base.origin() {
                return Err(VcsError::Config {
                    message: format!("refusing to follow {path} off the VCS host"),
                });
            }
            return Ok(url);
        }
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| VcsError::Config {
                message: format!("invalid path {path:?}: {e}"),
            })
    }

    /// `req` with the host's credentials.
    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Bearer(t) => req.bearer_auth(t.expose_secret()),
            Auth::Token(t) => req.header(
                http::header::AUTHORIZATION,
                format!("token {}", t.expose_secret()),
            ),
            Auth::PrivateToken(t) => req.header("PRIVATE-TOKEN", t.expose_secret()),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose_secret())),
        }
    }

    /// Sends one request (retried per the policy) and returns the final response, whatever its
    /// status.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
        accept: &str,
        idempotency: Idempotency,
        what: &str,
    ) -> Result<RawResponse, VcsError> {
        with_retries(&self.policy, idempotency, what, || {
            let mut req = self.authorize(
                self.client
                    .request(method.clone(), url.clone())
                    .header(http::header::ACCEPT, accept),
            );
            if let Some(body) = body {
                req = req.json(body);
            }
            async move { read_response(send_request(req).await?).await }
        })
        .await
    }

    /// GET JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, VcsError> {
        let url = self.url(path)?;
        let r = self
            .send(
                Method::GET,
                url,
                None,
                "application/json",
                Idempotency::Idempotent,
                what,
            )
            .await?;
        check(r, what)?.json(what)
    }

    /// GET with the whole response (for pagination headers).
    pub async fn get_raw(
        &self,
        url: url::Url,
        accept: &str,
        what: &str,
    ) -> Result<RawResponse, VcsError> {
        let r = self
            .send(
                Method::GET,
                url,
                None,
                accept,
                Idempotency::Idempotent,
                what,
            )
            .await?;
        check(r, what)
    }

    /// The raw bytes of a file, `None` when the host answers 404.
    pub async fn get_file(&self, url: url::Url, what: &str) -> Result<Option<Vec<u8>>, VcsError> {
        let r = self
            .send(Method::GET, url, None, "*/*", Idempotency::Idempotent, what)
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(r, what)?.body.to_vec()))
    }

    /// The files `wanted` accepts from the `.tar.gz` archive at `path` (GET with the
    /// credentials, retried per the policy), read while it downloads. A redirect (storage
    /// that serves archives directly) is followed by a client that sends no credentials,
    /// whichever host it leads to.
    ///
    /// # Errors
    ///
    /// When the host refuses or the archive cannot be used ([`VcsError::Archive`]).
    pub async fn get_archive(
        &self,
        path: &str,
        what: &str,
        wanted: &TreeFilter,
    ) -> Result<BTreeMap<String, Vec<u8>>, VcsError> {
        let url = self.url(path)?;
        let limits = ArchiveLimits::default();
        // The final 2xx response, kept unread so that its body streams into the reader.
        let streaming = Mutex::new(None);
        let head = with_retries(&self.policy, Idempotency::Idempotent, what, || {
            let req = self.authorize(
                self.archive
                    .get(url.clone())
                    .header(http::header::ACCEPT, "*/*"),
            );
            let streaming = &streaming;
            async move {
                let response = send_request(req).await?;
                if !response.status().is_success() {
                    return read_response(response).await;
                }
                let head = RawResponse {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: Bytes::new(),
                };
                *streaming.lock().unwrap_or_else(PoisonError::into_inner) = Some(response);
                Ok(head)
            }
        })
        .await?;
        let streaming = streaming
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(response) = streaming.filter(|_| head.status.is_success()) {
            return read_archive(response, what, wanted, limits).await;
        }
        let location = head
            .status
            .is_redirection()
            .then(|| head.header("location"))
            .flatten()
            .and_then(|l| url.join(l).ok());
        let Some(location) = location else {
            // Neither an archive nor a redirect: `check` says why.
            let head = check(head, what)?;
            return Err(VcsError::Status {
                what: what.to_owned(),
                status: head.status.as_u16(),
                message: "no archive in the response".into(),
            });
        };
        follow_archive(&self.download, location, what, wanted, limits).await
    }

    /// A request with a JSON body, the response parsed as JSON.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
        idempotency: Idempotency,
        what: &str,
    ) -> Result<T, VcsError> {
        let url = self.url(path)?;
        let r = self
            .send(
                method,
                url,
                Some(body),
                "application/json",
                idempotency,
                what,
            )
            .await?;
        check(r, what)?.json(what)
    }
}

/// Sends `req`; a failure says whether it may have reached the host.
async fn send_request(req: reqwest::RequestBuilder) -> Result<reqwest::Response, TransportError> {
    req.send().await.map_err(|e| TransportError {
        maybe_sent: !e.is_connect(),
        source: Box::new(e),
    })
}

/// `response` with its body read.
async fn read_response(response: reqwest::Response) -> Result<RawResponse, TransportError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| TransportError {
        maybe_sent: true,
        source: Box::new(e),
    })?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Redirects on the host's own origin are followed with the credentials; one to another origin
/// is not (`reqwest` drops `Authorization` there, but not GitLab's `PRIVATE-TOKEN`), and the
/// caller sees the 3xx.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let off_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() != attempt.url().origin());
        if off_origin {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The `rel="next"` URL of an RFC 8288 `Link` header (GitHub, Gitea).
#[must_use]
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// Percent-encodes one path segment (GitLab project paths, file paths in URLs).
#[must_use]
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
        .replace("%7E", "~")
}

/// Percent-encodes a path, keeping its `/` separators.
#[must_use]
pub fn path(s: &str) -> String {
    s.split('/').map(segment).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> RawResponse {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Bytes::from(body.to_owned()),
        }
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_long_error_body_is_cut_on_a_character_boundary() {
        // 499 ASCII bytes then 'é' (2 bytes) straddles byte 500.
        let body = format!("{}é and more", "x".repeat(499));
        let Err(VcsError::Status { message, .. }) = check(response(500, &[], &body), "w") else {
            panic!("a 500 is an error");
        };
        assert_eq!(message, "x".repeat(499));
    }

    fn judge_at(idem: Idempotency, attempt: u32, r: &RawResponse) -> Verdict {
        judge(
            &RetryPolicy::default(),
            idem,
            attempt,
            r,
            UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    #[test]
    fn retry_after_is_honoured_even_for_a_post_because_the_host_refused_it() {
        let r = response(429, &[("retry-after", "7")], "");
        assert_eq!(
            judge_at(Idempotency::NotIdempotent, 0, &r),
            Verdict::Retry(Duration::from_secs(7))
        );
    }

    #[test]
    fn githubs_primary_limit_waits_until_the_reset() {
        let reset = (NOW + 30).to_string();
        let r = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "",
        );
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::Retry(Duration::from_secs(30))
        );
    }

    #[test]
    fn a_reset_beyond_the_longest_wait_fails_as_rate_limited() {
        let reset = (NOW + 3600).to_string();
        let r = response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "",
        );
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::RateLimited(Some(Duration::from_hours(1)))
        );
    }

    #[test]
    fn githubs_secondary_limit_without_retry_after_waits_a_minute() {
        let r = response(
            403,
            &[],
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        );
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::Retry(Duration::from_mins(1))
        );
    }

    #[test]
    fn a_plain_forbidden_is_final() {
        let r = response(
            403,
            &[("x-ratelimit-remaining", "4999")],
            r#"{"message":"Resource not accessible"}"#,
        );
        assert_eq!(judge_at(Idempotency::Idempotent, 0, &r), Verdict::Done);
    }

    #[test]
    fn a_bad_gateway_repeats_a_get_but_never_a_post() {
        let r = response(502, &[], "");
        assert!(matches!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::Retry(_)
        ));
        assert_eq!(judge_at(Idempotency::NotIdempotent, 0, &r), Verdict::Done);
    }

    #[test]
    fn retries_are_bounded() {
        let r = response(429, &[("retry-after", "1")], "");
        assert_eq!(
            judge_at(Idempotency::Idempotent, 3, &r),
            Verdict::RateLimited(Some(Duration::from_secs(1)))
        );
        let r = response(503, &[], "");
        assert_eq!(judge_at(Idempotency::Idempotent, 3, &r), Verdict::Done);
    }

    #[test]
    fn the_next_link_is_read_from_the_link_header() {
        let r = response(
            200,
            &[(
                "link",
                r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#,
            )],
            "",
        );
        assert_eq!(
            next_link(&r.headers).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn segments_encode_slashes_and_keep_unreserved_characters() {
        assert_eq!(segment("group/sub-1/proj_x.y"), "group%2Fsub-1%2Fproj_x.y");
        assert_eq!(path("a b/c.tf"), "a%20b/c.tf");
    }
}
