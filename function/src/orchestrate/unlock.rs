//! `landfall unlock`: gives back every lock of the pull request and discards its plans, unless a
//! run that writes the state (apply, import, state rm) is still running for one of them.

use super::{Context, text};
use crate::event::{PullRequestNumber, RepoName};
use crate::store::{PlanStatus, Store as _};
use crate::vcs::VcsClient as _;

impl Context {
    /// Releases the PR's locks and says so. A running apply (import, state rm) keeps them all
    /// until it reports: released, another PR could plan or apply the project while Terraform
    /// still writes its state, and the run's result could no longer be recorded.
    pub(super) async fn unlock(&self, repo: &RepoName, pr: PullRequestNumber) -> anyhow::Result<()> {
        let running: Vec<String> = self
            .store
            .list_plans(repo.as_str(), pr.0)
            .await?
            .iter()
            .filter(|record| record.status == PlanStatus::Applying)
            .map(|record| crate::comment::render::inline_code(&record.key.project_label()))
            .collect();
        let body = if running.is_empty() {
            let released = self.store.release_pr(repo.as_str(), pr.0).await?;
            if released.is_empty() {
                "This pull request holds no locks.".to_owned()
            } else {
                text::released(&released, "`landfall unlock`")
            }
        } else {
            format!(
                "Nothing was unlocked: a run that writes the state is still running for {}. \
                 Comment `landfall unlock` again once it has reported (or `landfall cancel` it).",
                running.join(", ")
            )
        };
        self.vcs.post_comment(repo, pr, &body).await?;
        Ok(())
    }
}
