//! The policy's `pre_workflow_hooks` and `post_workflow_hooks` (Atlantis' server-side keys of
//! a `repos` entry): each hook is `run`, with an optional `description`, `shell`, `shellArgs`
//! (a string split at spaces, or a list) and `commands` (a comma-separated string, or a list, of
//! the Atlantis commands it runs for), as Atlantis documents them. Any other key is an error,
//! like the rest of the file. The runner runs them ([`crate::run::hook`]).

use super::read::Reader;
use super::yaml::{Entry, Node, Value};
use crate::run::{RunCommand, WorkflowHook, WorkflowHooks};

const HOOK_KEYS: &[&str] = &["run", "description", "shell", "shellArgs", "commands"];

/// Atlantis' command names a hook's `commands` may list; those that start no run (`unlock`,
/// `version`, `approve_policies`) run no hook in Landfall, whose hooks run inside runs.
const HOOK_COMMANDS: &[&str] = &[
    "plan",
    "apply",
    "import",
    "state",
    "unlock",
    "version",
    "approve_policies",
    "policy_check",
];

/// A `repos` entry's hooks: each list, when set, replaces the one earlier matches set.
#[derive(Clone, Debug, Default)]
pub struct HookRules {
    /// `pre_workflow_hooks`.
    pub pre: Option<Vec<WorkflowHook>>,
    /// `post_workflow_hooks`.
    pub post: Option<Vec<WorkflowHook>>,
}

impl HookRules {
    /// Reads `entry`, a `pre_workflow_hooks` or `post_workflow_hooks` key.
    pub(crate) fn read(&mut self, r: &mut Reader, entry: &Entry) {
        let hooks = r.list(&entry.value, &format!("`{}`", entry.key), read_hook);
        if entry.key == "pre_workflow_hooks" {
            self.pre = Some(hooks);
        } else {
            self.post = Some(hooks);
        }
    }

    /// Sets on `hooks` the lists this entry sets.
    pub(crate) fn apply_to(&self, hooks: &mut WorkflowHooks) {
        if let Some(pre) = &self.pre {
            hooks.pre.clone_from(pre);
        }
        if let Some(post) = &self.post {
            hooks.post.clone_from(post);
        }
    }
}

fn read_hook(r: &mut Reader, node: &Node) -> Option<WorkflowHook> {
    let entries = r.map(node, "each workflow hook")?;
    let mut hook = WorkflowHook::new(String::new());
    let mut run = None;
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "run" => run = r.non_empty(v, "`run`"),
            "description" => hook.description = r.non_empty(v, "`description`"),
            "shell" => hook.shell = r.non_empty(v, "`shell`"),
            "shellArgs" => {
                hook.shell_args = match &v.value {
                    Value::Scalar { text, .. } => {
                        text.split_whitespace().map(str::to_owned).collect()
                    }
                    _ => r.strings(v, "`shellArgs`")?,
                };
            }
            "commands" => hook.commands = hook_commands(r, v),
            _ => r.unknown_key(e, "a workflow hook", HOOK_KEYS),
        }
    }
    let Some(run) = run else {
        r.error(node.line, "each workflow hook needs `run`").help =
            Some("`run` is the shell command the hook runs".to_owned());
        return None;
    };
    hook.run = run;
    Some(hook)
}

/// A hook's `commands`: Atlantis' comma-separated names (`plan, apply`), or a list; the runs
/// they start.
fn hook_commands(r: &mut Reader, v: &Node) -> Option<Vec<RunCommand>> {
    let names: Vec<String> = match &v.value {
        Value::Scalar { text, .. } => text
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect(),
        _ => r.strings(v, "`commands`")?,
    };
    // As in Atlantis, no command named is every command.
    if names.is_empty() {
        return None;
    }
    let mut runs = Vec::new();
    for name in names {
        match name.as_str() {
            "plan" | "policy_check" => runs.push(RunCommand::Plan),
            "apply" => runs.push(RunCommand::Apply),
            "import" => runs.push(RunCommand::Import),
            "state" => runs.push(RunCommand::StateRm),
            known if HOOK_COMMANDS.contains(&known) => {}
            _ => {
                r.error(
                    v.line,
                    format!("`commands` names {name:?}, not an Atlantis command"),
                )
                .help = Some(format!("one of {}", HOOK_COMMANDS.join(", ")));
                return None;
            }
        }
    }
    Some(runs)
}

#[cfg(test)]
mod tests {
    use crate::repo_config::Policy;
    use crate::run::WorkflowHook;

    /// The error `Policy::parse` gives for `yaml`, as text.
    fn refusal(yaml: &str) -> String {
        Policy::parse("repos.yaml", yaml).unwrap_err().to_string()
    }

