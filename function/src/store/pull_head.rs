//! What the latest plan of a whole pull request (no `-p`, `-d` or `-w`) selected at one head
//! commit: every changed project, those it ran, those later execution order groups will run
//! and those it left out (locked by another PR, short of a `plan_requirements`, autoplan
//! disabled). The PR's own statuses (`landfall/plan`, `landfall/apply`) pass only once each of
//! them is planned, and applied or unchanged; without one kept for the head they do not pass.

use std::future::Future;

use super::{LockKey, Result};

/// One pull request at one head commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadKey<'a> {
    /// The repository.
    pub repo: &'a str,
    /// The pull request.
    pub pr: u64,
    /// The head commit.
    pub head: &'a str,
}

/// Where what a plan of the whole PR selected is kept (both stores, one contract).
pub trait PullHeads: Send + Sync {
    /// Keeps `projects` as what the plan of the whole PR at `at` selected, replacing what was
    /// kept.
    fn put_selected(
        &self,
        at: HeadKey<'_>,
        projects: &[LockKey],
    ) -> impl Future<Output = Result<()>> + Send;

    /// What the latest plan of the whole PR at `at` selected; `None` when none was kept.
    fn selected(
        &self,
        at: HeadKey<'_>,
    ) -> impl Future<Output = Result<Option<Vec<LockKey>>>> + Send;
}
