//! How a [`RunSpec`] travels to the runner: one environment variable a field, identical for a
//! Kubernetes Job and a local process. Secrets are never part of a spec: the VCS token reaches
//! the runner separately.

use std::time::Duration;

use super::{
    CommentThread, DEFAULT_TIMEOUT, Distribution, PlanToApply, ProjectSpec, RunCommand, RunSpec,
    Step, StoredArtifact, WorkflowHooks,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};

/// The environment variables that carry a [`RunSpec`] to the runner.
pub mod env_vars {
    /// The run's id: the Job name, also used in artifact keys.
    pub const RUN_ID: &str = "LANDFALL_RUN_ID";
    /// `plan` or `apply`.
    pub const COMMAND: &str = "LANDFALL_RUN_COMMAND";
    /// The VCS host (the function's own `LANDFALL_VCS`), which picks the git credential user.
    pub const VCS: &str = "LANDFALL_VCS";
    /// The base repository, `owner/name`.
    pub const REPO: &str = "LANDFALL_RUN_REPO";
    /// The head repository (differs for a PR from a fork).
    pub const HEAD_REPO: &str = "LANDFALL_RUN_HEAD_REPO";
    /// The pull request number.
    pub const PR: &str = "LANDFALL_RUN_PR";
    /// The head commit to check out.
    pub const HEAD_SHA: &str = "LANDFALL_RUN_HEAD_SHA";
    /// The PR's head branch.
    pub const HEAD_BRANCH: &str = "LANDFALL_RUN_HEAD_BRANCH";
    /// The PR's base branch.
    pub const BASE_BRANCH: &str = "LANDFALL_RUN_BASE_BRANCH";
    /// The URL to clone (HTTPS in production; `file://` in tests).
    pub const CLONE_URL: &str = "LANDFALL_RUN_CLONE_URL";
    /// Who asked for the run.
    pub const USER: &str = "LANDFALL_RUN_USER";
    /// Who opened the pull request (`PULL_AUTHOR` in custom workflows).
    pub const PULL_AUTHOR: &str = "LANDFALL_RUN_PULL_AUTHOR";
    /// The project's name, when the repo config names it.
    pub const PROJECT: &str = "LANDFALL_RUN_PROJECT";
    /// The project directory, relative to the repository root.
    pub const DIR: &str = "LANDFALL_RUN_DIR";
    /// The Terraform workspace.
    pub const WORKSPACE: &str = "LANDFALL_RUN_WORKSPACE";
    /// The project's pinned Terraform version, when it pins one.
    pub const TERRAFORM_VERSION: &str = "LANDFALL_RUN_TERRAFORM_VERSION";
    /// The policy sets to check the plan with (JSON), when the operator has some.
    pub const POLICY_SETS: &str = "LANDFALL_RUN_POLICY_SETS";
    /// `opentofu` when the project runs OpenTofu (absent: Terraform).
    pub const DISTRIBUTION: &str = "LANDFALL_RUN_TF_DISTRIBUTION";
    /// The run's time limit in seconds.
    pub const TIMEOUT: &str = "LANDFALL_RUN_TIMEOUT";
    /// The workflow's steps as JSON; absent for the default workflow.
    pub const WORKFLOW: &str = "LANDFALL_RUN_WORKFLOW";
    /// The plan stage's `init` arguments, as a JSON array of strings; absent when none.
    pub const INIT_ARGS: &str = "LANDFALL_RUN_INIT_ARGS";
    /// The plan stage's `env` steps before its `init`, as JSON; absent when none.
    pub const INIT_ENV: &str = "LANDFALL_RUN_INIT_ENV";
    /// The operator's workflow hooks as JSON (`{"pre":[...],"post":[...]}`); absent when none.
    pub const HOOKS: &str = "LANDFALL_RUN_HOOKS";
    /// Extra Terraform arguments from the comment (`-- ...`), as a JSON array of strings.
    pub const EXTRA_ARGS: &str = "LANDFALL_RUN_EXTRA_ARGS";
    /// `import`: the address and the ID; `state rm`: the addresses; a JSON array of strings.
    pub const OPERANDS: &str = "LANDFALL_RUN_OPERANDS";
    /// What triggered the run (the webhook delivery id), part of the run's identity.
    pub const TRIGGER: &str = "LANDFALL_RUN_TRIGGER";
    /// Apply only: the stored planfile's key.
    pub const PLANFILE_KEY: &str = "LANDFALL_RUN_PLANFILE_KEY";
    /// Apply only: the stored planfile's SHA-256, from the plan record.
    pub const PLANFILE_SHA256: &str = "LANDFALL_RUN_PLANFILE_SHA256";
    /// Apply only: the stored planfile's size in bytes.
    pub const PLANFILE_SIZE: &str = "LANDFALL_RUN_PLANFILE_SIZE";
    /// Apply only: the head commit the plan was made at, from the plan record.
    pub const PLANNED_SHA: &str = "LANDFALL_RUN_PLANNED_SHA";
    /// Set when the runner records its own result (plan record, status, comment): the PR
    /// comment to edit and its header, as JSON.
    pub const REPORT_BACK: &str = "LANDFALL_RUN_REPORT_BACK";
}

