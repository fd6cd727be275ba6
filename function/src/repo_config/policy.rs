//! The operator's server-side policy (`LANDFALL_POLICY`), in Atlantis' server-side `repos.yaml`
//! format: `repos` entries matched by exact id or `/regex/`, later matches overriding earlier
//! ones key by key, on top of Atlantis' built-in defaults; plus server-side `workflows`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use super::diag::{ConfigErrors, Diagnostic};
use super::drift::{DriftPolicy, read_drift_policy};
use super::hooks::HookRules;
use super::merge::{MERGE_KEYS, MergeRules, MergeSettings};
use super::permissions::{PermissionRules, read_permissions};
use super::policy_check_stage::check_policy_paths;
use super::policy_checks::{PolicyChecks, read_policy_checks};
use super::read::Reader;
use super::repo::{BranchPattern, Requirement};
use super::switches::{
    AutoDiscover, check_fixed_key, read_autodiscover, read_distribution, read_silence,
    server_section,
};
use super::workflow::{DEFAULT_WORKFLOW, Workflow, read_workflows};
use super::yaml::{self, Node};
use crate::authz::Permissions;
use crate::run::{RunCommand, WorkflowHooks};

/// A key that a repo file may set only when the policy lists it in `allowed_overrides`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OverrideKey {
    /// `apply_requirements`.
    ApplyRequirements,
    /// `plan_requirements`.
    PlanRequirements,
    /// `import_requirements`.
    ImportRequirements,
    /// `workflow`.
    Workflow,
    /// `delete_source_branch_on_merge` (accepted; not supported yet).
    DeleteSourceBranchOnMerge,
    /// `repo_locking` (accepted; not supported yet).
    RepoLocking,
    /// `repo_locks` (accepted; not supported yet).
    RepoLocks,
    /// `custom_policy_check` (accepted; not supported yet).
    CustomPolicyCheck,
    /// `policy_check` (accepted; not supported yet).
    PolicyCheck,
    /// `silence_pr_comments`.
    SilencePrComments,
    /// `apply_on_merge`.
    ApplyOnMerge,
}

impl OverrideKey {
    /// Every key, as written in YAML.
    pub const ALL: [(&'static str, OverrideKey); 11] = [
        ("apply_requirements", OverrideKey::ApplyRequirements),
        ("plan_requirements", OverrideKey::PlanRequirements),
        ("import_requirements", OverrideKey::ImportRequirements),
        ("workflow", OverrideKey::Workflow),
        (
            "delete_source_branch_on_merge",
            OverrideKey::DeleteSourceBranchOnMerge,
        ),
        ("repo_locking", OverrideKey::RepoLocking),
        ("repo_locks", OverrideKey::RepoLocks),
        ("custom_policy_check", OverrideKey::CustomPolicyCheck),
        ("policy_check", OverrideKey::PolicyCheck),
        ("silence_pr_comments", OverrideKey::SilencePrComments),
        ("apply_on_merge", OverrideKey::ApplyOnMerge),
    ];

    /// The key as written in YAML.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        OverrideKey::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(s, _)| s)
    }
}

/// How a `repos` entry names repositories.
#[derive(Clone, Debug)]
pub enum RepoId {
    /// An exact id: `host/owner/repo` (Atlantis' form) or `owner/repo`, compared without regard
    /// to case, as the allowlist and the hosts compare names: `Acme/Infra` is the repository an
    /// operator wrote as `acme/infra`, and a rule missing it would leave it to looser defaults.
    Exact(String),
    /// `/regex/`, matched against both forms, without regard to case (as exact ids).
    Pattern(Regex),
}

impl RepoId {
    /// `id` as written: `/regex/` or an exact id.
    fn parse(id: &str) -> Result<Self, regex::Error> {
        match id.strip_prefix('/').and_then(|s| s.strip_suffix('/')) {
            Some(inner) => Ok(RepoId::Pattern(
                regex::RegexBuilder::new(inner)
                    .case_insensitive(true)
                    .build()?,
            )),
            None => Ok(RepoId::Exact(id.to_owned())),
        }
    }

    fn matches(&self, full_id: &str, name: &str) -> bool {
        match self {
            RepoId::Exact(id) => id.eq_ignore_ascii_case(full_id) || id.eq_ignore_ascii_case(name),
            RepoId::Pattern(re) => re.is_match(full_id) || re.is_match(name),
        }
    }
}

