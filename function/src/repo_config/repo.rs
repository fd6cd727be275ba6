//! The repo-level file: `landfall.yaml`, or Atlantis' `atlantis.yaml` (version 3) read as it is.

use std::collections::{BTreeMap, HashMap, HashSet};

use globset::Glob;
use regex::Regex;

use super::diag::{ConfigErrors, Diagnostic};
use super::read::Reader;
use super::workflow::{Workflow, read_workflows};
use super::yaml::{self, Node, Value};

/// Atlantis' default `when_modified` patterns, relative to the project directory.
pub const DEFAULT_WHEN_MODIFIED: [&str; 3] =
    ["**/*.tf*", "**/terragrunt.hcl", "**/.terraform.lock.hcl"];

/// The repo-level config, validated.
#[derive(Clone, Debug)]
pub struct RepoConfig {
    /// The file it came from.
    pub file: String,
    /// `version` (2 or 3; they differ only in how Atlantis quoted custom `run` steps).
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
    /// Keys that were ignored, reported in the PR comment.
    pub warnings: Vec<Diagnostic>,
}

/// A value with the line that set it, so the policy can name the line it refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// The line of its key.
    pub line: usize,
}

/// A requirement before `plan` or `apply` may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    /// The PR is approved.
    Approved,
    /// The host says the PR can be merged.
    Mergeable,
    /// The head branch contains the base branch's latest commit.
    Undiverged,
}

impl Requirement {
    /// The name as written in YAML.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Approved => "approved",
            Requirement::Mergeable => "mergeable",
            Requirement::Undiverged => "undiverged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "approved" => Some(Requirement::Approved),
            "mergeable" => Some(Requirement::Mergeable),
            "undiverged" => Some(Requirement::Undiverged),
            _ => None,
        }
    }
}

/// A regex over base branch names, written `/regex/` (slashes optional) as in Atlantis.
#[derive(Clone, Debug)]
pub struct BranchPattern {
    /// As written.
    pub source: String,
    regex: Regex,
}

impl BranchPattern {
    /// Compiles `/regex/` or `regex`.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let inner = source
            .strip_prefix('/')
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or(source);
        Ok(BranchPattern {
            source: source.to_owned(),
            regex: Regex::new(inner)?,
        })
    }

    /// Whether `branch` matches (anywhere in the name, as Go's `MatchString`).
    #[must_use]
    pub fn matches(&self, branch: &str) -> bool {
        self.regex.is_match(branch)
    }
}

impl PartialEq for BranchPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for BranchPattern {}

/// `autoplan` of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Autoplan {
    /// Whether pushes plan this project automatically.
    pub enabled: bool,
    /// Patterns (`.dockerignore` syntax, `!` negates) relative to the project directory.
    pub when_modified: Vec<String>,
}

