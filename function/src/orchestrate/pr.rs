//! A pull request as one piece of work sees it: who asked, who wrote it, where its head lives, and
//! the access looked up during this delivery.

use std::sync::Arc;

use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::vcs::{Access, Actor, PrState};

/// A pull request as one piece of work sees it.
#[derive(Clone, Debug)]
pub(crate) struct PrContext {
    pub(crate) provider: Provider,
    pub(crate) repo: RepoName,
    pub(crate) pr: PullRequestNumber,
    pub(crate) head_sha: CommitSha,
    pub(crate) head_branch: String,
    pub(crate) base_branch: String,
    pub(crate) clone_url: String,
    pub(crate) user: String,
    /// Who caused the delivery (the commenter, or the pusher for autoplan).
    pub(crate) sender: Actor,
    /// Who opened the PR.
    pub(crate) author: String,
    /// The author's host id where logins are not unique (Bitbucket Cloud).
    pub(crate) author_id: Option<String>,
    /// Where the head lives (`owner/name`); `None` when the host no longer names it.
    pub(crate) head_repo: Option<RepoName>,
    /// Whether a skipped fork autoplan is said on the PR (on open, not on every push).
    pub(crate) announce_fork_skip: bool,
    pub(crate) mergeable: Option<bool>,
    /// Open, merged or closed: as the host says when it was asked, else as the event implies.
    pub(crate) state: PrState,
    /// Once merged, the commit the merge left on the base branch (read from the host).
    pub(crate) merge_sha: Option<CommitSha>,
    /// The head the delivery named, where it names one (a comment on GitLab, Bitbucket or Azure
    /// DevOps carries the head it was written at); `head_sha` is the host's when asked.
    pub(crate) delivered_head: Option<CommitSha>,
    pub(crate) trigger: String,
    /// Access looked up during this delivery, by login.
    pub(super) access: Arc<std::sync::Mutex<std::collections::HashMap<String, Access>>>,
}

impl PrContext {
    /// The PR at its head, for its own statuses.
    pub(crate) fn pull_head(&self) -> crate::report::PullHead<'_> {
        crate::report::PullHead {
            repo: &self.repo,
            pr: self.pr,
            head: &self.head_sha,
            branch: &self.head_branch,
            base: &self.base_branch,
        }
    }

    /// Whether the head lives outside the base repository (or the host no longer names it).
    pub(crate) fn is_fork(&self) -> bool {
        self.head_repo.as_ref() != Some(&self.repo)
    }

    /// Whether the head moved after the delivery was sent: the head it named (full, or the
    /// abbreviated one Bitbucket Cloud sends) is not the host's head now.
    pub(crate) fn head_moved(&self) -> bool {
        self.delivered_head.as_ref().is_some_and(|named| {
            let (named, now) = (named.as_str(), self.head_sha.as_str());
            if named.len() >= 7 && named.len() < now.len() {
                !now.starts_with(named)
            } else {
                named != now
            }
        })
    }

    /// The PR's author as an actor.
    pub(crate) fn author_actor(&self) -> Actor {
        Actor {
            login: self.author.clone(),
            id: self.author_id.clone(),
        }
    }

    /// Whether `user` is the PR's author, by what identifies people on this host.
    pub(crate) fn is_author(&self, user: &Actor) -> bool {
        let author = self.author_actor().identity(self.provider);
        author.is_some() && user.identity(self.provider) == author
    }

    pub(super) fn known_access(&self, user: &Actor) -> Option<Access> {
        let key = user.identity(self.provider)?;
        let cache = self
            .access
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&key).copied()
    }

    pub(super) fn remember_access(&self, user: &Actor, access: Access) {
        let Some(key) = user.identity(self.provider) else {
            return;
        };
        let mut cache = self
            .access
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(key, access);
    }
}
