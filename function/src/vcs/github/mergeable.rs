//! Whether a pull request GitHub calls `blocked` is blocked by Landfall's own apply checks alone.
//!
//! A required `landfall/apply` stays pending until the apply, so GitHub's `mergeable_state` is
//! `blocked` and the `mergeable` apply requirement could never be met (Atlantis'
//! `--gh-allow-mergeable-bypass-apply`). One GraphQL query (GitHub's REST API has no review
//! decision) reads what can block a merge; the pull request counts as mergeable only when every
//! one of these holds, so anything Landfall does not read or cannot judge keeps it blocked:
//!
//! - the pull request's head is the commit the REST answer named, whose checks are read;
//! - `reviewDecision` is `APPROVED` or absent (no review required), no writer's latest review
//!   requests changes, every review thread is resolved, and each active ruleset's
//!   `PULL_REQUEST` rule has enough approvals from writers and asks for no code owner's review
//!   and no approval of the last push;
//! - the branch protection rule asks for no signed commits, deployments, lock or push
//!   restriction, and no approval of the last push;
//! - every active ruleset rule is of a type judged here (`PULL_REQUEST`,
//!   `REQUIRED_STATUS_CHECKS`) or one that does not stop a pull request's merge (`CREATION`,
//!   `DELETION`, `NON_FAST_FORWARD`, `REQUIRED_LINEAR_HISTORY`);
//! - every required check (branch protection's and the rulesets') that is not one of Landfall's
//!   apply checks (`<status name>/apply`, `<status name>/apply: <project>`; not its plan) is on
//!   the head and passed: each check run of that name concluded `SUCCESS`, `NEUTRAL` or
//!   `SKIPPED`, each status of that context is `SUCCESS` (a check bound to an App counts that
//!   App's check runs only);
//! - no check run or status on the head that GitHub marks required for the pull request
//!   (`isRequired`, which holds where the rules cannot be read) failed or is unfinished, unless
//!   it is a Landfall apply check;
//! - at least one required check is a Landfall apply check that has not passed: what GitHub
//!   blocks on;
//! - no list was cut at 100 entries.
//!
//! What is left to REST ([`StillToCheck`]): where no branch protection rule was shown (GitHub
//! shows it only to admins and to Apps with Administration: Read-only), the branch must say it
//! has none; where a rule enforces up-to-date branches, the head must contain the base.

use serde_json::Value;

/// The query: `$owner`, `$name`, `$number`, and `$head`, the head commit the REST answer named.
pub(super) const QUERY: &str =
    "query($owner: String!, $name: String!, $number: Int!, $head: GitObjectID!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      headRefOid baseRefName
      reviewDecision
      latestOpinionatedReviews(first: 100, writersOnly: true) {
        pageInfo { hasNextPage }
        nodes { state }
      }
      reviewThreads(first: 100) {
        pageInfo { hasNextPage }
        nodes { isResolved }
      }
      baseRef {
        branchProtectionRule {
          requiresStatusChecks requiresStrictStatusChecks
          requiresApprovingReviews requiresCodeOwnerReviews
          requiredStatusChecks { context app { databaseId } }
          requiresCommitSignatures requiresDeployments lockBranch restrictsPushes
          requireLastPushApproval
        }
        rules(first: 100) {
          pageInfo { hasNextPage }
          nodes {
            type
            repositoryRuleset { enforcement }
            parameters {
              ... on RequiredStatusChecksParameters {
                strictRequiredStatusChecksPolicy
                requiredStatusChecks { context integrationId }
              }
              ... on PullRequestParameters {
                requiredApprovingReviewCount requireCodeOwnerReview requireLastPushApproval
              }
            }
          }
        }
      }
    }
    object(oid: $head) {
      ... on Commit {
        oid
        statusCheckRollup {
          contexts(first: 100) {
            pageInfo { hasNextPage }
            nodes {
              __typename
              ... on CheckRun {
                name conclusion isRequired(pullRequestNumber: $number)
                checkSuite { app { databaseId } }
              }
              ... on StatusContext { context state isRequired(pullRequestNumber: $number) }
            }
          }
        }
      }
    }
  }
}";

