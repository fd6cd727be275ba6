//! One request stack for the six hosts. An adapter implements [`Host`]: how its host reads a
//! pull request, its changed files, a tree listing, a user's access, the approvals and whether
//! the head contains the base, and the paths and JSON of its writes. [`VcsClient`] is
//! implemented here, once, for every [`Host`]: the calls every host makes alike (create a
//! comment and read its id, replace a comment, write a commit status, read a file or the tree's
//! archive; delete a merged pull request's branch, in [`branch`]) are made here, on the host's
//! [`Rest`] client, with the credentials [`Host::with_rest`] gives, and every call's errors name
//! what was asked the same way.

use std::collections::BTreeMap;
use std::future::Future;

use http::Method;
use serde_json::{Value, json};

use super::branch::{self, BranchApi};
use super::client::unsupported;
use super::http::{IdJson, RawResponse, Rest, path, segment};
use super::issues::{self, IssueApi};
use super::repository::{self, CloneAt, RepoApi};
pub(crate) use super::rest_call::RestCall;
use super::rest_call::WithRest;
use super::{
    Access, Actor, BranchDeletion, CommentId, CommitStatus, IssueRef, PullRequest, RepoInfo,
    Result, StatusState, TrackingIssue, TreeFilter, VcsClient, VcsError, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::ChangedFile;
use crate::repo_config::MergeMethod;

/// A pull request of a repository: what the calls about one pull request take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PrRef<'a> {
    /// The repository (the pull request's base).
    pub repo: &'a RepoName,
    /// Its number.
    pub number: PullRequestNumber,
}

/// A write that is harmless to repeat ([`Rest::put`]): a comment's whole new text, a commit
/// status keyed by its name.
#[derive(Debug)]
pub(crate) struct Put {
    /// `PUT`, `PATCH`, or `POST` where the host keys what it writes.
    pub method: Method,
    /// Relative to the API base.
    pub path: String,
    /// The JSON sent.
    pub body: Value,
}

impl Put {
    /// `body` sent to `path` with `method`.
    #[must_use]
    pub fn new(method: Method, path: String, body: Value) -> Self {
        Put { method, path, body }
    }
}

/// How a host spells a commit status in JSON.
#[derive(Debug)]
pub(crate) struct StatusFields {
    /// The host's names for pending, success, failure and error, in that order.
    pub states: [&'static str; 4],
    /// The field that names the status (`context`, `name`).
    pub name: &'static str,
    /// The field of the link, sent when the status has one.
    pub url: &'static str,
    /// The longest description the host keeps, in characters.
    pub description_max: usize,
}

impl StatusFields {
    /// `status` as the host takes it: state, name, description (cut to the host's length) and,
    /// when there is one, the link.
    pub fn json(&self, status: &CommitStatus) -> Value {
        let [pending, success, failure, error] = self.states;
        let state = match status.state {
            StatusState::Pending => pending,
            StatusState::Success => success,
            StatusState::Failure => failure,
            StatusState::Error => error,
        };
        let description = truncate(&status.description, self.description_max);
        let mut body = json!({ "state": state, "description": description });
        body[self.name] = json!(status.context);
        if let Some(url) = &status.target_url {
            body[self.url] = json!(url);
        }
        body
    }
}

/// What one host's adapter says; [`VcsClient`] does the rest (see the module).
pub(crate) trait Host: Send + Sync {
    /// The host kind.
    const PROVIDER: Provider;
    /// The longest comment the host accepts, in bytes.
    const COMMENT_LIMIT: usize;
    /// What follows the repository before a pull request's number in messages (`#`; GitLab
    /// and Azure DevOps `!`).
    const PR_MARK: char = '#';
    /// What the host calls a comment (GitLab: a note).
    const NOTE: &'static str = "comment";
    /// The media type a file's raw bytes are asked for in.
    const FILE_ACCEPT: &'static str = "*/*";

    /// Runs `call` with the client carrying the credentials for `repo`: [`Self::rest`] itself,
    /// unless the credentials change per repository (a GitHub App's installation tokens).
    fn with_rest<T: Send>(
        &self,
        repo: &RepoName,
        call: impl RestCall<T>,
    ) -> impl Future<Output = Result<T>> + Send {
        let _ = repo;
        call.call(self.rest().clone())
    }

