//! The workflow's steps in the project directory, in order: the directory prepared first when
//! the steps do not initialise it themselves (every run starts from a fresh clone), and what
//! each step printed kept for the comment, in the order the steps ran.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use super::multienv;
use super::plan::{self, plan_text, reads_as_plan};
use super::state::{Run, Stop, failed};
use super::workflow;
use crate::run::{EnvSource, RunCommand, RunOutput, ShellCommand, Step, StepOutput};

/// The shortest value of an `env` step that is cut from the run's texts: a shorter one (`1`,
/// `true`, `eu`) is too likely to stand in them for something else.
const MIN_WITHHELD_LEN: usize = 8;

/// How the runner makes the project directory ready for the workflow's `plan`, `apply`,
/// `import` or `state_rm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Preparation {
    /// No built-in `plan` or `apply` step: the `run` steps do it their own way (terragrunt).
    Nothing,
    /// The steps initialise the directory themselves (an `init` step, or a `run` step that
    /// says `init`) before their first `plan` or `apply`: the workspace is selected after the
    /// first `init` step, else just before the first `plan` or `apply`.
    Workspace,
    /// `terraform init` and the workspace, before step `at` (the first that is not `env` or
    /// `multienv`, so the variables the workflow sets hold for it too).
    Full {
        /// The step before which the directory is prepared.
        at: usize,
    },
}

/// How `steps` need their directory prepared.
pub(super) fn preparation(steps: &[Step]) -> Preparation {
    let Some(first) = steps.iter().position(Step::runs_terraform_command) else {
        return Preparation::Nothing;
    };
    let inits_itself = steps[..first].iter().any(|step| match step {
        Step::Init { .. } => true,
        Step::Run(shell) => says_init(&shell.command),
        Step::Plan { .. }
        | Step::Apply { .. }
        | Step::Import { .. }
        | Step::StateRm { .. }
        | Step::Show
        | Step::Env { .. }
        | Step::Multienv(_) => false,
    });
    if inits_itself {
        return Preparation::Workspace;
    }
    let at = steps
        .iter()
        .position(|step| !step.sets_variables())
        .unwrap_or(first);
    Preparation::Full { at }
}

/// Whether a command line has the word `init` (`terraform init ...`, `terragrunt init`).
fn says_init(command: &str) -> bool {
    command
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .any(|word| word == "init")
}

/// `command` through `shell` (`sh` by default) with `shell_args` (`-c` by default).
pub(super) fn shell_command(shell: Option<&str>, shell_args: &[String], command: &str) -> Command {
    let mut cmd = Command::new(shell.unwrap_or("sh"));
    if shell_args.is_empty() {
        cmd.arg("-c");
    } else {
        cmd.args(shell_args);
    }
    cmd.arg(command);
    cmd
}

/// Holds an exclusive lock on the plugin cache while `init` runs: Terraform's cache is not
/// safe for concurrent installs. Released when dropped.
fn lock_plugin_cache(cache: &Path) -> io::Result<fs::File> {
    fs::create_dir_all(cache)?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.join(".landfall-init.lock"))?;
    file.lock()?;
    Ok(file)
}

