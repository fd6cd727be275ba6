//! [`AnyVcs`]: the adapter the configuration names, chosen at start-up, answering every
//! [`VcsClient`] call with the adapter it holds.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::{
    Access, Actor, BranchDeletion, CommentId, CommitStatus, IssueRef, PullRequest, RepoInfo,
    Result, RetryPolicy, TrackingIssue, TreeFilter, VcsClient, azure_devops, bitbucket_cloud,
    bitbucket_server, gitea, github, gitlab,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::ChangedFile;
use crate::repo_config::MergeMethod;

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
    /// The name Landfall's statuses start with (`LANDFALL_VCS_STATUS_NAME`), so GitLab's
    /// `mergeable` knows them.
    pub status_name: String,
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
    /// Records the GitHub App installation a delivery for `repo` came from (the webhook's
    /// `installation.id`), saving a lookup; other hosts ignore it.
    pub fn remember_installation(&self, repo: &RepoName, installation_id: u64) {
        if let AnyVcs::Github(client) = self {
            client.remember_installation(repo, installation_id);
        }
    }

    /// Builds the adapter for `settings.provider` with a token. GitHub Apps use
    /// the composition root's `vcs_client` or [`github::GithubClient::app`].
    pub fn new(settings: &VcsSettings) -> Result<Self> {
        let url = settings.base_url.as_deref();
        let token = settings.token.clone();
        let retry = settings.retry;
        Ok(match settings.provider {
            Provider::Github => AnyVcs::Github(
                github::GithubClient::personal_token(url, token, retry)?
                    .with_status_name(&settings.status_name),
            ),
            Provider::Gitlab => AnyVcs::Gitlab(
                gitlab::GitlabClient::new(url, &token, retry)?
                    .with_status_name(&settings.status_name),
            ),
            Provider::AzureDevops => AnyVcs::AzureDevops(
                azure_devops::AzureDevopsClient::new(url, &token, retry)?
                    .with_status_name(&settings.status_name),
            ),
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

/// `$call` with `$c` bound to the adapter `$self` holds.
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

/// Each [`VcsClient`] method listed, answered by the adapter `self` holds.
macro_rules! forward {
    ($(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty;)*) => {$(
        async fn $name(&self $(, $arg: $ty)*) -> $out {
            dispatch!(self, c => c.$name($($arg),*).await)
        }
    )*};
}

impl VcsClient for AnyVcs {
    fn provider(&self) -> Provider {
        dispatch!(self, c => c.provider())
    }

    fn comment_limit(&self) -> usize {
        dispatch!(self, c => c.comment_limit())
    }

    forward! {
        async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest>;
        async fn changed_files(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<Vec<ChangedFile>>;
        async fn read_file(&self, repo: &RepoName, sha: &CommitSha, path: &str) -> Result<Option<Vec<u8>>>;
        async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>>;
        async fn read_tree(&self, repo: &RepoName, sha: &CommitSha, wanted: &TreeFilter) -> Result<Option<BTreeMap<String, Vec<u8>>>>;
        async fn post_comment(&self, repo: &RepoName, pr: PullRequestNumber, body: &str) -> Result<CommentId>;
        async fn edit_comment(&self, repo: &RepoName, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<()>;
        async fn set_status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<()>;
        async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access>;
        async fn approvals(&self, repo: &RepoName, pr: PullRequestNumber, head: &CommitSha) -> Result<Vec<Actor>>;
        async fn mergeable(&self, repo: &RepoName, pr: &PullRequest) -> Result<Option<bool>>;
        async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool>;
        async fn is_member(&self, team: &str, user: &Actor) -> Result<bool>;
        async fn delete_branch(&self, repo: &RepoName, pr: &PullRequest) -> Result<BranchDeletion>;
        async fn merge(&self, repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<()>;
        async fn repository(&self, repo: &RepoName) -> Result<RepoInfo>;
        async fn tracking_issue(&self, repo: &RepoName, existing: Option<&IssueRef>, issue: &TrackingIssue) -> Result<Option<IssueRef>>;
    }
}