impl Default for Autoplan {
    fn default() -> Self {
        Autoplan {
            enabled: true,
            when_modified: DEFAULT_WHEN_MODIFIED
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// One entry of `projects`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectConfig {
    /// The line where the entry starts.
    pub line: usize,
    /// `name`, for `-p`.
    pub name: Option<String>,
    /// `dir`, normalised: relative to the repo root, `.` for the root, no `./` or trailing `/`.
    pub dir: String,
    /// `workspace`, `default` when absent.
    pub workspace: String,
    /// `terraform_version`.
    pub terraform_version: Option<String>,
    /// `timeout` (a Landfall key): the run's time limit.
    pub timeout: Option<std::time::Duration>,
    /// `autoplan`.
    pub autoplan: Autoplan,
    /// `apply_requirements` (restricted).
    pub apply_requirements: Option<Setting<Vec<Requirement>>>,
    /// `plan_requirements` (restricted).
    pub plan_requirements: Option<Setting<Vec<Requirement>>>,
    /// `workflow` (restricted).
    pub workflow: Option<Setting<String>>,
    /// `execution_order_group`.
    pub execution_order_group: i64,
    /// `depends_on`: names of projects whose apply must come first.
    pub depends_on: Vec<String>,
    /// `branch`: only PRs into matching base branches consider this project.
    pub branch: Option<BranchPattern>,
}

impl ProjectConfig {
    /// The name people see: `name`, else `dir` (with `:workspace` unless `default`).
    #[must_use]
    pub fn display_name(&self) -> String {
        crate::run::project_label(self.name.as_deref(), &self.dir, &self.workspace)
    }
}

const TOP_KEYS: &[&str] = &[
    "version",
    "automerge",
    "parallel_plan",
    "parallel_apply",
    "projects",
    "workflows",
];
const TOP_UNSUPPORTED: &[&str] = &[
    "delete_source_branch_on_merge",
    "allowed_regexp_prefixes",
    "abort_on_execution_order_fail",
    "autodiscover",
    "parallel_policy_check",
];
const PROJECT_KEYS: &[&str] = &[
    "name",
    "dir",
    "workspace",
    "terraform_version",
    "timeout",
    "autoplan",
    "apply_requirements",
    "plan_requirements",
    "workflow",
    "execution_order_group",
    "depends_on",
    "branch",
];
const PROJECT_UNSUPPORTED: &[&str] = &[
    "delete_source_branch_on_merge",
    "repo_locking",
    "repo_locks",
    "import_requirements",
    "policy_check",
    "custom_policy_check",
    "terraform_distribution",
    "silence_pr_comments",
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
            "automerge" => config.automerge = r.bool(&e.value, "`automerge`").unwrap_or(false),
            "parallel_plan" => {
                config.parallel_plan = r.bool(&e.value, "`parallel_plan`").unwrap_or(false);
            }
            "parallel_apply" => {
                config.parallel_apply = r.bool(&e.value, "`parallel_apply`").unwrap_or(false);
            }
            "projects" => {
                if e.value.value != Value::Null
                    && let Some(items) = r.seq(&e.value, "`projects`")
                {
                    for item in items {
                        if let Some(p) = read_project(&mut r, item) {
                            config.projects.push(p);
                        }
                    }
                }
            }
            "workflows" => {
                config.workflows_line = Some(e.line);
                config.workflows = read_workflows(&mut r, &e.value);
            }
            k if TOP_UNSUPPORTED.contains(&k) => r.unsupported_key(e, "the top level"),
            _ => r.unknown_key(e, "the top level", TOP_KEYS),
        }
    }
    if !version_seen {
        r.error(root.line, "`version` is required").help =
            Some("add `version: 3` at the top of the file".to_owned());
    }
    check_projects(&mut r, &config.projects);
    if r.has_errors() {
        return Err(ConfigErrors::new(r.diagnostics));
    }
    config.warnings = r.diagnostics;
    Ok(config)
}

