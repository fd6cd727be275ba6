//! Talking back to the VCS host: one [`VcsClient`] trait, one adapter per host.
//!
//! | host | client | module |
//! |---|---|---|
//! | GitHub (github.com, Enterprise; PAT or GitHub App) | octocrab | [`github`] |
//! | GitLab | reqwest | [`gitlab`] |
//! | Azure DevOps | reqwest | [`azure_devops`] |
//! | Bitbucket Cloud | reqwest | [`bitbucket_cloud`] |
//! | Bitbucket Server / Data Center | reqwest | [`bitbucket_server`] |
//! | Gitea / Forgejo | reqwest | [`gitea`] |
//!
//! Every call goes through `http::with_retries`: rate-limit replies are waited out (bounded),
//! transient failures of idempotent calls are retried, and a comment is never posted twice.
//! Every paged list (changed files, tree listings, reviews) is walked by one loop,
//! `paging::collect`; each adapter only says how to read one page and find the next.

pub mod app_jwt;
pub mod archive;
pub mod azure_devops;
pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod http;
mod paging;
pub mod tree;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::event::CommentId;
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::ChangedFile;

pub use http::{Idempotency, RetryPolicy};
pub use tree::TreeFilter;

/// Where a PR stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrState {
    /// Open (including drafts).
    Open,
    /// Closed without merging (declined, abandoned).
    Closed,
    /// Merged.
    Merged,
}

/// A pull request as the host reports it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: PullRequestNumber,
    /// The head commit.
    pub head_sha: CommitSha,
    /// The head branch (short name).
    pub head_branch: String,
    /// The base branch (short name).
    pub base_branch: String,
    /// Who opened it.
    pub author: String,
    /// The author's host id where logins are not unique (Bitbucket Cloud's account UUID).
    pub author_id: Option<String>,
    /// Open, closed or merged.
    pub state: PrState,
    /// Whether the host's merge state says it can be merged now (GitHub `mergeable_state`,
    /// GitLab `detailed_merge_status`, ...; each adapter documents its mapping); `None` while
    /// the host is still computing it.
    pub mergeable: Option<bool>,
    /// The repository the head branch lives in (`owner/name`); a fork when it differs from the
    /// base repository. `None` when the host does not say (a deleted fork): treated as a fork.
    pub head_repo: Option<RepoName>,
}

impl PullRequest {
    /// Whether the head lives outside `repo` (a fork, or a head repository the host no longer
    /// names): such PRs are not planned unless the operator allows forks.
    #[must_use]
    pub fn is_fork(&self, repo: &RepoName) -> bool {
        self.head_repo.as_ref() != Some(repo)
    }
}

/// A person on the host, as a delivery or the API names them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Actor {
    /// The login (username; Azure DevOps' `uniqueName`).
    pub login: String,
    /// The host's id where its permission API needs one (GitLab's numeric user id, Bitbucket
    /// Cloud's account UUID, Azure DevOps' identity id); `None` elsewhere.
    pub id: Option<String>,
}

impl Actor {
    /// What identifies the actor on `provider`: the host id where logins are not unique
    /// (Bitbucket Cloud's nicknames are chosen by their users), else the login, case-folded.
    /// `None` when the host needs an id and there is none: such an actor matches nobody.
    #[must_use]
    pub fn identity(&self, provider: crate::event::Provider) -> Option<String> {
        if provider.logins_are_unique() {
            (!self.login.is_empty()).then(|| self.login.to_ascii_lowercase())
        } else {
            self.id
                .as_ref()
                .filter(|id| !id.is_empty())
                .map(|id| id.to_ascii_lowercase())
        }
    }

    /// An actor known by login only.
    #[must_use]
    pub fn login(login: impl Into<String>) -> Self {
        Actor {
            login: login.into(),
            id: None,
        }
    }
}

/// What a user may do in a repository, from the host's own permission API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// No access (not a member, or unknown to the host).
    None,
    /// Read (GitHub read/triage, GitLab Guest/Reporter, ...).
    Read,
    /// Write (GitHub write/maintain, GitLab Developer/Maintainer, ...).
    Write,
    /// Admin (GitHub admin, GitLab Owner, ...).
    Admin,
}

impl Access {
    /// The name as written in the policy (`none`, `read`, `write`, `admin`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        }
    }
}

/// The state of a commit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    /// Running.
    Pending,
    /// Succeeded.
    Success,
    /// Terraform failed (or a requirement is not met).
    Failure,
    /// Landfall could not run it.
    Error,
}

