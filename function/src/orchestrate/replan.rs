//! A plan without `-p`/`-d`/`-w` (a comment's or autoplan's) replaces every plan of the PR, as
//! in Atlantis: a plan an earlier `landfall plan -d prod -- -destroy` made, of a project this
//! plan does not select, is discarded with its lock, so that `landfall apply` cannot apply it.
//!
//! A plan at a commit that was planned already replaces a plan someone may have reviewed and
//! approved (an approval is the commit's, not the plan's): only someone who may apply makes it.

use std::sync::Arc;

use super::plan::lock_key;
use super::{Context, PrContext};
use crate::command::Action;
use crate::markdown::inline_code;
use crate::projects::Request;
use crate::repo_config::ResolvedProject;
use crate::store::{LockKey, PlanStatus, ReleaseOutcome, Store as _};

impl Context {
    /// `projects` without those planned already at the PR's head commit (`planned` or no
    /// changes), unless the sender may apply: the same commit can plan otherwise (a data
    /// source, a module version range, a moved tag), and its new plan would replace the one
    /// an approval of the commit was given for. A note says why for each one left out.
    pub(super) async fn keeping_reviewed_plans(
        self: &Arc<Self>,
        ctx: &PrContext,
        projects: Vec<ResolvedProject>,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<ResolvedProject>> {
        let records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
        let planned_here = |project: &ResolvedProject| {
            let key = lock_key(ctx, project);
            records.iter().any(|r| {
                r.key == key
                    && r.head_sha == ctx.head_sha.as_str()
                    && matches!(r.status, PlanStatus::Planned | PlanStatus::NoChanges)
            })
        };
        if !projects.iter().any(planned_here) || self.may(ctx, Action::Apply).await? {
            return Ok(projects);
        }
        let (again, kept): (Vec<_>, Vec<_>) = projects.into_iter().partition(planned_here);
        for project in again {
            notes.push(format!(
                "{} was not planned again: it was planned at this commit already, and a new \
                 plan of the same commit would replace the one reviewed, so only someone who may \
                 apply makes it. Push a commit to plan anew.",
                inline_code(&project.display_name())
            ));
        }
        Ok(kept)
    }

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