// One match arm per documented project key: splitting it would scatter the schema.
#[allow(clippy::too_many_lines)]
fn read_project(r: &mut Reader, node: &Node) -> Option<ProjectConfig> {
    let entries = r.map(node, "each project")?;
    let errors_before = r.diagnostics.iter().filter(|d| d.is_error()).count();
    let mut p = ProjectConfig {
        line: node.line,
        name: None,
        dir: String::new(),
        workspace: "default".to_owned(),
        terraform_version: None,
        timeout: None,
        autoplan: Autoplan::default(),
        apply_requirements: None,
        plan_requirements: None,
        workflow: None,
        execution_order_group: 0,
        depends_on: Vec::new(),
        branch: None,
    };
    let mut dir_seen = false;
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "name" => {
                if let Some(name) = r.non_empty(v, "`name`") {
                    if name.chars().any(char::is_control) {
                        r.error(
                            e.line,
                            format!("project name {name:?} has control characters"),
                        );
                    }
                    p.name = Some(name);
                }
            }
            "dir" => {
                dir_seen = true;
                if let Some(dir) = r.non_empty(v, "`dir`") {
                    match normalize_dir(&dir) {
                        Some(d) => p.dir = d,
                        None => {
                            r.error(
                                e.line,
                                format!(
                                    "`dir: {dir}` must be a relative path inside the repository"
                                ),
                            )
                            .help = Some(
                                "write it relative to the repo root, `.` for the root".to_owned(),
                            );
                        }
                    }
                }
            }
            "workspace" => {
                if let Some(ws) = r.non_empty(v, "`workspace`") {
                    if ws
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    {
                        p.workspace = ws;
                    } else {
                        r.error(e.line, format!("workspace `{ws}` must be a plain name (letters, digits, '-', '_', '.')"));
                    }
                }
            }
            "terraform_version" => {
                if let Some(version) = r.non_empty(v, "`terraform_version`") {
                    if valid_version(&version) {
                        p.terraform_version = Some(version);
                    } else {
                        r.error(e.line, format!("`terraform_version: {version}` is not a version"))
                            .help = Some("write a version such as `1.9.5` or `v1.9.5`, or a constraint such as `~> 1.9`".to_owned());
                    }
                }
            }
            "timeout" => {
                if let Some(text) = r.non_empty(v, "`timeout`") {
                    match parse_timeout(&text) {
                        Some(limit) => p.timeout = Some(limit),
                        None => {
                            r.error(e.line, format!("`timeout: {text}` is not a time limit between 1 minute and 24 hours"))
                                .help = Some("write seconds (`900`) or a number with `s`, `m` or `h` (`45m`, `2h`)".to_owned());
                        }
                    }
                }
            }
            "autoplan" => {
                if let Some(a) = read_autoplan(r, v) {
                    p.autoplan = a;
                }
            }
            "apply_requirements" => {
                p.apply_requirements =
                    read_requirements(r, v, "`apply_requirements`").map(|value| Setting {
                        value,
                        line: e.line,
                    });
            }
            "plan_requirements" => {
                p.plan_requirements =
                    read_requirements(r, v, "`plan_requirements`").map(|value| Setting {
                        value,
                        line: e.line,
                    });
            }
            "workflow" => {
                p.workflow = r.non_empty(v, "`workflow`").map(|value| Setting {
                    value,
                    line: e.line,
                });
            }
            "execution_order_group" => {
                p.execution_order_group = r.int(v, "`execution_order_group`").unwrap_or(0);
            }
            "depends_on" => p.depends_on = r.strings(v, "`depends_on`").unwrap_or_default(),
            "branch" => {
                if let Some(b) = r.non_empty(v, "`branch`") {
                    match BranchPattern::new(&b) {
                        Ok(b) => p.branch = Some(b),
                        Err(err) => {
                            r.error(e.line, format!("`branch: {b}` is not a valid regex: {err}"));
                        }
                    }
                }
            }
            k if PROJECT_UNSUPPORTED.contains(&k) => r.unsupported_key(e, "a project"),
            _ => r.unknown_key(e, "a project", PROJECT_KEYS),
        }
    }
    if !dir_seen {
        r.error(node.line, "each project needs `dir`").help =
            Some("set `dir` relative to the repo root, `.` for the root".to_owned());
    }
    let errors_after = r.diagnostics.iter().filter(|d| d.is_error()).count();
    (errors_after == errors_before).then_some(p)
}

fn read_autoplan(r: &mut Reader, node: &Node) -> Option<Autoplan> {
    let entries = r.map(node, "`autoplan`")?;
    let mut a = Autoplan::default();
    for e in entries {
        match e.key.as_str() {
            "enabled" => a.enabled = r.bool(&e.value, "`autoplan.enabled`")?,
            "when_modified" => {
                let patterns = r.strings(&e.value, "`autoplan.when_modified`")?;
                for pattern in &patterns {
                    let body = pattern.strip_prefix('!').unwrap_or(pattern);
                    if let Err(err) = Glob::new(body) {
                        r.error(
                            e.line,
                            format!(
                                "`when_modified` pattern `{pattern}` is invalid: {}",
                                err.kind()
                            ),
                        );
                    }
                }
                a.when_modified = patterns;
            }
            _ => r.unknown_key(e, "`autoplan`", &["enabled", "when_modified"]),
        }
    }
    Some(a)
}

