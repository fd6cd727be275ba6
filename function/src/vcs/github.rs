//! GitHub (github.com and Enterprise Server) through octocrab, sending with the shared reqwest
//! client, authenticated by a personal access token or as a GitHub App (JWTs from
//! [`super::app_jwt`], installation tokens minted and renewed here). Requests go through
//! octocrab's raw API so that every reply's rate-limit headers reach `http::with_retries`.
//!
//! Endpoints (REST, `X-GitHub-Api-Version: 2022-11-28`):
//! `GET /repos/{o}/{r}/pulls/{n}`, `GET .../pulls/{n}/files?per_page=100` (Link pagination, at
//! most 3,000 files), `GET .../contents/{path}?ref={sha}` (raw media type),
//! `GET .../git/trees/{sha}?recursive=1` (a truncated tree walked folder by folder),
//! `GET .../tarball/{sha}` (a 302 to a pre-signed download, followed without the token),
//! `POST .../issues/{n}/comments`,
//! `PATCH .../issues/comments/{id}`, `POST .../statuses/{sha}`.
//!
//! Who may do what, and what a pull request's state allows:
//!
//! | question | endpoint | answer |
//! |---|---|---|
//! | a user's access ([`VcsClient::permission`]) | `GET /repos/{o}/{r}/collaborators/{username}/permission` | `role_name` when present (`admin` → admin; `maintain`, `write` → write; `triage`, `read` → read; a custom role → none), else `permission` (`admin`/`write`/`read`/`none`); 404 (not a collaborator, unknown user) → none |
//! | approvals ([`VcsClient::approvals`]) | `GET .../pulls/{n}/reviews?per_page=100` (every page) | each reviewer's latest of `APPROVED`/`CHANGES_REQUESTED`/`DISMISSED`, counted when `APPROVED` with `commit_id` = the head |
//! | `undiverged` ([`VcsClient::contains_base`]) | `GET .../compare/{base_branch}...{head_sha}?per_page=1` | `behind_by == 0` |
//! | team membership ([`VcsClient::is_member`]) | `GET /orgs/{org}/teams/{team_slug}/memberships/{username}` (a GitHub App: the organisation's installation, `GET /orgs/{org}/installation`) | 200 with `state` `active` → member; `pending`, 404 → not |
//! | mergeable ([`PullRequest::mergeable`]) | `mergeable_state` of `GET .../pulls/{n}` | see `mergeable_from_state` |
//! | the head's repository ([`PullRequest::head_repo`]) | `head.repo.full_name` of `GET .../pulls/{n}` | `null` (a deleted fork) → `None` |

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::app_jwt::AppKey;
use super::archive::{self, ArchiveLimits};
use super::http::{
    Idempotency, RawResponse, RetryPolicy, TransportError, check, download_client, follow_archive,
    next_link, path, segment, with_retries,
};
use super::paging;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, TreeFilter,
    VcsClient, VcsError, owner_and_name, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// github.com's API.
pub const DEFAULT_URL: &str = "https://api.github.com";

/// GitHub's comment limit: 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;

const ACCEPT_JSON: &str = "application/vnd.github+json";
const ACCEPT_RAW: &str = "application/vnd.github.raw+json";

/// How long before an installation token expires it is replaced (GitHub's last one hour).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_mins(5);

/// The GitHub adapter.
#[derive(Debug, Clone)]
pub struct GithubClient {
    auth: Auth,
    base: url::Url,
    retry: RetryPolicy,
    /// Fetches the archive a tarball request redirects to: pre-signed, so sent no credentials.
    download: reqwest::Client,
    archive_limits: ArchiveLimits,
}

#[derive(Debug, Clone)]
enum Auth {
    /// A personal access token: octocrab sends it as `Bearer`.
    Token {
        octocrab: Octocrab,
        token: SecretString,
    },
    /// A GitHub App: its JWTs are signed here; installation tokens are minted and cached here.
    App(Arc<AppAuth>),
}