/// One commit status (or check) per project and command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// The name, from [`status_context`]: one per project and command.
    pub context: String,
    /// The state.
    pub state: StatusState,
    /// One line for people (hosts cut it at about 140 characters).
    pub description: String,
    /// A link to the comment or the full log.
    pub target_url: Option<String>,
}

/// The status name for `command` (`plan`, `apply`) of `project`: `landfall/plan: envs/prod`.
#[must_use]
pub fn status_context(command: &str, project: &str) -> String {
    format!("landfall/{command}: {project}")
}

/// Why a VCS call failed.
#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    /// No response (connection refused, timeout, TLS).
    #[error("{what}: the request to the VCS host failed")]
    Transport {
        /// What was asked.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The host answered 404.
    #[error("{what}: not found")]
    NotFound {
        /// What was asked.
        what: String,
    },
    /// The host refused with another status.
    #[error("{what}: the VCS host answered {status}: {message}")]
    Status {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// Rate limited for longer than we wait, or after every retry.
    #[error("{what}: rate limited by the VCS host{}", retry_after.map(|d| format!(" (retry in {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// What was asked.
        what: String,
        /// When the host says to come back.
        retry_after: Option<Duration>,
    },
    /// The body is not what the API documents.
    #[error("{what}: unexpected response from the VCS host")]
    Decode {
        /// What was asked.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A paged list that does not end: a page naming itself as the next one, or more than
    /// [`paging::MAX_PAGES`] pages.
    #[error("the VCS host's paging does not end: {message}")]
    Paging {
        /// What was seen.
        message: String,
    },
    /// An archive of the tree cannot be used.
    #[error("{what}: the archive cannot be used")]
    Archive {
        /// What was asked.
        what: String,
        /// Why.
        #[source]
        source: archive::ArchiveError,
    },
    /// The client cannot be built or a value cannot be used (bad URL, bad key, bad repo name).
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

/// `Result` for VCS calls.
pub type Result<T, E = VcsError> = std::result::Result<T, E>;

/// What the function needs from a VCS host.
pub trait VcsClient: Send + Sync {
    /// The host kind.
    fn provider(&self) -> Provider;

    /// The longest comment the host accepts, in bytes (what [`crate::comment`] splits at).
    fn comment_limit(&self) -> usize;

    /// The PR as it is now.
    fn pull_request(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> impl Future<Output = Result<PullRequest>> + Send;

    /// Every file the PR changes (all pages).
    fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> impl Future<Output = Result<Vec<ChangedFile>>> + Send;

    /// A file's bytes at `sha`; `None` when it does not exist.
    fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        path: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Every file path in the tree at `sha`.
    fn list_files(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The files at `sha` that `wanted` accepts, by path, from one download of the whole tree
    /// where the host offers it; `Ok(None)` where it does not (the default). A path the
    /// archive does not hold as a regular file (a symlink) is left out. [`tree::read_files`]
    /// reads what this leaves out, or everything when it fails, one file at a time.
    fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> impl Future<Output = Result<Option<BTreeMap<String, Vec<u8>>>>> + Send {
        let _ = (repo, sha, wanted);
        async { Ok(None) }
    }

    /// Posts a comment on the PR.
    fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> impl Future<Output = Result<CommentId>> + Send;

    /// Replaces a comment's text.
    fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets a commit status on `sha`.
    fn set_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<()>> + Send;

    /// `user`'s access to `repo`, from the host's permission API. A user the host does not
    /// know, or who is not a member, has [`Access::None`].
    fn permission(
        &self,
        repo: &RepoName,
        user: &Actor,
    ) -> impl Future<Output = Result<Access>> + Send;

    /// The approvals that count on the PR now: each reviewer's latest decisive review, when it
    /// approves, is not dismissed or stale, and (where the host records the commit) was given
    /// at `head`. Who may approve (write access) is decided by the caller.
    fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> impl Future<Output = Result<Vec<Actor>>> + Send;

    /// Whether the PR's head contains the base branch's current head (`undiverged`).
    fn contains_base(
        &self,
        repo: &RepoName,
        pr: &PullRequest,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Whether `user` belongs to `team` (GitHub `org/team-slug`, GitLab group path), for the
    /// policy's `teams`; hosts without a membership check refuse (a rule naming teams then
    /// refuses there).
    fn is_member(&self, team: &str, user: &Actor) -> impl Future<Output = Result<bool>> + Send {
        let _ = (team, user);
        async { Err(unsupported("team membership")) }
    }
}

/// The error for what an adapter does not implement: callers refuse (fail closed).
fn unsupported(what: &str) -> VcsError {
    VcsError::Config {
        message: format!("{what} is not supported on this host by Landfall"),
    }
}

/// How to reach the host, from `LANDFALL_VCS`, `LANDFALL_VCS_URL` and the token.
#[derive(Clone, Debug)]
pub struct VcsSettings {
    /// The host kind.
    pub provider: Provider,
    /// The API base URL; `None` for the public service.
    pub base_url: Option<String>,
    /// The token (`user:password` for Basic auth where the host takes it).
    pub token: SecretString,
    /// Retries.
    pub retry: RetryPolicy,
}

/// One of the adapters, chosen at start-up by `LANDFALL_VCS`.
#[derive(Debug)]
pub enum AnyVcs {
    /// GitHub.
    Github(github::GithubClient),
    /// GitLab.
    Gitlab(gitlab::GitlabClient),
    /// Azure DevOps.
    AzureDevops(azure_devops::AzureDevopsClient),
    /// Bitbucket Cloud.
    BitbucketCloud(bitbucket_cloud::BitbucketCloudClient),
    /// Bitbucket Server.
    BitbucketServer(bitbucket_server::BitbucketServerClient),
    /// Gitea.
    Gitea(gitea::GiteaClient),
}

impl AnyVcs {
    /// Builds the adapter the configuration names: a GitHub App when
    /// `LANDFALL_GITHUB_APP_ID` is set, else the host's adapter with the token.
    ///
    /// # Errors
    ///
    /// [`VcsError::Config`] when neither a token nor a GitHub App is configured, or the client
    /// cannot be built.
    pub fn from_config(
        config: &crate::config::Config,
        secrets: &crate::config::Secrets,
        retry: RetryPolicy,
    ) -> Result<Self> {
        use crate::config::env_vars;
        if let Some(app) = &config.github_app {
            let key = secrets
                .github_app_key
                .as_ref()
                .ok_or_else(|| VcsError::Config {
                    message: format!("{} was not read", env_vars::GITHUB_APP_KEY),
                })?;
            return Ok(AnyVcs::Github(github::GithubClient::app(
                config.vcs_url.as_deref(),
                app.app_id,
                secrecy::ExposeSecret::expose_secret(key).as_bytes(),
                app.installation_id,
                retry,
            )?));
        }
        let token = secrets.vcs_token.clone().ok_or_else(|| VcsError::Config {
            message: format!(
                "{} is not set (nor, for GitHub, {}): the function needs it to talk to the host",
                env_vars::VCS_TOKEN,
                env_vars::GITHUB_APP_ID
            ),
        })?;
        Self::new(&VcsSettings {
            provider: config.vcs,
            base_url: config.vcs_url.clone(),
            token,
            retry,
        })
    }

    /// Records the GitHub App installation a delivery for `repo` came from (the webhook's
    /// `installation.id`), saving a lookup; other hosts ignore it.
    pub fn remember_installation(&self, repo: &RepoName, installation_id: u64) {
        if let AnyVcs::Github(client) = self {
            client.remember_installation(repo, installation_id);
        }
    }

    /// Builds the adapter for `settings.provider` with a token. GitHub Apps use
    /// [`Self::from_config`] or [`github::GithubClient::app`].
    pub fn new(settings: &VcsSettings) -> Result<Self> {
        let url = settings.base_url.as_deref();
        let token = settings.token.clone();
        let retry = settings.retry;
        Ok(match settings.provider {
            Provider::Github => {
                AnyVcs::Github(github::GithubClient::personal_token(url, token, retry)?)
            }
            Provider::Gitlab => AnyVcs::Gitlab(gitlab::GitlabClient::new(url, &token, retry)?),
            Provider::AzureDevops => {
                AnyVcs::AzureDevops(azure_devops::AzureDevopsClient::new(url, &token, retry)?)
            }
            Provider::BitbucketCloud => AnyVcs::BitbucketCloud(
                bitbucket_cloud::BitbucketCloudClient::new(url, &token, retry)?,
            ),
            Provider::BitbucketServer => AnyVcs::BitbucketServer(
                bitbucket_server::BitbucketServerClient::new(url, &token, retry)?,
            ),
            Provider::Gitea => AnyVcs::Gitea(gitea::GiteaClient::new(url, &token, retry)?),
        })
    }
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyVcs::Github($c) => $call,
            AnyVcs::Gitlab($c) => $call,
            AnyVcs::AzureDevops($c) => $call,
            AnyVcs::BitbucketCloud($c) => $call,
            AnyVcs::BitbucketServer($c) => $call,
            AnyVcs::Gitea($c) => $call,
        }
    };
}

impl VcsClient for AnyVcs {
    fn provider(&self) -> Provider {
        dispatch!(self, c => c.provider())
    }

    fn comment_limit(&self) -> usize {
        dispatch!(self, c => c.comment_limit())
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        dispatch!(self, c => c.pull_request(repo, pr).await)
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        dispatch!(self, c => c.changed_files(repo, pr).await)
    }

    async fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        path: &str,
    ) -> Result<Option<Vec<u8>>> {
        dispatch!(self, c => c.read_file(repo, sha, path).await)
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        dispatch!(self, c => c.list_files(repo, sha).await)
    }

    async fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        dispatch!(self, c => c.read_tree(repo, sha, wanted).await)
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        dispatch!(self, c => c.post_comment(repo, pr, body).await)
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        dispatch!(self, c => c.edit_comment(repo, pr, id, body).await)
    }

    async fn set_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<()> {
        dispatch!(self, c => c.set_status(repo, sha, status).await)
    }

    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        dispatch!(self, c => c.permission(repo, user).await)
    }

    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        dispatch!(self, c => c.approvals(repo, pr, head).await)
    }

    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        dispatch!(self, c => c.contains_base(repo, pr).await)
    }

    async fn is_member(&self, team: &str, user: &Actor) -> Result<bool> {
        dispatch!(self, c => c.is_member(team, user).await)
    }
}

