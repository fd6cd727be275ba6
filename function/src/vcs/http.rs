//! The HTTP client every adapter sends through: one `reqwest` stack, the host's authentication
//! (per client, or per request where the credentials change: a GitHub App's tokens), the retry
//! rules of [`retry`] around every request, creates that are never sent twice and writes that
//! may be, and tree archives read while they download, a redirect followed without
//! credentials. Paged lists are read in `paging`.

mod download;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub(crate) use retry::check;
pub use retry::{Idempotency, RawResponse, RetryPolicy, TransportError};

use super::VcsError;
use super::archive::ArchiveLimits;

/// How a host wants to be authenticated.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    /// No credentials of the client's own: each request is given its own with
    /// [`Rest::with_auth`] (a GitHub App's JWTs and installation tokens).
    None,
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

/// How a host's API differs from the plain JSON one [`Rest::new`] assumes.
#[derive(Clone, Debug)]
pub(crate) struct RestOptions {
    /// Sent with every request to the host (never with a download it redirects to).
    pub headers: HeaderMap,
    /// The media type asked for JSON.
    pub accept_json: &'static str,
    /// The media type asked for a tree archive.
    pub accept_archive: &'static str,
    /// Whether a redirect on the host's own origin is followed (with the credentials); when
    /// not, the caller sees the 3xx.
    pub follow_redirects: bool,
}

impl Default for RestOptions {
    fn default() -> Self {
        RestOptions {
            headers: HeaderMap::new(),
            accept_json: "application/json",
            accept_archive: "*/*",
            follow_redirects: true,
        }
    }
}

/// A JSON REST client for one host. Cloning it, or giving it other credentials
/// ([`Self::with_auth`]), shares its connections.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    clients: Arc<Clients>,
    auth: Auth,
    archive_limits: ArchiveLimits,
    /// The media type a JSON body is sent as; `application/json` when `None`.
    content_type: Option<&'static str>,
}

#[derive(Debug)]
struct Clients {
    client: reqwest::Client,
    /// For archives: no total timeout (a large archive takes a while) and no redirects, which
    /// `download` follows without the credentials.
    archive: reqwest::Client,
    /// Follows an archive's redirect: sends no credentials and no default headers, whatever
    /// host it is sent to.
    download: reqwest::Client,
    base: url::Url,
    policy: RetryPolicy,
    accept_json: &'static str,
    accept_archive: &'static str,
}

/// A comment's (or any created object's) `id`, as GitHub, Gitea, GitLab and Bitbucket answer
/// a create.
#[derive(Deserialize)]
pub(crate) struct IdJson {
    /// The id.
    pub id: u64,
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

impl Rest {
    /// A client for the API at `base`, authenticated with `auth`.
    pub fn new(base: &str, auth: Auth, policy: RetryPolicy) -> Result<Self, VcsError> {
        Self::with_options(base, auth, policy, RestOptions::default())
    }

