//! Which Terraform projects a repository has and how each one runs: the repo-level file
//! (`landfall.yaml`, or `atlantis.yaml` version 3 read as it is) merged over the operator's
//! server-side policy (`LANDFALL_POLICY`, Atlantis' `repos.yaml` format) and enforced as Atlantis
//! enforces it.
//!
//! Parsing never stops at the first problem: every error and every ignored key is a
//! [`Diagnostic`] with its file and line, and [`ConfigErrors::to_comment`] is the PR comment that
//! reports them. Keys that Atlantis knows but Landfall does not support yet are warnings (shown in
//! the PR comment); keys nobody knows are errors, with a suggestion when one is close.

mod diag;
mod drift;
mod hooks;
mod merge;
mod permissions;
mod policy;
mod policy_check_stage;
mod policy_checks;
#[cfg(feature = "function")]
mod policy_gate;
mod project;
mod read;
mod repo;
mod resolve;
mod switches;
mod workflow;
pub mod yaml;

pub use crate::dir::normalize_dir;
pub use crate::run::{EnvSource, RunOutput, ShellCommand, Step};
pub use diag::{ConfigErrors, Diagnostic, Severity, render_list};
pub use drift::{
    DriftKey, DriftMode, DriftPolicy, DriftProjects, DriftSchedule, DriftSettings, RateUnit,
};
pub use hooks::HookRules;
pub use merge::{MergeMethod, MergeRules, MergeSettings};
pub use permissions::PermissionRules;
pub use policy::{EffectivePolicy, OverrideKey, Policy, PolicyError, RepoId, RepoRule};
pub use policy_check_stage::PolicyCheckStage;
pub use policy_checks::{Owners, PolicyChecks, PolicySetConfig};
#[cfg(feature = "function")]
pub(crate) use policy_gate::{failing, unapproved, unchecked};
pub use repo::{
    Autoplan, BranchPattern, DEFAULT_WHEN_MODIFIED, ProjectConfig, RepoConfig, Requirement,
    Setting, parse_repo_config,
};
pub use resolve::{ResolvedConfig, ResolvedProject, resolve};
pub use switches::{AutoDiscover, AutoDiscoverMode};
pub use workflow::{DEFAULT_WORKFLOW, Workflow};

/// The repo-level files, in the order they are looked for: `landfall.yaml` wins when both exist.
pub const REPO_CONFIG_FILES: [&str; 2] = ["landfall.yaml", "atlantis.yaml"];

/// The files to look for in the repository: the policy's `repo_config_file` if it names one,
/// else [`REPO_CONFIG_FILES`].
#[must_use]
pub fn config_file_candidates(policy: &EffectivePolicy) -> Vec<String> {
    match &policy.repo_config_file {
        Some(f) => vec![f.clone()],
        None => REPO_CONFIG_FILES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The configuration for one PR from the repo file found at its head (`found` is the file's
/// name and text, `None` when no candidate exists), merged over `policy`.
pub fn load(
    policy: &EffectivePolicy,
    found: Option<(&str, &str)>,
) -> Result<ResolvedConfig, ConfigErrors> {
    match found {
        Some((file, text)) => {
            parse_repo_config(file, text).and_then(|repo| resolve(policy, Some(&repo)))
        }
        None => resolve(policy, None),
    }
}
