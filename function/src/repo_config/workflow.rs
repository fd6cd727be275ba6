//! Workflows: the steps run for `plan`, `apply`, `import` and `state_rm`, in Atlantis'
//! `workflows` format, shared by the repo file and the server-side policy; the `policy_check`
//! stage is read by [`super::policy_check_stage`].

use std::collections::BTreeMap;

use super::policy_check_stage::{PolicyCheckStage, read_policy_check_stage};
use super::read::Reader;
use super::yaml::{Node, Value};
use crate::run::policy::Namespaces;
use crate::run::{EnvSource, RunCommand, RunOutput, ShellCommand, Step};

/// The name of the workflow every project uses unless told otherwise.
pub const DEFAULT_WORKFLOW: &str = "default";

/// A named workflow: the steps for each stage. A stage that is absent runs the default steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    /// Steps for `plan`; `None` means the default `[init, plan]`.
    pub plan: Option<Vec<Step>>,
    /// Steps for `apply`; `None` means the default `[apply]`.
    pub apply: Option<Vec<Step>>,
    /// Steps for `import`; `None` means the default `[import]`.
    pub import: Option<Vec<Step>>,
    /// Steps for `state rm`; `None` means the default `[state_rm]`.
    pub state_rm: Option<Vec<Step>>,
    /// The `policy_check` stage's choices (a workflow of the policy file only); `None`: the
    /// policy sets' `package main` rules, conftest's default.
    pub policy_check: Option<PolicyCheckStage>,
    /// The line where the workflow is defined (0 for the built-in default).
    pub line: usize,
}

impl Workflow {
    /// Atlantis' default workflow: `plan: [init, plan]`, `apply: [apply]`.
    #[must_use]
    pub fn builtin_default() -> Self {
        Workflow {
            plan: None,
            apply: None,
            import: None,
            state_rm: None,
            policy_check: None,
            line: 0,
        }
    }

    /// Reads the `run` steps as `version: 2` did: Atlantis split the command into shell words and
    /// ran them joined by spaces, so a version 2 `printf \'print me\'` is version 3's
    /// `printf 'print me'` (Atlantis' "Upgrading atlantis.yaml"). A command that is not shell
    /// words (an unterminated quote) is an error, as it was in Atlantis; so is a command of
    /// several lines, which the joining would make one (`set -e` and `./check.sh` would become
    /// `set -e ./check.sh`, which checks nothing).
    fn read_run_steps_as_version_2(&mut self, r: &mut Reader, name: &str) {
        let line = self.line;
        let stages = [
            &mut self.plan,
            &mut self.apply,
            &mut self.import,
            &mut self.state_rm,
        ];
        for step in stages.into_iter().flatten().flatten() {
            if let Step::Run(ShellCommand { command, .. }) = step {
                if command.trim().contains('\n') {
                    r.error(
                        line,
                        format!("a `run` step of workflow `{name}` has several lines"),
                    )
                    .help = Some(
                        "`version: 2` joins a `run` command's words into one line, as Atlantis did; with `version: 3` the lines run as written"
                            .to_owned(),
                    );
                    continue;
                }
                match shell_words::split(command) {
                    Ok(words) => *command = words.join(" "),
                    Err(_) => {
                        r.error(
                            line,
                            format!("a `run` step of workflow `{name}` has an unterminated quote or escape"),
                        )
                        .help = Some(
                            "`version: 2` reads `run` commands as shell words; with `version: 3` the command runs as written"
                                .to_owned(),
                        );
                    }
                }
            }
        }
    }

    /// The packages the policy sets' rules are read from for this workflow's plans.
    #[must_use]
    pub fn policy_namespaces(&self) -> Namespaces {
        self.policy_check
            .as_ref()
            .map(|stage| stage.namespaces.clone())
            .unwrap_or_default()
    }

    /// The plan steps, the defaults filled in.
    #[must_use]
    pub fn plan_steps(&self) -> Vec<Step> {
        self.plan.clone().unwrap_or_else(|| {
            vec![
                Step::Init { extra_args: vec![] },
                Step::Plan { extra_args: vec![] },
            ]
        })
    }

