//! GitHub (github.com and Enterprise Server) on the shared [`Rest`] client, authenticated by a
//! personal access token or as a GitHub App: each request carries the credentials its call
//! needs, the App's JWT or an installation's token ([`app`]). Every request asks for
//! `application/vnd.github+json` (raw file contents: `application/vnd.github.raw+json`), names
//! the API version and follows no redirect: a tarball's 302 is followed by a client that sends
//! no credentials. The JSON and the review rules Gitea shares are in [`shared`].
//!
//! Endpoints (REST, `X-GitHub-Api-Version: 2022-11-28`):
//! `GET /repos/{o}/{r}/pulls/{n}`, `GET .../pulls/{n}/files?per_page=100` (Link pagination, at
//! most 3,000 files), `GET .../contents/{path}?ref={sha}` (raw media type),
//! `GET .../git/trees/{sha}?recursive=1` (a truncated tree walked folder by folder),
//! `GET .../tarball/{sha}` (a 302 to a pre-signed download, followed without the token),
//! `POST .../issues/{n}/comments`,
//! `PATCH .../issues/comments/{id}`, `POST .../statuses/{sha}`; deleting a merged pull
//! request's branch: `GET /repos/{o}/{r}`, `GET .../git/ref/heads/{branch}`,
//! `DELETE .../git/refs/heads/{branch}`.
//!
//! Who may do what, and what a pull request's state allows:
//!
//! | question | endpoint | answer |
//! |---|---|---|
//! | a user's access ([`VcsClient::permission`]) | `GET /repos/{o}/{r}/collaborators/{username}/permission` | `role_name` when present (`admin` → admin; `maintain`, `write` → write; `triage`, `read` → read; a custom role → none), else `permission` (`admin`/`write`/`read`/`none`); 404 (not a collaborator, unknown user) → none |
//! | approvals ([`VcsClient::approvals`]) | `GET .../pulls/{n}/reviews?per_page=100` (every page) | each reviewer's latest of `APPROVED`/`CHANGES_REQUESTED`/`DISMISSED`, counted when `APPROVED` with `commit_id` = the head |
//! | `undiverged` ([`VcsClient::contains_base`]) | `GET .../compare/{base_branch}...{head_sha}?per_page=1` | `behind_by == 0` |
//! | team membership ([`VcsClient::is_member`]) | `GET /orgs/{org}/teams/{team_slug}/memberships/{username}` (a GitHub App: the organisation's installation, `GET /orgs/{org}/installation`) | 200 with `state` `active` → member; `pending`, 404 → not |
//! | mergeable ([`PullRequest::mergeable`]) | `mergeable_state` of `GET .../pulls/{n}`; for the `mergeable` requirement ([`VcsClient::mergeable`]), a `blocked` one read again, `POST /graphql` ([`mergeable`]), then as needed `GET .../branches/{base}` and `GET .../compare/{base}...{head}` | see `mergeable_from_state`; `blocked` by Landfall's own required checks alone is mergeable |
//! | the head's repository ([`PullRequest::head_repo`]) | `head.repo.full_name` of `GET .../pulls/{n}` | `null` (a deleted fork) → `None` |
//!
//! [`VcsClient::permission`]: super::VcsClient::permission
//! [`VcsClient::approvals`]: super::VcsClient::approvals
//! [`VcsClient::contains_base`]: super::VcsClient::contains_base
//! [`VcsClient::mergeable`]: super::VcsClient::mergeable
//! [`VcsClient::is_member`]: super::VcsClient::is_member

mod app;
mod blocked;
mod checks;
mod mergeable;
pub(super) mod shared;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;

pub use app::app_key;
use app::{AppAuth, Scope};
use shared::{
    FileJson, PermissionJson, PrJson, ReviewJson, TreeJson, counted_approvals, org_and_team,
    status_put,
};

use super::branch::{BranchApi, HeadAt, Request};
use super::host::{Host, PrRef, Put, RestCall};
use super::http::{Auth, Rest, RestOptions, RetryPolicy, check, path, segment};
use super::issues::IssueApi;
use super::{Access, Actor, CommitStatus, PullRequest, Result, TrackingIssue, VcsError};
use crate::event::{CommitSha, Provider, RepoName};
use crate::projects::ChangedFile;
use crate::repo_config::MergeMethod;

/// github.com's API.
pub const DEFAULT_URL: &str = "https://api.github.com";

