//! The pure part of planning and applying: the config at the head, the run of each project,
//! the plan records a command selects, the stages an apply runs in, and what holds a plan back
//! (its policy checks). No I/O: the files above decide with these and then act.

use super::PrContext;
use crate::command::Command;
use crate::markdown::inline_code;
use crate::repo_config::{self, EffectivePolicy, ResolvedConfig, ResolvedProject};
use crate::run::{Outcome, ProjectResult, ProjectSpec, RunCommand, RunSpec};
use crate::store::PlanRecord;

/// The config at the head, or the comment that says why it cannot be used.
pub(crate) enum Loaded {
    Config(Box<(ResolvedConfig, EffectivePolicy)>),
    Invalid(String),
}

impl Loaded {
    /// The config from the repo file `found` (name and text), or the comment that says why it
    /// cannot be used.
    pub(crate) fn resolve(policy: EffectivePolicy, found: Option<&(String, String)>) -> Self {
        match repo_config::load(&policy, found.map(|(f, t)| (f.as_str(), t.as_str()))) {
            Ok(config) => Loaded::Config(Box::new((config, policy))),
            Err(errors) => Loaded::Invalid(errors.to_comment()),
        }
    }
}

/// The result of `spec`'s run refused for `reason`: nothing ran.
pub(crate) fn refused(spec: &RunSpec, reason: &str) -> ProjectResult {
    ProjectResult::new(
        &spec.project,
        spec.command,
        Outcome::Refused {
            reason: reason.to_owned(),
        },
    )
}

/// The labels of the `projects` that silence `command`'s comment when nothing changed.
pub(crate) fn silenced(projects: &[ResolvedProject], command: RunCommand) -> Vec<String> {
    projects
        .iter()
        .filter(|p| p.silence_pr_comments.contains(&command))
        .map(ResolvedProject::display_name)
        .collect()
}

/// The run for one project, with the policy's workflow hooks.
pub(crate) fn run_spec(
    ctx: &PrContext,
    project: &ResolvedProject,
    policy: &EffectivePolicy,
    command: RunCommand,
    extra_args: &[String],
    apply: Option<crate::run::PlanToApply>,
) -> RunSpec {
    let custom = project.workflow.plan.is_some() || project.workflow.apply.is_some();
    // Without a stage of their own, `import` and `state rm` run their default step after the
    // plan stage's `init`.
    let workflow = match command {
        RunCommand::Plan if custom => Some(project.workflow.plan_steps()),
        RunCommand::Apply if custom => Some(project.workflow.apply_steps()),
        RunCommand::Import => project.workflow.import.clone(),
        RunCommand::StateRm => project.workflow.state_rm.clone(),
        RunCommand::Plan | RunCommand::Apply => None,
    };
    RunSpec {
        provider: ctx.provider,
        repo: ctx.repo.clone(),
        head_repo: ctx.head_repo.as_ref().unwrap_or(&ctx.repo).clone(),
        pr: ctx.pr,
        head_sha: ctx.head_sha.clone(),
        head_branch: ctx.head_branch.clone(),
        base_branch: ctx.base_branch.clone(),
        clone_url: ctx.clone_url.clone(),
        user: ctx.user.clone(),
        pull_author: ctx.author.clone(),
        command,
        project: ProjectSpec {
            name: project.name.clone(),
            dir: project.dir.clone(),
            workspace: project.workspace.clone(),
            terraform_version: project.terraform_version.clone(),
            distribution: project.distribution,
            timeout: project.timeout.unwrap_or(crate::run::DEFAULT_TIMEOUT),
            workflow,
            init_args: crate::run::init_args(&project.workflow.plan_steps()),
            init_env: crate::run::init_env(&project.workflow.plan_steps()),
            hooks: policy.hooks.clone(),
            policy_sets: match (command, &policy.policy_checks) {
                (RunCommand::Plan, Some(checks)) => {
                    let namespaces = project.workflow.policy_namespaces();
                    let mut sets = checks.policy_sets();
                    for set in &mut sets {
                        set.namespaces.clone_from(&namespaces);
                    }
                    sets
                }
                _ => Vec::new(),
            },
            depends_on: project.depends_on.clone(),
            execution_order_group: project.execution_order_group,
        },
        extra_args: extra_args.to_vec(),
        operands: Vec::new(),
        trigger: ctx.trigger.clone(),
        report_back: None,
        apply,
    }
}

