//! Who may run each command, decided before any work. The decision itself ([`decide`]) is a
//! pure function of what is known about the request and the sender; the loop gathers those
//! facts from the host (one permission request at most, cached per delivery) and asks it.
//!
//! The defaults, which the operator's policy (`permissions`, `allow_fork_prs`) widens or
//! narrows per repository:
//!
//! - `plan` (and autoplan): write access to the base repository, or the PR's author on their
//!   own non-fork PR (no lookup for the author).
//! - `apply`, `unlock`: write access.
//! - Fork PRs are not planned or applied unless the operator allows them; then a plan still
//!   needs a writer's explicit `landfall plan`, never autoplan.
//! - `apply` takes `-p/-d/-w` only; arguments after `--` on `plan` only from users who may
//!   apply, and only from [`SAFE_PLAN_FLAGS`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::command::Action;

/// Who may run one command, as the policy's `permissions.<command>` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The least access that qualifies; `None` when access alone never does (only `users` and
    /// `teams`).
    pub access: Option<Access>,
    /// Users who may, whatever their access.
    pub users: Vec<String>,
    /// Teams whose members may (GitHub `org/team-slug`, GitLab group paths).
    pub teams: Vec<String>,
    /// Whether a PR's author may run it on their own non-fork PR (`plan` only).
    pub pr_author: bool,
}

impl Rule {
    /// Write access, nobody else.
    #[must_use]
    pub fn writers() -> Self {
        Rule {
            access: Some(Access::Write),
            users: Vec::new(),
            teams: Vec::new(),
            pr_author: false,
        }
    }

    /// Whether the rule names `user` (case-insensitively, as hosts treat logins).
    #[must_use]
    pub fn names(&self, user: &str) -> bool {
        self.users.iter().any(|u| u.eq_ignore_ascii_case(user))
    }

    /// Who qualifies, for the refusal comment.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut who = Vec::new();
        if let Some(access) = self.access {
            who.push(format!("users with {} access or more", access.as_str()));
        }
        if self.pr_author {
            who.push("the pull request's author (non-fork pull requests)".to_owned());
        }
        // Who exactly is the operator's business: a refusal is read by whoever commented.
        if !self.users.is_empty() {
            who.push(format!("{} user(s) the operator names", self.users.len()));
        }
        if !self.teams.is_empty() {
            who.push(format!(
                "members of {} team(s) the operator names",
                self.teams.len()
            ));
        }
        if who.is_empty() {
            "nobody".to_owned()
        } else {
            who.join("; ")
        }
    }
}

/// The rules for every command of one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// `plan`.
    pub plan: Rule,
    /// `apply`.
    pub apply: Rule,
    /// `unlock`.
    pub unlock: Rule,
    /// Whether PRs from forks may be planned and applied at all (`allow_fork_prs`).
    pub allow_fork_prs: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            plan: Rule {
                pr_author: true,
                ..Rule::writers()
            },
            apply: Rule::writers(),
            unlock: Rule::writers(),
            allow_fork_prs: false,
        }
    }
}

impl Permissions {
    /// The rule for `action`; `None` for commands anyone may run (`help`, `version`). `cancel`
    /// takes `apply`'s: stopping a run is as weighty as starting one; `import` and `state rm`
    /// too: they change the state as an apply does.
    #[must_use]
    pub fn rule(&self, action: Action) -> Option<&Rule> {
        match action {
            Action::Plan => Some(&self.plan),
            Action::Apply | Action::Cancel | Action::Import | Action::StateRm => Some(&self.apply),
            Action::Unlock => Some(&self.unlock),
            // Who may approve is the policy's `owners`, checked where the approval is recorded.
            Action::Help | Action::Version | Action::ApprovePolicies => None,
        }
    }
}

/// What is asked, and by whom, as far as it is known without asking the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The command (`Plan` for autoplan).
    pub action: Action,
    /// Autoplan (a PR opened or pushed), not a comment.
    pub automatic: bool,
    /// The PR's head lives outside the base repository.
    pub fork: bool,
    /// The sender's login.
    pub sender: &'a str,
    /// Whether the sender opened the PR.
    pub is_author: bool,
    /// Arguments after `--`.
    pub extra_args: &'a [String],
}