    /// [`Self::new`] for a host whose API wants `options`.
    pub fn with_options(
        base: &str,
        auth: Auth,
        policy: RetryPolicy,
        options: RestOptions,
    ) -> Result<Self, VcsError> {
        let mut base = url::Url::parse(base).map_err(|e| VcsError::Config {
            message: format!("invalid VCS base URL {base:?}: {e}"),
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let redirect = if options.follow_redirects {
            same_origin_redirects()
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = client_builder()
            .default_headers(options.headers.clone())
            .timeout(Duration::from_secs(30))
            .redirect(redirect)
            .build()
            .map_err(client_error)?;
        let archive = client_builder()
            .default_headers(options.headers)
            .connect_timeout(ARCHIVE_CONNECT_TIMEOUT)
            .read_timeout(ARCHIVE_READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(client_error)?;
        let download = client_builder()
            .connect_timeout(ARCHIVE_CONNECT_TIMEOUT)
            .read_timeout(ARCHIVE_READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(client_error)?;
        Ok(Rest {
            clients: Arc::new(Clients {
                client,
                archive,
                download,
                base,
                policy,
                accept_json: options.accept_json,
                accept_archive: options.accept_archive,
            }),
            auth,
            archive_limits: ArchiveLimits::default(),
            content_type: None,
        })
    }

    /// The same client (its connections shared) sending `auth` instead.
    #[must_use]
    pub fn with_auth(&self, auth: Auth) -> Self {
        Rest {
            auth,
            ..self.clone()
        }
    }

    /// The same client sending JSON bodies as `media_type` (Azure DevOps' JSON Patch).
    #[must_use]
    pub fn with_content_type(&self, media_type: &'static str) -> Self {
        Rest {
            content_type: Some(media_type),
            ..self.clone()
        }
    }

    /// The same client with other limits on tree archives; an archive over them is not used.
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn with_archive_limits(mut self, limits: ArchiveLimits) -> Self {
        self.archive_limits = limits;
        self
    }

    /// The media type asked for JSON.
    pub fn accept_json(&self) -> &'static str {
        self.clients.accept_json
    }

    /// The URL for `path` (relative to the base, no leading `/`), or `path` itself when it is an
    /// absolute URL on the same origin (a host's `next` link). Other origins are refused so the
    /// token never leaves the host.
    pub fn url(&self, path: &str) -> Result<url::Url, VcsError> {
        let base = &self.clients.base;
        if path.starts_with("http://") || path.starts_with("https://") {
            let url = url::Url::parse(path).map_err(|e| VcsError::Config {
                message: format!("invalid URL {path:?} from the host: {e}"),
            })?;
            if url.origin() != base.origin() {
                return Err(VcsError::Config {
                    message: format!("refusing to follow {path} off the VCS host"),
                });
            }
            return Ok(url);
        }
        base.join(path.trim_start_matches('/'))
            .map_err(|e| VcsError::Config {
                message: format!("invalid path {path:?}: {e}"),
            })
    }

    /// `req` with the host's credentials.
    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => req,
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
    /// status. A POST or PUT without a body says so (`Content-Length: 0`).
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&serde_json::Value>,
        accept: &str,
        idempotency: Idempotency,
        what: &str,
    ) -> Result<RawResponse, VcsError> {
        let clients = &self.clients;
        retry::with_retries(&clients.policy, idempotency, what, || {
            let mut req = self.authorize(
                clients
                    .client
                    .request(method.clone(), url.clone())
                    .header(http::header::ACCEPT, accept),
            );
            if let Some(body) = body {
                if let Some(media_type) = self.content_type {
                    req = req.header(http::header::CONTENT_TYPE, media_type);
                }
                req = req.json(body);
            } else if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                req = req.header(http::header::CONTENT_LENGTH, 0);
            }
            async move { read_response(send_request(req).await?).await }
        })
        .await
    }

    /// One GET of `url` asking for `accept`, retried per the policy, whatever its status.
    async fn get_any(
        &self,
        url: url::Url,
        accept: &str,
        what: &str,
    ) -> Result<RawResponse, VcsError> {
        let idempotent = Idempotency::Idempotent;
        self.send(Method::GET, url, None, accept, idempotent, what)
            .await
    }

    /// One GET of JSON at `path` whose status the caller judges (a 404 that means "no").
    pub async fn get_response(&self, path: &str, what: &str) -> Result<RawResponse, VcsError> {
        self.get_any(self.url(path)?, self.clients.accept_json, what)
            .await
    }

    /// GET JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, VcsError> {
        let r = self.get_response(path, what).await?;
        check(r, what)?.json(what)
    }

    /// GET with the whole response (for pagination headers).
    pub async fn get_raw(
        &self,
        url: url::Url,
        accept: &str,
        what: &str,
    ) -> Result<RawResponse, VcsError> {
        let r = self.get_any(url, accept, what).await?;
        check(r, what)
    }

    /// The raw bytes of a file, asked for as `accept`; `None` when the host answers 404.
    pub async fn get_file_as(
        &self,
        url: url::Url,
        accept: &str,
        what: &str,
    ) -> Result<Option<Vec<u8>>, VcsError> {
        let r = self.get_any(url, accept, what).await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(r, what)?.body.to_vec()))
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
        let accept = self.clients.accept_json;
        let r = self
            .send(method, url, Some(body), accept, idempotency, what)
            .await?;
        check(r, what)?.json(what)
    }

    /// Creates something (a comment): POSTs `body` to `path` and reads the reply as JSON. Never
    /// sent twice unless the host refused it.
    pub async fn create<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<T, VcsError> {
        self.send_json(Method::POST, path, body, Idempotency::NotIdempotent, what)
            .await
    }

    /// Sends `body` to `path` with `method` where sending it again changes nothing (a
    /// comment's whole new text, a commit status keyed by its name); the reply's body is not
    /// read.
    pub async fn put(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<(), VcsError> {
        let url = self.url(path)?;
        let accept = self.clients.accept_json;
        let r = self
            .send(
                method,
                url,
                Some(body),
                accept,
                Idempotency::Idempotent,
                what,
            )
            .await?;
        check(r, what).map(drop)
    }
}

/// Sends `req`; a failure says whether it may have reached the host.
async fn send_request(req: reqwest::RequestBuilder) -> Result<reqwest::Response, TransportError> {
    req.send().await.map_err(|e| TransportError {
        maybe_sent: !e.is_connect(),
        lasting: false,
        source: Box::new(e),
    })
}

/// The largest response body read (archives stream under their own limits): a page of JSON
/// or one file is far smaller, and a file a pull request makes huge is refused after this
/// much instead of filling the function's memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// `response` with its body read, at most [`MAX_RESPONSE_BYTES`] of it.
async fn read_response(mut response: reqwest::Response) -> Result<RawResponse, TransportError> {
    let status = response.status();
    let headers = response.headers().clone();
    let failed = |source: Box<dyn std::error::Error + Send + Sync>, lasting| TransportError {
        maybe_sent: true,
        lasting,
        source,
    };
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(Box::new(e), false))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(failed(
                format!(
                    "the response is larger than {} MiB, more than is read",
                    MAX_RESPONSE_BYTES >> 20
                )
                .into(),
                true,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        headers,
        body: body.freeze(),
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

    #[test]
    fn the_next_link_is_read_from_the_link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::LINK,
            r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
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
