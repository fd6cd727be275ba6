//! The data the adapters answer with and the errors they fail with: a pull request as the host
//! reports it, people and their access, commit statuses, [`VcsError`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::archive;
pub use crate::authz::Access;
use crate::event::{CommitSha, EventKind, Provider, PullRequestNumber, RepoName};

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

impl PrState {
    /// The state a delivery of `kind` implies, before the host is asked.
    #[must_use]
    pub fn implied_by(kind: &EventKind) -> Self {
        match kind {
            EventKind::Merged => PrState::Merged,
            EventKind::Closed => PrState::Closed,
            _ => PrState::Open,
        }
    }
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
    /// Once merged: the commit the merge left on the base branch (a merge, squash or rebase
    /// commit, or the head itself after a fast-forward); `None` before, or when the host does
    /// not say.
    pub merge_sha: Option<CommitSha>,
}

impl PullRequest {
    /// Whether the head lives outside `repo` (a fork, or a head repository the host no longer
    /// names): such PRs are not planned unless the operator allows forks.
    #[must_use]
    pub fn is_fork(&self, repo: &RepoName) -> bool {
        self.head_repo.as_ref() != Some(repo)
    }
}

/// What [`VcsClient::delete_branch`](super::VcsClient::delete_branch) did with a merged pull
/// request's head branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchDeletion {
    /// The branch was deleted.
    Deleted,
    /// The branch was not there any more (the host's own "delete the head branch on merge",
    /// or someone deleted it): nothing was done.
    AlreadyGone,
    /// The branch was left alone, on purpose.
    Skipped(SkipReason),
}

/// A repository as the host describes it now: what a scheduled run (no pull request) needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoInfo {
    /// The default branch (short name).
    pub default_branch: String,
    /// The full commit at the default branch's head.
    pub head_sha: CommitSha,
    /// The HTTPS clone URL the host gives.
    pub clone_url: String,
}

/// One issue a repository's drift is tracked in, updated in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingIssue {
    /// The title.
    pub title: String,
    /// The text (Markdown on hosts that render it).
    pub body: String,
    /// Whether the issue should be open (drift found) or closed (none).
    pub open: bool,
}

/// An issue the host created: its number (or id) and web URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    /// The number (GitLab's `iid`, an Azure DevOps work item's id).
    pub number: u64,
    /// Where people read it.
    pub url: String,
}

/// Why [`VcsClient::delete_branch`](super::VcsClient::delete_branch) left a branch alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The pull request is not merged.
    NotMerged,
    /// The head branch lives in a fork, or in a repository the host no longer names: not the
    /// base repository's to delete.
    Fork,
    /// The pull request names no head branch or no head commit.
    NoHead,
    /// The head branch is the pull request's base branch.
    BaseBranch,
    /// The head branch is the repository's default branch.
    DefaultBranch,
    /// The branch no longer points at the pull request's head commit: someone pushed to it
    /// after the merge.
    Moved {
        /// The commit the branch points at now.
        now: CommitSha,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NotMerged => f.write_str("the pull request is not merged"),
            SkipReason::Fork => f.write_str("the head branch lives in a fork"),
            SkipReason::NoHead => f.write_str("the pull request names no head branch or commit"),
            SkipReason::BaseBranch => f.write_str("the head branch is the base branch"),
            SkipReason::DefaultBranch => f.write_str("the head branch is the default branch"),
            SkipReason::Moved { now } => write!(
                f,
                "the branch has moved on to {now} since the pull request's head"
            ),
        }
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
    pub fn identity(&self, provider: Provider) -> Option<String> {
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
    /// The pull request's source branch: GitLab (`ref`) and Bitbucket Cloud (`refname`) attach a
    /// status to the pull request through it, not through the commit alone.
    pub branch: Option<String>,
    /// The pull request the status is about, when it is about one (not a drift check's):
    /// Azure DevOps posts it as a pull request status, what its branch policies read.
    pub pull: Option<PullTarget>,
}

/// A pull request a status is about, and the base branch the status was worked out for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullTarget {
    pub number: PullRequestNumber,
    pub base: String,
}

/// The name statuses start with unless the operator names another (`LANDFALL_VCS_STATUS_NAME`).
pub const DEFAULT_STATUS_NAME: &str = "landfall";

/// The status of `command` (`plan`, `apply`) of `project`, under the deployment's status name
/// `name`: `landfall/plan: envs/prod`.
#[must_use]
pub fn status_context(name: &str, command: &str, project: &str) -> String {
    format!("{name}/{command}: {project}")
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
    /// [`MAX_PAGES`](super::paging::MAX_PAGES) pages.
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
    /// The host gave part of a list and says there is more than it will list (a pull request's
    /// changed files past GitHub's 3,000).
    #[error("{what}: {message}")]
    Incomplete {
        /// What was asked.
        what: String,
        /// What is missing, and what to do.
        message: String,
    },
    /// The client cannot be built or a value cannot be used (bad URL, bad key, bad repo name).
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl VcsError {
    /// The changed files of a `change` (pull or merge request) that `host` listed only
    /// `listed` of (`total`, as the host counts them), `why` said after: which projects the
    /// others touch cannot be known, so nothing is planned or applied from the list.
    #[must_use]
    pub fn files_cut(
        what: String,
        host: &str,
        change: &str,
        listed: usize,
        total: &str,
        why: &str,
    ) -> Self {
        VcsError::Incomplete {
            what,
            message: format!(
                "{host} lists {listed} of the {total} files this {change} changes{why}, so the \
                 projects the others touch cannot be known; nothing is planned or applied from \
                 an incomplete list: split the {change}"
            ),
        }
    }
}

/// `Result` for VCS calls.
pub type Result<T, E = VcsError> = std::result::Result<T, E>;

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
