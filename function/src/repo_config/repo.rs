//! The repo-level file: `landfall.yaml`, or Atlantis' `atlantis.yaml` (version 3) read as it is.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::diag::{ConfigErrors, Diagnostic};
use super::drift::{DriftKey, read_drift_key};
use super::project::read_project;
pub(crate) use super::project::read_requirements;
pub use super::project::{
    Autoplan, BranchPattern, DEFAULT_WHEN_MODIFIED, ProjectConfig, Requirement, Setting,
};
use super::read::Reader;
use super::switches::{AutoDiscover, check_fixed_key, read_autodiscover, read_silence};
use super::workflow::{Workflow, read_version_2_run_steps, read_workflows};
use super::yaml;
use crate::run::RunCommand;

/// The repo-level config, validated.
#[derive(Clone, Debug)]
pub struct RepoConfig {
    /// The file it came from.
    pub file: String,
    /// `version` (2 or 3; they differ only in how Atlantis read custom `run` steps: version 2's
    /// are rewritten as version 3 runs them, `workflow::read_version_2_run_steps`).
    pub version: u8,
    /// `automerge`.
    pub automerge: bool,
    /// `parallel_plan`.
    pub parallel_plan: bool,
    /// `parallel_apply`.
    pub parallel_apply: bool,
    /// `projects`, in file order.
    pub projects: Vec<ProjectConfig>,
    /// `workflows` defined by the repo (allowed only when the policy allows custom workflows).
    pub workflows: BTreeMap<String, Workflow>,
    /// The line of the `workflows` key, when present.
    pub workflows_line: Option<usize>,
    /// `autodiscover`.
    pub autodiscover: Option<AutoDiscover>,
    /// `delete_source_branch_on_merge` (restricted).
    pub delete_source_branch_on_merge: Option<Setting<bool>>,
    /// `apply_on_merge` (restricted): every project's default.
    pub apply_on_merge: Option<Setting<bool>>,
    /// `silence_pr_comments` (restricted): every project's default, as in Atlantis.
    pub silence_pr_comments: Option<Setting<Vec<RunCommand>>>,
    /// `drift`: the default of every project of the file.
    pub drift: Option<DriftKey>,
    /// Keys that were ignored, reported in the PR comment.
    pub warnings: Vec<Diagnostic>,
}

const TOP_KEYS: &[&str] = &[
    "version",
    "automerge",
    "parallel_plan",
    "parallel_apply",
    "projects",
    "workflows",
    "autodiscover",
    "delete_source_branch_on_merge",
    "apply_on_merge",
    "drift",
    "silence_pr_comments",
    "repo_locks",
];
const TOP_UNSUPPORTED: &[&str] = &[
    "emoji_reaction",
    "allowed_regexp_prefixes",
    "abort_on_execution_order_fail",
    "parallel_policy_check",
];