/// One entry of `repos`; every key but `id` is optional, overriding earlier matches when set.
#[derive(Clone, Debug)]
pub struct RepoRule {
    /// The line where the entry starts.
    pub line: usize,
    /// `id`.
    pub id: RepoId,
    /// `branch`: the entry applies only to PRs into matching base branches.
    pub branch: Option<BranchPattern>,
    /// `repo_config_file`: the repo file to read instead of `landfall.yaml`/`atlantis.yaml`.
    pub repo_config_file: Option<String>,
    /// `apply_requirements`.
    pub apply_requirements: Option<Vec<Requirement>>,
    /// `plan_requirements`.
    pub plan_requirements: Option<Vec<Requirement>>,
    /// `import_requirements`.
    pub import_requirements: Option<Vec<Requirement>>,
    /// `workflow`: the default workflow for matching repos.
    pub workflow: Option<String>,
    /// `allowed_overrides`.
    pub allowed_overrides: Option<Vec<OverrideKey>>,
    /// `allowed_workflows`.
    pub allowed_workflows: Option<Vec<String>>,
    /// `allow_custom_workflows`.
    pub allow_custom_workflows: Option<bool>,
    /// `allow_fork_prs` (Landfall).
    pub allow_fork_prs: Option<bool>,
    /// `permissions` (Landfall): who may run each command.
    pub permissions: Option<PermissionRules>,
    /// `silence_pr_comments`.
    pub silence_pr_comments: Option<Vec<RunCommand>>,
    /// `autodiscover`.
    pub autodiscover: Option<AutoDiscover>,
    /// `delete_source_branch_on_merge`.
    pub delete_source_branch_on_merge: Option<bool>,
    /// `disable_autoplan` (Landfall; Atlantis' `--disable-autoplan` for matching repos).
    pub disable_autoplan: Option<bool>,
    /// `pre_workflow_hooks` and `post_workflow_hooks`.
    pub hooks: HookRules,
    /// `apply_on_merge`, `apply_on_merge_replan` and `automerge_method`.
    pub merge: MergeRules,
    /// `terraform_distribution`: the default of the repository's projects.
    pub terraform_distribution: Option<crate::run::Distribution>,
    /// `policy_check`: `false` leaves the repository's plans unchecked by the policy sets.
    pub policy_check: Option<bool>,
}

/// The policy file, validated.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The file it came from (shown in refusals so people know what to change).
    pub file: String,
    /// `repos`, in file order.
    pub repos: Vec<RepoRule>,
    /// Server-side `workflows`, including a `default` if the operator redefined it.
    pub workflows: BTreeMap<String, Workflow>,
    /// `policies`: the policy sets every plan is checked with.
    pub policy_checks: Option<Arc<PolicyChecks>>,
    /// `drift`: the repositories swept for drift, and their projects' defaults.
    pub drift: Option<Arc<DriftPolicy>>,
    /// Keys that were ignored.
    pub warnings: Vec<Diagnostic>,
}

/// The policy in force for one repository and base branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// The policy file, or `None` when no policy is configured (Atlantis' defaults).
    pub file: Option<String>,
    /// `apply_requirements`.
    pub apply_requirements: Vec<Requirement>,
    /// `plan_requirements`.
    pub plan_requirements: Vec<Requirement>,
    /// `import_requirements`: with `apply_requirements`, what `import` and `state rm` need.
    pub import_requirements: Vec<Requirement>,
    /// The default workflow's name.
    pub workflow: String,
    /// What repo files may set.
    pub allowed_overrides: BTreeSet<OverrideKey>,
    /// Which workflows repo files may select (empty: any).
    pub allowed_workflows: Vec<String>,
    /// Whether repo files may define workflows.
    pub allow_custom_workflows: bool,
    /// The repo file to read, when the policy names one.
    pub repo_config_file: Option<String>,
    /// Server-side workflows, with the built-in `default` unless redefined.
    pub workflows: BTreeMap<String, Workflow>,
    /// Who may run each command, and whether fork PRs are planned.
    pub permissions: Permissions,
    /// The commands whose comments are left out when nothing changed.
    pub silence_pr_comments: Vec<RunCommand>,
    /// `autodiscover`, when the policy sets it (it then wins over the repo file's).
    pub autodiscover: Option<AutoDiscover>,
    /// Whether a merged PR's source branch is deleted.
    pub delete_source_branch_on_merge: bool,
    /// Whether PR events plan nothing (comments still do).
    pub disable_autoplan: bool,
    /// `pre_workflow_hooks` and `post_workflow_hooks`, run around each project's workflow.
    pub hooks: WorkflowHooks,
    /// What a merge does, and how `automerge` merges.
    pub merge: MergeSettings,
    /// Terraform or OpenTofu, for projects that do not say.
    pub distribution: crate::run::Distribution,
    /// `policies`: the policy sets plans are checked with, and who approves their failures.
    pub policy_checks: Option<Arc<PolicyChecks>>,
    /// The policy's `drift` section when it sweeps this repository, else `None`.
    pub drift: Option<Arc<DriftPolicy>>,
}