/// A spec that cannot be read from the environment.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A required variable is unset or empty.
    #[error("{var} is not set: {what}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// What it should hold.
        what: &'static str,
    },
    /// A variable holds a value that cannot be parsed.
    #[error("{var} is invalid ({value:?}): {problem}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// The value found (never a secret: specs hold none).
        value: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A spec's list or structure as a variable's value.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("a spec's values serialise (strings, numbers, lists)")
}

impl RunSpec {
    /// The variables that carry this spec (and its run id) to the runner, in a fixed order.
    #[must_use]
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        use env_vars as v;
        let mut env = vec![
            (v::RUN_ID, self.run_id()),
            (v::COMMAND, self.command.as_str().to_owned()),
            (v::VCS, self.provider.as_str().to_owned()),
            (v::REPO, self.repo.to_string()),
            (v::HEAD_REPO, self.head_repo.to_string()),
            (v::PR, self.pr.to_string()),
            (v::HEAD_SHA, self.head_sha.to_string()),
            (v::HEAD_BRANCH, self.head_branch.clone()),
            (v::BASE_BRANCH, self.base_branch.clone()),
            (v::CLONE_URL, self.clone_url.clone()),
            (v::USER, self.user.clone()),
            (v::PULL_AUTHOR, self.pull_author.clone()),
            (v::DIR, self.project.dir.clone()),
            (v::WORKSPACE, self.project.workspace.clone()),
            (v::TIMEOUT, self.project.timeout.as_secs().to_string()),
            (v::TRIGGER, self.trigger.clone()),
        ];
        if let Some(name) = &self.project.name {
            env.push((v::PROJECT, name.clone()));
        }
        if let Some(version) = &self.project.terraform_version {
            env.push((v::TERRAFORM_VERSION, version.clone()));
        }
        // Lists and structures travel as JSON; an empty list is not sent.
        if !self.project.policy_sets.is_empty() {
            env.push((v::POLICY_SETS, json(&self.project.policy_sets)));
        }
        if !self.project.distribution.is_terraform() {
            let distribution = self.project.distribution.as_str();
            env.push((v::DISTRIBUTION, distribution.to_owned()));
        }
        if let Some(steps) = &self.project.workflow {
            env.push((v::WORKFLOW, json(steps)));
        }
        if !self.project.init_args.is_empty() {
            env.push((v::INIT_ARGS, json(&self.project.init_args)));
        }
        if !self.project.init_env.is_empty() {
            env.push((v::INIT_ENV, json(&self.project.init_env)));
        }
        if !self.project.hooks.is_empty() {
            env.push((v::HOOKS, json(&self.project.hooks)));
        }
        if !self.extra_args.is_empty() {
            env.push((v::EXTRA_ARGS, json(&self.extra_args)));
        }
        if !self.operands.is_empty() {
            env.push((v::OPERANDS, json(&self.operands)));
        }
        if let Some(apply) = &self.apply {
            env.push((v::PLANFILE_KEY, apply.planfile.key.clone()));
            env.push((v::PLANFILE_SHA256, apply.planfile.sha256.clone()));
            env.push((v::PLANFILE_SIZE, apply.planfile.size.to_string()));
            env.push((v::PLANNED_SHA, apply.planned_sha.to_string()));
        }
        if let Some(thread) = &self.report_back {
            env.push((v::REPORT_BACK, json(thread)));
        }
        env
    }

    /// Reads a spec through `get` (the environment, or a map in tests). Empty values count as
    /// unset.
    #[expect(
        clippy::too_many_lines,
        reason = "one line per variable, in the order of the spec"
    )]
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SpecError> {
        use env_vars as v;
        let get = |name: &str| get(name).filter(|value| !value.is_empty());
        let require = |var: &'static str, what: &'static str| {
            get(var).ok_or(SpecError::Missing { var, what })
        };
        let invalid = |var: &'static str, value: &str, problem: String| SpecError::Invalid {
            var,
            value: value.to_owned(),
            problem,
        };
        let parse_u64 = |var: &'static str, value: String| {
            value
                .trim()
                .parse::<u64>()
                .map_err(|err| invalid(var, &value, err.to_string()))
        };

        let command_word = require(v::COMMAND, "the command: plan, apply, import or state_rm")?;
        let command = RunCommand::parse(&command_word).ok_or_else(|| {
            invalid(
                v::COMMAND,
                &command_word,
                "expected plan, apply, import or state_rm".to_owned(),
            )
        })?;
        let provider_name = require(v::VCS, "the VCS host")?;
        let provider = provider_name
            .parse::<Provider>()
            .map_err(|err| invalid(v::VCS, &provider_name, err.to_string()))?;
        let repo = require(v::REPO, "the base repository, owner/name")?;
        let timeout = match get(v::TIMEOUT) {
            Some(value) => Duration::from_secs(parse_u64(v::TIMEOUT, value)?),
            None => DEFAULT_TIMEOUT,
        };
        let distribution = match get(v::DISTRIBUTION) {
            Some(name) => Distribution::parse(&name).ok_or_else(|| {
                invalid(
                    v::DISTRIBUTION,
                    &name,
                    "neither terraform nor opentofu".to_owned(),
                )
            })?,
            None => Distribution::Terraform,
        };
        let policy_sets = match get(v::POLICY_SETS) {
            Some(json) => serde_json::from_str(&json)
                .map_err(|err| invalid(v::POLICY_SETS, "(JSON)", err.to_string()))?,
            None => Vec::new(),
        };
        let steps = |var: &'static str| match get(var) {
            Some(json) => serde_json::from_str::<Vec<Step>>(&json)
                .map(Some)
                .map_err(|err| invalid(var, &json, err.to_string())),
            None => Ok(None),
        };
        let workflow = steps(v::WORKFLOW)?;
        let init_env = steps(v::INIT_ENV)?.unwrap_or_default();
        let strings = |var: &'static str| match get(var) {
            Some(json) => serde_json::from_str::<Vec<String>>(&json)
                .map_err(|err| invalid(var, &json, err.to_string())),
            None => Ok(Vec::new()),
        };
        let extra_args = strings(v::EXTRA_ARGS)?;
        let init_args = strings(v::INIT_ARGS)?;
        let operands = strings(v::OPERANDS)?;
        let expected = match command {
            RunCommand::Plan | RunCommand::Apply => operands.is_empty(),
            RunCommand::Import => operands.len() == 2,
            RunCommand::StateRm => !operands.is_empty(),
        };
        if !expected {
            return Err(invalid(
                v::OPERANDS,
                &serde_json::to_string(&operands).unwrap_or_default(),
                format!(
                    "{command} takes {}",
                    match command {
                        RunCommand::Import => "an address and an ID",
                        RunCommand::StateRm => "one or more addresses",
                        RunCommand::Plan | RunCommand::Apply => "no operands",
                    }
                ),
            ));
        }
        let hooks = match get(v::HOOKS) {
            Some(json) => serde_json::from_str::<WorkflowHooks>(&json)
                .map_err(|err| invalid(v::HOOKS, &json, err.to_string()))?,
            None => WorkflowHooks::default(),
        };
        let apply = match command {
            RunCommand::Plan | RunCommand::Import | RunCommand::StateRm => None,
            RunCommand::Apply => Some(PlanToApply {
                planfile: StoredArtifact {
                    key: require(v::PLANFILE_KEY, "the stored planfile to apply")?,
                    sha256: require(v::PLANFILE_SHA256, "the planfile's recorded SHA-256")?,
                    size: match get(v::PLANFILE_SIZE) {
                        Some(value) => parse_u64(v::PLANFILE_SIZE, value)?,
                        None => 0,
                    },
                },
                planned_sha: CommitSha::new(require(
                    v::PLANNED_SHA,
                    "the commit the plan was made at",
                )?),
            }),
        };
        let spec = Self {
            provider,
            head_repo: RepoName::new(get(v::HEAD_REPO).unwrap_or_else(|| repo.clone())),
            repo: RepoName::new(repo),
            pr: PullRequestNumber(parse_u64(
                v::PR,
                require(v::PR, "the pull request number")?,
            )?),
            head_sha: CommitSha::new(require(v::HEAD_SHA, "the head commit to check out")?),
            head_branch: get(v::HEAD_BRANCH).unwrap_or_default(),
            base_branch: get(v::BASE_BRANCH).unwrap_or_default(),
            clone_url: require(v::CLONE_URL, "the URL to clone")?,
            user: get(v::USER).unwrap_or_default(),
            pull_author: get(v::PULL_AUTHOR).unwrap_or_default(),
            command,
            project: ProjectSpec {
                name: get(v::PROJECT),
                dir: get(v::DIR).unwrap_or_else(|| ".".to_owned()),
                workspace: get(v::WORKSPACE).unwrap_or_else(|| "default".to_owned()),
                terraform_version: get(v::TERRAFORM_VERSION),
                distribution,
                timeout,
                workflow,
                init_args,
                init_env,
                hooks,
                policy_sets,
                depends_on: Vec::new(),
                execution_order_group: 0,
            },
            extra_args,
            operands,
            trigger: get(v::TRIGGER).unwrap_or_default(),
            apply,
            report_back: match get(v::REPORT_BACK) {
                Some(json) => Some(
                    serde_json::from_str::<CommentThread>(&json)
                        .map_err(|err| invalid(v::REPORT_BACK, &json, err.to_string()))?,
                ),
                None => None,
            },
        };
        if let Some(given) = get(v::RUN_ID) {
            let derived = spec.run_id();
            if given != derived {
                return Err(invalid(
                    v::RUN_ID,
                    &given,
                    format!("the other inputs derive run id {derived}"),
                ));
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A plan of `envs/prod` in PR #42 of `acme/infra`.
    pub(crate) fn plan_spec() -> RunSpec {
        RunSpec {
            provider: Provider::Github,
            repo: RepoName::new("acme/infra"),
            head_repo: RepoName::new("acme/infra"),
            pr: PullRequestNumber(42),
            head_sha: CommitSha::new("ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
            head_branch: "feature/vpc".to_owned(),
            base_branch: "main".to_owned(),
            clone_url: "https://github.com/acme/infra.git".to_owned(),
            user: "octocat".to_owned(),
            pull_author: "octocat".to_owned(),
            command: RunCommand::Plan,
            project: ProjectSpec {
                name: Some("prod".to_owned()),
                timeout: Duration::from_mins(30),
                ..ProjectSpec::new("envs/prod")
            },
            extra_args: vec!["-target=terraform_data.a".to_owned()],
            operands: Vec::new(),
            trigger: "github:72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
            report_back: None,
            apply: None,
        }
    }

    fn round_trip(spec: &RunSpec) -> RunSpec {
        let env: HashMap<&str, String> = spec.to_env().into_iter().collect();
        RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap()
    }

    #[test]
    fn a_plan_spec_round_trips_through_the_environment() {
        let spec = plan_spec();
        assert_eq!(round_trip(&spec), spec);
    }

    #[test]
    fn an_apply_spec_with_a_custom_workflow_round_trips_through_the_environment() {
        let mut spec = plan_spec();
        spec.command = RunCommand::Apply;
        spec.project.workflow = Some(vec![
            Step::Env {
                name: "A".to_owned(),
                source: crate::run::EnvSource::Command("echo a".to_owned()),
                shell: Some("bash".to_owned()),
                shell_args: vec!["-eo".to_owned(), "pipefail".to_owned(), "-c".to_owned()],
            },
            Step::env("B", crate::run::EnvSource::Value("b".to_owned())),
            Step::Run(crate::run::ShellCommand {
                command: "terragrunt apply $PLANFILE".to_owned(),
                shell: Some("bash".to_owned()),
                shell_args: vec!["-eo".to_owned(), "pipefail".to_owned(), "-c".to_owned()],
                output: crate::run::RunOutput::StripRefreshing,
            }),
        ]);
        spec.project.init_args = vec!["-backend-config=key=\"a b\"".to_owned()];
        spec.project.init_env = vec![Step::Env {
            name: "STATE_KEY".to_owned(),
            source: crate::run::EnvSource::Value("a b".to_owned()),
            shell: None,
            shell_args: Vec::new(),
        }];
        spec.project.distribution = crate::run::Distribution::OpenTofu;
        spec.project.hooks = WorkflowHooks {
            pre: vec![crate::run::WorkflowHook {
                description: Some("Generating configs".to_owned()),
                shell: Some("bash".to_owned()),
                shell_args: vec!["-cv".to_owned()],
                ..crate::run::WorkflowHook::new("./gen.sh 'x'")
            }],
            post: vec![crate::run::WorkflowHook::new("echo done")],
        };
        spec.apply = Some(PlanToApply {
            planfile: StoredArtifact {
                key: "planfiles/x.tfplan".to_owned(),
                sha256: "ab".repeat(32),
                size: 123,
            },
            planned_sha: spec.head_sha.clone(),
        });
        spec.report_back = Some(CommentThread {
            comment_id: Some(crate::event::CommentId("1234".to_owned())),
            header: "**`apply`** of 1 project\n\n\"quoted\"".to_owned(),
            silenced: vec!["dir:staging".to_owned()],
            verbose: false,
        });
        assert_eq!(round_trip(&spec), spec);
    }

    #[test]
    fn an_apply_without_its_planfile_is_refused_naming_the_variable() {
        let mut spec = plan_spec();
        spec.command = RunCommand::Apply;
        let env: HashMap<&str, String> = spec.to_env().into_iter().collect();
        let err = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap_err();
        assert!(err.to_string().contains(env_vars::PLANFILE_KEY), "{err}");
    }

    #[test]
    fn a_run_id_that_does_not_match_the_inputs_is_refused() {
        let mut env: HashMap<&str, String> = plan_spec().to_env().into_iter().collect();
        env.insert(env_vars::PR, "43".to_owned());
        let err = RunSpec::from_lookup(|name| env.get(name).cloned()).unwrap_err();
        assert!(err.to_string().contains(env_vars::RUN_ID), "{err}");
    }

    #[test]
    fn the_spec_never_carries_the_token() {
        let env = plan_spec().to_env();
        assert!(
            env.iter()
                .all(|(name, _)| !name.contains("TOKEN") && !name.contains("SECRET"))
        );
    }
}
