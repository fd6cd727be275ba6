//! The locks a merge gives back, and those it keeps with the PR (apply on merge did not apply
//! the project): marked so that the sweep leaves them.

use super::super::{Context, PrContext, text};
use crate::event::PullRequestNumber;
use crate::store::{Lock, LockKey, PlanRecord, ReleaseOutcome, Store as _};
use crate::vcs::VcsClient as _;

impl Context {
    /// Keeps the PR's locks after its merge (the sweep leaves them) and says on the PR that the
    /// merge applied nothing and that they stay held.
    pub(super) async fn keep_locks(&self, ctx: &PrContext, why: &str) -> anyhow::Result<()> {
        let own = self.own_locks(ctx).await?;
        self.keep_after_merge(ctx.pr, own.into_iter().map(|lock| lock.key).collect())
            .await?;
        let body = format!(
            "**Not applied on merge:** {why}. The locks of this pull request stay held so that \
             nothing else is applied over it; fix the cause and apply the change, or comment \
             `landfall unlock` to release them."
        );
        self.upsert_comment(ctx, None, &body).await?;
        Ok(())
    }

    /// The locks `ctx`'s PR holds.
    async fn own_locks(&self, ctx: &PrContext) -> anyhow::Result<Vec<Lock>> {
        let locks = self.store.list_locks(Some(ctx.repo.as_str())).await?;
        Ok(locks.into_iter().filter(|lock| lock.holder.pr == ctx.pr.0).collect())
    }

    /// Marks `pr`'s locks on `keys` as kept after its merge: the sweep leaves them.
    pub(super) async fn keep_after_merge(&self, pr: PullRequestNumber, keys: Vec<LockKey>) -> anyhow::Result<()> {
        for key in &keys {
            self.store.keep_after_merge(key, pr.0).await?;
        }
        Ok(())
    }

    /// Releases the locks of `records` and says so, except those a merge kept: apply on merge
    /// runs again for a `landfall apply` on the merged PR, and the lock of a project whose
    /// apply failed then must stay.
    pub(super) async fn release_records(
        &self,
        ctx: &PrContext,
        records: &[PlanRecord],
        why: &str,
    ) -> anyhow::Result<()> {
        let mut released = Vec::new();
        for record in records {
            if let ReleaseOutcome::Released(lock) =
                self.store.release_unkept(&record.key, ctx.pr.0).await?
            {
                released.push(lock);
            }
        }
        if !released.is_empty() {
            let body = text::released(&released, why);
            self.vcs.post_comment(&ctx.repo, ctx.pr, &body).await?;
        }
        Ok(())
    }
}