impl Default for EffectivePolicy {
    /// Atlantis' defaults: no requirements, the `default` workflow, no overrides, no custom
    /// workflows.
    fn default() -> Self {
        let mut workflows = BTreeMap::new();
        workflows.insert(DEFAULT_WORKFLOW.to_owned(), Workflow::builtin_default());
        EffectivePolicy {
            file: None,
            apply_requirements: Vec::new(),
            plan_requirements: Vec::new(),
            import_requirements: Vec::new(),
            workflow: DEFAULT_WORKFLOW.to_owned(),
            allowed_overrides: BTreeSet::new(),
            allowed_workflows: Vec::new(),
            allow_custom_workflows: false,
            repo_config_file: None,
            workflows,
            permissions: Permissions::default(),
            silence_pr_comments: Vec::new(),
            autodiscover: None,
            delete_source_branch_on_merge: false,
            disable_autoplan: false,
            hooks: WorkflowHooks::default(),
            merge: MergeSettings::default(),
            distribution: crate::run::Distribution::Terraform,
            policy_checks: None,
            drift: None,
        }
    }
}

/// Why the policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("cannot read the policy file {path}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("the policy file is invalid:\n{0}")]
    Invalid(#[from] ConfigErrors),
    /// A policy set's files cannot be read.
    #[error("the policy file's policy sets cannot be read: {0}")]
    PolicySets(String),
    /// `drift.repositories` lists a repository the deployment does not serve.
    #[error(
        "the policy's `drift.repositories` lists {repo}, which LANDFALL_REPO_ALLOWLIST does not allow: add it to the allowlist, or remove it from `drift.repositories`"
    )]
    DriftRepositoryRefused {
        /// The repository.
        repo: String,
    },
}

const TOP_KEYS: &[&str] = &[
    "repos",
    "workflows",
    "policies",
    "metrics",
    "team_authz",
    "external_stores",
    "drift",
];
const REPO_KEYS: &[&str] = &[
    "id",
    "branch",
    "repo_config_file",
    "apply_requirements",
    "plan_requirements",
    "import_requirements",
    "workflow",
    "allowed_overrides",
    "allowed_workflows",
    "allow_custom_workflows",
    "allow_fork_prs",
    "permissions",
    "pre_workflow_hooks",
    "post_workflow_hooks",
    "delete_source_branch_on_merge",
    "repo_locking",
    "repo_locks",
    "custom_policy_check",
    "policy_check",
    "autodiscover",
    "silence_pr_comments",
    "disable_autoplan",
    MERGE_KEYS[0],
    MERGE_KEYS[1],
    MERGE_KEYS[2],
];