/// What the judgment says: `Ok`, or what blocks (or could block, unseen).
type Verdict<T> = Result<T, String>;

/// The field `key` of `v`, where it is present and not `null`.
fn optional<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|f| !f.is_null())
}

/// The field `key` of `v`, present and not `null`.
fn field<'a>(v: &'a Value, key: &str) -> Verdict<&'a Value> {
    optional(v, key).ok_or_else(|| format!("GitHub's answer shows no {key}"))
}

fn flag(v: &Value, key: &str) -> Verdict<bool> {
    field(v, key)?
        .as_bool()
        .ok_or_else(|| format!("GitHub's {key} is not true or false"))
}

fn text<'a>(v: &'a Value, key: &str) -> Verdict<&'a str> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| format!("GitHub's {key} is not a string"))
}

/// A connection's entries: all on one page, none of them `null`.
fn entries<'a>(connection: &'a Value, what: &str) -> Verdict<&'a [Value]> {
    let more = connection
        .pointer("/pageInfo/hasNextPage")
        .and_then(Value::as_bool);
    match (more, connection.get("nodes").and_then(Value::as_array)) {
        (Some(false), Some(nodes)) if nodes.iter().all(Value::is_object) => Ok(nodes),
        _ => Err(format!(
            "{what} were not shown whole (more than 100, or one withheld)"
        )),
    }
}

/// One report on the head: a check run or a commit status (`__typename`).
struct Report<'a> {
    name: &'a str,
    passed: bool,
    /// GitHub marks it required for the pull request (`isRequired`).
    required: bool,
    by: Reporter,
}

/// Who reported it: a commit status, or a check run of an App (its id, when GitHub names it).
#[derive(Clone, Copy)]
enum Reporter {
    Status,
    CheckRun(Option<i64>),
}

impl<'a> Report<'a> {
    fn read(node: &'a Value) -> Verdict<Self> {
        let required = node.get("isRequired").and_then(Value::as_bool) == Some(true);
        match text(node, "__typename")? {
            "CheckRun" => Ok(Report {
                name: text(node, "name")?,
                passed: matches!(
                    node.get("conclusion").and_then(Value::as_str),
                    Some("SUCCESS" | "NEUTRAL" | "SKIPPED")
                ),
                required,
                by: Reporter::CheckRun(
                    node.pointer("/checkSuite/app/databaseId")
                        .and_then(Value::as_i64),
                ),
            }),
            "StatusContext" => Ok(Report {
                name: text(node, "context")?,
                passed: text(node, "state")? == "SUCCESS",
                required,
                by: Reporter::Status,
            }),
            other => Err(format!(
                "a report of a kind Landfall does not know: {other}"
            )),
        }
    }
}

/// Whether `context` is one of Landfall's apply checks: `<status name>/apply`, or a project's
/// `<status name>/apply: <project>`. Nothing else is passed over, not even its plan.
pub(super) fn is_own_apply(context: &str, status_name: &str) -> bool {
    context
        .strip_prefix(status_name)
        .and_then(|rest| rest.strip_prefix("/apply"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(": "))
}

/// A check the base branch requires: its name, and who must report it.
struct Required<'a> {
    context: &'a str,
    source: Source,
}

/// Who may report a required check.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Anyone,
    App(i64),
    /// An App GitHub did not name: nothing counts.
    Unknown,
}

/// What the answer leaves to be read over REST before the pull request counts as mergeable.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct StillToCheck {
    /// No branch protection rule was shown, which GitHub also answers to a token that may not
    /// read it: the branch (`GET .../branches/{base}`) must say it is not protected.
    pub no_protection: bool,
    /// A required check is enforced on an up-to-date branch: the head must contain the base.
    pub up_to_date: bool,
}

