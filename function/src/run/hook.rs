//! The operator's workflow hooks (Atlantis' server-side `pre_workflow_hooks` and
//! `post_workflow_hooks`), as the function sends them and the runner runs them: shell commands
//! run in the repository's root, before and after the project's workflow.

use serde::{Deserialize, Serialize};

/// One hook: a shell command, run in the clone's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowHook {
    /// The command line.
    pub run: String,
    /// What the comment calls it; its command when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The shell, when not `sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// The shell's arguments before the command, when not `-c`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell_args: Vec<String>,
    /// Atlantis' `commands`: the runs the hook is for, every run when `None`. The runner
    /// skips a hook that is not for its run's command (an apply made from a plan's spec, as
    /// apply on merge and drift remediation make it, keeps every hook and its `commands`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<super::RunCommand>>,
}

impl WorkflowHook {
    /// A hook running `run` through `sh -c`.
    #[must_use]
    pub fn new(run: impl Into<String>) -> Self {
        Self {
            run: run.into(),
            description: None,
            shell: None,
            shell_args: Vec::new(),
            commands: None,
        }
    }

    /// Whether the hook runs for runs of `command`.
    #[must_use]
    pub fn runs_for(&self, command: super::RunCommand) -> bool {
        self.commands.as_ref().is_none_or(|c| c.contains(&command))
    }
}

/// The hooks of a run: `pre` before the project's workflow, `post` after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowHooks {
    /// `pre_workflow_hooks`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre: Vec<WorkflowHook>,
    /// `post_workflow_hooks`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post: Vec<WorkflowHook>,
}

impl WorkflowHooks {
    /// Whether there is no hook at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookStage {
    /// Before the workflow.
    Pre,
    /// After the workflow.
    Post,
}

impl HookStage {
    /// The step name in reports: `pre_workflow_hook` or `post_workflow_hook`.
    #[must_use]
    pub fn step_name(self) -> &'static str {
        match self {
            Self::Pre => "pre_workflow_hook",
            Self::Post => "post_workflow_hook",
        }
    }
}
