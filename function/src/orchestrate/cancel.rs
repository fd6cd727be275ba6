//! `landfall cancel [-p/-d/-w]`: stops the pull request's running plans and applies. A plan in
//! progress is recorded as cancelled (only while it still is in progress), its status set to a
//! failure, and then stopped where it runs ([`Dispatcher::cancel`]); an apply is stopped first
//! and recorded once nothing runs it. The locks stay with the PR.

use std::fmt::Write as _;

use super::select::select_records;
use super::sweep::command_of;
use super::{Context, PrContext};
use crate::command::Command;
use crate::dispatch::{Dispatcher as _, RunState};
use crate::store::{PlanRecord, PlanStatus, Store as _};
use crate::vcs::VcsClient as _;

impl Context {
    /// Cancels the PR's runs in progress that `command` selects, and says what it did.
    pub(crate) async fn cancel(&self, ctx: &PrContext, command: &Command) -> anyhow::Result<()> {
        let records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
        let running: Vec<_> = select_records(records, command)
            .into_iter()
            .filter(PlanRecord::in_progress)
            .collect();
        if running.is_empty() {
            let body = "**Nothing to cancel:** no plan or apply of this pull request is running for that selection.";
            self.vcs.post_comment(&ctx.repo, ctx.pr, body).await?;
            return Ok(());
        }
        let mut body = format!("**Cancelled** by @{}:\n", ctx.user);
        for record in &running {
            let label = record.key.project_label();
            let word = command_of(record).title();
            let output = format!("Cancelled by @{} (`landfall cancel`).", ctx.user);
            let said = if record.status == PlanStatus::Applying {
                self.cancel_apply(record, &output).await?
            } else {
                let recorded = self
                    .fail_run(record, "cancel", &output, "Cancelled")
                    .await?;
                let stopped = self.dispatcher.cancel(&record.run_id).await;
                match (recorded, stopped) {
                    (false, _) => "had ended already".to_owned(),
                    (true, Ok(true)) => "stopped".to_owned(),
                    (true, Ok(false)) => "was not running any more".to_owned(),
                    (true, Err(err)) => {
                        tracing::warn!(run = %record.run_id, error = %err, "could not stop a run");
                        format!("recorded as cancelled, but could not be stopped: {err}")
                    }
                }
            };
            let _ = writeln!(
                body,
                "- the {word} of {}: {said}",
                crate::markdown::inline_code(&label)
            );
        }
        body.push_str(
            "\nThe locks stay with this pull request; comment `landfall plan` to run again.",
        );
        self.vcs.post_comment(&ctx.repo, ctx.pr, &body).await?;
        Ok(())
    }

    /// Stops a running apply (import, state rm) first, and records it as cancelled only once
    /// nothing runs it: recorded while Terraform still writes the state (a Job's pod has a
    /// grace period), its lock could be released under it. A run still stopping records its own
    /// result (the sweep, one that never does).
    async fn cancel_apply(&self, record: &PlanRecord, output: &str) -> anyhow::Result<String> {
        let stopped = match self.dispatcher.cancel(&record.run_id).await {
            Ok(stopped) => stopped,
            Err(err) => {
                tracing::warn!(run = %record.run_id, error = %err, "could not stop a run");
                return Ok(format!(
                    "could not be stopped: {err}; it still runs, and its lock stays until it ends"
                ));
            }
        };
        if !matches!(
            self.dispatcher.run_state(&record.run_id).await,
            RunState::Ended(_)
        ) {
            return Ok("stopped; its lock stays until it has recorded how far it got".to_owned());
        }
        Ok(
            match (self.fail_run(record, "cancel", output, "Cancelled").await?, stopped) {
                (false, _) => "had ended already",
                (true, true) => "stopped",
                (true, false) => "was not running any more",
            }
            .to_owned(),
        )
    }
}