#[derive(Debug)]
struct AppAuth {
    /// Without credentials: each App call gets a fresh JWT ([`AppKey::jwt`]).
    octocrab: Octocrab,
    id: u64,
    key: AppKey,
    /// The configured installation; `None`: per repository, from the webhook or the API.
    installation: Option<u64>,
    /// Repository → installation, learnt from deliveries or `GET /repos/{o}/{r}/installation`.
    by_repo: Mutex<HashMap<String, u64>>,
    /// Organisation → installation, from `GET /orgs/{org}/installation` (team membership).
    by_org: Mutex<HashMap<String, u64>>,
    /// Installation → its current token.
    tokens: Mutex<HashMap<u64, InstallationToken>>,
}

#[derive(Debug, Clone)]
struct InstallationToken {
    octocrab: Octocrab,
    token: SecretString,
    expires_at: SystemTime,
}

impl AppAuth {
    /// The client that authenticates as the App itself, with a JWT made now.
    fn as_app(&self) -> Result<Octocrab> {
        let jwt = self
            .key
            .jwt(self.id, SystemTime::now())
            .map_err(|message| VcsError::Config { message })?;
        self.octocrab.user_access_token(jwt).map_err(config_error)
    }
}

/// Whose installation token a call needs (GitHub Apps): a repository's, or an organisation's
/// for team membership, which names no repository.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Repo(&'a RepoName),
    Org(&'a str),
}

/// One API call: what to send and how to treat it.
struct Call<'a> {
    method: Method,
    target: &'a str,
    body: Option<&'a serde_json::Value>,
    accept: &'a str,
    idempotency: Idempotency,
    what: &'a str,
}

impl<'a> Call<'a> {
    fn get(target: &'a str, accept: &'a str, what: &'a str) -> Self {
        Call {
            method: Method::GET,
            target,
            body: None,
            accept,
            idempotency: Idempotency::Idempotent,
            what,
        }
    }

    fn with_body(
        method: Method,
        target: &'a str,
        body: &'a serde_json::Value,
        idempotency: Idempotency,
        what: &'a str,
    ) -> Self {
        Call {
            method,
            target,
            body: Some(body),
            accept: ACCEPT_JSON,
            idempotency,
            what,
        }
    }
}

fn config_error(e: impl std::fmt::Display) -> VcsError {
    VcsError::Config {
        message: format!("cannot build the GitHub client: {e}"),
    }
}

/// The client octocrab sends through. It follows no redirect: a tarball's 302 is followed by
/// [`download_client`], without the token.
fn api_client() -> Result<reqwest::Client> {
    super::http::api_client(reqwest::redirect::Policy::none())
}