/// GitHub's comment limit: 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// The REST API version every request names, pinned so that GitHub's answers keep the shapes the
/// adapter reads. `2022-11-28` is the version GitHub Enterprise Server (3.9 and later) and
/// github.com both serve; `2026-03-10` exists on github.com only, and nothing Landfall calls
/// changed in it. Move the pin when Enterprise Server serves the new version too.
const API_VERSION: &str = "2022-11-28";

/// The most files GitHub lists of a pull request ("a maximum of 3000 files").
const FILES_LISTED: usize = 3_000;
const ACCEPT_JSON: &str = "application/vnd.github+json";
const ACCEPT_RAW: &str = "application/vnd.github.raw+json";

/// How long before an installation token expires it is replaced (GitHub's last one hour).
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_mins(5);

/// The GitHub adapter.
#[derive(Debug, Clone)]
pub struct GithubClient {
    /// Sends with the personal token, or (an App) with no credentials of its own.
    rest: Rest,
    credentials: Credentials,
    /// The status name (`LANDFALL_VCS_STATUS_NAME`): Landfall's checks are `<name>/...`.
    status_name: String,
}

#[derive(Debug, Clone)]
enum Credentials {
    /// A personal access token, sent as `Bearer`.
    Token(SecretString),
    /// A GitHub App: JWTs signed here, installation tokens minted and cached.
    App(Arc<AppAuth>),
}

/// The client for GitHub's API at `url` (github.com's when `None`) sending `auth`.
fn rest(url: Option<&str>, auth: Auth, retry: RetryPolicy) -> Result<Rest> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-github-api-version",
        HeaderValue::from_static(API_VERSION),
    );
    let options = RestOptions {
        headers,
        accept_json: ACCEPT_JSON,
        accept_archive: ACCEPT_JSON,
        follow_redirects: false,
    };
    Rest::with_options(url.unwrap_or(DEFAULT_URL), auth, retry, options)
}

impl GithubClient {
    /// With a personal access token (classic or fine-grained). `url` is the API base
    /// (`https://ghe.example.com/api/v3` for Enterprise), github.com's when `None`.
    pub fn personal_token(
        url: Option<&str>,
        token: SecretString,
        retry: RetryPolicy,
    ) -> Result<Self> {
        Ok(GithubClient {
            rest: rest(url, Auth::Bearer(token.clone()), retry)?,
            credentials: Credentials::Token(token),
            status_name: super::DEFAULT_STATUS_NAME.to_owned(),
        })
    }

