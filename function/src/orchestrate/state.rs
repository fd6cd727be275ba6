//! `landfall import ADDRESS ID` and `landfall state rm ADDRESS...`: one project's state edited
//! by a run, as Atlantis does. They are held to what an apply is held to (the apply permission,
//! the operator's apply lock, the project's `apply_requirements`, the project's lock, never a
//! fork PR unless allowed), and the project's plan is stale from the moment the run starts: the
//! next apply needs a new plan.

use std::sync::Arc;

use super::select::run_spec;
use super::requirements::Checked;
use super::{Context, PrContext, text};
use crate::command::Command;
use crate::markdown::inline_code;
use crate::projects::{Request, select};
use crate::repo_config::{EffectivePolicy, ResolvedProject};
use crate::report::short;
use crate::run::{CommentThread, RunCommand};
use crate::store::{ApplyLocks as _, Store as _};
use crate::vcs::VcsClient as _;

impl Context {
    /// Runs `import` or `state rm` for the one project `command` selects.
    pub(crate) async fn edit_state(
        self: &Arc<Self>,
        ctx: &PrContext,
        command: &Command,
        run: RunCommand,
    ) -> anyhow::Result<()> {
        let word = run.title();
        if let Some(lock) = self.store.apply_lock().await? {
            self.vcs
                .post_comment(&ctx.repo, ctx.pr, &text::apply_locked(&lock))
                .await?;
            return Ok(());
        }
        let Some((project, policy)) = self.state_project(ctx, command, run).await? else {
            return Ok(());
        };
        // An edit of the state is held to what an apply is held to, and to `import_requirements`.
        let own: Vec<_> = project
            .import_requirements
            .iter()
            .filter(|r| !project.apply_requirements.contains(r))
            .copied()
            .collect();
        let mut checked = Checked::default();
        let mut reasons = self
            .unmet(ctx, &project.apply_requirements, "apply", run, &mut checked)
            .await?;
        reasons.extend(self.unmet(ctx, &own, "import", run, &mut checked).await?);
        // Two runs of one project never edit its state at once. And an edit runs the head's code
        // with the apply role, with no stored plan to pin it: only at a head this pull request
        // planned already (under the plan role, its output on the pull request, so what the
        // commenter approved), and never at one pushed after the comment was written.
        let key = super::plan::lock_key(ctx, &project);
        match self.store.get_plan(&key, ctx.pr.0).await? {
            Some(record) if record.in_progress() => reasons.push(
                "a run of this project is in progress; wait for it or comment `landfall cancel`"
                    .to_owned(),
            ),
            Some(record) if record.head_sha == ctx.head_sha.as_str() => {}
            _ => reasons.push(format!(
                "the head `{}` has not been planned: {word} runs its code with the apply role, so \
                 comment `landfall plan` first, review the plan, then `landfall {word}` again",
                short(ctx.head_sha.as_str()),
            )),
        }
        if ctx.head_moved() {
            reasons.push(
                "the head moved after your comment: review the new commits, then comment again"
                    .to_owned(),
            );
        }
        if !reasons.is_empty() {
            let body = format!(
                "**`{word}` refused** for {}: {}. Nothing was changed.",
                inline_code(&project.display_name()),
                reasons.join("; ")
            );
            self.upsert_comment(ctx, None, &body).await?;
            return Ok(());
        }
        let (wanted, held_by) = self.take_locks(ctx, vec![project]).await?;
        if let Some(lock) = held_by.first() {
            let body = format!(
                "**`{word}` refused:** {} {}. Nothing was changed.",
                inline_code(&lock.key.project_label()),
                text::held(lock)
            );
            self.upsert_comment(ctx, None, &body).await?;
            return Ok(());
        }
        let Some(project) = wanted.into_iter().next() else {
            return Ok(());
        };
        if !self.still_open(ctx).await? {
            return Ok(());
        }
        let mut spec = run_spec(ctx, &project, &policy, run, &command.extra_args, None);
        spec.operands.clone_from(&command.operands);
        let header = format!(
            "**`{word}`** in {} at `{}`",
            inline_code(&project.display_name()),
            short(ctx.head_sha.as_str()),
        );
        let comment = self.upsert_comment(ctx, None, &header).await?;
        let mut thread = CommentThread::new(comment, header);
        thread.verbose = command.verbose;
        spec.report_back = self.report_back.then(|| thread.clone());
        self.run_group(vec![spec], &thread).await
    }

    /// The one project `command` selects at the head, with the policy it resolved under, or
    /// `None` after saying why there is none (or more than one).
    async fn state_project(
        &self,
        ctx: &PrContext,
        command: &Command,
        run: RunCommand,
    ) -> anyhow::Result<Option<(ResolvedProject, EffectivePolicy)>> {
        let word = run.title();
        let Some(at) = self.at_head(ctx).await? else {
            return Ok(None);
        };
        let request = Request::from_command(command);
        let tree = at.head.tree();
        let selected = select(
            &at.config,
            &at.policy,
            &tree,
            &at.changed,
            &ctx.base_branch,
            &request,
        );
        let refusal = match selected {
            Err(err) => format!("**Cannot run `{word}`:** {err}"),
            Ok(selection) => {
                let mut projects: Vec<ResolvedProject> =
                    selection.projects.into_iter().map(|s| s.project).collect();
                match projects.len() {
                    1 => {
                        let project = projects.remove(0);
                        let Some(why) = project.workflow.state_stage_missing(run) else {
                            return Ok(Some((project, at.policy)));
                        };
                        format!(
                            "**`{word}` refused** for {}: {why}. Nothing was changed.",
                            inline_code(&project.display_name())
                        )
                    }
                    0 => format!(
                        "**Cannot run `{word}`:** no project matches this request. Name one with `-p` or `-d`."
                    ),
                    _ => format!(
                        "**Cannot run `{word}`:** it edits one project's state, and this request matches {}: {}. Name one with `-p` or `-d` (and `-w`).",
                        projects.len(),
                        projects
                            .iter()
                            .map(|p| inline_code(&p.display_name()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
        };
        self.upsert_comment(ctx, None, &refusal).await?;
        Ok(None)
    }
}
