//! One entry of `projects` in the repo-level file: its keys, each read and checked where it is
//! written, so that an error names its line.

use globset::Glob;
use regex::Regex;

use super::read::Reader;
pub use super::read::Setting;
use super::switches::{check_fixed_key, read_silence};
use super::yaml::{Node, Value};
use crate::dir::normalize_dir;

/// Atlantis' default `when_modified` patterns, relative to the project directory.
pub const DEFAULT_WHEN_MODIFIED: [&str; 4] = [
    "**/*.tf*",
    "**/*.tofu*",
    "**/terragrunt.hcl",
    "**/.terraform.lock.hcl",
];

/// A requirement before `plan` or `apply` may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    /// The PR is approved.
    Approved,
    /// The host says the PR can be merged.
    Mergeable,
    /// The head branch contains the base branch's latest commit.
    Undiverged,
    /// The plan's policy checks passed, or their owners approved the failures (`apply` only).
    /// Landfall gates every apply so ([`crate::orchestrate`]'s policy gate), with or without it:
    /// an Atlantis file that names it keeps its meaning.
    PoliciesPassed,
}

impl Requirement {
    /// The name as written in YAML.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Approved => "approved",
            Requirement::Mergeable => "mergeable",
            Requirement::Undiverged => "undiverged",
            Requirement::PoliciesPassed => "policies_passed",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
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
    /// `terraform_distribution`.
    pub terraform_distribution: Option<crate::run::Distribution>,
    /// `timeout` (a Landfall key): the run's time limit.
    pub timeout: Option<std::time::Duration>,
    /// `autoplan`.
    pub autoplan: Autoplan,
    /// `apply_requirements` (restricted).
    pub apply_requirements: Option<Setting<Vec<Requirement>>>,
    /// `plan_requirements` (restricted).
    pub plan_requirements: Option<Setting<Vec<Requirement>>>,
    /// `import_requirements` (restricted).
    pub import_requirements: Option<Setting<Vec<Requirement>>>,
    /// `workflow` (restricted).
    pub workflow: Option<Setting<String>>,
    /// `execution_order_group`.
    pub execution_order_group: i64,
    /// `depends_on`: names of projects whose apply must come first.
    pub depends_on: Vec<String>,
    /// `branch`: only PRs into matching base branches consider this project.
    pub branch: Option<BranchPattern>,
    /// `silence_pr_comments` (restricted).
    pub silence_pr_comments: Option<Setting<Vec<crate::run::RunCommand>>>,
    /// `delete_source_branch_on_merge` (restricted).
    pub delete_source_branch_on_merge: Option<Setting<bool>>,
    /// `apply_on_merge` (restricted).
    pub apply_on_merge: Option<Setting<bool>>,
    /// `drift`: whether, when and how drift is checked (with the policy's `drift`).
    pub drift: Option<super::drift::DriftKey>,
}

impl ProjectConfig {
    /// The name people see: `name`, else `dir` (with `:workspace` unless `default`).
    #[must_use]
    pub fn display_name(&self) -> String {
        crate::run::project_label(self.name.as_deref(), &self.dir, &self.workspace)
    }
}

const PROJECT_KEYS: &[&str] = &[
    "name",
    "dir",
    "workspace",
    "terraform_version",
    "timeout",
    "autoplan",
    "apply_requirements",
    "plan_requirements",
    "import_requirements",
    "workflow",
    "execution_order_group",
    "depends_on",
    "branch",
    "silence_pr_comments",
    "delete_source_branch_on_merge",
    "apply_on_merge",
    "drift",
    "repo_locking",
    "repo_locks",
    "policy_check",
    "custom_policy_check",
    "terraform_distribution",
];

