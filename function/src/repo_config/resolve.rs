//! Merging the repo file over the policy, enforced the way Atlantis enforces it: a restricted key
//! set by the repo file without the policy's leave is refused, naming the key, its line and the
//! policy change that would allow it.

use super::diag::{ConfigErrors, Diagnostic};
use super::drift::{DriftMode, DriftPolicy, DriftSettings};
use super::policy::{EffectivePolicy, OverrideKey};
use super::policy_check_stage::PolicyCheckStage;
use super::project::Setting;
use super::repo::{Autoplan, BranchPattern, ProjectConfig, RepoConfig, Requirement};
use super::switches::{AutoDiscover, AutoDiscoverMode};
use super::workflow::{DEFAULT_WORKFLOW, Workflow};
use crate::run::RunCommand;

/// One project with every setting decided: the unit that selection, locking and dispatch use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedProject {
    /// The project's `name`, if the config gives one.
    pub name: Option<String>,
    /// The directory relative to the repo root, `.` for the root.
    pub dir: String,
    /// The Terraform workspace.
    pub workspace: String,
    /// A pinned Terraform version.
    pub terraform_version: Option<String>,
    /// Terraform or OpenTofu.
    pub distribution: crate::run::Distribution,
    /// Autoplan settings.
    pub autoplan: Autoplan,
    /// Requirements before `apply`.
    pub apply_requirements: Vec<Requirement>,
    /// Requirements before `plan`.
    pub plan_requirements: Vec<Requirement>,
    /// Requirements before `import` and `state rm`, beside `apply_requirements`.
    pub import_requirements: Vec<Requirement>,
    /// The workflow's name.
    pub workflow_name: String,
    /// The workflow's steps.
    pub workflow: Workflow,
    /// `execution_order_group`.
    pub execution_order_group: i64,
    /// `depends_on`.
    pub depends_on: Vec<String>,
    /// `timeout`, when the project sets one.
    pub timeout: Option<std::time::Duration>,
    /// `branch`.
    pub branch: Option<BranchPattern>,
    /// The commands whose comment leaves this project out when nothing changed.
    pub silence_pr_comments: Vec<RunCommand>,
    /// `apply_on_merge`: its plan is applied when the PR merges.
    pub apply_on_merge: bool,
    /// How and when drift is checked at the default branch's head; `None`: it is not.
    pub drift: Option<DriftSettings>,
}

impl ResolvedProject {
    /// A project with the policy's defaults, for autodiscovered directories.
    #[must_use]
    pub fn with_defaults(policy: &EffectivePolicy, dir: &str) -> Self {
        ResolvedProject {
            name: None,
            dir: dir.to_owned(),
            workspace: "default".to_owned(),
            terraform_version: None,
            distribution: policy.distribution,
            autoplan: Autoplan::default(),
            apply_requirements: policy.apply_requirements.clone(),
            plan_requirements: policy.plan_requirements.clone(),
            import_requirements: policy.import_requirements.clone(),
            workflow_name: policy.workflow.clone(),
            workflow: policy
                .workflows
                .get(&policy.workflow)
                .cloned()
                .unwrap_or_else(Workflow::builtin_default),
            execution_order_group: 0,
            depends_on: Vec::new(),
            timeout: None,
            branch: None,
            silence_pr_comments: policy.silence_pr_comments.clone(),
            apply_on_merge: policy.merge.apply_on_merge,
            drift: policy
                .drift
                .as_ref()
                .and_then(|d| d.settings_for(None, None)),
        }
    }

    /// The name people see and type after `-p`: `name`, else `dir` (with `:workspace` unless
    /// `default`), as [`crate::run::project_label`] spells it.
    #[must_use]
    pub fn display_name(&self) -> String {
        crate::run::project_label(self.name.as_deref(), &self.dir, &self.workspace)
    }
}

/// The configuration for one PR: where it came from, repo-wide settings and the projects.
#[derive(Clone, Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each is one of Atlantis' repo-level switches, read and documented as such"
)]
pub struct ResolvedConfig {
    /// The repo file used, or `None` when the repo has none.
    pub file: Option<String>,
    /// `automerge`.
    pub automerge: bool,
    /// `parallel_plan`.
    pub parallel_plan: bool,
    /// `parallel_apply`.
    pub parallel_apply: bool,
    /// The configured projects.
    pub projects: Vec<ResolvedProject>,
    /// When projects are discovered: the policy's `autodiscover`, else the repo file's.
    pub autodiscover: AutoDiscover,
    /// Whether the PR's source branch is deleted when it merges.
    pub delete_source_branch_on_merge: bool,
    /// `apply_on_merge` for projects the file does not configure (discovered ones).
    pub apply_on_merge: bool,
    /// Drift settings for projects the file does not configure (discovered ones): the file's
    /// top-level `drift` over the policy's.
    pub drift: Option<DriftSettings>,
    /// Ignored keys, to report in the PR comment.
    pub warnings: Vec<Diagnostic>,
}