/// What the host says about the sender; each fact is looked up only when the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The sender's access to the base repository.
    pub access: Access,
    /// The teams (of those the rules name) the sender belongs to.
    pub member_of: Vec<String>,
}

impl Facts {
    /// Access only, no team looked up.
    #[must_use]
    pub fn access(access: Access) -> Self {
        Facts {
            access,
            member_of: Vec::new(),
        }
    }
}

/// The teams whose membership can change the decision for `request`.
#[must_use]
pub fn teams_to_check<'r>(request: &Request<'_>, rules: &'r Permissions) -> Vec<&'r String> {
    let mut teams: Vec<&String> = rules
        .rule(request.action)
        .map(|r| r.teams.iter().collect())
        .unwrap_or_default();
    if request.action == Action::Plan && !request.extra_args.is_empty() {
        teams.extend(rules.apply.teams.iter());
    }
    teams.sort();
    teams.dedup();
    teams
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Autoplan of a fork PR: not planned (the PR is told once, on open).
    SkipFork,
    /// Refused, with why.
    Refuse(Refusal),
}

/// Why a command is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The sender does not qualify under the rule.
    NotPermitted {
        /// The command.
        action: Action,
        /// Who does.
        who: String,
    },
    /// A fork PR where the operator does not allow them.
    ForkNotAllowed,
    /// A fork PR's plan by someone without write access.
    ForkNeedsWriter,
    /// `apply` with arguments after `--`.
    ApplyArgs,
    /// `plan` arguments from someone who may not apply.
    PlanArgsNeedApply,
    /// A `plan` argument outside the safe list.
    UnsafeArg(String),
    /// The delivery does not say who caused it, and the rule needs to know (Azure DevOps'
    /// completion without `closedBy`).
    UnknownSender,
    /// A fork PR's head moved after the command was written: what the writer reviewed is not
    /// what would run.
    ForkHeadMoved,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotPermitted { action, who } => write!(
                f,
                "you may not run `{}` on this repository. Who may: {who}",
                action.as_str()
            ),
            Refusal::ForkHeadMoved => f.write_str(
                "this pull request comes from a fork, and its head moved after your comment: review the new commits, then comment again",
            ),
            Refusal::UnknownSender => f.write_str(
                "the host's delivery does not say who did this, so whether they may cannot be checked",
            ),
            Refusal::ForkNotAllowed => f.write_str(
                "this pull request comes from a fork, and this deployment does not plan or apply fork pull requests",
            ),
            Refusal::ForkNeedsWriter => f.write_str(
                "this pull request comes from a fork: only a user with write access may plan it, by commenting `landfall plan`",
            ),
            Refusal::ApplyArgs => f.write_str(
                "`apply` runs the stored plan and takes only `-p`, `-d` and `-w`; put Terraform arguments on `plan`",
            ),
            Refusal::PlanArgsNeedApply => f.write_str(
                "Terraform arguments after `--` on `plan` are only for users who may `apply`",
            ),
            Refusal::UnsafeArg(arg) => write!(
                f,
                "`{}` is not allowed after `--`; allowed: {}",
                code_span_text(arg),
                SAFE_PLAN_FLAGS.map(|f| format!("`-{f}`")).join(", ")
            ),
        }
    }
}

/// `text` made safe inside a Markdown code span: no backtick or line break to leave it by, and
/// at most 80 characters (it is the commenter's own text).
fn code_span_text(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| *c != '`' && !c.is_control())
        .take(80)
        .collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The Terraform `plan` flags a user who may apply can pass after `--`: none writes a file,
/// moves Terraform out of the project or turns off state locking. Path values are checked
/// by the command parser (inside the project only).
pub const SAFE_PLAN_FLAGS: [&str; 11] = [
    "var",
    "var-file",
    "target",
    "replace",
    "destroy",
    "refresh",
    "refresh-only",
    "compact-warnings",
    "parallelism",
    "lock-timeout",
    "no-color",
];