    /// The apply steps, the defaults filled in.
    #[must_use]
    pub fn apply_steps(&self) -> Vec<Step> {
        self.apply
            .clone()
            .unwrap_or_else(|| vec![Step::Apply { extra_args: vec![] }])
    }

    /// Why `command` (`import` or `state rm`) cannot run on this workflow, if it cannot:
    /// without a stage of their own they repeat only the plan stage's `init`, so a plan stage
    /// prepared by `run`, `env` or `multienv` steps (a backend configuration, credentials)
    /// would have them edit a state the plan never read. Such a workflow needs the stage
    /// spelled out.
    #[must_use]
    pub fn state_stage_missing(&self, command: RunCommand) -> Option<String> {
        let stage = match command {
            RunCommand::Import => &self.import,
            RunCommand::StateRm => &self.state_rm,
            RunCommand::Plan | RunCommand::Apply => return None,
        };
        if stage.is_some() {
            return None;
        }
        let word = command.as_str();
        let prepared_by = self
            .plan
            .iter()
            .flatten()
            .find(|step| matches!(step, Step::Run(_)) || step.sets_variables())?;
        Some(format!(
            "the project's workflow prepares its plan with a `{}` step, which `{word}` cannot \
             know whether to repeat (it may choose the backend); define the workflow's `{word}` \
             stage with the steps to run",
            prepared_by.name()
        ))
    }
}

const WORKFLOW_KEYS: &[&str] = &["plan", "apply", "import", "state_rm", "policy_check"];

/// Reads a `workflows:` mapping.
/// `workflows` of a `version: 2` file: see [`Workflow::read_run_steps_as_version_2`].
pub(super) fn read_version_2_run_steps(r: &mut Reader, workflows: &mut BTreeMap<String, Workflow>) {
    for (name, workflow) in workflows {
        workflow.read_run_steps_as_version_2(r, name);
    }
}

/// `server_side`: the mapping is the policy file's, not a repository's.
pub(crate) fn read_workflows(
    r: &mut Reader,
    node: &Node,
    server_side: bool,
) -> BTreeMap<String, Workflow> {
    let mut out = BTreeMap::new();
    if node.value == Value::Null {
        return out;
    }
    let Some(entries) = r.map(node, "`workflows`") else {
        return out;
    };
    for entry in entries {
        let name = entry.key.clone();
        let mut workflow = Workflow {
            line: entry.line,
            ..Workflow::builtin_default()
        };
        if entry.value.value == Value::Null {
            out.insert(name, workflow);
            continue;
        }
        let Some(stages) = r.map(&entry.value, &format!("workflow `{name}`")) else {
            continue;
        };
        for stage in stages {
            let context = format!("workflow `{name}`");
            match stage.key.as_str() {
                "plan" => workflow.plan = read_stage(r, &stage.value, &name, "plan"),
                "apply" => workflow.apply = read_stage(r, &stage.value, &name, "apply"),
                "import" => workflow.import = read_stage(r, &stage.value, &name, "import"),
                "state_rm" => workflow.state_rm = read_stage(r, &stage.value, &name, "state_rm"),
                "policy_check" => {
                    workflow.policy_check =
                        read_policy_check_stage(r, &stage.value, stage.line, &name, server_side);
                }
                _ => r.unknown_key(stage, &context, WORKFLOW_KEYS),
            }
        }
        out.insert(name, workflow);
    }
    out
}