impl Run<'_> {
    /// Whether `value` stands in the run's own spec (its commit, a directory, a name): no
    /// secret, and cutting it would cut those from every text.
    fn spec_holds(&self, value: &str) -> bool {
        self.spec.to_env().iter().any(|(_, v)| v.contains(value))
    }

    /// Keeps what a step printed for the comment.
    pub(super) fn print(&mut self, step: &str, command: &str, text: String) {
        self.outputs.push(StepOutput::Printed {
            step: step.to_owned(),
            command: command.to_owned(),
            description: None,
            text,
            failed: false,
        });
    }

    /// Runs the workflow's `steps` in `dir` and returns the outcome's text: the last `plan` or
    /// `apply` step's output; in a workflow of `run` steps, the last shown output that reads
    /// as a plan (for a plan), else the last shown output. Every other shown output stays in
    /// `outputs`, in order, the outcome's place marked among them.
    pub(super) fn workflow(&mut self, steps: &[Step], dir: &Path) -> Result<String, Stop> {
        let start = self.outputs.len();
        // The variables the steps set come after these: every step's, and the hooks'.
        let inherited = self.env.len();
        let preparation = preparation(steps);
        let mut selected = false;
        let mut terraform_output = None;
        for (index, step) in steps.iter().enumerate() {
            if preparation == (Preparation::Full { at: index }) {
                // The plan stage's `env` and `multienv` steps before its `init`, in order, for
                // the variables its arguments name: a variable this workflow's own steps set
                // before keeps their value.
                let own: Vec<String> = self.env[inherited..]
                    .iter()
                    .map(|(name, _)| name.clone())
                    .collect();
                for step in &self.spec.project.init_env.clone() {
                    match step {
                        Step::Env { name, .. } if !own.contains(name) => {
                            self.env_step(step, dir)?;
                        }
                        Step::Multienv(shell) => {
                            self.multienv_step(shell, dir, Some(&own))?;
                        }
                        _ => {}
                    }
                }
                let args = self.spec.project.init_args.clone();
                self.init(&args, dir)?;
                self.select_workspace(dir)?;
                selected = true;
            }
            match step {
                Step::Init { extra_args } => {
                    self.init(extra_args, dir)?;
                    if !selected {
                        self.select_workspace(dir)?;
                        selected = true;
                    }
                }
                Step::Plan { .. }
                | Step::Apply { .. }
                | Step::Import { .. }
                | Step::StateRm { .. } => {
                    if !selected {
                        self.select_workspace(dir)?;
                        selected = true;
                    }
                    let (cmd, shown) = self.builtin_command(step, dir)?;
                    let output = self.exec(step.name(), cmd, &shown, dir)?;
                    let text = if matches!(step, Step::Plan { .. }) {
                        plan_text(&output)
                    } else {
                        output
                    };
                    terraform_output = Some(self.outputs.len());
                    self.print(step.name(), &shown, text);
                }
                Step::Run(ShellCommand {
                    command,
                    shell,
                    shell_args,
                    output,
                }) => {
                    let cmd = shell_command(shell.as_deref(), shell_args, command);
                    let text = if *output == RunOutput::Hide {
                        self.exec_hidden("run", cmd, command, dir, "`output: hide`")?
                    } else {
                        self.exec("run", cmd, command, dir)?
                    };
                    if let Some(shown) = output.shown(&text)
                        && !shown.trim().is_empty()
                    {
                        self.print("run", command, shown);
                    }
                }
                Step::Show => plan::show_step(self, dir)?,
                Step::Env { .. } => self.env_step(step, dir)?,
                Step::Multienv(shell) => {
                    let names = self.multienv_step(shell, dir, None)?;
                    if shell.output == RunOutput::Show {
                        self.print("multienv", &shell.command, multienv::added(&names));
                    }
                }
            }
        }
        let main = terraform_output.or_else(|| self.main_run_output(start));
        let Some(main) = main else {
            self.outputs.push(StepOutput::Outcome);
            return Ok(String::new());
        };
        match std::mem::replace(&mut self.outputs[main], StepOutput::Outcome) {
            StepOutput::Printed { text, .. } => Ok(text),
            StepOutput::Outcome => Ok(String::new()),
        }
    }

    /// In a workflow without `plan` or `apply` steps, the shown output that stands for
    /// Terraform's: for a plan, the last that reads as one, else the last.
    fn main_run_output(&self, start: usize) -> Option<usize> {
        let printed = start..self.outputs.len();
        let reads_as_plan = |index: &usize| {
            self.spec.command == RunCommand::Plan
                && matches!(&self.outputs[*index], StepOutput::Printed { text, .. } if reads_as_plan(text))
        };
        printed.clone().rev().find(reads_as_plan).or(printed.last())
    }

    /// `terraform init -input=false` plus `extra_args`, holding the plugin cache's lock; its
    /// output is shown only when it fails.
    fn init(&mut self, extra_args: &[String], dir: &Path) -> Result<(), Stop> {
        let step = Step::Init {
            extra_args: extra_args.to_vec(),
        };
        let (cmd, shown) = self.builtin_command(&step, dir)?;
        let _lock = lock_plugin_cache(&self.opts.plugin_cache).map_err(|err| {
            failed(
                "init",
                format!(
                    "locking the plugin cache {} failed: {err}",
                    self.opts.plugin_cache.display()
                ),
            )
        })?;
        self.exec("init", cmd, &shown, dir).map(drop)
    }

    /// Runs an `env` step: its value, or its command's output (withheld from every text the
    /// run keeps), set for the steps after it.
    fn env_step(&mut self, step: &Step, dir: &Path) -> Result<(), Stop> {
        let Step::Env {
            name,
            source,
            shell,
            shell_args,
        } = step
        else {
            return Ok(());
        };
        let value = match source {
            EnvSource::Value(value) => value.clone(),
            EnvSource::Command(command) => {
                let cmd = shell_command(shell.as_deref(), shell_args, command);
                let why = format!("`env` step {name}");
                let value = self.exec_hidden("env", cmd, command, dir, &why)?;
                let value = value.trim().to_owned();
                self.withhold(&value);
                value
            }
        };
        self.env.push((name.clone(), value));
        Ok(())
    }

    /// Runs a `multienv` step: its command's output read as `NAME=value,...`, each value
    /// withheld from every text the run keeps and set for the steps after it, but for the
    /// names in `keep`. Returns the names, in order.
    fn multienv_step(
        &mut self,
        step: &ShellCommand,
        dir: &Path,
        keep: Option<&[String]>,
    ) -> Result<Vec<String>, Stop> {
        let ShellCommand {
            command,
            shell,
            shell_args,
            ..
        } = step;
        let cmd = shell_command(shell.as_deref(), shell_args, command);
        let printed = self.exec_hidden("multienv", cmd, command, dir, "a `multienv` step")?;
        let pairs = multienv::parse(&printed).map_err(|why| {
            failed(
                "multienv",
                format!("`{command}` did not print `NAME=value,NAME2=value2`: {why}"),
            )
        })?;
        let mut names = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            self.withhold(&value);
            if keep.is_none_or(|keep| !keep.contains(&name)) {
                self.env.push((name.clone(), value));
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Withholds `value`, read from a command, from every text the run keeps: the whole of it,
    /// trimmed, and its words joined by single spaces, as `echo $KEY` prints a key of several
    /// lines. Not each line alone: a JSON or YAML value's lines (`"10.0.0.0/16",`, `kind:
    /// Config`) stand in a plan for other things. A part shorter than [`MIN_WITHHELD_LEN`] is
    /// too likely to stand in the texts for something else.
    fn withhold(&mut self, value: &str) {
        let joined = value.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in [value, value.trim(), &joined] {
            let known = self.withheld.iter().any(|held| held == part);
            // Counted without its blanks: a value of spaces would cut every indentation.
            if part.trim().len() >= MIN_WITHHELD_LEN && !known && !self.spec_holds(part) {
                self.withheld.push(part.to_owned());
            }
        }
    }

    /// The command of a built-in step (`init`, `plan`, `apply`, `import`, `state rm`), and how
    /// it is shown: as written, since an expanded variable may hold a credential.
    fn builtin_command(&self, step: &Step, dir: &Path) -> Result<(Command, String), Stop> {
        let args_of = |step: &Step| {
            workflow::terraform_args(
                step,
                &self.planfile,
                &self.spec.extra_args,
                &self.spec.operands,
            )
            .expect("built-in steps have Terraform arguments")
        };
        let mut written = args_of(step);
        let mut args = args_of(&self.expanded(step)?);
        if matches!(step, Step::Plan { .. }) {
            let var_file = self.workspace_var_file(dir)?;
            written.extend(var_file.clone());
            args.extend(var_file);
        }
        let (cmd, _) = self.terraform(&args);
        let (_, shown) = self.terraform(&written);
        Ok((cmd, shown))
    }

    /// `step` with its workflow `extra_args` expanded ([`workflow::expand`]) against the
    /// variables the step sees: its own environment (the workflow's `env` steps last), then the
    /// runner's, less what a step never gets.
    fn expanded(&self, step: &Step) -> Result<Step, Stop> {
        let lookup = |name: &str| {
            if let Some((_, value)) = self.env.iter().rev().find(|(n, _)| n == name) {
                return Some(value.clone());
            }
            if super::git::WITHHELD_VARS.contains(&name) {
                return None;
            }
            // Set, even to nothing, is set: the step would see it so.
            crate::config::process::vars_os()
                .find(|(n, _)| n.to_str() == Some(name))
                .and_then(|(_, value)| value.into_string().ok())
        };
        let expand_all = |args: &[String]| {
            args.iter()
                .map(|arg| workflow::expand(arg, lookup))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| failed(step.name(), why))
        };
        Ok(match step {
            Step::Init { extra_args } => Step::Init {
                extra_args: expand_all(extra_args)?,
            },
            Step::Plan { extra_args } => Step::Plan {
                extra_args: expand_all(extra_args)?,
            },
            Step::Apply { extra_args } => Step::Apply {
                extra_args: expand_all(extra_args)?,
            },
            Step::Import { extra_args } => Step::Import {
                extra_args: expand_all(extra_args)?,
            },
            Step::StateRm { extra_args } => Step::StateRm {
                extra_args: expand_all(extra_args)?,
            },
            Step::Show | Step::Run(_) | Step::Env { .. } | Step::Multienv(_) => step.clone(),
        })
    }

    /// The plan's `-var-file=env/<workspace>.tfvars`, when the project has that file
    /// ([`workflow::workspace_var_file`]).
    fn workspace_var_file(&self, dir: &Path) -> Result<Option<String>, Stop> {
        let root = self.repo_dir();
        workflow::workspace_var_file(&root, dir, &self.spec.project.workspace)
            .map_err(|reason| failed("plan", reason))
    }

    /// Selects the project's workspace (not `default`): created when missing for a plan, as
    /// Atlantis does; an apply needs the one its plan was made in.
    fn select_workspace(&mut self, dir: &Path) -> Result<(), Stop> {
        let workspace = self.spec.project.workspace.clone();
        if workspace == "default" {
            return Ok(());
        }
        let mut args = vec!["workspace".to_owned(), "select".to_owned()];
        if self.spec.command == RunCommand::Plan {
            args.push("-or-create=true".to_owned());
        }
        args.extend(["-no-color".to_owned(), workspace]);
        let (cmd, shown) = self.terraform(&args);
        self.exec("workspace", cmd, &shown, dir).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> Step {
        Step::Init {
            extra_args: Vec::new(),
        }
    }

    fn apply() -> Step {
        Step::Apply {
            extra_args: Vec::new(),
        }
    }

    fn env() -> Step {
        Step::env("A", EnvSource::Value("b".to_owned()))
    }

    #[test]
    fn an_apply_stage_without_init_is_prepared_before_its_first_step() {
        let steps = [Step::run("echo preapply"), apply(), Step::run("echo post")];
        assert_eq!(preparation(&steps), Preparation::Full { at: 0 });
        assert_eq!(preparation(&[apply()]), Preparation::Full { at: 0 });
    }

    #[test]
    fn preparation_waits_for_the_variables_the_workflow_sets() {
        let steps = [env(), env(), Step::run("echo x"), apply()];
        assert_eq!(preparation(&steps), Preparation::Full { at: 2 });
    }

    #[test]
    fn a_workflow_that_initialises_itself_only_gets_its_workspace() {
        let steps = [
            Step::run("echo preinit"),
            init(),
            Step::Plan {
                extra_args: Vec::new(),
            },
        ];
        assert_eq!(preparation(&steps), Preparation::Workspace);
        let steps = [
            Step::run("terraform init -backend-config=env/staging.hcl"),
            apply(),
        ];
        assert_eq!(preparation(&steps), Preparation::Workspace);
    }

    #[test]
    fn a_workflow_of_run_steps_is_left_to_itself() {
        let steps = [Step::run("terragrunt plan -out $PLANFILE")];
        assert_eq!(preparation(&steps), Preparation::Nothing);
        assert_eq!(preparation(&[init()]), Preparation::Nothing);
    }

    #[test]
    fn init_is_a_word_not_a_substring() {
        assert!(says_init("terraform init -upgrade"));
        assert!(says_init("cd x && tofu init"));
        assert!(!says_init("./initialise.sh"));
        assert!(!says_init("echo -init-done"));
    }
}