/// Splits `owner/name` (or `PROJECT/slug`, `project/repo`); GitLab keeps the whole path.
pub(crate) fn owner_and_name(repo: &RepoName) -> Result<(&str, &str)> {
    repo.as_str()
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| VcsError::Config {
            message: format!("repository name {repo} is not of the form owner/name"),
        })
}

/// `name` as `repo` spells it when they name the same repository (hosts that compare names
/// case-insensitively: Azure DevOps, Bitbucket), else `name` as given.
pub(crate) fn same_spelling(repo: &RepoName, name: impl Into<String>) -> RepoName {
    let name = name.into();
    if name.eq_ignore_ascii_case(repo.as_str()) {
        repo.clone()
    } else {
        RepoName::new(name)
    }
}

/// The error for a PR with no head commit to compare with its base (`undiverged`).
pub(crate) fn require_head(repo: &RepoName, pr: &PullRequest) -> Result<()> {
    if pr.head_sha.as_str().is_empty() {
        return Err(VcsError::Config {
            message: format!("{repo} #{} has no head commit to compare", pr.number),
        });
    }
    Ok(())
}

/// Each reviewer's latest decisive review: `reviews` in the order they were given, `decisive`
/// keeping the states that make or change a decision; reviews without a login are left out.
pub(crate) fn latest_per_reviewer<R>(
    reviews: Vec<R>,
    login: impl Fn(&R) -> Option<String>,
    decisive: impl Fn(&R) -> bool,
) -> BTreeMap<String, R> {
    let mut latest = BTreeMap::new();
    for review in reviews {
        if let Some(user) = login(&review).filter(|_| decisive(&review)) {
            latest.insert(user, review);
        }
    }
    latest
}

/// A host's description cut to `max` characters on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitbucket_cloud_tells_people_apart_by_uuid_not_by_the_nickname_they_pick() {
        let real = Actor {
            login: "release-bot".to_owned(),
            id: Some("{AAAA}".to_owned()),
        };
        let impostor = Actor {
            login: "release-bot".to_owned(),
            id: Some("{BBBB}".to_owned()),
        };
        let cloud = Provider::BitbucketCloud;
        assert_ne!(real.identity(cloud), impostor.identity(cloud));
        assert_eq!(Actor::login("release-bot").identity(cloud), None);
        assert_eq!(
            real.identity(Provider::Github),
            impostor.identity(Provider::Github)
        );
        assert_eq!(
            Actor::login("OctoCat")
                .identity(Provider::Github)
                .as_deref(),
            Some("octocat")
        );
        assert_eq!(Actor::login("").identity(Provider::Github), None);
    }
}
