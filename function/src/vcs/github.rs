//! GitHub (github.com and Enterprise Server) through octocrab, which brings the authentication:
//! a personal access token, or a GitHub App whose installation tokens octocrab mints and renews.
//! Requests go through octocrab's raw API so that every reply's rate-limit headers reach
//! [`super::http::with_retries`].
//!
//! Endpoints (REST, `X-GitHub-Api-Version: 2022-11-28`):
//! `GET /repos/{o}/{r}/pulls/{n}`, `GET .../pulls/{n}/files?per_page=100` (Link pagination, at
//! most 3,000 files), `GET .../contents/{path}?ref={sha}` (raw media type),
//! `GET .../git/trees/{sha}?recursive=1`, `POST .../issues/{n}/comments`,
//! `PATCH .../issues/comments/{id}`, `POST .../statuses/{sha}`, `GET .../pulls/{n}/reviews`.

use std::collections::BTreeMap;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{
    Idempotency, RawResponse, RetryPolicy, TransportError, check, next_link, path, with_retries,
};
use super::{
    CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, VcsClient, VcsError,
    owner_and_name, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// github.com's API.
pub const DEFAULT_URL: &str = "https://api.github.com";

/// GitHub's comment limit: 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;

const ACCEPT_JSON: &str = "application/vnd.github+json";
const ACCEPT_RAW: &str = "application/vnd.github.raw+json";

/// The GitHub adapter.
#[derive(Debug, Clone)]
pub struct GithubClient {
    octocrab: Octocrab,
    base: url::Url,
    retry: RetryPolicy,
}

fn config_error(e: impl std::fmt::Display) -> VcsError {
    VcsError::Config {
        message: format!("cannot build the GitHub client: {e}"),
    }
}

fn base_url(url: Option<&str>) -> Result<url::Url> {
    url::Url::parse(url.unwrap_or(DEFAULT_URL).trim_end_matches('/')).map_err(config_error)
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
            .personal_token(token)
            .build()
            .map_err(config_error)?;
        Ok(GithubClient {
            octocrab,
            base,
            retry,
        })
    }

    /// As a GitHub App installation: octocrab signs a JWT with the App's private key (PEM) and
    /// exchanges it for installation tokens, renewed before they expire.
    pub fn app(
        url: Option<&str>,
        app_id: u64,
        private_key_pem: &[u8],
        installation_id: u64,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let base = base_url(url)?;
        let key =
            octocrab::EncodingKey::from_rsa_pem(private_key_pem).map_err(|e| VcsError::Config {
                message: format!("the GitHub App private key is not an RSA PEM key: {e}"),
            })?;
        let app = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(config_error)?
            .app(AppId(app_id), key)
            .build()
            .map_err(config_error)?;
        let octocrab = app
            .installation(InstallationId(installation_id))
            .map_err(config_error)?;
        Ok(GithubClient {
            octocrab,
            base,
            retry,
        })
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

    async fn request(
        &self,
        method: Method,
        target: &str,
        body: Option<&serde_json::Value>,
        accept: &str,
        idempotency: Idempotency,
        what: &str,
    ) -> Result<RawResponse> {
        let uri = self.relative(target)?;
        with_retries(&self.retry, idempotency, what, || {
            let builder = Request::builder()
                .method(method.clone())
                .uri(uri.as_str())
                .header(http::header::ACCEPT, accept);
            let octocrab = &self.octocrab;
            async move {
                let request =
                    octocrab
                        .build_request(builder, body)
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
        target: &str,
        what: &str,
    ) -> Result<T> {
        let r = self
            .request(
                Method::GET,
                target,
                None,
                ACCEPT_JSON,
                Idempotency::Idempotent,
                what,
            )
            .await?;
        check(r, what)?.json(what)
    }

    /// Every page of a list, following `Link: rel="next"`.
    async fn get_pages<T: serde::de::DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(target) = next {
            let r = self
                .request(
                    Method::GET,
                    &target,
                    None,
                    ACCEPT_JSON,
                    Idempotency::Idempotent,
                    what,
                )
                .await?;
            let r = check(r, what)?;
            let mut page: Vec<T> = r.json(what)?;
            out.append(&mut page);
            next = next_link(&r.headers);
        }
        Ok(out)
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
    mergeable: Option<bool>,
}

#[derive(Deserialize)]
struct RefJson {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: String,
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
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

#[derive(Deserialize)]
struct ReviewJson {
    user: Option<UserJson>,
    state: String,
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
            .get_json(&format!("/repos/{o}/{r}/pulls/{pr}"), &what)
            .await?;
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.head.sha),
            head_branch: j.head.name,
            base_branch: j.base.name,
            author: j.user.login,
            state: match (j.state.as_str(), j.merged) {
                (_, true) => PrState::Merged,
                ("open", _) => PrState::Open,
                _ => PrState::Closed,
            },
            mergeable: j.mergeable,
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
            .request(
                Method::GET,
                &target,
                None,
                ACCEPT_RAW,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(resp, &what)?.body.to_vec()))
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("list the tree of {repo} at {sha}");
        let tree: TreeJson = self
            .get_json(
                &format!("/repos/{o}/{r}/git/trees/{sha}?recursive=1"),
                &what,
            )
            .await?;
        if tree.truncated {
            return Err(VcsError::Status {
                what,
                status: 200,
                message: "GitHub truncated the recursive tree (over 100,000 entries)".to_owned(),
            });
        }
        Ok(tree
            .tree
            .into_iter()
            .filter(|e| e.kind == "blob")
            .map(|e| e.path)
            .collect())
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("comment on {repo}#{pr}");
        let resp = self
            .request(
                Method::POST,
                &format!("/repos/{o}/{r}/issues/{pr}/comments"),
                Some(&json!({ "body": body })),
                ACCEPT_JSON,
                Idempotency::NotIdempotent,
                &what,
            )
            .await?;
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
        let resp = self
            .request(
                Method::PATCH,
                &format!(
                    "/repos/{o}/{r}/issues/comments/{}",
                    super::http::segment(&id.0)
                ),
                Some(&json!({ "body": body })),
                ACCEPT_JSON,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
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
        let resp = self
            .request(
                Method::POST,
                &format!("/repos/{o}/{r}/statuses/{sha}"),
                Some(&body),
                ACCEPT_JSON,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        check(resp, &what).map(drop)
    }

    async fn is_approved(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<bool> {
        let (o, r) = owner_and_name(repo)?;
        let what = format!("list reviews of {repo}#{pr}");
        let reviews: Vec<ReviewJson> = self
            .get_pages(
                &format!("/repos/{o}/{r}/pulls/{pr}/reviews?per_page=100"),
                &what,
            )
            .await?;
        // Each reviewer's latest decisive review counts; comments do not change a decision.
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        for review in reviews {
            if review.state == "COMMENTED" || review.state == "PENDING" {
                continue;
            }
            let user = review.user.map(|u| u.login).unwrap_or_default();
            latest.insert(user, review.state);
        }
        Ok(latest.values().any(|s| s == "APPROVED"))
    }
}