/// Reads a list of requirements: every value Atlantis documents either works or stops the load
/// with an error naming it (never a silent no-op).
pub(crate) fn read_requirements(
    r: &mut Reader,
    node: &Node,
    what: &str,
) -> Option<Vec<Requirement>> {
    let names = r.strings(node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for name in names {
        if let Some(req) = Requirement::parse(&name) {
            if !out.contains(&req) {
                out.push(req);
            }
        } else if name == "policies_passed" {
            ok = false;
            r.error(
                node.line,
                format!("{what} lists `policies_passed`, which Landfall does not implement yet (policy checks)"),
            )
            .help = Some(
                "remove it; Landfall refuses requirements it cannot enforce instead of ignoring them"
                    .to_owned(),
            );
        } else {
            ok = false;
            r.error(node.line, format!("unknown requirement `{name}` in {what}"))
                .help = Some("the requirements are approved, mergeable and undiverged".to_owned());
        }
    }
    ok.then_some(out)
}

/// Normalises a project directory: relative, `/`-separated, no `.` or empty components, `.` for
/// the root. `None` if it is absolute or leaves the repository.
#[must_use]
pub fn normalize_dir(dir: &str) -> Option<String> {
    if dir.starts_with('/') || dir.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

fn valid_version(v: &str) -> bool {
    let v = v.trim();
    let core = v
        .trim_start_matches(['~', '>', '<', '=', '!', ' '])
        .trim_start_matches('v');
    let mut parts = core.split(['.', '-', '+', ',', ' ']);
    parts
        .next()
        .is_some_and(|major| !major.is_empty() && major.chars().all(|c| c.is_ascii_digit()))
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

/// A project's `timeout`: seconds, or a number with `s`, `m` or `h`; from 1 minute to 24 hours.
#[must_use]
pub fn parse_timeout(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, 's') => (&text[..i], 1),
        (i, 'm') => (&text[..i], 60),
        (i, 'h') => (&text[..i], 3600),
        _ => (text, 1),
    };
    let secs = number.trim().parse::<u64>().ok()?.checked_mul(unit)?;
    (60..=86_400)
        .contains(&secs)
        .then(|| std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_normalised_and_may_not_leave_the_repo() {
        assert_eq!(normalize_dir("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize_dir(".").as_deref(), Some("."));
        assert_eq!(normalize_dir("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize_dir("../a"), None);
        assert_eq!(normalize_dir("/etc"), None);
    }

    #[test]
    fn versions_and_constraints_are_accepted_and_words_are_not() {
        for ok in ["1.9.5", "v0.11.0", "0.12.0-beta1", "~> 1.9", ">= 1.5, < 2"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["latest", "", "vX"] {
            assert!(!valid_version(bad), "{bad}");
        }
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
    fn a_project_timeout_is_read_in_seconds_minutes_or_hours_within_bounds() {
        let minutes = std::time::Duration::from_mins;
        assert_eq!(parse_timeout("900"), Some(minutes(15)));
        assert_eq!(parse_timeout("45m"), Some(minutes(45)));
        assert_eq!(parse_timeout("2h"), Some(minutes(120)));
        assert_eq!(
            parse_timeout("90s"),
            Some(std::time::Duration::from_secs(90))
        );
        for bad in ["30s", "25h", "soon", "-5m", ""] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
        let text = "version: 3\nprojects:\n- dir: a\n  timeout: 45m\n- dir: b\n";
        let config = parse_repo_config("landfall.yaml", text).unwrap();
        assert_eq!(config.projects[0].timeout, Some(minutes(45)));
        assert_eq!(config.projects[1].timeout, None);
        let text = "version: 3\nprojects:\n- dir: a\n  timeout: forever\n";
        let err = parse_repo_config("landfall.yaml", text).unwrap_err();
        assert!(err.to_string().contains(":4:"), "{err}");
        assert!(err.to_string().contains("`timeout: forever`"), "{err}");
    }

    #[test]
    fn a_depends_on_cycle_is_an_error_that_names_the_cycle() {
        let text = "version: 3\nprojects:\n- name: a\n  dir: a\n  depends_on: [b]\n- name: b\n  dir: b\n  depends_on: [a]\n";
        let err = parse_repo_config("atlantis.yaml", text).unwrap_err();
        assert!(err.to_string().contains("cycle: a -> b -> a"), "{err}");
    }
}
