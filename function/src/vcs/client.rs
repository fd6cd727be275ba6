//! [`VcsClient`]: what the function needs from a VCS host. The host adapters implement it
//! through [`Host`](super::host::Host), [`AnyVcs`](super::AnyVcs) by handing each call to the
//! adapter it holds.

use std::collections::BTreeMap;
use std::future::Future;

use super::{
    Access, Actor, BranchDeletion, CommentId, CommitStatus, IssueRef, PullRequest, RepoInfo,
    Result, TrackingIssue, TreeFilter, VcsError,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::ChangedFile;
use crate::repo_config::MergeMethod;

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

    /// Whether the `mergeable` requirement is met: the merge state read with the pull request
    /// ([`PullRequest::mergeable`]), or, on GitHub, for a pull request that state calls
    /// `blocked`, whether Landfall's own apply checks alone block it (read again then, with
    /// GitHub's GraphQL API; see the GitHub adapter). `None`: the host is still working it out.
    fn mergeable(
        &self,
        repo: &RepoName,
        pr: &PullRequest,
    ) -> impl Future<Output = Result<Option<bool>>> + Send;

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

    /// Deletes the head branch of `pr`, a merged pull request of `repo`, as Atlantis'
    /// `delete_source_branch_on_merge` does. Pass `pr` as [`Self::pull_request`] reads it once
    /// merged: its state, head repository, head branch and full head commit are what is checked.
    ///
    /// It fails safe. Nothing is deleted, [`BranchDeletion::Skipped`] says why, when the pull
    /// request is not merged, its head lives in a fork (or a repository the host no longer
    /// names), it has no head branch or commit, the head branch is its base branch or the
    /// repository's default branch (read from the host), or the branch no longer points at the
    /// pull request's head commit (someone pushed after the merge). A branch the host no longer
    /// has (its own "delete the head branch on merge" setting, or someone else) is
    /// [`BranchDeletion::AlreadyGone`]. Any other refusal is an error carrying the host's
    /// reason. Requests: the repository (its default branch), the branch (its head), then the
    /// deletion; when the host refuses, the branch is read once more to tell a branch that went
    /// or moved meanwhile from a refusal.
    ///
    /// | host | deletion | the head checked | the token needs |
    /// |---|---|---|---|
    /// | GitHub | `DELETE /repos/{o}/{r}/git/refs/heads/{branch}` (the branch's `/` kept) | read first: `GET .../git/ref/heads/{branch}` | Contents: write (fine-grained token or App); classic token `repo` (`public_repo` for a public repository); a ruleset or protection restricting deletions refuses |
    /// | GitLab | `DELETE /projects/:id/repository/branches/:branch` (URL-encoded) | read first: `GET` of the same path | `api` scope; Developer deletes unprotected branches, a protected branch needs the roles its rule allows (Maintainer by default) |
    /// | Gitea / Forgejo | `DELETE /repos/{o}/{r}/branches/{branch}` | read first: `GET` of the same path | `write:repository` scope and write access; branch protection refuses (403), an archived repository too (423) |
    /// | Azure DevOps | `POST {project}/_apis/git/repositories/{repo}/refs` with `[{name: "refs/heads/{branch}", oldObjectId: <head>, newObjectId: "0000000000000000000000000000000000000000"}]` | in the request (`oldObjectId`), and read first: `GET .../refs?filter=heads/{branch}` | Code (Read & write) `vso.code_write`; the account needs "Force push (rewrite history, delete branches and tags)" on the branch unless it created it; branch policies and locks refuse |
    /// | Bitbucket Cloud | `DELETE /2.0/repositories/{workspace}/{slug}/refs/branches/{branch}` | read first: `GET` of the same path | `repository:write` (an API token's `write:repository:bitbucket`); branch restrictions refuse |
    /// | Bitbucket Data Center | `DELETE /rest/branch-utils/latest/projects/{KEY}/repos/{slug}/branches` with `{"name": "refs/heads/{branch}", "endPoint": <head>}` | in the request (`endPoint`), and read first: `GET .../branches?filterText={branch}&boostMatches=true` | `REPO_WRITE` on the repository, and the branch permissions must let the account delete the branch |
    ///
    /// Every host also needs read access to the repository for the two reads.
    fn delete_branch(
        &self,
        repo: &RepoName,
        pr: &PullRequest,
    ) -> impl Future<Output = Result<BranchDeletion>> + Send;

    /// Merges `pr` (as [`Self::pull_request`] read it) with `method`, only while its head is
    /// still `pr.head_sha` where the host checks that (`automerge`). The host's own rules
    /// (reviews, checks, conflicts) decide; a refusal is an error carrying its reason.
    ///
    /// | host | request |
    /// |---|---|
    /// | GitHub | `PUT /repos/{o}/{r}/pulls/{n}/merge` with `merge_method` and `sha` |
    /// | Gitea / Forgejo | `POST /repos/{o}/{r}/pulls/{n}/merge` with `Do` and `head_commit_id` |
    /// | GitLab | `PUT /projects/:id/merge_requests/:iid/merge` with `sha` and `squash` (the project's merge method; `rebase` is refused) |
    /// | Azure DevOps | `PATCH .../pullrequests/{id}` with `status: completed`, `lastMergeSourceCommit` and `completionOptions.mergeStrategy` (`noFastForward`, `squash`, `rebase`) |
    /// | Bitbucket Cloud | refused: its merge (`POST .../pullrequests/{id}/merge`) takes no expected head, so a push after the apply would be merged unapplied |
    /// | Bitbucket Data Center | not supported: refused |
    fn merge(
        &self,
        repo: &RepoName,
        pr: &PullRequest,
        method: MergeMethod,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The repository as it is now: its default branch, that branch's full head commit and the
    /// HTTPS clone URL the host gives, for a scheduled run (no pull request). An empty
    /// repository (a default branch without a commit) is an error.
    ///
    /// | host | requests (fields read) | the token needs |
    /// |---|---|---|
    /// | GitHub | `GET /repos/{o}/{r}` (`default_branch`, `clone_url`), `GET .../git/ref/heads/{branch}` (`object.sha`) | Metadata and Contents: read (fine-grained token or App); classic token `repo` for a private repository |
    /// | GitLab | `GET /projects/:id` (`default_branch`, `http_url_to_repo`), `GET .../repository/branches/:branch` (`commit.id`) | `read_api` |
    /// | Gitea / Forgejo | `GET /repos/{o}/{r}` (`default_branch`, `clone_url`), `GET .../branches/{branch}` (`commit.id`) | `read:repository` |
    /// | Azure DevOps | `GET {project}/_apis/git/repositories/{repo}` (`defaultBranch`, `remoteUrl`), `GET .../refs?filter=heads/{branch}` (`objectId`) | Code (Read) `vso.code` |
    /// | Bitbucket Cloud | `GET /2.0/repositories/{w}/{s}` (`mainbranch.name`, the `links.clone` named `https`), `GET .../refs/branches/{branch}` (`target.hash`) | `repository` (an API token's `read:repository:bitbucket`) |
    /// | Bitbucket Data Center | `GET /rest/api/1.0/projects/{KEY}/repos/{slug}` (the `links.clone` named `http`), `GET .../default-branch` (`displayId`), `GET .../branches?filterText={branch}&boostMatches=true` (`latestCommit`) | `REPO_READ` |
    fn repository(&self, repo: &RepoName) -> impl Future<Output = Result<RepoInfo>> + Send;

    /// Keeps the one issue `repo`'s drift is tracked in as `issue` says, and answers the issue
    /// that tracks it now. With no `existing` issue: an open `issue` is created; a closed one
    /// needs none (`Ok(None)`). With one: it is read, and written only when its title, text or
    /// state differ (reopened or closed as `issue.open` says); one the host no longer has (404,
    /// 410) is replaced by a new one when `issue` is open, else `Ok(None)`. A creation is never
    /// sent twice unless the host refused it; nothing is deleted. A repository whose host keeps
    /// no issues for it (turned off, no tracker) is an error saying so.
    ///
    /// | host | requests | the token needs |
    /// |---|---|---|
    /// | GitHub | `POST /repos/{o}/{r}/issues` (`title`, `body`); `GET`, `PATCH /repos/{o}/{r}/issues/{n}` (`title`, `body`, `state` `open`/`closed`) | Issues: write (fine-grained token or App); classic token `repo` (`public_repo` for a public repository) |
    /// | GitLab | `POST /projects/:id/issues` (`title`, `description`); `GET`, `PUT /projects/:id/issues/:iid` (`title`, `description`, `state_event` `reopen`/`close`) | `api`; Planner or Reporter to close another's issue |
    /// | Gitea / Forgejo | `POST /repos/{o}/{r}/issues` (`title`, `body`); `GET`, `PATCH /repos/{o}/{r}/issues/{index}` (`title`, `body`, `state` `open`/`closed`) | `write:issue` |
    /// | Azure DevOps | a work item of type `Issue`: `POST {project}/_apis/wit/workitems/$Issue` and `GET`, `PATCH .../workitems/{id}` (JSON Patch: `System.Title`, `System.Description` as the text escaped in a `<pre>`, `System.State`); the states from `GET .../workitemtypes/Issue/states` (see `azure_devops::issues`) | Work Items (Read & write) `vso.work_write`; a project whose process has no `Issue` type (Scrum) refuses |
    /// | Bitbucket Cloud | the issue tracker (deprecated by Atlassian): `POST /2.0/repositories/{w}/{s}/issues` (`title`, `content.raw`); `GET .../issues/{id}`, `POST .../issues/{id}/changes` (`changes.title`, `changes.content`, `changes.state`: `open`/`resolved`) | `issue:write` (an API token's `read:issue:bitbucket`, `write:issue:bitbucket`); a repository without the tracker answers 404 |
    /// | Bitbucket Data Center | no issues: refused | |
    fn tracking_issue(
        &self,
        repo: &RepoName,
        existing: Option<&IssueRef>,
        issue: &TrackingIssue,
    ) -> impl Future<Output = Result<Option<IssueRef>>> + Send;
}

/// The error for what an adapter does not implement: callers refuse (fail closed).
pub(super) fn unsupported(what: &str) -> VcsError {
    VcsError::Config {
        message: format!("{what} is not supported on this host by Landfall"),
    }
}