/// Parses and validates a repo-level config file. `file` names it in diagnostics.
pub fn parse_repo_config(file: &str, text: &str) -> Result<RepoConfig, ConfigErrors> {
    let mut r = Reader::new(file);
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(ConfigErrors::new(vec![
                Diagnostic::error(file, 0, "the file is empty")
                    .with_help("start it with `version: 3`"),
            ]));
        }
        Err(e) => {
            return Err(ConfigErrors::new(vec![Diagnostic::error(
                file,
                e.line,
                format!("invalid YAML: {}", e.message),
            )]));
        }
    };
    let mut config = RepoConfig {
        file: file.to_owned(),
        version: 0,
        automerge: false,
        parallel_plan: false,
        parallel_apply: false,
        projects: Vec::new(),
        workflows: BTreeMap::new(),
        workflows_line: None,
        autodiscover: None,
        delete_source_branch_on_merge: None,
        apply_on_merge: None,
        silence_pr_comments: None,
        drift: None,
        warnings: Vec::new(),
    };
    let Some(entries) = r.map(&root, "the file") else {
        return Err(ConfigErrors::new(r.diagnostics));
    };
    let mut version_seen = false;
    for e in entries {
        match e.key.as_str() {
            "version" => {
                version_seen = true;
                match r.int(&e.value, "`version`") {
                    Some(v @ (2 | 3)) => config.version = u8::try_from(v).unwrap_or(3),
                    Some(v) => {
                        r.error(e.line, format!("unsupported `version: {v}`")).help =
                            Some("Landfall reads version 3 (and 2); set `version: 3`".to_owned());
                    }
                    None => {}
                }
            }
            _ => read_top_key(&mut r, &mut config, e),
        }
    }
    if !version_seen {
        r.error(root.line, "`version` is required").help =
            Some("add `version: 3` at the top of the file".to_owned());
    }
    if config.version == 2 {
        read_version_2_run_steps(&mut r, &mut config.workflows);
    }
    check_projects(&mut r, &config.projects);
    if r.has_errors() {
        return Err(ConfigErrors::new(r.diagnostics));
    }
    config.warnings = r.diagnostics;
    Ok(config)
}

/// Reads one top-level key other than `version` into `config`.
fn read_top_key(r: &mut Reader, config: &mut RepoConfig, e: &yaml::Entry) {
    match e.key.as_str() {
        "automerge" => {
            config.automerge = r.bool(&e.value, "`automerge`").unwrap_or(false);
        }
        "parallel_plan" => {
            config.parallel_plan = r.bool(&e.value, "`parallel_plan`").unwrap_or(false);
        }
        "parallel_apply" => {
            config.parallel_apply = r.bool(&e.value, "`parallel_apply`").unwrap_or(false);
        }
        "projects" => {
            let projects = r.list(&e.value, "`projects`", read_project);
            config.projects.extend(projects);
        }
        "workflows" => {
            config.workflows_line = Some(e.line);
            config.workflows = read_workflows(r, &e.value, false);
        }
        "autodiscover" => config.autodiscover = read_autodiscover(r, &e.value),
        "delete_source_branch_on_merge" => {
            config.delete_source_branch_on_merge = r
                .bool(&e.value, "`delete_source_branch_on_merge`")
                .map(|value| Setting {
                    value,
                    line: e.line,
                });
        }
        "apply_on_merge" => {
            config.apply_on_merge = r.bool(&e.value, "`apply_on_merge`").map(|value| Setting {
                value,
                line: e.line,
            });
        }
        "drift" => config.drift = read_drift_key(r, e),
        "silence_pr_comments" => {
            config.silence_pr_comments = read_silence(r, e).map(|value| Setting {
                value,
                line: e.line,
            });
        }
        "repo_locks" => {
            check_fixed_key(r, e);
        }
        k if TOP_UNSUPPORTED.contains(&k) => r.unsupported_key(e, "the top level"),
        _ => r.unknown_key(e, "the top level", TOP_KEYS),
    }
}

fn check_projects(r: &mut Reader, projects: &[ProjectConfig]) {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_dir_ws: HashMap<(&str, &str), &ProjectConfig> = HashMap::new();
    for p in projects {
        if let Some(name) = &p.name
            && let Some(first) = by_name.insert(name, p.line)
        {
            r.error(
                p.line,
                format!("project name `{name}` is used twice (first on line {first})"),
            )
            .help = Some("project names must be unique; they are what `-p` selects".to_owned());
        }
        if let Some(other) = by_dir_ws.insert((&p.dir, &p.workspace), p)
            && (p.name.is_none() || other.name.is_none())
        {
            r.error(
                p.line,
                format!(
                    "two projects have dir `{}` and workspace `{}` (the other on line {}) and not both have a `name`",
                    p.dir, p.workspace, other.line
                ),
            )
            .help = Some("give each of them a distinct `name`".to_owned());
        }
    }
    let names: HashSet<&str> = projects.iter().filter_map(|p| p.name.as_deref()).collect();
    for p in projects {
        for dep in &p.depends_on {
            if !names.contains(dep.as_str()) {
                r.error(
                    p.line,
                    format!("`depends_on` names `{dep}`, which is not a project name in this file"),
                );
            }
        }
    }
    if let Some(cycle) = find_cycle(projects) {
        r.error(
            0,
            format!("`depends_on` forms a cycle: {}", cycle.join(" -> ")),
        );
    }
}