    #[test]
    fn hooks_are_read_with_their_description_shell_and_arguments() {
        let p = Policy::parse(
            "repos.yaml",
            "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - run: ./gen.sh\n    description: Generating configs\n    shell: bash\n    shellArgs: -e -c\n  - run: echo two\n  post_workflow_hooks:\n  - run: echo done\n    shellArgs: [-x, -c]\n",
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let hooks = p.resolve("github.com", "acme/infra", "main").hooks;
        assert_eq!(
            hooks.pre,
            [
                WorkflowHook {
                    description: Some("Generating configs".to_owned()),
                    shell: Some("bash".to_owned()),
                    shell_args: vec!["-e".to_owned(), "-c".to_owned()],
                    ..WorkflowHook::new("./gen.sh")
                },
                WorkflowHook::new("echo two"),
            ]
        );
        assert_eq!(
            hooks.post,
            [WorkflowHook {
                shell_args: vec!["-x".to_owned(), "-c".to_owned()],
                ..WorkflowHook::new("echo done")
            }]
        );
    }

    #[test]
    fn a_later_matching_entry_replaces_only_the_list_it_sets() {
        let p = Policy::parse(
            "repos.yaml",
            "repos:\n- id: /.*/\n  pre_workflow_hooks: [{run: echo all}]\n  post_workflow_hooks: [{run: echo after}]\n- id: acme/infra\n  pre_workflow_hooks: [{run: echo infra}]\n- id: acme/other\n  post_workflow_hooks: []\n",
        )
        .unwrap();
        let infra = p.resolve("github.com", "acme/infra", "main").hooks;
        assert_eq!(infra.pre, [WorkflowHook::new("echo infra")]);
        assert_eq!(infra.post, [WorkflowHook::new("echo after")]);
        let other = p.resolve("github.com", "acme/other", "main").hooks;
        assert_eq!(other.pre, [WorkflowHook::new("echo all")]);
        assert!(other.post.is_empty());
    }

    #[test]
    fn a_hook_without_run_is_an_error_naming_its_line() {
        let err =
            refusal("repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - description: nothing to run\n");
        assert!(
            err.contains("repos.yaml:4: error: each workflow hook needs `run`"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_hook_key_is_an_error_with_a_suggestion() {
        let text = refusal(
            "repos:\n- id: /.*/\n  post_workflow_hooks:\n  - run: echo x\n    shell_args: -c\n",
        );
        assert!(
            text.contains("unknown key `shell_args` in a workflow hook"),
            "{text}"
        );
        assert!(text.contains("did you mean `shellArgs`?"), "{text}");
    }

    #[test]
    fn commands_keep_a_hook_to_the_runs_it_names() {
        use crate::run::RunCommand;
        let p = Policy::parse(
            "repos.yaml",
            "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - run: ./plan-hook.sh\n    commands: plan\n  \
             - run: ./both.sh\n    commands: plan, apply\n  - run: ./always.sh\n  \
             - run: ./never.sh\n    commands: [unlock]\n",
        )
        .unwrap();
        let hooks = p.resolve("github.com", "acme/infra", "main").hooks;
        let runs = |command| -> Vec<&str> {
            let pre = hooks.pre.iter().filter(|h| h.runs_for(command));
            pre.map(|h| h.run.as_str()).collect()
        };
        assert_eq!(
            runs(RunCommand::Plan),
            ["./plan-hook.sh", "./both.sh", "./always.sh"]
        );
        assert_eq!(runs(RunCommand::Apply), ["./both.sh", "./always.sh"]);
        assert_eq!(runs(RunCommand::Import), ["./always.sh"]);
        let err = refusal(
            "repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - run: x\n    commands: plan, destroy\n",
        );
        assert!(
            err.contains("\"destroy\", not an Atlantis command"),
            "{err}"
        );
        // No command named is every command, as in Atlantis.
        for empty in ["\"\"", "[]", ""] {
            let p = Policy::parse(
                "repos.yaml",
                &format!("repos:\n- id: /.*/\n  post_workflow_hooks:\n  - run: ./cleanup.sh\n    commands: {empty}\n"),
            )
            .unwrap();
            let hooks = p.resolve("github.com", "acme/infra", "main").hooks;
            assert!(hooks.post[0].runs_for(RunCommand::Apply), "{empty:?}");
        }
    }

    #[test]
    fn hooks_must_be_a_list_of_mappings() {
        let err = refusal("repos:\n- id: /.*/\n  pre_workflow_hooks: echo x\n");
        assert!(err.contains("`pre_workflow_hooks` must be a list"), "{err}");
    }
}