    /// As a GitHub App: a JWT signed with the App's private key (PEM) is exchanged for
    /// installation tokens (`POST /app/installations/{id}/access_tokens`), cached and
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
        let key = app_key(private_key_pem)?;
        Ok(GithubClient {
            rest: rest(url, Auth::None, retry)?,
            credentials: Credentials::App(Arc::new(AppAuth::new(app_id, key, installation_id))),
            status_name: super::DEFAULT_STATUS_NAME.to_owned(),
        })
    }

    /// Landfall's checks are `<name>/...` (`LANDFALL_VCS_STATUS_NAME`): a `blocked` pull
    /// request whose only unfinished required checks are its apply checks counts as mergeable.
    #[must_use]
    pub fn with_status_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.status_name);
        self
    }

    /// The same client with other limits on tree archives (see [`ArchiveLimits`]); an
    /// archive over them is not used.
    #[cfg(any(test, feature = "test-support"))]
    #[must_use]
    pub fn with_archive_limits(mut self, limits: super::archive::ArchiveLimits) -> Self {
        self.rest = self.rest.with_archive_limits(limits);
        self
    }

    /// Whether the client acts as a GitHub App (its runners get installation tokens minted for
    /// their run).
    #[must_use]
    pub fn is_app(&self) -> bool {
        matches!(self.credentials, Credentials::App(_))
    }

    /// Records the installation a delivery for `repo` came from (its `installation.id`), so no
    /// API call is needed to find it. A configured installation id takes precedence.
    pub fn remember_installation(&self, repo: &RepoName, installation_id: u64) {
        if let Credentials::App(app) = &self.credentials {
            app.remember(repo, installation_id);
        }
    }

    /// The token a runner clones `repo` with (and its Terraform fetches private modules of the
    /// repository with): the personal token, or, for an App, an installation token for `repo`
    /// alone with `contents: read` only (GitHub's `repositories` and `permissions`), valid for
    /// about an hour. Nothing it reaches can write.
    ///
    /// # Errors
    ///
    /// When the installation cannot be found or the token cannot be minted.
    pub async fn token_for(&self, repo: &RepoName, _valid_for: Duration) -> Result<SecretString> {
        match &self.credentials {
            Credentials::Token(token) => Ok(token.clone()),
            Credentials::App(app) => {
                let id = app.installation_for(&self.rest, Scope::Repo(repo)).await?;
                let name = repo.as_str().rsplit('/').next().unwrap_or(repo.as_str());
                app.scoped_token(&self.rest, id, name, &[("contents", "read")])
                    .await
            }
        }
    }

    /// Runs `call` with the credentials for `scope`: the personal token, or the installation's
    /// token. An installation token GitHub no longer accepts (401: revoked, clock skew) is
    /// replaced once, and `call` made again.
    async fn authed<T: Send>(&self, scope: Scope<'_>, call: impl RestCall<T>) -> Result<T> {
        let Credentials::App(app) = &self.credentials else {
            return call.call(self.rest.clone()).await;
        };
        let id = app.installation_for(&self.rest, scope).await?;
        let token = app.token(&self.rest, id, TOKEN_REFRESH_MARGIN).await?;
        match call.call(self.rest.with_auth(Auth::Bearer(token))).await {
            Err(VcsError::Status { status: 401, .. }) => {
                app.forget_token(id);
                let token = app.token(&self.rest, id, TOKEN_REFRESH_MARGIN).await?;
                call.call(self.rest.with_auth(Auth::Bearer(token))).await
            }
            other => other,
        }
    }

    /// GET JSON at `target` in `repo`.
    async fn get<T: serde::de::DeserializeOwned + Send>(
        &self,
        repo: &RepoName,
        target: &str,
        what: &str,
    ) -> Result<T> {
        self.authed(Scope::Repo(repo), |rest: Rest| async move {
            rest.get(target, what).await
        })
        .await
    }

    /// `GET /repos/{o}/{r}/pulls/{n}`, as GitHub answers it.
    async fn get_pull(&self, pr: PrRef<'_>, what: &str) -> Result<PrJson> {
        let target = format!("{}/pulls/{}", Self::repo_path(pr.repo)?, pr.number);
        self.get(pr.repo, &target, what).await
    }

    /// Every page of a list in `repo`, following `Link: rel="next"`.
    async fn pages<T: serde::de::DeserializeOwned + Send>(
        &self,
        repo: &RepoName,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        self.authed(Scope::Repo(repo), |rest: Rest| async move {
            rest.pages(first, what).await
        })
        .await
    }

    /// A GET in `scope` whose 404 means "no": `Ok(None)`.
    async fn get_or_none<T: serde::de::DeserializeOwned + Send>(
        &self,
        scope: Scope<'_>,
        target: &str,
        what: &str,
    ) -> Result<Option<T>> {
        self.authed(scope, |rest: Rest| async move {
            let resp = rest.get_response(target, what).await?;
            if resp.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            check(resp, what)?.json(what).map(Some)
        })
        .await
    }
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
/// | `blocked` | blocked by branch protection (required reviews or checks) | `Some(false)`, unless Landfall's own checks alone block it ([`mergeable`]) |
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

/// The review states that make or change a decision on GitHub: `APPROVED`,
/// `CHANGES_REQUESTED`, `DISMISSED`; `COMMENTED` and `PENDING` change none.
const DECISIVE: &[&str] = &["APPROVED", "CHANGES_REQUESTED", "DISMISSED"];

