//! A plan without `-p`/`-d`/`-w` (a comment's or autoplan's) replaces every plan of the PR, as
//! in Atlantis: a plan an earlier `landfall plan -d prod -- -destroy` made, of a project this
//! plan does not select, is discarded with its lock, so that `landfall apply` cannot apply it.

use super::{Context, PrContext};
use crate::markdown::inline_code;
use crate::projects::Request;
use crate::store::{LockKey, PlanStatus, ReleaseOutcome, Store as _};

impl Context {
    /// With a `request` that selects every project, discards the PR's plans with changes, and
    /// those still being made, except those of `keep` (which this plan makes again); returns a
    /// note for each one discarded. A run that writes the state keeps its lock and record.
    pub(super) async fn discard_other_plans(
        &self,
        ctx: &PrContext,
        request: &Request,
        keep: &[LockKey],
    ) -> anyhow::Result<Vec<String>> {
        if request.project.is_some() || request.dir.is_some() || request.workspace.is_some() {
            return Ok(Vec::new());
        }
        let mut notes = Vec::new();
        for record in self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await? {
            let pending = matches!(record.status, PlanStatus::Planned | PlanStatus::Planning);
            if !pending || keep.contains(&record.key) {
                continue;
            }
            if let ReleaseOutcome::Released(lock) =
                self.store.release_lock(&record.key, Some(ctx.pr.0)).await?
            {
                notes.push(format!(
                    "The earlier plan of {} was discarded, and its lock released: a plan \
                     without `-p`, `-d` or `-w` replaces every plan of this pull request.",
                    inline_code(&lock.key.project_label())
                ));
            }
        }
        Ok(notes)
    }
}