    /// `pr` as messages name it: `owner/name#12` (GitLab `group/project!12`).
    fn pr_name(pr: PrRef<'_>) -> String {
        format!("{}{}{}", pr.repo, Self::PR_MARK, pr.number)
    }

    /// [`VcsClient::pull_request`].
    fn read_pull_request(&self, pr: PrRef<'_>) -> impl Future<Output = Result<PullRequest>> + Send;

    /// [`VcsClient::changed_files`].
    fn list_changed_files(
        &self,
        pr: PrRef<'_>,
    ) -> impl Future<Output = Result<Vec<ChangedFile>>> + Send;

    /// [`VcsClient::list_files`]; `what` names the listing in errors.
    fn list_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        what: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Where a file's raw bytes at `sha` (percent-encoded) are read, under `base`
    /// ([`Self::repo_path`]).
    fn file_path(base: &str, sha: &str, file: &str) -> String;

    /// Where the tree at `sha` (percent-encoded) is downloaded as one `.tar.gz`, under `base`;
    /// `None` where the host offers no archive (the default), and files are then read one at
    /// a time.
    fn archive_path(base: &str, sha: &str) -> Option<String> {
        let _ = (base, sha);
        None
    }

    /// Where a comment on pull request `number` is created (POST), under `base`:
    /// `issues/{number}/comments`, GitHub's REST shape, which Gitea follows.
    fn comment_path(base: &str, number: PullRequestNumber) -> String {
        format!("{base}/issues/{number}/comments")
    }

    /// A comment's JSON: `{"body": ...}` (GitHub, Gitea, GitLab).
    fn comment_json(body: &str) -> Value {
        json!({ "body": body })
    }

    /// The new comment's id from the host's reply to its creation: the reply's `id`.
    fn comment_id(reply: Value) -> serde_json::Result<CommentId> {
        let created: IdJson = serde_json::from_value(reply)?;
        Ok(CommentId(created.id.to_string()))
    }

    /// The write, under `base`, that replaces comment `id`'s text with `body`: `PATCH
    /// issues/comments/{id}`, GitHub's REST shape, which Gitea follows.
    fn edit_put(base: &str, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<Put> {
        let _ = pr;
        let path = format!("{base}/issues/comments/{}", segment(&id.0));
        Ok(Put::new(Method::PATCH, path, Self::comment_json(body)))
    }

    /// Replaces comment `id`'s text: [`Self::edit_put`], sent.
    fn edit(
        &self,
        pr: PrRef<'_>,
        id: &CommentId,
        body: &str,
        what: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let put = Self::edit_put(&Self::repo_path(pr.repo)?, pr.number, id, body)?;
            self.send_put(pr.repo, &put, what).await
        }
    }

    /// Sends `put` with the credentials for `repo`.
    fn send_put(
        &self,
        repo: &RepoName,
        put: &Put,
        what: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        self.with_rest(repo, move |rest: Rest| {
            let (method, path) = (put.method.clone(), put.path.clone());
            let (body, what) = (put.body.clone(), what.to_owned());
            async move { rest.put(method, &path, &body, &what).await }
        })
    }

    /// The write that sets `status` on `sha`.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put>;

    /// [`Self::status`], for a host that must read something first to address the write
    /// (Azure DevOps: the pull request's iteration at `sha`).
    fn status_write(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> impl Future<Output = Result<Put>> + Send {
        let put = self.status(repo, sha, status);
        async move { put }
    }

    /// [`VcsClient::permission`].
    fn read_access(
        &self,
        repo: &RepoName,
        user: &Actor,
    ) -> impl Future<Output = Result<Access>> + Send;

    /// [`VcsClient::approvals`].
    fn list_approvals(
        &self,
        pr: PrRef<'_>,
        head: &CommitSha,
    ) -> impl Future<Output = Result<Vec<Actor>>> + Send;

    /// [`VcsClient::mergeable`]: the merge state as read, unless the adapter reads more.
    fn merge_state(
        &self,
        pr: PrRef<'_>,
        pull: &PullRequest,
    ) -> impl Future<Output = Result<Option<bool>>> + Send {
        let (_, mergeable) = (pr, pull.mergeable);
        async move { Ok(mergeable) }
    }

    /// [`VcsClient::contains_base`].
    fn head_contains_base(
        &self,
        repo: &RepoName,
        pr: &PullRequest,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// [`VcsClient::is_member`]; hosts without a membership check refuse.
    fn team_member(&self, team: &str, user: &Actor) -> impl Future<Output = Result<bool>> + Send {
        let _ = (team, user);
        async { Err(unsupported("team membership")) }
    }

    /// Where the repository's JSON names its default branch (a JSON pointer), for the default
    /// [`Self::branch_api`].
    const DEFAULT_BRANCH_AT: &'static str = "/default_branch";
    /// Where a branch's JSON names its head commit, for the default [`Self::branch_api`].
    const BRANCH_HEAD_AT: &'static str = "/commit/id";

    /// Where `branch` is read and deleted, under `base`, for the default [`Self::branch_api`]:
    /// `branches/{branch}` (Gitea).
    fn branch_path(base: &str, branch: &str) -> String {
        format!("{base}/branches/{}", path(branch))
    }

    /// [`VcsClient::delete_branch`]'s requests for `branch`, whose expected head is `head` (sent
    /// with the deletion where the host takes it): see [`BranchApi`]. By default the branch is
    /// a resource at [`Self::branch_path`] ([`BranchApi::resource`]) and `head` is not sent.
    fn branch_api(repo: &RepoName, branch: &str, head: &CommitSha) -> Result<BranchApi> {
        let _ = head;
        let base = Self::repo_path(repo)?;
        let branch = Self::branch_path(&base, branch);
        Ok(BranchApi::resource(
            base,
            Self::DEFAULT_BRANCH_AT,
            branch,
            Self::BRANCH_HEAD_AT,
        ))
    }

    /// Why a successful reply to the deletion says nothing was deleted, for hosts that answer a
    /// refusal with a success (Azure DevOps); `None`, the default: it was deleted.
    fn deletion_refused(reply: &RawResponse) -> Option<String> {
        let _ = reply;
        None
    }

    /// [`VcsClient::merge`]'s request; hosts that cannot merge refuse.
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        let _ = (repo, pr, method);
        Err(unsupported("merging a pull request"))
    }

    /// Where the repository's JSON gives its HTTPS clone URL (a JSON pointer), for the default
    /// [`Self::repo_api`].
    const CLONE_URL_AT: &'static str = "/clone_url";

    /// [`VcsClient::repository`]'s reads: by default the repository at [`Self::repo_path`],
    /// naming its clone URL at [`Self::CLONE_URL_AT`] and its default branch at
    /// [`Self::DEFAULT_BRANCH_AT`]. The default branch's head is read with [`Self::branch_api`].
    fn repo_api(repo: &RepoName) -> Result<RepoApi> {
        Ok(RepoApi {
            repository: Self::repo_path(repo)?,
            clone_at: CloneAt::Field(Self::CLONE_URL_AT),
            default_branch: None,
            default_at: Self::DEFAULT_BRANCH_AT,
        })
    }

    /// [`VcsClient::tracking_issue`]'s requests for `issue`; hosts without issues refuse.
    fn issue_api(repo: &RepoName, issue: &TrackingIssue) -> Result<IssueApi> {
        let _ = (repo, issue);
        Err(unsupported("tracking issues"))
    }

    /// [`VcsClient::tracking_issue`]: by default [`Self::issue_api`]'s requests, in `issues`.
    fn track_issue(
        &self,
        repo: &RepoName,
        existing: Option<&IssueRef>,
        issue: &TrackingIssue,
    ) -> impl Future<Output = Result<Option<IssueRef>>> + Send
    where
        Self: Sized,
    {
        async move {
            let api = Self::issue_api(repo, issue)?;
            issues::track(self, api, repo, existing, issue).await
        }
    }

    /// The client for the host's API.
    fn rest(&self) -> &Rest;

    /// What every path about a repository is made of, around its owner and its name
    /// (`["repos/", "/"]` makes `repos/{owner}/{name}`).
    const REPO_PATH: [&'static str; 2];

    /// The path every path about `repo` starts with: [`Self::REPO_PATH`] around the owner and
    /// the name, each percent-encoded as one segment.
    fn repo_path(repo: &RepoName) -> Result<String> {
        let (owner, name) = super::owner_and_name_segments(repo)?;
        let [before, between] = Self::REPO_PATH;
        Ok(format!("{before}{owner}{between}{name}"))
    }
}

impl<H: Host> VcsClient for H {
    fn provider(&self) -> Provider {
        H::PROVIDER
    }

    fn comment_limit(&self) -> usize {
        H::COMMENT_LIMIT
    }

    async fn pull_request(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<PullRequest> {
        self.read_pull_request(PrRef { repo, number }).await
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        self.list_changed_files(PrRef { repo, number }).await
    }

    async fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        path: &str,
    ) -> Result<Option<Vec<u8>>> {
        let what = format!("read {path} at {sha} in {repo}");
        let file = H::file_path(&H::repo_path(repo)?, &segment(sha.as_str()), path);
        let url = self.rest().url(&file)?;
        self.with_rest(repo, |rest: Rest| {
            let (url, what) = (url.clone(), what.clone());
            async move { rest.get_file_as(url, H::FILE_ACCEPT, &what).await }
        })
        .await
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        self.list_tree(repo, sha, &what).await
    }

    async fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let Some(path) = H::archive_path(&H::repo_path(repo)?, &segment(sha.as_str())) else {
            return Ok(None);
        };
        let what = format!("download the archive of {repo} at {sha}");
        self.with_rest(repo, |rest: Rest| {
            let (path, what, wanted) = (path.clone(), what.clone(), wanted.clone());
            async move { rest.get_archive(&path, &what, &wanted).await }
        })
        .await
        .map(Some)
    }

    /// Never sent twice unless the host refused it (`Rest::create`).
    async fn post_comment(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let pr = PrRef { repo, number };
        let what = format!("comment on {}", H::pr_name(pr));
        let path = H::comment_path(&H::repo_path(repo)?, number);
        let body = H::comment_json(body);
        let reply = self
            .with_rest(repo, |rest: Rest| {
                let (path, body, what) = (path.clone(), body.clone(), what.clone());
                async move { rest.create(&path, &body, &what).await }
            })
            .await?;
        H::comment_id(reply).map_err(|source| VcsError::Decode { what, source })
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let pr = PrRef { repo, number };
        let what = format!("edit {} {id} on {}", H::NOTE, H::pr_name(pr));
        self.edit(pr, id, body, &what).await
    }

    /// A status is keyed by its name: sending it again changes nothing.
    async fn set_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<()> {
        let what = format!("set status {} on {sha}", status.context);
        let put = self.status_write(repo, sha, status).await?;
        self.send_put(repo, &put, &what).await
    }

    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        self.read_access(repo, user).await
    }

    async fn approvals(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        self.list_approvals(PrRef { repo, number }, head).await
    }

    async fn mergeable(&self, repo: &RepoName, pr: &PullRequest) -> Result<Option<bool>> {
        let number = pr.number;
        self.merge_state(PrRef { repo, number }, pr).await
    }

    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        self.head_contains_base(repo, pr).await
    }

