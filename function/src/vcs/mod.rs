//! Talking back to the VCS host: one [`VcsClient`] trait, one adapter per host.
//!
//! | host | module | credentials |
//! |---|---|---|
//! | GitHub (github.com, Enterprise; PAT or GitHub App) | [`github`] | `Authorization: Bearer` (a PAT, or an App's installation token) |
//! | GitLab | [`gitlab`] | `PRIVATE-TOKEN` |
//! | Azure DevOps | [`azure_devops`] | Basic, a PAT with an empty user |
//! | Bitbucket Cloud | [`bitbucket_cloud`] | Basic (`user:app-password`) or Bearer |
//! | Bitbucket Server / Data Center | [`bitbucket_server`] | Basic (`user:password`) or Bearer |
//! | Gitea / Forgejo | [`gitea`] | `Authorization: token` |
//!
//! Every adapter sends through one request stack: the `http::Rest` client (`reqwest`). Each
//! says what differs on its host by implementing `host::Host`, and [`VcsClient`] is
//! implemented once for all of them there: comments are created, edited and commit statuses
//! written by the same code on every host, and a merged pull request's branch deleted
//! (`branch`). Every call goes through `http::with_retries`: rate-limit replies are waited out
//! (bounded), transient failures of idempotent calls are retried, and a comment is never posted
//! twice. Every paged list (changed files, tree
//! listings, reviews) is walked by one loop, `paging::collect`; each host's cursor is read in
//! `paging` too.
//!
//! The data the adapters answer with is in `types`, the trait in `client`, the adapter chosen
//! at start-up ([`AnyVcs`]) in `any`.

mod any;
pub mod app_jwt;
pub mod archive;
pub mod azure_devops;
mod bitbucket;
pub mod bitbucket_cloud;
pub mod bitbucket_server;
mod branch;
mod client;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod hooks;
mod host;
pub mod http;
mod issues;
mod paging;
mod repository;
mod rest_call;
pub mod tree;
mod types;
mod web;

pub use crate::event::CommentId;
use crate::event::RepoName;

pub use any::{AnyVcs, VcsSettings};
pub use client::VcsClient;
pub use http::{Idempotency, RetryPolicy};
pub use tree::TreeFilter;
pub use types::{
    Access, Actor, BranchDeletion, CommitStatus, DEFAULT_STATUS_NAME, IssueRef, PrState,
    PullRequest, PullTarget, RepoInfo, Result, SkipReason, StatusState, TrackingIssue, VcsError,
    status_context,
};
pub use web::{policy_host, pull_request_url, site_host};

/// Splits `owner/name` (or `PROJECT/slug`, `project/repo`); GitLab keeps the whole path.
pub(crate) fn owner_and_name(repo: &RepoName) -> Result<(&str, &str)> {
    repo.as_str()
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| VcsError::Config {
            message: format!("repository name {repo} is not of the form owner/name"),
        })
}

/// [`owner_and_name`], each part percent-encoded as one path segment.
pub(crate) fn owner_and_name_segments(repo: &RepoName) -> Result<(String, String)> {
    let (owner, name) = owner_and_name(repo)?;
    Ok((http::segment(owner), http::segment(name)))
}

/// `owner/name` from its two parts (an Azure DevOps project and repository, a Bitbucket Server
/// project key and slug); `None` when either is missing.
pub(crate) fn joined_name(owner: Option<&str>, name: Option<&str>) -> Option<RepoName> {
    Some(RepoName::new(format!("{}/{}", owner?, name?)))
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

/// Whether a Gitea or Forgejo pull request is an AGit one (a `git push origin
/// HEAD:refs/for/main`), which anyone who may read the repository can open and which the host
/// describes with the base repository as its head's: its head names no branch (`ref` is the
/// pull request's own `refs/pull/{n}/head`) and its `label` is empty (`convert.ToAPIPullRequest`
/// empties it for AGit alone; a head branch deleted after a merge keeps its label). Its code
/// was not pushed to a branch by a writer: it is treated as a fork's.
pub(crate) fn is_agit(head_ref: &str, label: Option<&str>) -> bool {
    head_ref.starts_with("refs/pull/") && label.is_some_and(str::is_empty)
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

/// A host's description cut to `max` characters on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