impl Host for GithubClient {
    const PROVIDER: Provider = Provider::Github;
    const REPO_PATH: [&'static str; 2] = ["/repos/", "/"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;
    const FILE_ACCEPT: &'static str = ACCEPT_RAW;

    /// The personal token's client, or the App's with the installation token of `repo`.
    fn with_rest<T: Send>(
        &self,
        repo: &RepoName,
        call: impl RestCall<T>,
    ) -> impl Future<Output = Result<T>> + Send {
        self.authed(Scope::Repo(repo), call)
    }

    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let j = self
            .get_pull(pr, &format!("get pull request {}", Self::pr_name(pr)))
            .await?;
        let mergeable = mergeable_from_state(j.mergeable_state.as_deref());
        Ok(j.into_pull_request(pr.number, mergeable))
    }

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {}", Self::pr_name(pr));
        let first = format!(
            "{}/pulls/{}/files?per_page=100",
            Self::repo_path(pr.repo)?,
            pr.number
        );
        let files: Vec<FileJson> = self.pages(pr.repo, &first, &what).await?;
        if files.len() >= FILES_LISTED {
            // GitHub stops listing there: the pull request's own count says whether that is all.
            let j = self.get_pull(pr, &what).await?;
            if j.changed_files.is_none_or(|changed| changed > files.len()) {
                let total = j
                    .changed_files
                    .map_or_else(|| "more".to_owned(), |n| n.to_string());
                let (listed, change) = (files.len(), "pull request");
                return Err(VcsError::files_cut(
                    what, "GitHub", change, listed, &total, "",
                ));
            }
        }
        Ok(files.into_iter().map(ChangedFile::from).collect())
    }

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let base = Self::repo_path(repo)?;
        // Each tree is listed recursively; one GitHub truncates (over 100,000 entries or 7 MB)
        // is listed one level deep instead and its subtrees queued, so a monorepo of any size
        // costs one request per tree that is too big plus one per subtree of those.
        let mut files = Vec::new();
        let mut queue = vec![(String::new(), segment(sha.as_str()))];
        while let Some((prefix, tree_sha)) = queue.pop() {
            let trees = format!("{base}/git/trees/{tree_sha}");
            let recursive: TreeJson = self
                .get(repo, &format!("{trees}?recursive=1"), what)
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
            let level: TreeJson = self.get(repo, &trees, what).await?;
            if level.truncated {
                return Err(VcsError::Status {
                    what: what.to_owned(),
                    status: 200,
                    message: format!(
                        "GitHub truncated the listing of the single folder {prefix:?}"
                    ),
                });
            }
            for entry in level.tree {
                match entry.kind.as_str() {
                    "blob" => files.push(format!("{prefix}{}", entry.path)),
                    "tree" => queue.push((format!("{prefix}{}/", entry.path), segment(&entry.sha))),
                    _ => {}
                }
            }
        }
        files.sort_unstable();
        Ok(files)
    }

    /// `GET /repos/{o}/{r}/contents/{path}?ref={sha}`, the raw media type.
    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!("{base}/contents/{}?ref={sha}", path(file))
    }

    /// `GET /repos/{o}/{r}/tarball/{sha}`: GitHub answers with a 302 to a pre-signed URL,
    /// which carries its own short-lived token; GitHub's is never sent off the API.
    fn archive_path(base: &str, sha: &str) -> Option<String> {
        Some(format!("{base}/tarball/{sha}"))
    }

    /// `POST /repos/{o}/{r}/statuses/{sha}`, the description cut to GitHub's 140 characters; as
    /// a GitHub App, a check run instead (`checks.rs`).
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        if matches!(self.credentials, Credentials::App(_)) {
            return Ok(checks::check_run(
                &Self::repo_path(repo)?,
                sha.as_str(),
                status,
            ));
        }
        Ok(status_put(
            &Self::repo_path(repo)?,
            sha.as_str(),
            140,
            status,
        ))
    }

    /// `GET /repos/{o}/{r}/collaborators/{username}/permission`: see `github_access`. A 404
    /// (not a collaborator, or a login GitHub does not know) is [`Access::None`].
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        if user.login.is_empty() {
            return Ok(Access::None);
        }
        let base = Self::repo_path(repo)?;
        let what = format!("read the permission of {} in {repo}", user.login);
        let target = format!("{base}/collaborators/{}/permission", segment(&user.login));
        let j: Option<PermissionJson> = self.get_or_none(Scope::Repo(repo), &target, &what).await?;
        Ok(j.map_or(Access::None, |j| github_access(&j)))
    }

    /// `GET /repos/{o}/{r}/pulls/{n}/reviews?per_page=100` (every page): each reviewer's
    /// latest of `APPROVED`/`CHANGES_REQUESTED`/`DISMISSED`, counted when `APPROVED` at the
    /// head ([`counted_approvals`]).
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let base = Self::repo_path(pr.repo)?;
        let what = format!("list reviews of {}", Self::pr_name(pr));
        let first = format!("{base}/pulls/{}/reviews?per_page=100", pr.number);
        let reviews: Vec<ReviewJson> = self.pages(pr.repo, &first, &what).await?;
        Ok(counted_approvals(reviews, head, DECISIVE))
    }

    /// Not mergeable as read: the pull request read again, and if GitHub calls it `blocked`
    /// at the same head, whether Landfall's own apply checks alone block it ([`mergeable`]).
    async fn merge_state(&self, pr: PrRef<'_>, pull: &PullRequest) -> Result<Option<bool>> {
        if pull.mergeable != Some(false) || pull.state != super::PrState::Open {
            return Ok(pull.mergeable);
        }
        let j = self
            .get_pull(pr, &format!("get pull request {}", Self::pr_name(pr)))
            .await?;
        let blocked = j.mergeable_state.as_deref() == Some("blocked");
        let now = j.into_pull_request(pr.number, Some(false));
        if !blocked || now.head_sha != pull.head_sha || now.state != super::PrState::Open {
            return Ok(Some(false));
        }
        Ok(Some(self.only_own_checks_block(pr, &now).await))
    }

    /// `GET /repos/{o}/{r}/compare/{base_branch}...{head_sha}?per_page=1` (the branch
    /// URL-escaped; one commit a page keeps the reply small, `behind_by` counts them all):
    /// the head contains the base branch's current head when `behind_by` is 0.
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        if pr.base_branch.is_empty() || pr.head_sha.as_str().is_empty() {
            return Err(VcsError::Config {
                message: format!(
                    "{repo}#{}: no base branch or head commit to compare",
                    pr.number
                ),
            });
        }
        let base = Self::repo_path(repo)?;
        let what = format!(
            "compare the head of {repo}#{} with {}",
            pr.number, pr.base_branch
        );
        let (branch, head) = (segment(&pr.base_branch), segment(pr.head_sha.as_str()));
        let target = format!("{base}/compare/{branch}...{head}?per_page=1");
        let j: CompareJson = self.get(repo, &target, &what).await?;
        Ok(j.behind_by == 0)
    }

    /// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}` for `team` =
    /// `org/team-slug`: a member when GitHub answers 200 with `state` `active` (members of
    /// child teams included); `pending` (an invitation not yet accepted) and 404 are not. The
    /// token needs `read:org` (a GitHub App: the organisation's Members permission).
    async fn team_member(&self, team: &str, user: &Actor) -> Result<bool> {
        let (org, slug) = org_and_team(team, "GitHub", "team-slug")?;
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
        let j: Option<MembershipJson> = self.get_or_none(Scope::Org(org), &target, &what).await?;
        Ok(j.is_some_and(|j| j.state == "active"))
    }

    /// The repository's `default_branch` (`GET /repos/{o}/{r}`), the branch's head from
    /// `GET .../git/ref/heads/{branch}` (`object.sha`; the singular `ref` answers the exact ref
    /// only, where `git/refs/` would list refs the name prefixes), and
    /// `DELETE .../git/refs/heads/{branch}`: the ref parameter spans segments (`x-multi-segment`
    /// in GitHub's description), so the branch's `/` stay. GitHub answers the deletion of a ref
    /// that is already gone with 422 `Reference does not exist`: the branch is then read again.
    fn branch_api(repo: &RepoName, branch: &str, head: &CommitSha) -> Result<BranchApi> {
        let _ = head;
        let base = Self::repo_path(repo)?;
        let name = path(branch);
        Ok(BranchApi {
            repository: base.clone(),
            default_at: "/default_branch",
            branch: format!("{base}/git/ref/heads/{name}"),
            head_at: HeadAt::Field("/object/sha"),
            delete: Request::new(
                Method::DELETE,
                format!("{base}/git/refs/heads/{name}"),
                None,
            ),
        })
    }

    /// `POST /repos/{o}/{r}/issues`, `GET` and `PATCH .../issues/{n}`.
    fn issue_api(repo: &RepoName, issue: &TrackingIssue) -> Result<IssueApi> {
        Ok(IssueApi::github_shaped(&Self::repo_path(repo)?, issue))
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }

    /// `PUT /repos/{o}/{r}/pulls/{n}/merge`: GitHub refuses (409) when the head is not `sha`.
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        let path = format!("{}/pulls/{}/merge", Self::repo_path(repo)?, pr.number);
        let body =
            serde_json::json!({"merge_method": method.as_str(), "sha": pr.head_sha.as_str()});
        Ok(Put::new(Method::PUT, path, body))
    }
}
