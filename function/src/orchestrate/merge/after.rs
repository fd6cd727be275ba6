//! `landfall apply` on a merged PR: what apply on merge would apply, applied now by the
//! commenter, through the merge's own checks (who may apply, the gates, the comparison of each
//! plan with the merge commit). Never the stored plan of code that did not merge.

use std::sync::Arc;

use super::super::{Context, PrContext};
use crate::command::Command;
use crate::event::Event;
use crate::markdown::inline_code;
use crate::run::is_merge_trigger;
use crate::store::{PlanRecord, PlanStatus, Store as _};
use crate::vcs::VcsClient as _;

/// Whether a merge applies `record`, or names it as not applied: a plan with changes, or one whose
/// state `import` or `state rm` changed since.
pub(super) fn awaits_merge(record: &PlanRecord) -> bool {
    (record.status == PlanStatus::Planned && record.planfile.is_some())
        || record.status == PlanStatus::StateChanged
}

impl Context {
    /// `landfall apply` on `ctx`, a merged PR: takes no selection and no Terraform arguments
    /// (the merge's apply is of every project it left), and applies nothing when no plan awaits
    /// the merge or when one of the merge's applies failed (its lock stays: `landfall unlock`
    /// releases it).
    pub(crate) async fn apply_after_merge(
        self: &Arc<Self>,
        event: &Event,
        ctx: &PrContext,
        command: &Command,
    ) -> anyhow::Result<()> {
        let selected = command.project.is_some() || command.dir.is_some() || command.workspace.is_some();
        let reply = if selected || !command.extra_args.is_empty() || command.verbose {
            "This pull request is merged: `landfall apply` here applies what apply on merge \
             would, every project at once, compared with the merge commit. It takes no `-p`, \
             `-d`, `-w`, `--verbose` or Terraform arguments. Nothing was run."
        } else {
            let records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
            // A project whose apply on merge failed comes first in its stage or its
            // dependents' order: applying the others now could apply them without it.
            let failed: Vec<String> = records
                .iter()
                .filter(|r| {
                    r.status == PlanStatus::Failed && r.trigger.as_deref().is_some_and(is_merge_trigger)
                })
                .map(|r| inline_code(&r.key.project_label()))
                .collect();
            if !failed.is_empty() {
                let reply = format!(
                    "This pull request is merged and the apply on merge of {} failed: nothing \
                     more is applied from it. Nothing was run. Fix the failure through a new \
                     pull request; `landfall unlock` here releases the locks it still holds.",
                    failed.join(", ")
                );
                self.vcs.post_comment(&ctx.repo, ctx.pr, &reply).await?;
                return Ok(());
            }
            if records.iter().any(awaits_merge) {
                return self.apply_merged(event, &ctx.repo, ctx.pr).await;
            }
            "This pull request is merged and none of its plans awaits the merge. Nothing was \
             run. A change it did not apply goes through a new pull request; `landfall unlock` \
             here releases the locks it still holds."
        };
        self.vcs.post_comment(&ctx.repo, ctx.pr, reply).await?;
        Ok(())
    }
}