/// A stage's steps; `None` for the default steps (a stage, or its `steps`, left empty: `apply:`
/// or `steps:` with no value, as Atlantis reads them) and after an error. An empty list
/// (`steps: []`) is a stage that runs nothing, as in Atlantis (an apply stage of a workflow
/// that only plans).
fn read_stage(r: &mut Reader, node: &Node, workflow: &str, stage: &str) -> Option<Vec<Step>> {
    let what = format!("stage `{stage}` of workflow `{workflow}`");
    if node.value == Value::Null {
        return None;
    }
    let entries = r.map(node, &what)?;
    let mut steps = Some(Vec::new());
    for entry in entries {
        if entry.key != "steps" {
            r.unknown_key(entry, &what, &["steps"]);
            continue;
        }
        if entry.value.value == Value::Null {
            return None;
        }
        let items = r.seq(&entry.value, &format!("`steps` of {what}"))?;
        // In the plan stage, whether a step before could have written the plan (`plan`, or a
        // `run` step: terragrunt's `plan -out $PLANFILE`).
        let mut planned = false;
        for item in items {
            match read_step(r, item, &what) {
                Some(Step::Show) if matches!(stage, "import" | "state_rm") => {
                    r.error(
                        item.line,
                        format!("step `show` in {what}: there is no plan to show there"),
                    )
                    .help = Some("`show` belongs in the `plan` or the `apply` stage".to_owned());
                    steps = None;
                }
                Some(Step::Show) if stage == "plan" && !planned => {
                    r.error(
                        item.line,
                        format!("step `show` in {what} comes before any step that plans"),
                    )
                    .help = Some(
                        "put it after `plan`, or after the `run` step that writes $PLANFILE"
                            .to_owned(),
                    );
                    steps = None;
                }
                Some(step) => {
                    planned |= matches!(step, Step::Plan { .. } | Step::Run(_));
                    if let Some(s) = steps.as_mut() {
                        s.push(step);
                    }
                }
                None => steps = None,
            }
        }
    }
    steps
}

const STEP_NAMES: &[&str] = &[
    "init", "plan", "apply", "import", "state_rm", "show", "run", "env", "multienv",
];
const STEP_UNSUPPORTED: &[&str] = &["policy_check", "version"];

fn read_step(r: &mut Reader, node: &Node, what: &str) -> Option<Step> {
    match &node.value {
        Value::Scalar { text, .. } => builtin(r, node.line, text, Vec::new(), what),
        Value::Map(entries) if entries.len() == 1 => {
            let entry = &entries[0];
            match entry.key.as_str() {
                "run" => read_run(r, &entry.value),
                "env" => read_env(r, &entry.value),
                "multienv" => read_multienv(r, &entry.value),
                "show" if entry.value.value != Value::Null => {
                    r.error(
                        entry.value.line,
                        format!("step `show` in {what} takes no arguments"),
                    )
                    .help = Some(
                        "write `- show`: it writes `terraform show -json $PLANFILE` to $SHOWFILE \
                         (Atlantis ignores a `show` step's `extra_args`)"
                            .to_owned(),
                    );
                    None
                }
                name if !matches!(name, "init" | "plan" | "apply" | "import" | "state_rm") => {
                    builtin(r, entry.line, name, Vec::new(), what)
                }
                name => {
                    let mut extra_args = Vec::new();
                    if entry.value.value != Value::Null {
                        let step_what = format!("step `{name}`");
                        for e in r.map(&entry.value, &step_what)? {
                            if e.key == "extra_args" {
                                extra_args =
                                    r.strings(&e.value, &format!("`extra_args` of {step_what}"))?;
                            } else {
                                r.unknown_key(e, &step_what, &["extra_args"]);
                            }
                        }
                    }
                    builtin(r, entry.line, name, extra_args, what)
                }
            }
        }
        _ => {
            r.error(
                node.line,
                format!("each step in {what} must be a step name (`init`) or a one-key mapping (`run: ...`)"),
            );
            None
        }
    }
}

fn builtin(
    r: &mut Reader,
    line: usize,
    name: &str,
    extra_args: Vec<String>,
    what: &str,
) -> Option<Step> {
    match name {
        "init" => Some(Step::Init { extra_args }),
        "plan" => Some(Step::Plan { extra_args }),
        "apply" => Some(Step::Apply { extra_args }),
        "import" => Some(Step::Import { extra_args }),
        "state_rm" => Some(Step::StateRm { extra_args }),
        "show" => Some(Step::Show),
        "run" | "env" | "multienv" => {
            r.error(line, format!("step `{name}` in {what} needs a value"));
            None
        }
        n if STEP_UNSUPPORTED.contains(&n) => {
            r.error(
                line,
                format!("step `{n}` in {what} is not supported by Landfall yet"),
            )
            .help =
                Some("use a `run` step with the equivalent command, or remove the step".to_owned());
            None
        }
        n => {
            r.error(line, format!("unknown step `{n}` in {what}")).help =
                Some(format!("the steps are: {}", STEP_NAMES.join(", ")));
            None
        }
    }
}

