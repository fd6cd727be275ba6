//! `landfall unlock`: gives back every lock of the pull request (those its merge kept too) and
//! discards its plans, except those of a run that writes the state (apply, import, state rm)
//! still running.

use super::{Context, PrContext, text};
use crate::store::ops::release_pr_with_kept;
use crate::vcs::{PrState, VcsClient as _};

impl Context {
    /// Releases the PR's locks and says so. A running apply (import, state rm) keeps its lock
    /// until it reports (the store checks it in the release itself): released, another PR could
    /// plan or apply the project while Terraform still writes its state, and the run's result
    /// could no longer be recorded.
    /// The plans it discards no longer count for the PR's own statuses, which are set again.
    pub(super) async fn unlock(&self, ctx: &PrContext) -> anyhow::Result<()> {
        let (repo, pr) = (&ctx.repo, ctx.pr);
        let release = release_pr_with_kept(&self.store, repo.as_str(), pr.0).await?;
        let again = "comment `landfall unlock` again once it has reported (or `landfall cancel` it)";
        let body = match text::pr_released(&release, "`landfall unlock`", again) {
            Some(body) => body,
            None if release.kept.is_empty() => "This pull request holds no locks.".to_owned(),
            None => format!(
                "Nothing was unlocked: a run that writes the state is still running for {}. \
                 Its lock and plan stay until it reports; {again}.",
                text::lock_names(&release.kept)
            ),
        };
        // Before the comment, whose failure would leave them saying what was discarded.
        if ctx.state == PrState::Open {
            self.reporter().pull_statuses(ctx.pull_head()).await;
        }
        self.vcs.post_comment(repo, pr, &body).await?;
        Ok(())
    }
}
