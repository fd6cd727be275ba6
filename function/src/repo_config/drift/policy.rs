//! The policy's top-level `drift` section: which repositories are swept for drift, and the
//! defaults and limits of their projects' checks. Unknown keys are errors (fail closed).
//!
//! ```yaml
//! drift:
//!   repositories: [acme/infra, acme/platform]
//!   schedule: rate(1 day)    # the default
//!   mode: report             # the default
//!   projects: configured     # or all
//!   allow_remediate: false   # the default
//! ```

use super::{DriftMode, DriftSchedule, read_mode, read_schedule};
use crate::allowlist::RepoAllowlist;
use crate::event::RepoName;
use crate::repo_config::read::Reader;
use crate::repo_config::yaml::Entry;

/// Which projects of a swept repository are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftProjects {
    /// Every project (configured or discovered), unless it says `drift: false`.
    All,
    /// Only projects with a `drift` key of their own or of their file.
    #[default]
    Configured,
}

/// The policy's `drift` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftPolicy {
    repositories: Vec<RepoName>,
    /// The schedule of projects that name none (default `rate(1 day)`).
    pub schedule: DriftSchedule,
    /// The mode of projects that name none (default `report`).
    pub mode: DriftMode,
    /// Which projects are checked (default `configured`).
    pub projects: DriftProjects,
    /// Whether a repo file may ask for `mode: remediate` (default false).
    pub allow_remediate: bool,
}

impl DriftPolicy {
    /// The repositories swept, `owner/name` as the policy lists them.
    #[must_use]
    pub fn repositories(&self) -> &[RepoName] {
        &self.repositories
    }

    /// Whether `repo` (`owner/name`) is swept; names compare without case, as hosts do.
    #[must_use]
    pub fn sweeps(&self, repo: &str) -> bool {
        self.repositories
            .iter()
            .any(|r| r.as_str().eq_ignore_ascii_case(repo))
    }

    /// The first repository `allowlist` refuses, checked at start-up: a sweep never works on a
    /// repository the deployment does not serve.
    #[must_use]
    pub fn refused_by(&self, allowlist: &RepoAllowlist) -> Option<&RepoName> {
        self.repositories
            .iter()
            .find(|repo| !allowlist.allows(repo, None))
    }
}

const POLICY_KEYS: [&str; 5] = [
    "repositories",
    "schedule",
    "mode",
    "projects",
    "allow_remediate",
];

/// Reads the policy's `drift` section.
pub(in crate::repo_config) fn read_drift_policy(r: &mut Reader, e: &Entry) -> Option<DriftPolicy> {
    let entries = r.map(&e.value, "`drift`")?;
    let errors_before = r.diagnostics.len();
    let mut policy = DriftPolicy {
        repositories: Vec::new(),
        schedule: DriftSchedule::policy_default(),
        mode: DriftMode::Report,
        projects: DriftProjects::Configured,
        allow_remediate: false,
    };
    let mut repositories_seen = false;
    let mut remediate_line = None;
    for d in entries {
        let v = &d.value;
        match d.key.as_str() {
            "repositories" => {
                repositories_seen = true;
                for name in r.strings(v, "`drift.repositories`").unwrap_or_default() {
                    match check_repository(&name) {
                        Ok(()) if policy.sweeps(&name) => {}
                        Ok(()) => policy.repositories.push(RepoName::new(name)),
                        Err(why) => {
                            r.error(
                                d.line,
                                format!("`drift.repositories` lists `{name}`: {why}"),
                            )
                            .help = Some(
                                "list each repository as `owner/name`, exactly (no host, no glob)"
                                    .to_owned(),
                            );
                        }
                    }
                }
            }
            "schedule" => {
                if let Some(s) = read_schedule(r, d, "`drift.schedule`") {
                    policy.schedule = s;
                }
            }
            "mode" => {
                policy.mode = read_mode(r, d, "`drift.mode`").unwrap_or_default();
                remediate_line = (policy.mode == DriftMode::Remediate).then_some(d.line);
            }
            "projects" => match r.string(v, "`drift.projects`").as_deref() {
                Some("all") => policy.projects = DriftProjects::All,
                Some("configured") => policy.projects = DriftProjects::Configured,
                Some(other) => {
                    r.error(d.line, format!("`drift.projects: {other}` is not a choice"))
                        .help = Some("write `all` (every project unless it says `drift: false`) or `configured` (only projects with a `drift` key)".to_owned());
                }
                None => {}
            },
            "allow_remediate" => {
                policy.allow_remediate = r.bool(v, "`drift.allow_remediate`").unwrap_or(false);
            }
            _ => r.unknown_key(d, "`drift`", &POLICY_KEYS),
        }
    }
    if !repositories_seen {
        r.error(
            e.line,
            "`drift` needs `repositories`: the repositories swept for drift",
        )
        .help = Some("for example `repositories: [acme/infra]`".to_owned());
    }
    if let Some(line) = remediate_line.filter(|_| !policy.allow_remediate) {
        r.error(
            line,
            "`drift.mode: remediate` needs `allow_remediate: true`",
        )
        .help = Some("set `allow_remediate: true` under `drift`, or use `mode: report`".to_owned());
    }
    (r.diagnostics.len() == errors_before).then_some(policy)
}

/// An exact `owner/name` (GitLab: `group/subgroup/name`), without a host or a glob.
fn check_repository(name: &str) -> Result<(), &'static str> {
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return Err("it is not `owner/name`");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '*' | '?' | '[' | ']' | '{' | '}'))
    {
        return Err("it is not an exact name");
    }
    let first = segments[0];
    if first.contains(['.', ':']) || first.eq_ignore_ascii_case("localhost") {
        return Err("it starts with a host");
    }
    Ok(())
}