/// A `run` or `multienv` step (`step`), whose `output` may be one of `outputs`.
fn read_shell_step(
    r: &mut Reader,
    node: &Node,
    step: &str,
    outputs: &[(&str, RunOutput)],
) -> Option<ShellCommand> {
    if let Value::Scalar { text, .. } = &node.value {
        return Some(ShellCommand {
            command: text.clone(),
            shell: None,
            shell_args: Vec::new(),
            output: RunOutput::Show,
        });
    }
    let entries = r.map(node, &format!("step `{step}`"))?;
    let (mut command, mut shell, mut shell_args, mut output) =
        (None, None, Vec::new(), RunOutput::Show);
    for e in entries {
        match e.key.as_str() {
            "command" => command = r.non_empty(&e.value, &format!("`{step}.command`")),
            "shell" => shell = r.non_empty(&e.value, &format!("`{step}.shell`")),
            "shellArgs" => shell_args = read_shell_args(r, &e.value)?,
            "output" => {
                let text = r.string(&e.value, &format!("`{step}.output`"))?;
                let Some(&(_, chosen)) = outputs.iter().find(|(name, _)| *name == text) else {
                    let names: Vec<&str> = outputs.iter().map(|(name, _)| *name).collect();
                    r.error(
                        e.value.line,
                        format!(
                            "`{step}.output` must be {}, found `{text}`",
                            names.join(" or ")
                        ),
                    );
                    return None;
                };
                output = chosen;
            }
            _ => r.unknown_key(
                e,
                &format!("step `{step}`"),
                &["command", "shell", "shellArgs", "output"],
            ),
        }
    }
    let Some(command) = command else {
        r.error(node.line, format!("step `{step}` needs `command`"));
        return None;
    };
    Some(ShellCommand {
        command,
        shell,
        shell_args,
        output,
    })
}

fn read_run(r: &mut Reader, node: &Node) -> Option<Step> {
    let outputs = [
        ("show", RunOutput::Show),
        ("hide", RunOutput::Hide),
        ("strip_refreshing", RunOutput::StripRefreshing),
    ];
    read_shell_step(r, node, "run", &outputs).map(Step::Run)
}

fn read_multienv(r: &mut Reader, node: &Node) -> Option<Step> {
    let outputs = [("show", RunOutput::Show), ("hide", RunOutput::Hide)];
    read_shell_step(r, node, "multienv", &outputs).map(Step::Multienv)
}

fn read_shell_args(r: &mut Reader, node: &Node) -> Option<Vec<String>> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.split_whitespace().map(str::to_owned).collect()),
        _ => r.strings(node, "`shellArgs`"),
    }
}

fn read_env(r: &mut Reader, node: &Node) -> Option<Step> {
    let entries = r.map(node, "step `env`")?;
    let (mut name, mut value, mut command) = (None, None, None);
    let (mut shell, mut shell_args) = (None, Vec::new());
    for e in entries {
        match e.key.as_str() {
            "name" => name = r.non_empty(&e.value, "`env.name`"),
            "value" => value = r.string(&e.value, "`env.value`"),
            "command" => command = r.non_empty(&e.value, "`env.command`"),
            "shell" => shell = r.non_empty(&e.value, "`env.shell`"),
            "shellArgs" => shell_args = read_shell_args(r, &e.value)?,
            _ => r.unknown_key(
                e,
                "step `env`",
                &["name", "value", "command", "shell", "shellArgs"],
            ),
        }
    }
    let Some(name) = name else {
        r.error(node.line, "step `env` needs `name`");
        return None;
    };
    let source = match (value, command) {
        (Some(v), None) => EnvSource::Value(v),
        (None, Some(c)) => EnvSource::Command(c),
        (Some(_), Some(_)) => {
            r.error(
                node.line,
                format!("step `env` for `{name}` sets both `value` and `command`; set one"),
            );
            return None;
        }
        (None, None) => {
            r.error(
                node.line,
                format!("step `env` for `{name}` needs `value` or `command`"),
            );
            return None;
        }
    };
    Some(Step::Env {
        name,
        source,
        shell,
        shell_args,
    })
}