impl Policy {
    /// Reads and validates the policy at `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut policy = Policy::parse(&path.display().to_string(), &text)?;
        if let Some(checks) = &mut policy.policy_checks {
            let base = path.parent().unwrap_or(Path::new("."));
            Arc::make_mut(checks)
                .load_modules(base)
                .map_err(PolicyError::PolicySets)?;
        }
        for warning in &policy.warnings {
            tracing::warn!(policy = %policy.file, "{warning}");
        }
        Ok(policy)
    }

    /// Validates a policy's text; `file` names it in diagnostics.
    pub fn parse(file: &str, text: &str) -> Result<Policy, ConfigErrors> {
        let mut r = Reader::new(file);
        let mut policy = Policy {
            file: file.to_owned(),
            repos: Vec::new(),
            workflows: BTreeMap::new(),
            policy_checks: None,
            drift: None,
            warnings: Vec::new(),
        };
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => return Ok(policy),
            Err(e) => {
                return Err(ConfigErrors::new(vec![Diagnostic::error(
                    file,
                    e.line,
                    format!("invalid YAML: {}", e.message),
                )]));
            }
        };
        if let Some(entries) = r.map(&root, "the policy file") {
            for e in entries {
                match e.key.as_str() {
                    "repos" => policy.repos.extend(r.list(&e.value, "`repos`", read_rule)),
                    "workflows" => policy.workflows = read_workflows(&mut r, &e.value, true),
                    "policies" => {
                        policy.policy_checks = read_policy_checks(&mut r, e).map(Arc::new);
                    }
                    "drift" => policy.drift = read_drift_policy(&mut r, e).map(Arc::new),
                    "metrics" | "team_authz" | "external_stores" => {
                        server_section(&mut r, e);
                    }
                    _ => r.unknown_key(e, "the policy", TOP_KEYS),
                }
            }
        }
        check_policy_paths(&mut r, &policy.workflows, policy.policy_checks.as_deref());
        for rule in &policy.repos {
            if let Some(w) = &rule.workflow
                && w != DEFAULT_WORKFLOW
                && !policy.workflows.contains_key(w)
            {
                r.error(
                    rule.line,
                    format!("`workflow: {w}` is not defined under `workflows`"),
                );
            }
        }
        if r.has_errors() {
            return Err(ConfigErrors::new(r.diagnostics));
        }
        policy.warnings = r.diagnostics;
        Ok(policy)
    }

    /// The policy for `repo` (`owner/name`) on `host` (`github.com`) for PRs into `base_branch`:
    /// Atlantis' defaults, then every matching entry in order, each key overriding only when set.
    #[must_use]
    pub fn resolve(&self, host: &str, repo: &str, base_branch: &str) -> EffectivePolicy {
        let full_id = format!("{host}/{repo}");
        let mut out = EffectivePolicy {
            file: Some(self.file.clone()),
            policy_checks: self.policy_checks.clone(),
            drift: self.drift.clone().filter(|d| d.sweeps(repo)),
            ..EffectivePolicy::default()
        };
        for (name, workflow) in &self.workflows {
            out.workflows.insert(name.clone(), workflow.clone());
        }
        for rule in &self.repos {
            if !rule.id.matches(&full_id, repo) {
                continue;
            }
            if let Some(b) = &rule.branch
                && !b.matches(base_branch)
            {
                continue;
            }
            if let Some(v) = &rule.apply_requirements {
                out.apply_requirements.clone_from(v);
            }
            if let Some(v) = &rule.plan_requirements {
                out.plan_requirements.clone_from(v);
            }
            if let Some(v) = &rule.import_requirements {
                out.import_requirements.clone_from(v);
            }
            if let Some(v) = &rule.workflow {
                out.workflow.clone_from(v);
            }
            if let Some(v) = &rule.allowed_overrides {
                out.allowed_overrides = v.iter().copied().collect();
            }
            if let Some(v) = &rule.allowed_workflows {
                out.allowed_workflows.clone_from(v);
            }
            if let Some(v) = rule.allow_custom_workflows {
                out.allow_custom_workflows = v;
            }
            if let Some(v) = &rule.repo_config_file {
                out.repo_config_file = Some(v.clone());
            }
            if let Some(v) = rule.allow_fork_prs {
                out.permissions.allow_fork_prs = v;
            }
            if let Some(v) = &rule.permissions {
                v.apply_to(&mut out.permissions);
            }
            if let Some(v) = &rule.silence_pr_comments {
                out.silence_pr_comments.clone_from(v);
            }
            if let Some(v) = &rule.autodiscover {
                out.autodiscover = Some(v.clone());
            }
            if let Some(v) = rule.delete_source_branch_on_merge {
                out.delete_source_branch_on_merge = v;
            }
            if let Some(v) = rule.disable_autoplan {
                out.disable_autoplan = v;
            }
            rule.hooks.apply_to(&mut out.hooks);
            rule.merge.apply_to(&mut out.merge);
            if let Some(v) = rule.terraform_distribution {
                out.distribution = v;
            }
            match rule.policy_check {
                Some(false) => out.policy_checks = None,
                Some(true) => out.policy_checks.clone_from(&self.policy_checks),
                None => {}
            }
        }
        out
    }
}

