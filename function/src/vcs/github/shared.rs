//! What GitHub and Gitea share: Gitea's REST API follows GitHub's shapes, so the JSON of a pull
//! request, its files, reviews and permissions, the body of a commit status, and how reviews
//! make approvals are read and written once, here. Where the hosts differ (a review state's
//! name, GitHub's `mergeable_state` beside Gitea's `mergeable` and `merge_base`, a status
//! description's length) each adapter says which.

use std::collections::BTreeMap;

use serde::Deserialize;

use http::Method;

use super::super::host::{Put, StatusFields};
use super::super::{Actor, CommitStatus, PrState, PullRequest, Result, VcsError};
use crate::event::{CommitSha, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// `GET .../pulls/{n}`: the fields either host's adapter reads.
#[derive(Deserialize)]
pub(in crate::vcs) struct PrJson {
    pub head: RefJson,
    pub base: RefJson,
    pub user: UserJson,
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    /// GitHub's merge state (`clean`, `dirty`, ...).
    #[serde(default)]
    pub mergeable_state: Option<String>,
    /// Gitea's: no conflicts (GitHub's is not used: see its adapter).
    #[serde(default)]
    pub mergeable: Option<bool>,
    /// Gitea's merge base of head and base.
    #[serde(default)]
    pub merge_base: Option<String>,
    /// Once merged, the commit the merge made (both hosts' `merge_commit_sha`).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// How many files the pull request changes (GitHub lists at most 3,000 of them).
    #[serde(default)]
    pub changed_files: Option<usize>,
}

/// A pull request's head or base.
#[derive(Deserialize)]
pub(in crate::vcs) struct RefJson {
    #[serde(rename = "ref")]
    pub name: String,
    /// Gitea's `label`: the branch, or empty for an AGit pull request (see
    /// [`crate::vcs::is_agit`]).
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub sha: String,
    /// `null` (or absent) when the head's repository (a fork) was deleted.
    #[serde(default)]
    pub repo: Option<RefRepoJson>,
}

#[derive(Deserialize)]
pub(in crate::vcs) struct RefRepoJson {
    pub full_name: Option<String>,
}

#[derive(Deserialize)]
pub(in crate::vcs) struct UserJson {
    pub login: String,
}

impl PrJson {
    /// The pull request `number` as Landfall sees it, `mergeable` as the host's adapter reads it.
    pub fn into_pull_request(
        self,
        number: PullRequestNumber,
        mergeable: Option<bool>,
    ) -> PullRequest {
        let merge_sha = self
            .merged
            .then_some(self.merge_commit_sha)
            .flatten()
            .filter(|sha| !sha.is_empty())
            .map(CommitSha::new);
        PullRequest {
            number,
            merge_sha,
            head_sha: CommitSha::new(self.head.sha),
            head_branch: self.head.name,
            base_branch: self.base.name,
            author: self.user.login,
            author_id: None,
            state: match (self.state.as_str(), self.merged) {
                (_, true) => PrState::Merged,
                ("open", _) => PrState::Open,
                _ => PrState::Closed,
            },
            mergeable,
            head_repo: self
                .head
                .repo
                .and_then(|r| r.full_name)
                .filter(|n| !n.is_empty())
                .map(RepoName::new),
        }
    }
}

/// One file of `GET .../pulls/{n}/files`.
#[derive(Deserialize)]
pub(in crate::vcs) struct FileJson {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

impl From<FileJson> for ChangedFile {
    /// GitHub's statuses (`added`, `removed`, `modified`, `renamed`, `copied`, `changed`,
    /// `unchanged`) and Gitea's (`deleted` for `removed`): a removed file is
    /// [`FileStatus::Removed`], a rename with its previous path [`FileStatus::Renamed`], an
    /// added or copied file [`FileStatus::Added`], anything else [`FileStatus::Modified`]. The
    /// previous path is kept whenever the host gives one.
    fn from(f: FileJson) -> Self {
        let status = match (f.status.as_str(), &f.previous_filename) {
            ("removed" | "deleted", _) => FileStatus::Removed,
            ("renamed", Some(_)) => FileStatus::Renamed,
            ("added" | "copied", _) => FileStatus::Added,
            _ => FileStatus::Modified,
        };
        ChangedFile {
            path: f.filename,
            status,
            previous_path: f.previous_filename,
        }
    }
}

/// A tree listing (`GET .../git/trees/{sha}`).
#[derive(Deserialize)]
pub(in crate::vcs) struct TreeJson {
    #[serde(default)]
    pub tree: Vec<TreeEntry>,
    #[serde(default)]
    pub truncated: bool,
}

/// An entry of a tree listing (GitHub, Gitea, GitLab; Bitbucket Cloud's `src` listing).
#[derive(Deserialize)]
pub(in crate::vcs) struct TreeEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sha: String,
}

impl TreeEntry {
    /// The paths of the `entries` of `kind` (`blob`, Bitbucket Cloud's `commit_file`), in order.
    pub fn paths_of(entries: Vec<TreeEntry>, kind: &str) -> Vec<String> {
        entries
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.path)
            .collect()
    }
}

