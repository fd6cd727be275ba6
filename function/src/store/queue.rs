//! The execution order groups of one command still to start. Under Lambda nothing may wait for
//! a group to finish, so the groups after the first are kept here when the command starts, and
//! the report that ends a group takes the next one ([`RunQueues::next_group`]), once: of two
//! reports that end the same group at the same time, one starts the next group, and the other
//! finds it taken.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::{LockKey, Result};
use crate::run::{CommentThread, RunSpec};

/// A command's groups still to start, and the projects of the group that runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedGroups {
    /// The comment the command's runs share.
    pub thread: CommentThread,
    /// The project keys ([`super::keys::project_key`]) of the group that runs now: only a
    /// report of one of them may start the next group.
    pub current: Vec<String>,
    /// The groups to start, in order.
    pub groups: Vec<Vec<RunSpec>>,
}

/// A group [`RunQueues::next_group`] took: the command's shared comment, the projects of the
/// group that ended, and the runs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenGroup {
    /// The comment the command's runs share.
    pub thread: CommentThread,
    /// The project keys ([`super::keys::project_key`]) of the group that ended.
    pub ended: Vec<String>,
    /// The runs of the group to start.
    pub runs: Vec<RunSpec>,
}

impl QueuedGroups {
    /// Takes the next group if `finished` is a project of the group that runs now.
    pub(crate) fn take_after(&mut self, finished: &LockKey) -> Option<TakenGroup> {
        if self.groups.is_empty() || !self.current.contains(&super::keys::project_key(finished)) {
            return None;
        }
        let runs = self.groups.remove(0);
        let current = runs
            .iter()
            .map(|spec| super::keys::project_key(&spec.lock_key()))
            .collect();
        Some(TakenGroup {
            thread: self.thread.clone(),
            ended: std::mem::replace(&mut self.current, current),
            runs,
        })
    }
}

/// Where a command's later execution order groups wait (both stores, the same contract).
pub trait RunQueues: Send + Sync {
    /// Keeps `queued` as `queue`, replacing what was kept.
    fn queue_groups(
        &self,
        queue: QueueKey<'_>,
        queued: &QueuedGroups,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Takes the next group of `queue` if `finished` belongs to the group that runs now (see
    /// [`QueuedGroups::take_after`]); `None` when nothing is left, or the group was taken
    /// already.
    fn next_group(
        &self,
        queue: QueueKey<'_>,
        finished: &LockKey,
    ) -> impl Future<Output = Result<Option<TakenGroup>>> + Send;
}

/// Where a command's queued groups are kept: one queue per pull request and command (`trigger`,
/// the command's comment or event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueKey<'a> {
    /// The repository.
    pub repo: &'a str,
    /// The pull request.
    pub pr: u64,
    /// The command whose groups these are.
    pub trigger: &'a str,
}