fn find_cycle(projects: &[ProjectConfig]) -> Option<Vec<String>> {
    fn visit<'a>(
        n: &'a str,
        deps: &HashMap<&'a str, &'a [String]>,
        state: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle: Vec<String> =
                    stack[start..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for d in deps.get(n).copied().unwrap_or_default() {
            if let Some(c) = visit(d, deps, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let deps: HashMap<&str, &[String]> = projects
        .iter()
        .filter_map(|p| p.name.as_deref().map(|n| (n, p.depends_on.as_slice())))
        .collect();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut names: Vec<&str> = deps.keys().copied().collect();
    names.sort_unstable();
    for n in names {
        let mut stack = Vec::new();
        if let Some(c) = visit(n, &deps, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_commands(text: &str) -> Vec<String> {
        let config = parse_repo_config("atlantis.yaml", text).unwrap();
        config.workflows["custom"]
            .plan_steps()
            .into_iter()
            .filter_map(|step| match step {
                crate::run::Step::Run(shell) => Some(shell.command),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn version_2_run_steps_are_read_as_shell_words_as_atlantis_read_them() {
        let steps = r#"workflows:
  custom:
    plan:
      steps:
      - run: printf \'print me\'
      - run: echo "a   b" 'c'
      - init
"#;
        assert_eq!(
            run_commands(&format!("version: 2\n{steps}")),
            ["printf 'print me'", "echo a   b c"]
        );
        assert_eq!(
            run_commands(&format!("version: 3\n{steps}")),
            [r"printf \'print me\'", r#"echo "a   b" 'c'"#]
        );
        let unterminated = "version: 2\nworkflows:\n  custom:\n    plan:\n      steps:\n      - run: echo \"oops\n";
        let errors = parse_repo_config("atlantis.yaml", unterminated).unwrap_err();
        assert!(
            errors.to_string().contains("unterminated quote"),
            "{errors}"
        );
        let lines = "workflows:\n  custom:\n    plan:\n      steps:\n      - run: |\n          set -e\n          ./check.sh\n";
        let errors =
            parse_repo_config("atlantis.yaml", &format!("version: 2\n{lines}")).unwrap_err();
        assert!(errors.to_string().contains("several lines"), "{errors}");
        assert_eq!(
            run_commands(&format!("version: 3\n{lines}")),
            ["set -e\n./check.sh\n"]
        );
        let one_line = "version: 2\nworkflows:\n  custom:\n    plan:\n      steps:\n      - run: |\n          ./check.sh\n";
        assert_eq!(run_commands(one_line), ["./check.sh"]);
    }

    #[test]
    fn branch_patterns_take_optional_slashes() {
        assert!(BranchPattern::new("/main/").unwrap().matches("main"));
        assert!(
            BranchPattern::new("^release-.*$")
                .unwrap()
                .matches("release-1")
        );
        assert!(
            !BranchPattern::new("/^main$/")
                .unwrap()
                .matches("maintenance")
        );
    }

    #[test]
    fn a_depends_on_cycle_is_an_error_that_names_the_cycle() {
        let text = "version: 3\nprojects:\n- name: a\n  dir: a\n  depends_on: [b]\n- name: b\n  dir: b\n  depends_on: [a]\n";
        let err = parse_repo_config("atlantis.yaml", text).unwrap_err();
        assert!(err.to_string().contains("cycle: a -> b -> a"), "{err}");
    }
}