fn base_url(url: Option<&str>) -> Result<url::Url> {
    url::Url::parse(url.unwrap_or(DEFAULT_URL).trim_end_matches('/')).map_err(config_error)
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A GitHub App private key from its PEM (PKCS#1 `RSA PRIVATE KEY`, as GitHub hands it out, or
/// PKCS#8). A PEM pasted into one line with literal `\n`s is accepted too.
///
/// # Errors
///
/// [`VcsError::Config`] when it is not an RSA private key in PEM.
pub fn app_key(pem: &[u8]) -> Result<AppKey> {
    let text = String::from_utf8_lossy(pem);
    let text = if text.contains("\\n") && !text.trim().contains('\n') {
        text.replace("\\n", "\n")
    } else {
        text.into_owned()
    };
    AppKey::from_pem(text.trim()).map_err(|e| VcsError::Config {
        message: format!(
            "the GitHub App private key is not an RSA private key in PEM \
             (-----BEGIN RSA PRIVATE KEY-----, as GitHub downloads it): {e}"
        ),
    })
}

#[derive(Deserialize)]
struct AccessTokenJson {
    token: String,
    expires_at: String,
}

impl GithubClient {
    /// With a personal access token (classic or fine-grained). `url` is the API base
    /// (`https://ghe.example.com/api/v3` for Enterprise), github.com's when `None`.
    pub fn personal_token(
        url: Option<&str>,
        token: SecretString,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let base = base_url(url)?;
        let octocrab = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(config_error)?
            .personal_token(token.clone())
            .build_with_reqwest(api_client()?)
            .map_err(config_error)?;
        Ok(GithubClient {
            auth: Auth::Token { octocrab, token },
            base,
            retry,
            download: download_client()?,
            archive_limits: ArchiveLimits::default(),
        })
    }

    /// As a GitHub App: octocrab signs a JWT with the App's private key (PEM), which is exchanged
    /// for installation tokens (`POST /app/installations/{id}/access_tokens`), cached and
    /// replaced [`TOKEN_REFRESH_MARGIN`] before they expire. With `installation_id` `None` the
    /// installation is found per repository: from [`Self::remember_installation`] (the webhook's
    /// `installation.id`), else `GET /repos/{o}/{r}/installation`.
    pub fn app(
        url: Option<&str>,
        app_id: u64,
        private_key_pem: &[u8],
        installation_id: Option<u64>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let base = base_url(url)?;
        let key = app_key(private_key_pem)?;
        let octocrab = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(config_error)?
            .build_with_reqwest(api_client()?)
            .map_err(config_error)?;
        Ok(GithubClient {
            auth: Auth::App(Arc::new(AppAuth {
                octocrab,
                id: app_id,
                key,
                installation: installation_id,
                by_repo: Mutex::new(HashMap::new()),
                by_org: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            })),
            base,
            retry,
            download: download_client()?,
            archive_limits: ArchiveLimits::default(),
        })
    }

    /// The same client with other limits on tree archives (see [`archive::ArchiveLimits`]);
    /// an archive over them is not used.
    #[must_use]
    pub fn with_archive_limits(mut self, limits: ArchiveLimits) -> Self {
        self.archive_limits = limits;
        self
    }

    /// Records the installation a delivery for `repo` came from (its `installation.id`), so no
    /// API call is needed to find it. A configured installation id takes precedence.
    pub fn remember_installation(&self, repo: &RepoName, installation_id: u64) {
        if let Auth::App(app) = &self.auth {
            locked(&app.by_repo).insert(repo.as_str().to_owned(), installation_id);
        }
    }

    /// A token for `repo` that stays valid for at least `valid_for` (at most about 55 minutes
    /// for an App): the personal token, or an installation token, minted when the cached one
    /// would expire sooner. This is what a runner needs to clone and comment.
    ///
    /// # Errors
    ///
    /// When the installation cannot be found or the token cannot be minted.
    pub async fn token_for(&self, repo: &RepoName, valid_for: Duration) -> Result<SecretString> {
        match &self.auth {
            Auth::Token { token, .. } => Ok(token.clone()),
            Auth::App(app) => {
                let id = self.installation_for(app, Scope::Repo(repo)).await?;
                Ok(self.installation_token(app, id, valid_for).await?.token)
            }
        }
    }

    async fn installation_for(&self, app: &AppAuth, scope: Scope<'_>) -> Result<u64> {
        if let Some(id) = app.installation {
            return Ok(id);
        }
        let repo = match scope {
            Scope::Repo(repo) => repo,
            Scope::Org(org) => return self.org_installation(app, org).await,
        };
        if let Some(id) = locked(&app.by_repo).get(repo.as_str()) {
            return Ok(*id);
        }
        let (o, r) = owner_and_name(repo)?;
        let what = format!("find the GitHub App installation for {repo}");
        let target = format!("/repos/{o}/{r}/installation");
        let resp = self
            .send(&app.as_app()?, &Call::get(&target, ACCEPT_JSON, &what))
            .await?;
        let id: IdJson = check(resp, &what)?.json(&what)?;
        locked(&app.by_repo).insert(repo.as_str().to_owned(), id.id);
        Ok(id.id)
    }

    /// The installation on organisation `org`: an App is installed per account, so any
    /// repository of `org` remembered from a delivery names it; else
    /// `GET /orgs/{org}/installation`, remembered.
    async fn org_installation(&self, app: &AppAuth, org: &str) -> Result<u64> {
        let owner_of = |name: &str| name.split_once('/').map(|(owner, _)| owner.to_lowercase());
        let key = org.to_lowercase();
        let remembered = locked(&app.by_repo)
            .iter()
            .find(|(name, _)| owner_of(name).as_deref() == Some(key.as_str()))
            .map(|(_, id)| *id)
            .or_else(|| locked(&app.by_org).get(&key).copied());
        if let Some(id) = remembered {
            return Ok(id);
        }
        let what = format!("find the GitHub App installation on the organisation {org}");
        let target = format!("/orgs/{}/installation", segment(org));
        let resp = self
            .send(&app.as_app()?, &Call::get(&target, ACCEPT_JSON, &what))
            .await?;
        let id: IdJson = check(resp, &what)?.json(&what)?;
        locked(&app.by_org).insert(key, id.id);
        Ok(id.id)
    }

    async fn installation_token(
        &self,
        app: &AppAuth,
        id: u64,
        valid_for: Duration,
    ) -> Result<InstallationToken> {
        let fresh_until = SystemTime::now() + valid_for;
        if let Some(cached) = locked(&app.tokens).get(&id)
            && cached.expires_at > fresh_until
        {
            return Ok(cached.clone());
        }
        let what = format!("mint an access token for GitHub App installation {id}");
        let target = format!("/app/installations/{id}/access_tokens");
        // Minting twice only makes a second token: safe to retry.
        let call = Call {
            method: Method::POST,
            target: &target,
            body: None,
            accept: ACCEPT_JSON,
            idempotency: Idempotency::Idempotent,
            what: &what,
        };
        let resp = self.send(&app.as_app()?, &call).await?;
        let json: AccessTokenJson = check(resp, &what)?.json(&what)?;
        let expires_at = aws_smithy_types::DateTime::from_str(
            &json.expires_at,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| VcsError::Status {
            what: what.clone(),
            status: 201,
            message: format!("expires_at {:?} is not an RFC 3339 time", json.expires_at),
        })?;
        let token = SecretString::from(json.token);
        let octocrab = app
            .octocrab
            .user_access_token(token.clone())
            .map_err(config_error)?;
        let minted = InstallationToken {
            octocrab,
            token,
            expires_at,
        };
        locked(&app.tokens).insert(id, minted.clone());
        Ok(minted)
    }

    /// A path relative to the API base, from a path or a `Link` URL on the same host (octocrab
    /// only authenticates relative URIs, which also keeps the token on the host).
    fn relative(&self, target: &str) -> Result<String> {
        if let Ok(url) = url::Url::parse(target) {
            let prefix = self.base.as_str().trim_end_matches('/');
            if url.origin() != self.base.origin() || !target.starts_with(prefix) {
                return Err(VcsError::Config {
                    message: format!("refusing to follow {target} off the GitHub API"),
                });
            }
            return Ok(target[prefix.len()..].to_owned());
        }
        Ok(target.to_owned())
    }

    /// Sends `call` for `repo` with the right credentials. An App's installation token that
    /// GitHub no longer accepts (401: revoked, clock skew) is replaced once.
    async fn request(&self, repo: &RepoName, call: &Call<'_>) -> Result<RawResponse> {
        self.request_in(Scope::Repo(repo), call).await
    }

    /// [`Self::request`] for a call whose installation is found from `scope`.
    async fn request_in(&self, scope: Scope<'_>, call: &Call<'_>) -> Result<RawResponse> {
        match &self.auth {
            Auth::Token { octocrab, .. } => self.send(octocrab, call).await,
            Auth::App(app) => {
                let id = self.installation_for(app, scope).await?;
                let token = self
                    .installation_token(app, id, TOKEN_REFRESH_MARGIN)
                    .await?;
                let resp = self.send(&token.octocrab, call).await?;
                if resp.status != StatusCode::UNAUTHORIZED {
                    return Ok(resp);
                }
                locked(&app.tokens).remove(&id);
                let token = self
                    .installation_token(app, id, TOKEN_REFRESH_MARGIN)
                    .await?;
                self.send(&token.octocrab, call).await
            }
        }
    }

    async fn send(&self, octocrab: &Octocrab, call: &Call<'_>) -> Result<RawResponse> {
        let uri = self.relative(call.target)?;
        with_retries(&self.retry, call.idempotency, call.what, || {
            let builder = Request::builder()
                .method(call.method.clone())
                .uri(uri.as_str())
                .header(http::header::ACCEPT, call.accept);
            async move {
                let request =
                    octocrab
                        .build_request(builder, call.body)
                        .map_err(|e| TransportError {
                            maybe_sent: false,
                            source: Box::new(e),
                        })?;
                let response = octocrab
                    .execute(request)
                    .await
                    .map_err(|e| TransportError {
                        maybe_sent: true,
                        source: Box::new(e),
                    })?;
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| TransportError {
                        maybe_sent: true,
                        source: Box::new(e),
                    })?
                    .to_bytes();
                Ok(RawResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                })
            }
        })
        .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoName,
        target: &str,
        what: &str,
    ) -> Result<T> {
        let r = self
            .request(repo, &Call::get(target, ACCEPT_JSON, what))
            .await?;
        check(r, what)?.json(what)
    }

    /// Every page of a list, following `Link: rel="next"`.
    async fn get_pages<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoName,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        paging::collect(first.to_owned(), |target| async move {
            let r = self
                .request(repo, &Call::get(&target, ACCEPT_JSON, what))
                .await?;
            let r = check(r, what)?;
            Ok((r.json(what)?, next_link(&r.headers)))
        })
        .await
    }
}