impl ResolvedConfig {
    /// Whether projects are discovered besides (or instead of) the configured ones: `auto`
    /// discovers only when no project is configured.
    #[must_use]
    pub fn autodiscover(&self) -> bool {
        match self.autodiscover.mode {
            AutoDiscoverMode::Auto => self.projects.is_empty(),
            AutoDiscoverMode::Enabled => true,
            AutoDiscoverMode::Disabled => false,
        }
    }
}

/// Merges the repo file (if any) over the effective policy and enforces `allowed_overrides`,
/// `allowed_workflows` and `allow_custom_workflows`.
pub fn resolve(
    policy: &EffectivePolicy,
    repo: Option<&RepoConfig>,
) -> Result<ResolvedConfig, ConfigErrors> {
    let Some(repo) = repo else {
        return Ok(ResolvedConfig {
            file: None,
            automerge: false,
            parallel_plan: false,
            parallel_apply: false,
            projects: Vec::new(),
            autodiscover: policy.autodiscover.clone().unwrap_or_default(),
            delete_source_branch_on_merge: policy.delete_source_branch_on_merge,
            apply_on_merge: policy.merge.apply_on_merge,
            drift: policy
                .drift
                .as_ref()
                .and_then(|d| d.settings_for(None, None)),
            warnings: Vec::new(),
        });
    };
    let mut diags: Vec<Diagnostic> = Vec::new();
    let policy_name = policy.file.as_deref().map_or_else(
        || "the server-side policy (LANDFALL_POLICY, none is set)".to_owned(),
        |f| format!("the server-side policy `{f}` (LANDFALL_POLICY)"),
    );

    if let Some(line) = repo.workflows_line
        && !policy.allow_custom_workflows
        && !repo.workflows.is_empty()
    {
        diags.push(
            Diagnostic::error(
                &repo.file,
                line,
                "this repository may not define its own `workflows`",
            )
            .with_help(format!(
                "custom workflows run arbitrary commands, so they need `allow_custom_workflows: true` for this repository in {policy_name}; or use a workflow defined there"
            )),
        );
    }

    let mut projects = Vec::with_capacity(repo.projects.len());
    for p in &repo.projects {
        if let Some(project) = resolve_project(policy, repo, p, &policy_name, &mut diags) {
            projects.push(project);
        }
    }
    let delete_source_branch_on_merge =
        delete_branch_setting(policy, repo, &policy_name, &mut diags);
    let apply_on_merge = match &repo.apply_on_merge {
        Some(s)
            if !policy
                .allowed_overrides
                .contains(&OverrideKey::ApplyOnMerge) =>
        {
            diags.push(
                Diagnostic::error(
                    &repo.file,
                    s.line,
                    "this file sets `apply_on_merge`, which this repository may not override",
                )
                .with_help(format!(
                    "to allow it, add `apply_on_merge` to `allowed_overrides` for this repository in {policy_name}; or remove the key"
                )),
            );
            false
        }
        Some(s) => s.value,
        None => policy.merge.apply_on_merge,
    };

    diags.extend(check_repo_drift(
        policy.drift.as_deref(),
        repo,
        &policy_name,
    ));
    let drift = policy
        .drift
        .as_ref()
        .and_then(|d| d.settings_for(repo.drift.as_ref(), None));

    if diags.iter().any(Diagnostic::is_error) {
        diags.extend(repo.warnings.iter().cloned());
        return Err(ConfigErrors::new(diags));
    }
    let mut warnings = repo.warnings.clone();
    warnings.extend(diags);
    Ok(ResolvedConfig {
        file: Some(repo.file.clone()),
        automerge: repo.automerge,
        parallel_plan: repo.parallel_plan,
        parallel_apply: repo.parallel_apply,
        projects,
        autodiscover: policy
            .autodiscover
            .clone()
            .or_else(|| repo.autodiscover.clone())
            .unwrap_or_default(),
        delete_source_branch_on_merge,
        apply_on_merge,
        drift,
        warnings,
    })
}