    async fn is_member(&self, team: &str, user: &Actor) -> Result<bool> {
        self.team_member(team, user).await
    }

    async fn delete_branch(&self, repo: &RepoName, pr: &PullRequest) -> Result<BranchDeletion> {
        let name = H::pr_name(PrRef {
            repo,
            number: pr.number,
        });
        let api = || H::branch_api(repo, &pr.head_branch, &pr.head_sha);
        branch::delete(self, repo, pr, (api, &name, H::deletion_refused)).await
    }

    async fn repository(&self, repo: &RepoName) -> Result<RepoInfo> {
        let branch_api = |default: &str| H::branch_api(repo, default, &CommitSha::new(""));
        repository::read(self, repo, H::repo_api(repo)?, branch_api).await
    }

    async fn tracking_issue(
        &self,
        repo: &RepoName,
        existing: Option<&IssueRef>,
        issue: &TrackingIssue,
    ) -> Result<Option<IssueRef>> {
        self.track_issue(repo, existing, issue).await
    }

    async fn merge(&self, repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<()> {
        let put = Self::merge_put(repo, pr, method)?;
        let what = format!(
            "merge {}",
            Self::pr_name(PrRef {
                repo,
                number: pr.number
            })
        );
        self.send_put(repo, &put, &what).await
    }
}

impl<H: Host> WithRest for H {
    fn rest_for<T: Send>(
        &self,
        repo: &RepoName,
        call: impl RestCall<T>,
    ) -> impl Future<Output = Result<T>> + Send {
        self.with_rest(repo, call)
    }
}