#[derive(Deserialize)]
struct PrJson {
    head: RefJson,
    base: RefJson,
    user: UserJson,
    state: String,
    #[serde(default)]
    merged: bool,
    mergeable_state: Option<String>,
}

#[derive(Deserialize)]
struct RefJson {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: String,
    /// `null` when the head's repository (a fork) was deleted.
    repo: Option<RefRepoJson>,
}

#[derive(Deserialize)]
struct RefRepoJson {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct UserJson {
    login: String,
}

#[derive(Deserialize)]
struct FileJson {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

#[derive(Deserialize)]
struct TreeJson {
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

#[derive(Deserialize)]
struct ReviewJson {
    #[serde(default)]
    id: u64,
    user: Option<UserJson>,
    state: String,
    /// `null` when the commit was garbage collected or force-pushed away.
    commit_id: Option<String>,
}

#[derive(Deserialize)]
struct PermissionJson {
    permission: Option<String>,
    role_name: Option<String>,
}

#[derive(Deserialize)]
struct CompareJson {
    behind_by: u64,
}

#[derive(Deserialize)]
struct MembershipJson {
    state: String,
}

/// `mergeable` from the pull request's `mergeable_state`.
///
/// GitHub's OpenAPI description types `mergeable_state` as a bare string (example `clean`)
/// with no list of values; the values are those of GraphQL's `MergeStateStatus`, lower-cased:
///
/// | `mergeable_state` | meaning | `mergeable` |
/// |---|---|---|
/// | `clean` | mergeable, commit status passing | `Some(true)` |
/// | `has_hooks` | mergeable with passing status and pre-receive hooks | `Some(true)` |
/// | `unstable` | mergeable, a commit status not passing (none of them required) | `Some(true)` |
/// | `dirty` | merge conflicts | `Some(false)` |
/// | `blocked` | blocked by branch protection (required reviews or checks) | `Some(false)` |
/// | `behind` | the head is out of date with the base and protection requires it up to date | `Some(false)` |
/// | `draft` | a draft pull request | `Some(false)` |
/// | `unknown`, absent, anything else | GitHub is still computing it | `None` |
///
/// The `mergeable` field (no conflicts only) is not used: a PR that conflicts is `dirty`.
fn mergeable_from_state(state: Option<&str>) -> Option<bool> {
    match state? {
        "clean" | "has_hooks" | "unstable" => Some(true),
        "dirty" | "blocked" | "behind" | "draft" => Some(false),
        _ => None,
    }
}

/// `role_name` (the full role: `admin`, `maintain`, `write`, `triage`, `read`, or a custom
/// role's name) when GitHub gives one, else the legacy `permission` (`admin`, `write`, `read`,
/// `none`; `maintain` shown as `write`, `triage` as `read`). A role Landfall does not know (a
/// custom role) is [`Access::None`]: fail closed.
fn github_access(j: &PermissionJson) -> Access {
    let by_name = |name: Option<&str>| match name {
        Some("admin") => Some(Access::Admin),
        Some("maintain" | "write") => Some(Access::Write),
        Some("triage" | "read") => Some(Access::Read),
        Some("none") => Some(Access::None),
        _ => None,
    };
    // A custom role's `role_name` is its own name; `permission` then gives the base role it
    // extends (GitHub documents both), so that decides.
    by_name(j.role_name.as_deref().filter(|r| !r.is_empty()))
        .or_else(|| by_name(j.permission.as_deref()))
        .unwrap_or(Access::None)
}

/// Each reviewer's latest decisive review (`APPROVED`, `CHANGES_REQUESTED`, `DISMISSED`;
/// `COMMENTED` and `PENDING` change no decision), counted when it is `APPROVED` and was given
/// at `head`. Reviews are taken in the order of their ids (GitHub lists them chronologically);
/// a review without a user (a deleted account) is not counted.
fn counted_approvals(mut reviews: Vec<ReviewJson>, head: &CommitSha) -> Vec<Actor> {
    reviews.sort_by_key(|r| r.id);
    let latest = super::latest_per_reviewer(
        reviews,
        |r| r.user.as_ref().map(|u| u.login.clone()),
        |r| {
            matches!(
                r.state.as_str(),
                "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
            )
        },
    );
    latest
        .into_iter()
        .filter(|(_, r)| {
            r.state == "APPROVED"
                && r.commit_id
                    .as_deref()
                    .is_some_and(|c| !c.is_empty() && c.eq_ignore_ascii_case(head.as_str()))
        })
        .map(|(login, _)| Actor::login(login))
        .collect()
}

/// `org/team-slug` split in two.
fn org_and_team(team: &str) -> Result<(&str, &str)> {
    team.trim()
        .split_once('/')
        .filter(|(o, t)| !o.is_empty() && !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| VcsError::Config {
            message: format!("GitHub team {team:?} is not of the form org/team-slug"),
        })
}

fn file_status(status: &str) -> FileStatus {
    match status {
        "added" | "copied" => FileStatus::Added,
        "removed" => FileStatus::Removed,
        "renamed" => FileStatus::Renamed,
        _ => FileStatus::Modified,
    }
}

impl VcsClient for GithubClient {
    fn provider(&self) -> Provider {
        Provider::Github
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("get pull request {repo}#{pr}");
        let j: PrJson = self
            .get_json(repo, &format!("/repos/{o}/{r}/pulls/{pr}"), &what)
            .await?;
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.head.sha),
            head_branch: j.head.name,
            base_branch: j.base.name,
            author: j.user.login,
            author_id: None,
            state: match (j.state.as_str(), j.merged) {
                (_, true) => PrState::Merged,
                ("open", _) => PrState::Open,
                _ => PrState::Closed,
            },
            mergeable: mergeable_from_state(j.mergeable_state.as_deref()),
            head_repo: j
                .head
                .repo
                .and_then(|r| r.full_name)
                .filter(|n| !n.is_empty())
                .map(RepoName::new),
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("list files of {repo}#{pr}");
        let files: Vec<FileJson> = self
            .get_pages(
                repo,
                &format!("/repos/{o}/{r}/pulls/{pr}/files?per_page=100"),
                &what,
            )
            .await?;
        Ok(files
            .into_iter()
            .map(|f| ChangedFile {
                status: file_status(&f.status),
                path: f.filename,
                previous_path: f.previous_filename,
            })
            .collect())
    }