/// The first argument that is not a safe `plan` flag or the value of one.
#[must_use]
pub fn unsafe_plan_arg(args: &[String]) -> Option<&String> {
    let mut takes_value = false;
    for arg in args {
        if takes_value {
            takes_value = false;
            continue;
        }
        let Some((name, value)) = crate::command::split_flag(arg) else {
            return Some(arg);
        };
        if !SAFE_PLAN_FLAGS.contains(&name) {
            return Some(arg);
        }
        // `-refresh=false` is fine; `-lock=false` never gets here. Flags that take a value
        // may have it as the next argument.
        if value.is_none() && matches!(name, "var" | "var-file" | "target" | "replace") {
            takes_value = true;
        }
    }
    // A flag that takes a value, at the very end without one.
    if takes_value { args.last() } else { None }
}

/// Whether the decision for `request` can need the sender's access (a host request).
#[must_use]
pub fn needs_access(request: &Request<'_>, rules: &Permissions) -> bool {
    decide_with(request, rules, None).is_none()
}

/// The decision, given every fact about the sender.
#[must_use]
pub fn decide(request: &Request<'_>, rules: &Permissions, facts: &Facts) -> Decision {
    decide_with(request, rules, Some(facts)).expect("every fact is known")
}

/// The decision without the sender's facts where it does not depend on them; `None` when it
/// does and they are not given.
#[must_use]
pub fn decide_without_lookup(request: &Request<'_>, rules: &Permissions) -> Option<Decision> {
    decide_with(request, rules, None)
}

fn decide_with(
    request: &Request<'_>,
    rules: &Permissions,
    facts: Option<&Facts>,
) -> Option<Decision> {
    let refuse = |r| Some(Decision::Refuse(r));
    let Some(rule) = rules.rule(request.action) else {
        return Some(Decision::Allow);
    };
    if request.action == Action::Apply && !request.extra_args.is_empty() {
        return refuse(Refusal::ApplyArgs);
    }
    if request.fork
        && matches!(
            request.action,
            Action::Plan | Action::Apply | Action::Import | Action::StateRm
        )
    {
        if !rules.allow_fork_prs {
            return if request.automatic {
                Some(Decision::SkipFork)
            } else {
                refuse(Refusal::ForkNotAllowed)
            };
        }
        if request.automatic {
            return Some(Decision::SkipFork);
        }
    }
    let known_access = facts.map(|f| f.access);
    let permitted = |rule: &Rule, author_counts: bool| -> Option<bool> {
        if rule.names(request.sender) || (author_counts && rule.pr_author && request.is_author) {
            return Some(true);
        }
        let by_access = match (rule.access, known_access) {
            (None, _) => false,
            (Some(least), Some(access)) => access >= least,
            (Some(_), None) => return None,
        };
        if by_access {
            return Some(true);
        }
        if rule.teams.is_empty() {
            return Some(false);
        }
        facts.map(|f| {
            rule.teams
                .iter()
                .any(|t| f.member_of.iter().any(|m| m.eq_ignore_ascii_case(t)))
        })
    };
    // A fork PR's plan needs a writer's own command: the author's clause does not count.
    let author_counts = !request.fork;
    if !permitted(rule, author_counts)? {
        return refuse(Refusal::NotPermitted {
            action: request.action,
            who: rule.describe(),
        });
    }
    if request.fork && !request.automatic {
        let writer = match known_access {
            Some(access) => access >= Access::Write,
            None => return None,
        };
        if !writer {
            return refuse(Refusal::ForkNeedsWriter);
        }
    }
    if request.action == Action::Plan
        && !request.extra_args.is_empty()
        && !permitted(&rules.apply, false)?
    {
        return refuse(Refusal::PlanArgsNeedApply);
    }
    // Arguments are looked at only for someone who may pass them: nobody else gets their own
    // text echoed back.
    if let Some(arg) = unsafe_plan_arg(request.extra_args) {
        return refuse(Refusal::UnsafeArg(arg.clone()));
    }
    Some(Decision::Allow)
}

/// What a user may do in a repository, from the host's own permission API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// No access (not a member, or unknown to the host).
    None,
    /// Read (GitHub read/triage, GitLab Guest/Reporter, ...).
    Read,
    /// Write (GitHub write/maintain, GitLab Developer/Maintainer, ...).
    Write,
    /// Admin (GitHub admin, GitLab Owner, ...).
    Admin,
}

impl Access {
    /// The name as written in the policy (`none`, `read`, `write`, `admin`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests;