/// One review of `GET .../pulls/{n}/reviews`.
#[derive(Deserialize)]
pub(in crate::vcs) struct ReviewJson {
    #[serde(default)]
    id: u64,
    user: Option<UserJson>,
    state: String,
    /// `null` when the commit was garbage collected or force-pushed away.
    #[serde(default)]
    commit_id: Option<String>,
    /// Gitea: the review was dismissed (GitHub says so in `state`).
    #[serde(default)]
    dismissed: bool,
    /// Gitea: the head moved after the review.
    #[serde(default)]
    stale: bool,
}

/// Each reviewer's latest decisive review (a state in `decisive`; the others change no
/// decision), in the order of their ids (the order they were given), counted when it is
/// `APPROVED`, not `dismissed`, not `stale` and its `commit_id` is `head`. A review without a
/// user (a deleted account) is not counted.
pub(in crate::vcs) fn counted_approvals(
    mut reviews: Vec<ReviewJson>,
    head: &CommitSha,
    decisive: &[&str],
) -> Vec<Actor> {
    reviews.sort_by_key(|r| r.id);
    let latest = latest_per_reviewer(
        reviews,
        |r| r.user.as_ref().map(|u| u.login.clone()),
        |r| decisive.contains(&r.state.as_str()),
    );
    latest
        .into_iter()
        .filter(|(_, r)| {
            r.state == "APPROVED"
                && !r.dismissed
                && !r.stale
                && r.commit_id
                    .as_deref()
                    .is_some_and(|c| !c.is_empty() && c.eq_ignore_ascii_case(head.as_str()))
        })
        .map(|(login, _)| Actor::login(login))
        .collect()
}

/// Each reviewer's latest decisive review: `reviews` in the order they were given, `decisive`
/// keeping the states that make or change a decision; reviews without a login are left out.
fn latest_per_reviewer<R>(
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

/// `GET .../collaborators/{username}/permission`.
#[derive(Deserialize)]
pub(in crate::vcs) struct PermissionJson {
    pub permission: Option<String>,
    /// GitHub: the full role (`maintain`, `triage`, a custom role's name).
    #[serde(default)]
    pub role_name: Option<String>,
}

/// How GitHub and Gitea spell a commit status (`POST .../statuses/{sha}`), the description cut
/// to `description_max` characters.
const fn status_fields(description_max: usize) -> StatusFields {
    StatusFields {
        states: ["pending", "success", "failure", "error"],
        name: "context",
        url: "target_url",
        description_max,
    }
}

/// `POST {base}/statuses/{sha}` with `status`, its description cut to `description_max`
/// characters (GitHub, Gitea).
pub(in crate::vcs) fn status_put(
    base: &str,
    sha: &str,
    description_max: usize,
    status: &CommitStatus,
) -> Put {
    let path = format!("{base}/statuses/{sha}");
    Put::new(
        Method::POST,
        path,
        status_fields(description_max).json(status),
    )
}

/// `org/team` split in two; `host` and `team_word` (`team-slug`, `team-name`) for the error.
pub(in crate::vcs) fn org_and_team<'a>(
    team: &'a str,
    host: &str,
    team_word: &str,
) -> Result<(&'a str, &'a str)> {
    team.trim()
        .split_once('/')
        .filter(|(o, t)| !o.is_empty() && !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| VcsError::Config {
            message: format!("{host} team {team:?} is not of the form org/{team_word}"),
        })
}