/// `runs` in stages: execution order groups one after another, the lowest first, and within a
/// group each run after every run it depends on (by project name).
pub(crate) fn stages(runs: Vec<(RunSpec, Vec<String>)>) -> Vec<Vec<(RunSpec, Vec<String>)>> {
    let mut groups: Vec<i64> = runs
        .iter()
        .map(|(spec, _)| spec.project.execution_order_group)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut remaining = runs;
    let mut stages = Vec::new();
    for group in groups {
        let (now, later): (Vec<_>, Vec<_>) = remaining
            .into_iter()
            .partition(|(spec, _)| spec.project.execution_order_group == group);
        stages.extend(dependency_stages(now));
        remaining = later;
    }
    stages
}

/// `runs` in stages, each run after every run it depends on (by project name); a cycle is
/// broken by running what remains together.
fn dependency_stages(runs: Vec<(RunSpec, Vec<String>)>) -> Vec<Vec<(RunSpec, Vec<String>)>> {
    let names: Vec<String> = runs
        .iter()
        .filter_map(|(s, _)| s.project.name.clone())
        .collect();
    let mut remaining = runs;
    let mut placed: Vec<String> = Vec::new();
    let mut stages = Vec::new();
    while !remaining.is_empty() {
        let (ready, blocked): (Vec<_>, Vec<_>) = remaining.into_iter().partition(|(_, deps)| {
            deps.iter()
                .all(|dep| placed.contains(dep) || !names.contains(dep))
        });
        if ready.is_empty() {
            stages.push(blocked);
            break;
        }
        placed.extend(ready.iter().filter_map(|(s, _)| s.project.name.clone()));
        stages.push(ready);
        remaining = blocked;
    }
    stages
}

/// The plan records the command's `-p`/`-d`/`-w` select (all when none is given). `-p` names a
/// configured project; an unnamed project's label (its directory) only when no record has that
/// name, as plan's selection does: `-p network` never also takes the unnamed `network/`.
pub(crate) fn select_records(records: Vec<PlanRecord>, command: &Command) -> Vec<PlanRecord> {
    let by_name = command.project.as_ref().is_some_and(|name| {
        (records.iter()).any(|r| r.key.project.as_deref() == Some(name.as_str()))
    });
    records
        .into_iter()
        .filter(|record| selected(record, command, by_name))
        .collect()
}

/// Whether a plan record is one the command selects; `by_name`: a record has `-p`'s name.
fn selected(record: &PlanRecord, command: &Command, by_name: bool) -> bool {
    if let Some(name) = &command.project {
        return if by_name {
            record.key.project.as_deref() == Some(name.as_str())
        } else {
            record.key.project.is_none() && record.key.project_label() == *name
        };
    }
    if command.dir.is_some() || command.workspace.is_some() {
        let dir = command.dir.as_deref().unwrap_or(".");
        let workspace = command.workspace.as_deref().unwrap_or("default");
        return record.key.dir == dir && record.key.workspace == workspace;
    }
    true
}

/// Why a plan with `result` is not for the pull request's base branch `base` now, if it is not:
/// it was made under another branch's policy (its sets, hooks, workflow and requirements),
/// before the pull request was retargeted.
pub(crate) fn other_base(result: Option<&ProjectResult>, base: &str) -> Option<String> {
    let result = result.filter(|r| r.made_for_another_base(base))?;
    // Branch names are chosen by whoever pushes them, and may hold backticks.
    let planned_for = inline_code(result.base_branch.as_deref()?);
    let base = inline_code(base);
    Some(format!(
        "its plan was made for the base branch {planned_for}, and the pull request now merges \
         into {base}: comment `landfall plan` to plan it under {base}'s policy"
    ))
}