/// Whether the pull request is blocked by Landfall's own apply checks alone: `Ok` with what
/// is still to be read, or `Err` with what else blocks it (or could, unseen). `head` is the
/// head commit and `base` the base branch the REST answer named.
pub(super) fn judge(
    answer: &Value,
    head: &str,
    base: &str,
    status_name: &str,
) -> Verdict<StillToCheck> {
    if let Some(errors) = optional(answer, "errors") {
        return Err(format!("GitHub's GraphQL API answered {errors}"));
    }
    let repository = optional(answer, "data")
        .and_then(|data| optional(data, "repository"))
        .ok_or("GitHub's GraphQL API did not show the repository")?;
    let pull = field(repository, "pullRequest")?;
    if text(pull, "headRefOid")? != head {
        return Err("the head commit moved".to_owned());
    }
    if text(pull, "baseRefName")? != base {
        return Err("the pull request was retargeted".to_owned());
    }
    let commit = field(repository, "object")?;
    if commit.get("oid").and_then(Value::as_str) != Some(head) {
        return Err("the head commit was not shown".to_owned());
    }
    let approvals = settled_reviews(pull)?;
    let base_ref = field(pull, "baseRef")?;
    let mut left = StillToCheck::default();
    let mut required = Vec::new();
    match optional(base_ref, "branchProtectionRule") {
        None => left.no_protection = true,
        Some(rule) => protection_checks(pull, rule, &mut required, &mut left)?,
    }
    ruleset_blocker(approvals, base_ref, &mut required, &mut left)?;
    let reports = match optional(commit, "statusCheckRollup") {
        None => Vec::new(),
        Some(rollup) => entries(field(rollup, "contexts")?, "the head's checks")?
            .iter()
            .map(Report::read)
            .collect::<Verdict<Vec<_>>>()?,
    };
    // GitHub's own word on each report, which holds where the rules cannot be read.
    if let Some(r) = reports
        .iter()
        .find(|r| r.required && !r.passed && !is_own_apply(r.name, status_name))
    {
        return Err(format!(
            "GitHub requires {:?}, which has not passed",
            r.name
        ));
    }
    let mut own_unfinished = false;
    for check in &required {
        let passed = passed(check, &reports);
        if is_own_apply(check.context, status_name) {
            own_unfinished |= !passed;
        } else if !passed {
            return Err(format!(
                "the required check {:?} has not passed",
                check.context
            ));
        }
    }
    if !own_unfinished {
        return Err(
            "no required Landfall apply check is unfinished: something else blocks the merge"
                .to_owned(),
        );
    }
    Ok(left)
}

/// The branch protection rule's required checks, or what in it Landfall does not judge.
fn protection_checks<'a>(
    pull: &Value,
    rule: &'a Value,
    required: &mut Vec<Required<'a>>,
    left: &mut StillToCheck,
) -> Verdict<()> {
    for unjudged in [
        "requiresCommitSignatures",
        "requiresDeployments",
        "lockBranch",
        "restrictsPushes",
        "requireLastPushApproval",
    ] {
        if flag(rule, unjudged)? {
            return Err(format!(
                "the branch protection sets {unjudged}, which Landfall does not check"
            ));
        }
    }
    let reviews =
        flag(rule, "requiresApprovingReviews")? || flag(rule, "requiresCodeOwnerReviews")?;
    if reviews && pull.get("reviewDecision").and_then(Value::as_str) != Some("APPROVED") {
        return Err(
            "the branch protection requires reviews, and GitHub gave no approval".to_owned(),
        );
    }
    if !flag(rule, "requiresStatusChecks")? {
        return Ok(());
    }
    let checks = field(rule, "requiredStatusChecks")?
        .as_array()
        .ok_or("the branch protection's required checks are not a list")?;
    left.up_to_date |= flag(rule, "requiresStrictStatusChecks")?;
    for check in checks {
        let source = match optional(check, "app") {
            None => Source::Anyone,
            Some(app) => app
                .get("databaseId")
                .and_then(Value::as_i64)
                .map_or(Source::Unknown, Source::App),
        };
        required.push(Required {
            context: text(check, "context")?,
            source,
        });
    }
    Ok(())
}

