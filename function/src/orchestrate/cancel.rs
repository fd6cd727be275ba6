//! `landfall cancel [-p/-d/-w]`: stops the pull request's running plans and applies. Each run in
//! progress is recorded as cancelled (only while it still is in progress), its status set to a
//! failure, and then stopped where it runs ([`Dispatcher::cancel`]); the locks stay with the PR.

use std::fmt::Write as _;

use super::apply::selected;
use super::sweep::command_of;
use super::{Context, PrContext};
use crate::command::Command;
use crate::dispatch::Dispatcher as _;
use crate::store::Store as _;
use crate::vcs::VcsClient as _;

impl Context {
    /// Cancels the PR's runs in progress that `command` selects, and says what it did.
    pub(crate) async fn cancel(&self, ctx: &PrContext, command: &Command) -> anyhow::Result<()> {
        let records = self.store.list_plans(ctx.repo.as_str(), ctx.pr.0).await?;
        let running: Vec<_> = records
            .into_iter()
            .filter(|r| r.in_progress() && selected(r, command))
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
            let recorded = self
                .fail_run(record, "cancel", &output, "Cancelled")
                .await?;
            let stopped = self.dispatcher.cancel(&record.run_id).await;
            let said = match (recorded, stopped) {
                (false, _) => "had ended already".to_owned(),
                (true, Ok(true)) => "stopped".to_owned(),
                (true, Ok(false)) => "was not running any more".to_owned(),
                (true, Err(err)) => {
                    tracing::warn!(run = %record.run_id, error = %err, "could not stop a run");
                    format!("recorded as cancelled, but could not be stopped: {err}")
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
}
