//! Atlantis' per-repository switches that both files can carry: `silence_pr_comments`,
//! `autodiscover` and `delete_source_branch_on_merge`, implemented; and the keys Landfall takes
//! only at the value it implements (`repo_locking`, `repo_locks`, `policy_check`,
//! `custom_policy_check`): any other value is refused, saying why, so
//! an operator never believes a setting is in force when it is not.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::read::Reader;
use super::yaml::{Entry, Node};
use crate::run::{Distribution, RunCommand};

/// `autodiscover.mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoDiscoverMode {
    /// Discover projects only when the repo file configures none (Atlantis' default).
    #[default]
    Auto,
    /// Discover projects beside the configured ones; a configured directory wins.
    Enabled,
    /// Never discover: only configured projects exist.
    Disabled,
}

/// `autodiscover`: when projects are discovered, and which directories never are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoDiscover {
    /// `mode`.
    pub mode: AutoDiscoverMode,
    /// `ignore_paths`: globs (`*` within a path segment, `**` across them) of directories that
    /// are never discovered, nor planned by `-d` unless a project configures them.
    pub ignore_paths: Vec<String>,
}

impl AutoDiscover {
    /// Whether `dir` (relative to the repo root, `.` for the root) is ignored.
    #[must_use]
    pub fn ignores(&self, dir: &str) -> bool {
        !self.ignore_paths.is_empty()
            && ignore_set(&self.ignore_paths).is_ok_and(|s| s.is_match(dir))
    }
}

fn ignore_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern.trim_end_matches('/'))
        .literal_separator(true)
        .build()
}

fn ignore_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(ignore_glob(p)?);
    }
    set.build()
}

/// Reads `autodiscover: {mode, ignore_paths}`.
pub(super) fn read_autodiscover(r: &mut Reader, node: &Node) -> Option<AutoDiscover> {
    let entries = r.map(node, "`autodiscover`")?;
    let mut out = AutoDiscover::default();
    for e in entries {
        match e.key.as_str() {
            "mode" => {
                out.mode = match r.string(&e.value, "`autodiscover.mode`")?.as_str() {
                    "auto" => AutoDiscoverMode::Auto,
                    "enabled" => AutoDiscoverMode::Enabled,
                    "disabled" => AutoDiscoverMode::Disabled,
                    other => {
                        r.error(
                            e.line,
                            format!("`autodiscover.mode: {other}` is not a mode"),
                        )
                        .help = Some("the modes are auto, enabled and disabled".to_owned());
                        return None;
                    }
                };
            }
            "ignore_paths" => {
                let paths = r.strings(&e.value, "`autodiscover.ignore_paths`")?;
                for p in &paths {
                    if let Err(err) = ignore_glob(p) {
                        r.error(
                            e.line,
                            format!("`ignore_paths` entry `{p}` is not a valid glob: {err}"),
                        );
                        return None;
                    }
                }
                out.ignore_paths = paths;
            }
            _ => {
                r.unknown_key(e, "`autodiscover`", &["mode", "ignore_paths"]);
                return None;
            }
        }
    }
    Some(out)
}

/// Reads `silence_pr_comments: [plan, apply]`.
pub(super) fn read_silence(r: &mut Reader, e: &Entry) -> Option<Vec<RunCommand>> {
    let names = r.strings(&e.value, "`silence_pr_comments`")?;
    let mut out = Vec::new();
    for name in names {
        match name.as_str() {
            "plan" => out.push(RunCommand::Plan),
            "apply" => out.push(RunCommand::Apply),
            other => {
                r.error(e.line, format!("`silence_pr_comments` lists `{other}`, which is not a command it can silence"))
                    .help = Some("the values are plan and apply".to_owned());
                return None;
            }
        }
    }
    Some(out)
}

/// Checks one of the keys Landfall takes only at the value it implements; refuses any other
/// value with what Landfall does instead. Returns whether `e` was such a key.
pub(super) fn check_fixed_key(r: &mut Reader, e: &Entry) -> bool {
    let v = &e.value;
    match e.key.as_str() {
        "repo_locking" => {
            if r.bool(v, "`repo_locking`") == Some(false) {
                refuse_locks(r, e.line, "repo_locking: false");
            }
        }
        "repo_locks" => {
            let Some(entries) = r.map(v, "`repo_locks`") else {
                return true;
            };
            for m in entries {
                if m.key != "mode" {
                    r.unknown_key(m, "`repo_locks`", &["mode"]);
                    continue;
                }
                match r.string(&m.value, "`repo_locks.mode`").as_deref() {
                    Some("on_plan") | None => {}
                    Some(mode @ ("on_apply" | "disabled")) => {
                        refuse_locks(r, m.line, &format!("repo_locks: {{mode: {mode}}}"));
                    }
                    Some(other) => {
                        r.error(m.line, format!("`repo_locks.mode: {other}` is not a mode"))
                            .help = Some("the modes are on_plan, on_apply and disabled".to_owned());
                    }
                }
            }
        }
        "custom_policy_check" => {
            if r.bool(v, "`custom_policy_check`") == Some(true) {
                r.error(e.line, "`custom_policy_check: true` is not supported: Landfall evaluates the policy sets of `policies` itself and runs no custom policy command")
                    .help = Some("remove `custom_policy_check` or set it to false; write the policies as Rego policy sets".to_owned());
            }
        }
        "policy_check" => {
            // A repo file may not turn off what the operator checks; the policy may, per repos
            // entry (read there, before this).
            if r.bool(v, "`policy_check`") == Some(false) {
                r.error(e.line, "`policy_check: false` is not taken from a repo file: the operator's policy sets check every plan")
                    .help = Some("remove `policy_check`; the operator can leave a repository out with `policy_check: false` in its `repos` entry".to_owned());
            }
        }
        _ => return false,
    }
    true
}