// One match arm per documented project key: splitting it would scatter the schema.
#[allow(clippy::too_many_lines)]
pub(super) fn read_project(r: &mut Reader, node: &Node) -> Option<ProjectConfig> {
    let entries = r.map(node, "each project")?;
    let errors_before = r.diagnostics.iter().filter(|d| d.is_error()).count();
    let mut p = ProjectConfig {
        line: node.line,
        name: None,
        dir: String::new(),
        workspace: "default".to_owned(),
        terraform_version: None,
        terraform_distribution: None,
        timeout: None,
        autoplan: Autoplan::default(),
        apply_requirements: None,
        plan_requirements: None,
        import_requirements: None,
        workflow: None,
        execution_order_group: 0,
        depends_on: Vec::new(),
        branch: None,
        silence_pr_comments: None,
        delete_source_branch_on_merge: None,
        apply_on_merge: None,
        drift: None,
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
                    // Atlantis reads `dir` as `./` joined with it, so `/envs/prod` is
                    // `envs/prod` there: the repository's root, never the machine's.
                    let relative = dir.trim_start_matches('/');
                    if relative.len() < dir.len() && !relative.is_empty() {
                        r.warning(
                            e.line,
                            format!(
                                "`dir: {dir}` is read as `{relative}`, from the repository's root"
                            ),
                        );
                    }
                    match normalize_dir(if relative.is_empty() { &dir } else { relative }) {
                        // Atlantis (0.39 and later) expands a pattern into a project per match;
                        // taken as a path, it would never plan.
                        Some(_) if dir.contains(['*', '?', '[', '{']) => {
                            r.error(
                                e.line,
                                format!(
                                    "`dir: {dir}` is a pattern; Landfall takes `dir` as a path"
                                ),
                            )
                            .help = Some(
                                "list a project per directory, or leave `projects` out so that \
                                 every Terraform root is found"
                                    .to_owned(),
                            );
                        }
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
            "terraform_distribution" => {
                p.terraform_distribution = super::switches::read_distribution(r, e);
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
            "apply_requirements" | "plan_requirements" | "import_requirements" => {
                let read = read_requirements(r, v, &format!("`{}`", e.key)).map(|value| Setting {
                    value,
                    line: e.line,
                });
                match e.key.as_str() {
                    "apply_requirements" => p.apply_requirements = read,
                    "plan_requirements" => p.plan_requirements = read,
                    _ => p.import_requirements = read,
                }
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
            "silence_pr_comments" => {
                p.silence_pr_comments = read_silence(r, e).map(|value| Setting {
                    value,
                    line: e.line,
                });
            }
            "delete_source_branch_on_merge" => {
                p.delete_source_branch_on_merge =
                    r.bool(v, "`delete_source_branch_on_merge`")
                        .map(|value| Setting {
                            value,
                            line: e.line,
                        });
            }
            "apply_on_merge" => {
                p.apply_on_merge = r.bool(v, "`apply_on_merge`").map(|value| Setting {
                    value,
                    line: e.line,
                });
            }
            "drift" => p.drift = super::drift::read_drift_key(r, e),
            _ if check_fixed_key(r, e) => {}
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
            // Left empty (`when_modified:`), the default patterns, as Atlantis reads it; an
            // empty list (`[]`) is no pattern.
            "when_modified" if e.value.value == Value::Null => {}
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
        } else if name == "policies_passed" && what == "`apply_requirements`" {
            if !out.contains(&Requirement::PoliciesPassed) {
                out.push(Requirement::PoliciesPassed);
            }
        } else if name == "policies_passed" {
            ok = false;
            r.error(
                node.line,
                format!("{what} lists `policies_passed`, which only `apply_requirements` takes"),
            )
            .help = Some(
                "policy checks gate applies, not plans or imports: move it to apply_requirements"
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

fn valid_version(v: &str) -> bool {
    crate::run::version::Constraint::parse(v).is_ok()
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
    use crate::repo_config::parse_repo_config;

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
    fn a_project_dir_is_normalised_and_may_not_leave_the_repo() {
        let text =
            "version: 3\nprojects:\n- dir: ./envs//prod/\n- dir: modules/../staging\n- dir: .\n";
        let config = parse_repo_config("landfall.yaml", text).unwrap();
        let dirs: Vec<&str> = config.projects.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["envs/prod", "staging", "."]);
        // `/etc` is the repository's `etc`, as Atlantis reads it (`./` joined with the dir).
        for dir in ["../other", "a/../../b", "/../etc", "'a\\b'", "'c:/x'"] {
            let text = format!("version: 3\nprojects:\n- dir: {dir}\n");
            let err = parse_repo_config("landfall.yaml", &text).unwrap_err();
            assert!(
                err.to_string()
                    .contains("must be a relative path inside the repository"),
                "{dir}: {err}"
            );
        }
    }
}