/// `delete_source_branch_on_merge`: the repo file's top-level value, else any project's (one
/// branch per PR), else the policy's; the repo file's need the policy's leave.
fn delete_branch_setting(
    policy: &EffectivePolicy,
    repo: &RepoConfig,
    policy_name: &str,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let key = OverrideKey::DeleteSourceBranchOnMerge;
    let allowed = policy.allowed_overrides.contains(&key);
    let from_projects = repo.projects.iter().filter_map(|p| {
        p.delete_source_branch_on_merge
            .as_ref()
            .map(|s| (Some(p), s))
    });
    let mut value = policy.delete_source_branch_on_merge;
    let settings = repo
        .delete_source_branch_on_merge
        .as_ref()
        .map(|s| (None, s))
        .into_iter()
        .chain(from_projects);
    for (project, setting) in settings {
        // Asking for what the policy already says overrides nothing (Atlantis' own example
        // files write `delete_source_branch_on_merge: false`).
        if !allowed && setting.value == policy.delete_source_branch_on_merge {
            continue;
        }
        if !allowed {
            let what = project.map_or_else(
                || "this file sets".to_owned(),
                |p| format!("project `{}` sets", p.display_name()),
            );
            diags.push(
                Diagnostic::error(
                    &repo.file,
                    setting.line,
                    format!("{what} `delete_source_branch_on_merge`, which this repository may not override"),
                )
                .with_help(format!(
                    "to allow it, add `delete_source_branch_on_merge` to `allowed_overrides` for this repository in {policy_name}; or remove the key"
                )),
            );
        } else if project.is_none() || setting.value {
            value = setting.value;
            if project.is_none() {
                break;
            }
        }
    }
    value
}

fn refuse(
    repo: &RepoConfig,
    p: &ProjectConfig,
    key: OverrideKey,
    line: usize,
    policy_name: &str,
) -> Diagnostic {
    let k = key.as_str();
    Diagnostic::error(
        &repo.file,
        line,
        format!(
            "project `{}` sets `{k}`, which this repository may not override",
            p.display_name()
        ),
    )
    .with_help(format!(
        "to allow it, add `{k}` to `allowed_overrides` for this repository in {policy_name}; or remove `{k}` from this project"
    ))
}

/// A list the project sets (`set`) replaces the policy's (`default`), unless `refused` (then it
/// is empty, as the project is not resolved anyway).
fn overridden_list<T: Clone>(
    refused: &mut impl FnMut(OverrideKey, usize) -> bool,
    key: OverrideKey,
    set: Option<&Setting<Vec<T>>>,
    default: &[T],
) -> Vec<T> {
    match set {
        Some(s) if refused(key, s.line) => Vec::new(),
        Some(s) => s.value.clone(),
        None => default.to_vec(),
    }
}