fn read_rule(r: &mut Reader, node: &Node) -> Option<RepoRule> {
    let entries = r.map(node, "each entry of `repos`")?;
    let mut rule = RepoRule {
        line: node.line,
        id: RepoId::Exact(String::new()),
        branch: None,
        repo_config_file: None,
        apply_requirements: None,
        plan_requirements: None,
        import_requirements: None,
        workflow: None,
        allowed_overrides: None,
        allowed_workflows: None,
        allow_custom_workflows: None,
        allow_fork_prs: None,
        permissions: None,
        silence_pr_comments: None,
        autodiscover: None,
        delete_source_branch_on_merge: None,
        disable_autoplan: None,
        hooks: HookRules::default(),
        merge: MergeRules::default(),
        terraform_distribution: None,
        policy_check: None,
    };
    let mut id_seen = false;
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "id" => {
                let id = r.non_empty(v, "`id`")?;
                id_seen = true;
                match RepoId::parse(&id) {
                    Ok(parsed) => rule.id = parsed,
                    Err(err) => {
                        r.error(e.line, format!("`id: {id}` is not a valid regex: {err}"));
                        return None;
                    }
                }
            }
            "branch" => {
                let b = r.non_empty(v, "`branch`")?;
                match BranchPattern::new(&b) {
                    Ok(b) => rule.branch = Some(b),
                    Err(err) => {
                        r.error(e.line, format!("`branch: {b}` is not a valid regex: {err}"));
                    }
                }
            }
            "repo_config_file" => rule.repo_config_file = r.non_empty(v, "`repo_config_file`"),
            "apply_requirements" => {
                rule.apply_requirements = requirements(r, v, "`apply_requirements`");
            }
            "plan_requirements" => {
                rule.plan_requirements = requirements(r, v, "`plan_requirements`");
            }
            "import_requirements" => {
                rule.import_requirements = requirements(r, v, "`import_requirements`");
            }
            "workflow" => rule.workflow = r.non_empty(v, "`workflow`"),
            "allowed_overrides" => {
                let names = r.strings(v, "`allowed_overrides`")?;
                let mut keys = Vec::new();
                for name in names {
                    match OverrideKey::ALL.iter().find(|(n, _)| *n == name) {
                        Some((_, k)) => keys.push(*k),
                        None => {
                            r.error(e.line, format!("`allowed_overrides` lists `{name}`, which is not a key repo files can override"))
                                .help = Some(format!(
                                    "the keys are: {}",
                                    OverrideKey::ALL.map(|(n, _)| n).join(", ")
                                ));
                        }
                    }
                }
                rule.allowed_overrides = Some(keys);
            }
            "allowed_workflows" => rule.allowed_workflows = r.strings(v, "`allowed_workflows`"),
            "allow_custom_workflows" => {
                rule.allow_custom_workflows = r.bool(v, "`allow_custom_workflows`");
            }
            "allow_fork_prs" => rule.allow_fork_prs = r.bool(v, "`allow_fork_prs`"),
            "permissions" => rule.permissions = read_permissions(r, v),
            _ if read_switch(r, e, &mut rule) => {}
            "pre_workflow_hooks" | "post_workflow_hooks" => rule.hooks.read(r, e),
            _ => r.unknown_key(e, "a `repos` entry", REPO_KEYS),
        }
    }
    if !id_seen {
        r.error(node.line, "each `repos` entry needs `id`").help = Some(
            "use an exact id such as `github.com/owner/repo`, or a regex such as `/.*/`".to_owned(),
        );
        return None;
    }
    Some(rule)
}

/// Reads one of the per-repository switches into `rule`; returns whether `e` was one.
fn read_switch(r: &mut Reader, e: &super::yaml::Entry, rule: &mut RepoRule) -> bool {
    let v = &e.value;
    match e.key.as_str() {
        "silence_pr_comments" => rule.silence_pr_comments = read_silence(r, e),
        "autodiscover" => rule.autodiscover = read_autodiscover(r, v),
        "delete_source_branch_on_merge" => {
            rule.delete_source_branch_on_merge = r.bool(v, "`delete_source_branch_on_merge`");
        }
        "disable_autoplan" => rule.disable_autoplan = r.bool(v, "`disable_autoplan`"),
        "terraform_distribution" => rule.terraform_distribution = read_distribution(r, e),
        "policy_check" => rule.policy_check = r.bool(v, "`policy_check`"),
        _ if rule.merge.read(r, e) => {}
        _ => return check_fixed_key(r, e),
    }
    true
}

fn requirements(r: &mut Reader, node: &Node, what: &str) -> Option<Vec<Requirement>> {
    super::repo::read_requirements(r, node, what)
}

#[cfg(test)]
mod tests;
