//! The policy's Landfall keys for who may run commands, in a `repos` entry:
//!
//! ```yaml
//! repos:
//! - id: /.*/
//!   allow_fork_prs: false        # the default; true plans fork PRs on a writer's `landfall plan`
//!   permissions:
//!     plan:   {access: write, pr_author: true}            # the defaults
//!     apply:  {access: nobody, teams: [acme/platform]}    # only this team
//!     unlock: {access: write, users: [oncall-bot]}
//! ```
//!
//! `access` is the least repository access that qualifies (`read`, `write`, `admin`, or
//! `nobody` when only `users` and `teams` do); `users` are logins; `teams` are GitHub
//! `org/team-slug`s, GitLab group paths or Gitea `org/team`s; `pr_author` (plan only) lets a
//! PR's author plan their own non-fork PR. A command's entry replaces that command's rule.

use super::read::Reader;
use super::yaml::Node;
use crate::authz::{Access, Rule};

/// The `permissions` of one `repos` entry: each command's rule when the entry sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionRules {
    /// `plan`.
    pub plan: Option<Rule>,
    /// `apply`.
    pub apply: Option<Rule>,
    /// `unlock`.
    pub unlock: Option<Rule>,
}

impl PermissionRules {
    /// Sets over `out` the rules this entry names.
    pub fn apply_to(&self, out: &mut crate::authz::Permissions) {
        for (set, target) in [
            (&self.plan, &mut out.plan),
            (&self.apply, &mut out.apply),
            (&self.unlock, &mut out.unlock),
        ] {
            if let Some(rule) = set {
                target.clone_from(rule);
            }
        }
    }
}

const COMMANDS: &[&str] = &["plan", "apply", "unlock"];
const RULE_KEYS: &[&str] = &["access", "users", "teams", "pr_author"];

pub(crate) fn read_permissions(r: &mut Reader, node: &Node) -> Option<PermissionRules> {
    let entries = r.map(node, "`permissions`")?;
    let mut out = PermissionRules::default();
    for e in entries {
        let slot = match e.key.as_str() {
            "plan" => &mut out.plan,
            "apply" => &mut out.apply,
            "unlock" => &mut out.unlock,
            _ => {
                r.unknown_key(e, "`permissions`", COMMANDS);
                continue;
            }
        };
        *slot = read_rule(r, &e.key, &e.value);
    }
    (!r.has_errors()).then_some(out)
}

fn read_rule(r: &mut Reader, command: &str, node: &Node) -> Option<Rule> {
    let what = format!("`permissions.{command}`");
    let entries = r.map(node, &what)?;
    let mut rule = Rule {
        access: Some(Access::Write),
        users: Vec::new(),
        teams: Vec::new(),
        pr_author: false,
    };
    for e in entries {
        match e.key.as_str() {
            "access" => {
                let value = r.non_empty(&e.value, &format!("{what}.access"))?;
                rule.access = match value.as_str() {
                    "read" => Some(Access::Read),
                    "write" => Some(Access::Write),
                    "admin" => Some(Access::Admin),
                    "nobody" => None,
                    _ => {
                        r.error(e.line, format!("{what}.access is `{value}`")).help =
                            Some("use read, write, admin or nobody".to_owned());
                        return None;
                    }
                };
            }
            "users" => rule.users = r.strings(&e.value, &format!("{what}.users"))?,
            "teams" => {
                rule.teams = r.strings(&e.value, &format!("{what}.teams"))?;
                // A GitHub team is `org/team-slug`; a GitLab group may be top-level (`acme`).
                // GitHub's adapter refuses a team without its organisation when it checks.
                let bad = |t: &String| {
                    t.trim_matches('/').is_empty() || t.chars().any(char::is_whitespace)
                };
                if let Some(bad) = rule.teams.iter().find(|t| bad(t)) {
                    r.error(e.line, format!("{what}.teams lists `{bad}`")).help = Some(
                        "name a GitHub team as `org/team-slug`, a GitLab group by its path (`acme`, `acme/platform`)"
                            .to_owned(),
                    );
                    return None;
                }
            }
            "pr_author" if command == "plan" => {
                rule.pr_author = r.bool(&e.value, &format!("{what}.pr_author"))?;
            }
            "pr_author" => {
                r.error(e.line, format!("{what}.pr_author is only for `plan`"));
                return None;
            }
            _ => r.unknown_key(e, &what, RULE_KEYS),
        }
    }
    Some(rule)
}
