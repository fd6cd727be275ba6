//! [`VcsClient`]: what the function needs from a VCS host. The host adapters implement it
//! through [`Host`](super::host::Host), [`AnyVcs`](super::AnyVcs) by handing each call to the
//! adapter it holds.

use std::collections::BTreeMap;
use std::future::Future;

use super::{Access, Actor, CommentId, CommitStatus, PullRequest, Result, TreeFilter, VcsError};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::ChangedFile;

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
    /// archive does not hold as a regular file (a symlink) is left out.
    /// [`read_files`](super::tree::read_files) reads what this leaves out, or everything when
    /// it fails, one file at a time.
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
pub(super) fn unsupported(what: &str) -> VcsError {
    VcsError::Config {
        message: format!("{what} is not supported on this host by Landfall"),
    }
}