    async fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        file: &str,
    ) -> Result<Option<Vec<u8>>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("read {file} at {sha} in {repo}");
        let target = format!(
            "/repos/{o}/{r}/contents/{}?ref={}",
            path(file),
            super::http::segment(sha.as_str())
        );
        let resp = self
            .request(repo, &Call::get(&target, ACCEPT_RAW, &what))
            .await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(resp, &what)?.body.to_vec()))
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("list the tree of {repo} at {sha}");
        // Each tree is listed recursively; one GitHub truncates (over 100,000 entries or 7 MB)
        // is listed one level deep instead and its subtrees queued, so a monorepo of any size
        // costs one request per tree that is too big plus one per subtree of those.
        let mut files = Vec::new();
        let mut queue = vec![(String::new(), super::http::segment(sha.as_str()))];
        while let Some((prefix, tree_sha)) = queue.pop() {
            let recursive: TreeJson = self
                .get_json(
                    repo,
                    &format!("/repos/{o}/{r}/git/trees/{tree_sha}?recursive=1"),
                    &what,
                )
                .await?;
            if !recursive.truncated {
                files.extend(
                    recursive
                        .tree
                        .into_iter()
                        .filter(|e| e.kind == "blob")
                        .map(|e| format!("{prefix}{}", e.path)),
                );
                continue;
            }
            let level: TreeJson = self
                .get_json(repo, &format!("/repos/{o}/{r}/git/trees/{tree_sha}"), &what)
                .await?;
            if level.truncated {
                return Err(VcsError::Status {
                    what,
                    status: 200,
                    message: format!(
                        "GitHub truncated the listing of the single folder {prefix:?}"
                    ),
                });
            }
            for entry in level.tree {
                match entry.kind.as_str() {
                    "blob" => files.push(format!("{prefix}{}", entry.path)),
                    "tree" => queue.push((
                        format!("{prefix}{}/", entry.path),
                        super::http::segment(&entry.sha),
                    )),
                    _ => {}
                }
            }
        }
        files.sort_unstable();
        Ok(files)
    }

    async fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("download the archive of {repo} at {sha}");
        let target = format!("/repos/{o}/{r}/tarball/{}", segment(sha.as_str()));
        let resp = self
            .request(repo, &Call::get(&target, ACCEPT_JSON, &what))
            .await?;
        let archive_error = |source| VcsError::Archive {
            what: what.clone(),
            source,
        };
        let limits = self.archive_limits;
        if resp.status.is_success() {
            // Not what GitHub documents (a redirect), but an archive all the same.
            if resp.body.len() as u64 > limits.compressed {
                return Err(archive_error(archive::ArchiveError::TooLarge {
                    what: "compressed bytes",
                    limit: limits.compressed,
                }));
            }
            let wanted = wanted.clone();
            let files = tokio::task::spawn_blocking(move || {
                archive::unpack(&resp.body[..], &wanted, &limits)
            })
            .await
            .map_err(|e| archive_error(archive::ArchiveError::Read(std::io::Error::other(e))))?;
            return files.map(Some).map_err(archive_error);
        }
        let location = resp
            .status
            .is_redirection()
            .then(|| resp.header("location"))
            .flatten()
            .and_then(|l| self.base.join(l).ok());
        let Some(url) = location else {
            // Neither an archive nor a redirect: `check` says why.
            return check(resp, &what).map(|_| None);
        };
        // The URL carries its own short-lived token; GitHub's is never sent off the API.
        follow_archive(&self.download, url, &what, wanted, limits)
            .await
            .map(Some)
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("comment on {repo}#{pr}");
        let target = format!("/repos/{o}/{r}/issues/{pr}/comments");
        let body = json!({ "body": body });
        let call = Call::with_body(
            Method::POST,
            &target,
            &body,
            Idempotency::NotIdempotent,
            &what,
        );
        let resp = self.request(repo, &call).await?;
        let id: IdJson = check(resp, &what)?.json(&what)?;
        Ok(CommentId(id.id.to_string()))
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        _pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("edit comment {id} in {repo}");
        let target = format!(
            "/repos/{o}/{r}/issues/comments/{}",
            super::http::segment(&id.0)
        );
        let body = json!({ "body": body });
        let call = Call::with_body(
            Method::PATCH,
            &target,
            &body,
            Idempotency::Idempotent,
            &what,
        );
        let resp = self.request(repo, &call).await?;
        check(resp, &what).map(drop)
    }

    async fn set_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<()> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("set status {} on {sha}", status.context);
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        };
        let mut body = json!({
            "state": state,
            "description": truncate(&status.description, 140),
            "context": status.context,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        // A status is keyed by its context: sending it again changes nothing.
        let target = format!("/repos/{o}/{r}/statuses/{sha}");
        let call = Call::with_body(Method::POST, &target, &body, Idempotency::Idempotent, &what);
        let resp = self.request(repo, &call).await?;
        check(resp, &what).map(drop)
    }

    /// `GET /repos/{o}/{r}/collaborators/{username}/permission`: see `github_access`. A 404
    /// (not a collaborator, or a login GitHub does not know) is [`Access::None`].
    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        if user.login.is_empty() {
            return Ok(Access::None);
        }
        let (o, r) = owner_and_name(repo)?;
        let what = format!("read the permission of {} in {repo}", user.login);
        let target = format!(
            "/repos/{o}/{r}/collaborators/{}/permission",
            segment(&user.login)
        );
        let resp = self
            .request(repo, &Call::get(&target, ACCEPT_JSON, &what))
            .await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(Access::None);
        }
        let j: PermissionJson = check(resp, &what)?.json(&what)?;
        Ok(github_access(&j))
    }

    /// `GET /repos/{o}/{r}/pulls/{n}/reviews?per_page=100` (every page): see
    /// `counted_approvals`.
    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("list reviews of {repo}#{pr}");
        let reviews: Vec<ReviewJson> = self
            .get_pages(
                repo,
                &format!("/repos/{o}/{r}/pulls/{pr}/reviews?per_page=100"),
                &what,
            )
            .await?;
        Ok(counted_approvals(reviews, head))
    }

    /// `GET /repos/{o}/{r}/compare/{base_branch}...{head_sha}?per_page=1` (the branch
    /// URL-escaped; one commit a page keeps the reply small, `behind_by` counts them all):
    /// the head contains the base branch's current head when `behind_by` is 0.
    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        if pr.base_branch.is_empty() || pr.head_sha.as_str().is_empty() {
            return Err(VcsError::Config {
                message: format!(
                    "{repo}#{}: no base branch or head commit to compare",
                    pr.number
                ),
            });
        }
        let (o, r) = owner_and_name(repo)?;
        let what = format!(
            "compare the head of {repo}#{} with {}",
            pr.number, pr.base_branch
        );
        let basehead = format!(
            "{}...{}",
            segment(&pr.base_branch),
            segment(pr.head_sha.as_str())
        );
        let j: CompareJson = self
            .get_json(
                repo,
                &format!("/repos/{o}/{r}/compare/{basehead}?per_page=1"),
                &what,
            )
            .await?;
        Ok(j.behind_by == 0)
    }

    /// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}` for `team` =
    /// `org/team-slug`: a member when GitHub answers 200 with `state` `active` (members of
    /// child teams included); `pending` (an invitation not yet accepted) and 404 are not. The
    /// token needs `read:org` (a GitHub App: the organisation's Members permission).
    async fn is_member(&self, team: &str, user: &Actor) -> Result<bool> {
        let (org, slug) = org_and_team(team)?;
        if user.login.is_empty() {
            return Ok(false);
        }
        let what = format!("read the membership of {} in the team {team}", user.login);
        let target = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            segment(org),
            segment(slug),
            segment(&user.login)
        );
        let resp = self
            .request_in(Scope::Org(org), &Call::get(&target, ACCEPT_JSON, &what))
            .await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let j: MembershipJson = check(resp, &what)?.json(&what)?;
        Ok(j.state == "active")
    }
}
