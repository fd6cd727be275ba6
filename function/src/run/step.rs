//! A workflow step as the function sends it and the runner runs it, in Atlantis' vocabulary:
//! `init`, `plan`, `apply`, `import`, `state_rm` with `extra_args`, `show`, `run` (a shell
//! command), `env` and `multienv`. The repo config
//! produces them (`repo_config`); the runner executes them (`runner/workflow.rs`).

use serde::{Deserialize, Serialize};

use super::RunCommand;

/// One workflow step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `terraform init -input=false` plus `extra_args`.
    Init {
        /// Extra arguments from the workflow definition.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_args: Vec<String>,
    },
    /// `terraform plan -input=false -out=$PLANFILE` plus `extra_args`, the comment's args and,
    /// when the project has it, `-var-file=env/<workspace>.tfvars` (as in Atlantis).
    Plan {
        /// Extra arguments from the workflow definition.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_args: Vec<String>,
    },
    /// `terraform apply -input=false $PLANFILE` plus `extra_args` and the comment's args.
    Apply {
        /// Extra arguments from the workflow definition.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_args: Vec<String>,
    },
    /// `terraform import -input=false` plus `extra_args`, the comment's args, `--`, the address
    /// and the ID.
    Import {
        /// Extra arguments from the workflow definition.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_args: Vec<String>,
    },
    /// `terraform state rm` plus `extra_args`, the comment's args, `--` and the addresses.
    StateRm {
        /// Extra arguments from the workflow definition.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_args: Vec<String>,
    },
    /// A shell command (`sh -c` unless the step names another shell), run in the project
    /// directory with Atlantis' variables.
    Run(ShellCommand),
    /// Sets a variable for the following steps, to a value or to the output of a command (run
    /// as a `run` step's is: `sh -c` unless the step names another shell).
    Env {
        /// The variable's name.
        name: String,
        /// Where its value comes from (`value` or `command` beside `name`).
        #[serde(flatten)]
        source: EnvSource,
        /// The shell of its command, when not `sh`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shell: Option<String>,
        /// The shell's arguments before the command, when not `-c`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shell_args: Vec<String>,
    },
    /// `terraform show -json $PLANFILE` written to `$SHOWFILE` for the steps after it, as
    /// Atlantis' `show`: nothing of it in the comment or the log (the plan's JSON holds its
    /// sensitive values).
    Show,
    /// Sets the variables a command prints (`NAME=value,NAME2="a, b"`) for the following
    /// steps, as Atlantis' `multienv`: the values are withheld from every text, the comment
    /// names the variables unless `output` is `hide`.
    Multienv(ShellCommand),
}

/// A command line run through a shell: a `run` or a `multienv` step's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellCommand {
    /// The command line.
    pub command: String,
    /// The shell, when not `sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// The shell's arguments before the command, when not `-c`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shell_args: Vec<String>,
    /// What of its output the comment shows.
    #[serde(default, skip_serializing_if = "RunOutput::is_show")]
    pub output: RunOutput,
}

/// The value of an `env` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvSource {
    /// A literal value.
    Value(String),
    /// A shell command whose trimmed output is the value.
    Command(String),
}

/// What of a `run` step's output the PR comment shows (Atlantis' `output`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutput {
    /// All of it (the default).
    #[default]
    Show,
    /// None of it: the step's output stays in the log only.
    Hide,
    /// All but Terraform's `Refreshing state...` lines.
    StripRefreshing,
}

impl RunOutput {
    #[allow(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's skip_serializing_if passes a reference"
    )]
    fn is_show(&self) -> bool {
        *self == Self::Show
    }

    /// The part of `output` the comment shows; `None` for a hidden step.
    #[must_use]
    pub fn shown(self, output: &str) -> Option<String> {
        match self {
            Self::Show => Some(output.to_owned()),
            Self::Hide => None,
            Self::StripRefreshing => Some(
                output
                    .lines()
                    .filter(|line| !line.contains(": Refreshing state..."))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }
}

impl Step {
    /// A `run` step through `sh -c`, its output shown.
    #[must_use]
    pub fn run(command: impl Into<String>) -> Self {
        Self::Run(ShellCommand {
            command: command.into(),
            shell: None,
            shell_args: Vec::new(),
            output: RunOutput::Show,
        })
    }

    /// An `env` step setting `name` from `source`, a command through `sh -c`.
    #[must_use]
    pub fn env(name: impl Into<String>, source: EnvSource) -> Self {
        Self::Env {
            name: name.into(),
            source,
            shell: None,
            shell_args: Vec::new(),
        }
    }

    /// Whether this is a built-in step that runs one of the workflow's Terraform commands
    /// (`plan`, `apply`, `import`, `state_rm`; not `init`).
    #[must_use]
    pub fn runs_terraform_command(&self) -> bool {
        matches!(
            self,
            Self::Plan { .. } | Self::Apply { .. } | Self::Import { .. } | Self::StateRm { .. }
        )
    }

    /// Whether this step only sets variables for the steps after it (`env`, `multienv`).
    #[must_use]
    pub fn sets_variables(&self) -> bool {
        matches!(self, Self::Env { .. } | Self::Multienv(_))
    }

    /// The step's name in reports: `init`, `plan`, `apply`, `import`, `state_rm`, `show`, `run`,
    /// `env` or `multienv`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Init { .. } => "init",
            Self::Plan { .. } => "plan",
            Self::Apply { .. } => "apply",
            Self::Import { .. } => "import",
            Self::StateRm { .. } => "state_rm",
            Self::Run(_) => "run",
            Self::Show => "show",
            Self::Env { .. } => "env",
            Self::Multienv(_) => "multienv",
        }
    }
}

/// The `extra_args` of the first `init` of `steps` (empty when none): how a run whose own
/// steps do not initialise (an apply stage without `init`) initialises its fresh clone the way
/// the plan did.
#[must_use]
pub fn init_args(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .find_map(|step| match step {
            Step::Init { extra_args } => Some(extra_args.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The `env` and `multienv` steps of `steps` that come before its first `init` (none when it
/// has no `init`): the variables that `init`'s `extra_args` may name, set again when a run
/// without `init` of its own initialises its fresh clone the way the plan did.
#[must_use]
pub fn init_env(steps: &[Step]) -> Vec<Step> {
    let Some(init) = steps
        .iter()
        .position(|step| matches!(step, Step::Init { .. }))
    else {
        return Vec::new();
    };
    steps[..init]
        .iter()
        .filter(|step| step.sets_variables())
        .cloned()
        .collect()
}

/// The default steps of `command`.
#[must_use]
pub fn default_steps(command: RunCommand) -> Vec<Step> {
    let init = Step::Init {
        extra_args: Vec::new(),
    };
    match command {
        RunCommand::Plan => vec![
            init,
            Step::Plan {
                extra_args: Vec::new(),
            },
        ],
        RunCommand::Apply => vec![
            init,
            Step::Apply {
                extra_args: Vec::new(),
            },
        ],
        // Without an `init` step: the runner initialises the directory as the plan stage's
        // `init` does (its `extra_args`, the backend the plan used), then edits that state.
        RunCommand::Import => vec![Step::Import {
            extra_args: Vec::new(),
        }],
        RunCommand::StateRm => vec![Step::StateRm {
            extra_args: Vec::new(),
        }],
    }
}
