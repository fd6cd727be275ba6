//! The operator's workflow hooks (server-side `pre_workflow_hooks` and `post_workflow_hooks`),
//! run in the clone's root with the variables `run` steps get (`DIR` is the root, as in
//! Atlantis). A pre-workflow hook that fails ends the run before any Terraform step; the
//! post-workflow hooks run after the workflow whatever its outcome, and one that fails fails
//! the run while its outcome is still reported.

use std::path::Path;
use std::time::Instant;

use super::state::{Run, Stop};
use super::steps::shell_command;
use crate::run::{HookStage, Outcome, StepOutput, WorkflowHook};

/// How a failure names the hook: its stage, and its description or its command's first line.
fn hook_step(stage: HookStage, hook: &WorkflowHook) -> String {
    let name = hook.description.clone().unwrap_or_else(|| {
        hook.run
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    });
    format!("{} ({name})", stage.step_name())
}

/// The hooks of `hooks` that run for a run of `command` (each hook's `commands`).
fn for_run(
    hooks: &[WorkflowHook],
    command: crate::run::RunCommand,
) -> impl Iterator<Item = &WorkflowHook> {
    hooks.iter().filter(move |h| h.runs_for(command))
}

impl Run<'_> {
    /// Runs the pre-workflow hooks in `root`, in order; the first that fails ends the run.
    pub(super) fn pre_hooks(&mut self, root: &Path) -> Result<(), Stop> {
        let spec = self.spec;
        for hook in for_run(&spec.project.hooks.pre, spec.command) {
            let text = self.hook(HookStage::Pre, hook, root)?;
            self.print_hook(HookStage::Pre, hook, text, false);
        }
        Ok(())
    }

    /// Runs the post-workflow hooks in `root`, in order, each whatever the others did; one
    /// that fails is kept as failed. None runs once the run's time is up.
    pub(super) fn post_hooks(&mut self, root: &Path) {
        let spec = self.spec;
        for hook in for_run(&spec.project.hooks.post, spec.command) {
            if Instant::now() >= self.deadline {
                return;
            }
            match self.hook(HookStage::Post, hook, root) {
                Ok(text) => self.print_hook(HookStage::Post, hook, text, false),
                Err(Stop(outcome)) => {
                    let text = match outcome {
                        Outcome::Failed { output, .. }
                        | Outcome::TimedOut { output, .. }
                        | Outcome::Applied { output } => output,
                        Outcome::Planned { plan_text, .. } | Outcome::NoChanges { plan_text } => {
                            plan_text
                        }
                        Outcome::Refused { reason } => reason,
                    };
                    self.print_hook(HookStage::Post, hook, text, true);
                }
            }
        }
    }

    fn print_hook(&mut self, stage: HookStage, hook: &WorkflowHook, text: String, failed: bool) {
        if text.trim().is_empty() && !failed {
            return;
        }
        self.outputs.push(StepOutput::Printed {
            step: stage.step_name().to_owned(),
            command: hook.run.clone(),
            description: hook.description.clone(),
            text,
            failed,
        });
    }

    /// Runs one hook in `root` with the hooks' environment.
    fn hook(&mut self, stage: HookStage, hook: &WorkflowHook, root: &Path) -> Result<String, Stop> {
        let cmd = shell_command(hook.shell.as_deref(), &hook.shell_args, &hook.run);
        let env = self.hook_env.clone();
        let steps_env = std::mem::replace(&mut self.env, env);
        let done = self.exec(&hook_step(stage, hook), cmd, &hook.run, root);
        self.env = steps_env;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_hook_is_named_by_its_description_or_its_command() {
        let mut hook = WorkflowHook::new("./generate.sh --all\nsecond line");
        assert_eq!(
            hook_step(HookStage::Pre, &hook),
            "pre_workflow_hook (./generate.sh --all)"
        );
        hook.description = Some("Generating configs".to_owned());
        assert_eq!(
            hook_step(HookStage::Post, &hook),
            "post_workflow_hook (Generating configs)"
        );
    }
}