/// Reviews: GitHub's decision, the writers' latest reviews, the review threads. When they are
/// settled, the writers' approvals, which the rulesets count.
fn settled_reviews(pull: &Value) -> Verdict<usize> {
    match pull.get("reviewDecision").and_then(Value::as_str) {
        None | Some("APPROVED") => {}
        Some(other) => return Err(format!("the review decision is {other}")),
    }
    let reviews = match optional(pull, "latestOpinionatedReviews") {
        None => &[][..],
        Some(reviews) => entries(reviews, "the writers' reviews")?,
    };
    let in_state = |wanted: &str| {
        (reviews.iter())
            .filter(|r| r.get("state").and_then(Value::as_str) == Some(wanted))
            .count()
    };
    if in_state("CHANGES_REQUESTED") > 0 {
        return Err("a writer requested changes".to_owned());
    }
    let threads = entries(field(pull, "reviewThreads")?, "the review threads")?;
    if threads.iter().any(|t| flag(t, "isResolved") != Ok(true)) {
        return Err("a review thread is not resolved".to_owned());
    }
    Ok(in_state("APPROVED"))
}

/// Collects the active rulesets' required checks into `required`; the first rule that blocks,
/// or that Landfall cannot judge, is the error. `approvals` counts the writers' approvals.
fn ruleset_blocker<'a>(
    approvals: usize,
    base_ref: &'a Value,
    required: &mut Vec<Required<'a>>,
    left: &mut StillToCheck,
) -> Verdict<()> {
    let rules = entries(field(base_ref, "rules")?, "the base branch's ruleset rules")?;
    for rule in rules {
        // A rule outside a ruleset (none known) counts as enforced.
        if let Some(ruleset) = optional(rule, "repositoryRuleset")
            && text(ruleset, "enforcement")? != "ACTIVE"
        {
            continue;
        }
        let parameters = rule.get("parameters").unwrap_or(&Value::Null);
        match text(rule, "type")? {
            "CREATION" | "DELETION" | "NON_FAST_FORWARD" | "REQUIRED_LINEAR_HISTORY" => {}
            "REQUIRED_STATUS_CHECKS" => {
                left.up_to_date |= flag(parameters, "strictRequiredStatusChecksPolicy")?;
                let checks = field(parameters, "requiredStatusChecks")?
                    .as_array()
                    .ok_or("a ruleset's required checks are not a list")?;
                for check in checks {
                    let source = check
                        .get("integrationId")
                        .and_then(Value::as_i64)
                        .map_or(Source::Anyone, Source::App);
                    required.push(Required {
                        context: text(check, "context")?,
                        source,
                    });
                }
            }
            "PULL_REQUEST" => {
                if flag(parameters, "requireCodeOwnerReview")?
                    || flag(parameters, "requireLastPushApproval")?
                {
                    return Err(
                        "a ruleset asks for a code owner's review or approval of the last push"
                            .to_owned(),
                    );
                }
                let wanted = field(parameters, "requiredApprovingReviewCount")?
                    .as_u64()
                    .ok_or("a ruleset's approval count is not a number")?;
                if u64::try_from(approvals).map_or(true, |n| n < wanted) {
                    return Err(format!("a ruleset asks for {wanted} approvals"));
                }
            }
            other => {
                return Err(format!(
                    "a ruleset's {other} rule, which Landfall does not check"
                ));
            }
        }
    }
    Ok(())
}

/// Whether `check` is on the head and every report of it passed.
fn passed(check: &Required<'_>, reports: &[Report<'_>]) -> bool {
    let mut counted = reports
        .iter()
        .filter(|r| r.name == check.context)
        .filter_map(|r| {
            let counts = match (check.source, r.by) {
                (Source::Anyone, _) => true,
                (Source::App(id), Reporter::CheckRun(app)) => app == Some(id),
                // GitHub counts no status toward a check bound to an App.
                (Source::App(_), Reporter::Status) | (Source::Unknown, _) => false,
            };
            counts.then_some(r.passed)
        });
    let first = counted.next();
    first == Some(true) && counted.all(|ok| ok)
}

#[cfg(test)]
#[path = "mergeable_tests.rs"]
mod tests;