/// Reads `terraform_distribution`: `terraform` or `opentofu`.
pub(super) fn read_distribution(r: &mut Reader, e: &Entry) -> Option<Distribution> {
    let name = r.string(&e.value, "`terraform_distribution`")?;
    let distribution = Distribution::parse(&name);
    if distribution.is_none() {
        r.error(
            e.line,
            format!("`terraform_distribution: {name}` is not a distribution"),
        )
        .help = Some("the distributions are terraform and opentofu".to_owned());
    }
    distribution
}

fn refuse_locks(r: &mut Reader, line: usize, what: &str) {
    r.error(line, format!("`{what}` is not supported: Landfall always locks a project from its plan until it is applied, the PR closes or someone unlocks it"))
        .help = Some("remove the key, or use `repo_locks: {mode: on_plan}`".to_owned());
}

/// The policy file's server-wide sections besides `repos` and `workflows`: `policies` (refused
/// when it defines policy sets: Landfall would apply plans they were meant to stop),
/// `team_authz` (refused when it names a command: Landfall would let through whom it refuses),
/// `metrics` and `external_stores` (accepted with a warning: Landfall sends no statsd or
/// Prometheus metrics, and keeps planfiles in its own artifact bucket).
pub(super) fn server_section(r: &mut Reader, e: &Entry) {
    let Some(entries) = r.map(&e.value, &format!("`{}`", e.key)) else {
        return;
    };
    let set = |k: &str| entries.iter().find(|x| x.key == k);
    match e.key.as_str() {
        "team_authz" => {
            if set("command").is_some() {
                r.error(e.line, "`team_authz` is not supported: Landfall does not run an external authorization command, so it would not refuse whom the command refuses")
                    .help = Some("say who may run each command with `permissions` in a `repos` entry (see docs/authorization.md)".to_owned());
            }
        }
        "metrics" => {
            if !entries.is_empty() {
                r.warning(e.line, "`metrics` is not used: Landfall sends no statsd or Prometheus metrics; its logs are JSON lines (CloudWatch under Lambda)")
                    .help = Some("remove `metrics` to silence this warning".to_owned());
            }
        }
        _ => {
            if !entries.is_empty() {
                r.warning(e.line, "`external_stores` is not used: Landfall keeps planfiles in its own artifact bucket (LANDFALL_BUCKET)")
                    .help = Some("remove `external_stores` to silence this warning".to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_paths_match_whole_segments_like_doublestar() {
        let a = AutoDiscover {
            mode: AutoDiscoverMode::Enabled,
            ignore_paths: vec!["foo/*".to_owned(), "prod/**".to_owned()],
        };
        assert!(a.ignores("foo/x"));
        assert!(!a.ignores("foo/x/y"));
        assert!(a.ignores("prod/a/b"));
        assert!(!a.ignores("staging"));
        assert!(!AutoDiscover::default().ignores("foo/x"));
    }

    #[test]
    fn terraform_distribution_is_the_projects_else_the_policys_and_nothing_else_is_taken() {
        use crate::repo_config::{Policy, load};
        use crate::run::Distribution::{self, OpenTofu, Terraform};
        let policy = |text: &str| {
            Policy::parse("repos.yaml", text)
                .unwrap()
                .resolve("github.com", "acme/infra", "main")
        };
        let file = "version: 3\nprojects:\n- dir: a\n- dir: b\n  terraform_distribution: terraform\n- dir: c\n  terraform_distribution: opentofu\n";
        let distributions = |policy_text: &str| -> Vec<Distribution> {
            let config = load(&policy(policy_text), Some(("atlantis.yaml", file))).unwrap();
            config.projects.iter().map(|p| p.distribution).collect()
        };
        assert_eq!(
            distributions("repos:\n- id: /.*/\n"),
            [Terraform, Terraform, OpenTofu]
        );
        assert_eq!(
            distributions("repos:\n- id: /.*/\n  terraform_distribution: opentofu\n"),
            [OpenTofu, Terraform, OpenTofu]
        );
        let err = load(
            &policy("repos:\n- id: /.*/\n"),
            Some((
                "atlantis.yaml",
                "version: 3\nprojects:\n- dir: a\n  terraform_distribution: pulumi\n",
            )),
        )
        .unwrap_err()
        .to_comment();
        assert!(
            err.contains("`terraform_distribution: pulumi` is not a distribution"),
            "{err}"
        );
    }
}