// Each restricted key is checked in turn, in the order Atlantis documents them.
#[allow(clippy::too_many_lines)]
fn resolve_project(
    policy: &EffectivePolicy,
    repo: &RepoConfig,
    p: &ProjectConfig,
    policy_name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<ResolvedProject> {
    let mut ok = true;
    // A key the project sets (at `line`) that the policy does not let it override: reported,
    // and the project is not resolved.
    let mut refused = |key: OverrideKey, line: usize| {
        let refused = !policy.allowed_overrides.contains(&key);
        if refused {
            diags.push(refuse(repo, p, key, line, policy_name));
            ok = false;
        }
        refused
    };

    let apply_requirements = overridden_list(
        &mut refused,
        OverrideKey::ApplyRequirements,
        p.apply_requirements.as_ref(),
        &policy.apply_requirements,
    );
    let plan_requirements = overridden_list(
        &mut refused,
        OverrideKey::PlanRequirements,
        p.plan_requirements.as_ref(),
        &policy.plan_requirements,
    );
    let import_requirements = overridden_list(
        &mut refused,
        OverrideKey::ImportRequirements,
        p.import_requirements.as_ref(),
        &policy.import_requirements,
    );
    let silence_pr_comments = overridden_list(
        &mut refused,
        OverrideKey::SilencePrComments,
        p.silence_pr_comments
            .as_ref()
            .or(repo.silence_pr_comments.as_ref()),
        &policy.silence_pr_comments,
    );

    let apply_on_merge = match &p.apply_on_merge {
        Some(s) if refused(OverrideKey::ApplyOnMerge, s.line) => false,
        Some(s) => s.value,
        None => repo
            .apply_on_merge
            .as_ref()
            .map_or(policy.merge.apply_on_merge, |s| s.value),
    };

    let (workflow_name, mut workflow) = match &p.workflow {
        Some(s) if refused(OverrideKey::Workflow, s.line) => {
            (String::new(), Workflow::builtin_default())
        }
        Some(s) => {
            let name = &s.value;
            let custom = policy
                .allow_custom_workflows
                .then(|| repo.workflows.get(name))
                .flatten();
            let server = policy.workflows.get(name);
            if let Some(w) = custom {
                (name.clone(), w.clone())
            } else if let Some(w) = server {
                if !policy.allowed_workflows.is_empty()
                    && !policy.allowed_workflows.contains(name)
                    && name != DEFAULT_WORKFLOW
                {
                    diags.push(
                        Diagnostic::error(
                            &repo.file,
                            s.line,
                            format!("workflow `{name}` is not allowed for this repository"),
                        )
                        .with_help(format!(
                            "the allowed workflows are: {}; or add `{name}` to `allowed_workflows` in {policy_name}",
                            policy.allowed_workflows.join(", ")
                        )),
                    );
                    ok = false;
                }
                (name.clone(), w.clone())
            } else {
                let mut d = Diagnostic::error(
                    &repo.file,
                    s.line,
                    format!("workflow `{name}` is not defined"),
                );
                d = if repo.workflows.contains_key(name) {
                    d.with_help(format!(
                        "it is defined in this file, but this repository may not define workflows: that needs `allow_custom_workflows: true` in {policy_name}"
                    ))
                } else {
                    let mut known: Vec<&str> =
                        policy.workflows.keys().map(String::as_str).collect();
                    if policy.allow_custom_workflows {
                        known.extend(repo.workflows.keys().map(String::as_str));
                    }
                    d.with_help(format!("the workflows available are: {}", known.join(", ")))
                };
                diags.push(d);
                ok = false;
                (String::new(), Workflow::builtin_default())
            }
        }
        None => (
            policy.workflow.clone(),
            policy
                .workflows
                .get(&policy.workflow)
                .cloned()
                .unwrap_or_else(Workflow::builtin_default),
        ),
    };
    // Choosing a workflow never drops packages the policy checks for the repository: a plan is
    // read in those of its workflow's `policy_check` stage and those of the workflow the policy
    // gives the repository (a repository's file has no such stage).
    if let Some(assigned) = policy.workflows.get(&policy.workflow) {
        workflow.policy_check =
            PolicyCheckStage::joined(assigned.policy_check.as_ref(), workflow.policy_check.take());
    }

    ok.then(|| ResolvedProject {
        name: p.name.clone(),
        dir: p.dir.clone(),
        workspace: p.workspace.clone(),
        terraform_version: p.terraform_version.clone(),
        distribution: p.terraform_distribution.unwrap_or(policy.distribution),
        autoplan: p.autoplan.clone(),
        apply_requirements,
        plan_requirements,
        import_requirements,
        workflow_name,
        workflow,
        execution_order_group: p.execution_order_group,
        depends_on: p.depends_on.clone(),
        timeout: p.timeout,
        branch: p.branch.clone(),
        silence_pr_comments,
        apply_on_merge,
        drift: policy
            .drift
            .as_ref()
            .and_then(|d| d.settings_for(repo.drift.as_ref(), p.drift.as_ref())),
    })
}

/// The repo file's drift keys checked against the policy: `mode: remediate` without its leave is
/// an error (never a silent downgrade to a report); keys in a repository the policy does not
/// sweep are a warning, since nothing checks them.
fn check_repo_drift(
    drift: Option<&DriftPolicy>,
    repo: &RepoConfig,
    policy_name: &str,
) -> Vec<Diagnostic> {
    let own = repo
        .projects
        .iter()
        .filter_map(|p| p.drift.as_ref().map(|k| (Some(p.display_name()), k)));
    let mut keys = repo.drift.iter().map(|k| (None, k)).chain(own);
    let Some(drift) = drift else {
        return keys
            .next()
            .map(|(_, key)| {
                Diagnostic::warning(
                    &repo.file,
                    key.line,
                    "`drift` is not checked: the operator's policy does not sweep this repository for drift",
                )
                .with_help(format!(
                    "ask the operator to list it under `drift.repositories` in {policy_name}; or remove `drift`"
                ))
            })
            .into_iter()
            .collect();
    };
    if drift.allow_remediate {
        return Vec::new();
    }
    keys.filter_map(|(project, key)| {
        let mode = key.mode.as_ref()?;
        let who = project.map_or_else(
            || "this file asks".to_owned(),
            |name| format!("project `{name}` asks"),
        );
        (mode.value == DriftMode::Remediate).then(|| {
            Diagnostic::error(
                &repo.file,
                mode.line,
                format!("{who} for drift `mode: remediate`, but remediate is not allowed by the operator policy"),
            )
            .with_help(format!(
                "use `mode: report`; or the operator sets `allow_remediate: true` under `drift` in {policy_name}"
            ))
        })
    })
    .collect()
}
