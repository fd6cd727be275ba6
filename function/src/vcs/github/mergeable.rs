//! Whether a pull request GitHub calls `blocked` is blocked by Landfall's own checks alone.
//!
//! A required `landfall/apply` stays pending until the apply, so GitHub's `mergeable_state` is
//! `blocked` and the `mergeable` apply requirement could never be met (Atlantis'
//! `--gh-allow-mergeable-bypass-apply`). One GraphQL query (GitHub's REST API has no review
//! decision) reads what can block a merge; the pull request counts as mergeable only when every
//! one of these holds, so anything Landfall does not read or cannot judge keeps it blocked:
//!
//! - the last commit read is the head the REST answer named;
//! - `reviewDecision` is `APPROVED` or absent (no review required), every review thread is
//!   resolved, and each active ruleset's `PULL_REQUEST` rule has enough approvals from writers
//!   (`latestOpinionatedReviews(writersOnly: true)`) and asks for no code owner's review and no
//!   approval of the last push;
//! - the branch protection rule asks for no signed commits, deployments, lock or push
//!   restriction, and no approval of the last push;
//! - every active ruleset rule is of a type judged here (`PULL_REQUEST`,
//!   `REQUIRED_STATUS_CHECKS`) or one that does not stop a pull request's merge (`CREATION`,
//!   `DELETION`, `NON_FAST_FORWARD`, `REQUIRED_LINEAR_HISTORY`);
//! - every required check (branch protection's and the rulesets') that is not Landfall's own
//!   (`<status name>/...`) is on the head and passed: each check run of that name (from the
//!   required App, when one is named) concluded `SUCCESS`, `NEUTRAL` or `SKIPPED`, each status
//!   of that context is `SUCCESS` (a check bound to an App counts that App's check runs only);
//! - no check run or status on the head that GitHub marks required for the pull request
//!   (`isRequired`, which holds where the rules cannot be read) is failing or unfinished,
//!   unless it is Landfall's own;
//! - at least one required check is Landfall's own and has not passed: what GitHub blocks on.
//!   A block Landfall cannot see (a permission too narrow to read the protection) is never
//!   taken for its own;
//! - no list was cut at 100 entries.

use serde::Deserialize;

/// The query: `$owner`, `$name`, `$number`.
pub(super) const QUERY: &str = "query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
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
              ... on RequiredStatusChecksParameters { requiredStatusChecks { context integrationId } }
              ... on PullRequestParameters {
                requiredApprovingReviewCount requireCodeOwnerReview requireLastPushApproval
              }
            }
          }
        }
      }
      commits(last: 1) {
        nodes {
          commit {
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
    }
  }
}";

/// GraphQL's answer: `data`, or `errors` (which GitHub sends with a 200).
#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    data: Option<Data>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Data {
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repository {
    pull_request: Option<Pull>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pull {
    review_decision: Option<String>,
    latest_opinionated_reviews: Option<Page<Review>>,
    review_threads: Page<Thread>,
    base_ref: Option<BaseRef>,
    commits: Page<CommitNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<T>>,
}

impl<T> Page<T> {
    fn is_cut(&self) -> bool {
        self.page_info.as_ref().is_none_or(|p| p.has_next_page)
    }

    fn items(&self) -> impl Iterator<Item = &T> {
        self.nodes.iter().flatten()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
}

#[derive(Debug, Deserialize)]
struct Review {
    state: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Thread {
    is_resolved: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BaseRef {
    branch_protection_rule: Option<Protection>,
    rules: Option<Page<Rule>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(
    clippy::struct_excessive_bools,
    reason = "GitHub's settings, read as it names them"
)]
struct Protection {
    #[serde(default)]
    required_status_checks: Option<Vec<ProtectionCheck>>,
    requires_commit_signatures: bool,
    requires_deployments: bool,
    lock_branch: bool,
    restricts_pushes: bool,
    require_last_push_approval: bool,
}

#[derive(Debug, Deserialize)]
struct ProtectionCheck {
    context: String,
    app: Option<App>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct App {
    database_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(rename = "type")]
    kind: String,
    repository_ruleset: Option<Ruleset>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct Ruleset {
    enforcement: String,
}

/// The two parameter shapes read; any other rule's parameters come as `{}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    required_status_checks: Option<Vec<RulesetCheck>>,
    required_approving_review_count: Option<u32>,
    #[serde(default)]
    require_code_owner_review: bool,
    #[serde(default)]
    require_last_push_approval: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulesetCheck {
    context: String,
    integration_id: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CommitNode {
    commit: Commit,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    oid: String,
    status_check_rollup: Option<Rollup>,
}

#[derive(Debug, Deserialize)]
struct Rollup {
    contexts: Page<Context>,
}

/// A check run or a commit status (`__typename`).
#[derive(Debug, Deserialize)]
#[serde(tag = "__typename")]
enum Context {
    CheckRun {
        name: String,
        conclusion: Option<String>,
        #[serde(rename = "checkSuite")]
        suite: Option<Suite>,
        #[serde(rename = "isRequired", default)]
        is_required: bool,
    },
    StatusContext {
        context: String,
        state: String,
        #[serde(rename = "isRequired", default)]
        is_required: bool,
    },
}

impl Context {
    /// A report GitHub calls required for this pull request that is not Landfall's own and
    /// has not passed: its name.
    fn failing_required(&self, own_prefix: &str) -> Option<&str> {
        let (name, passed, required) = match self {
            Context::CheckRun {
                name,
                conclusion,
                is_required,
                ..
            } => (name, passed_conclusion(conclusion.as_deref()), *is_required),
            Context::StatusContext {
                context,
                state,
                is_required,
            } => (context, state == "SUCCESS", *is_required),
        };
        (required && !passed && !name.starts_with(own_prefix)).then_some(name.as_str())
    }
}

fn passed_conclusion(conclusion: Option<&str>) -> bool {
    matches!(conclusion, Some("SUCCESS" | "NEUTRAL" | "SKIPPED"))
}

#[derive(Debug, Deserialize)]
struct Suite {
    app: Option<App>,
}

/// A check the base branch requires: its name, and the App that must report it, if any.
struct Required<'a> {
    context: &'a str,
    app: Option<i64>,
}

/// What keeps the pull request blocked besides Landfall's own checks, or `None` when nothing
/// does. `head` is the head commit the REST answer named; `own_prefix` is `<status name>/`.
pub(super) fn blocker(answer: &Answer, head: &str, own_prefix: &str) -> Option<String> {
    if !answer.errors.is_empty() {
        return Some(format!("GitHub's GraphQL API answered {:?}", answer.errors));
    }
    let Some(pull) = answer
        .data
        .as_ref()
        .and_then(|d| d.repository.as_ref())
        .and_then(|r| r.pull_request.as_ref())
    else {
        return Some("GitHub's GraphQL API did not show the pull request".to_owned());
    };
    let commit = pull.commits.items().last().map(|n| &n.commit);
    if commit.is_none_or(|c| c.oid != head) {
        return Some("the head commit moved".to_owned());
    }
    if let Some(why) = review_blocker(pull) {
        return Some(why);
    }
    let Some(base) = &pull.base_ref else {
        return Some("the base branch is gone".to_owned());
    };
    let mut required = Vec::new();
    if let Some(rule) = &base.branch_protection_rule {
        if rule.requires_commit_signatures
            || rule.requires_deployments
            || rule.lock_branch
            || rule.restricts_pushes
            || rule.require_last_push_approval
        {
            return Some("the branch protection asks for what Landfall does not check (signed commits, deployments, a lock, push restrictions or approval of the last push)".to_owned());
        }
        required.extend(
            rule.required_status_checks
                .iter()
                .flatten()
                .map(|c| Required {
                    context: &c.context,
                    app: c.app.as_ref().and_then(|a| a.database_id),
                }),
        );
    }
    if let Some(why) = ruleset_blocker(pull, base, &mut required) {
        return Some(why);
    }
    let contexts = commit
        .and_then(|c| c.status_check_rollup.as_ref())
        .map(|r| &r.contexts);
    if contexts.is_some_and(Page::is_cut) {
        return Some("the head has more than 100 checks".to_owned());
    }
    let contexts: Vec<&Context> = contexts.into_iter().flat_map(Page::items).collect();
    // GitHub's own word on each report, which holds where the rules cannot be read.
    if let Some(name) = contexts.iter().find_map(|c| c.failing_required(own_prefix)) {
        return Some(format!("GitHub requires {name:?}, which has not passed"));
    }
    let mut own_unfinished = false;
    for check in &required {
        let passed = passed(check, &contexts);
        if check.context.starts_with(own_prefix) {
            own_unfinished |= !passed;
        } else if !passed {
            return Some(format!(
                "the required check {:?} has not passed",
                check.context
            ));
        }
    }
    (!own_unfinished).then(|| {
        "no required Landfall check is unfinished, so something else blocks the merge".to_owned()
    })
}

/// Reviews: GitHub's decision, the review threads, and the approvals a ruleset counts.
fn review_blocker(pull: &Pull) -> Option<String> {
    match pull.review_decision.as_deref() {
        None | Some("APPROVED") => {}
        Some(other) => return Some(format!("the review decision is {other}")),
    }
    if pull.review_threads.is_cut() || pull.review_threads.items().any(|t| !t.is_resolved) {
        return Some("a review thread is not resolved".to_owned());
    }
    None
}

/// Collects the active rulesets' required checks into `required`; the first rule that blocks,
/// or that Landfall cannot judge, is returned.
fn ruleset_blocker<'a>(
    pull: &Pull,
    base: &'a BaseRef,
    required: &mut Vec<Required<'a>>,
) -> Option<String> {
    let Some(rules) = &base.rules else {
        return None;
    };
    if rules.is_cut() {
        return Some("the base branch has more than 100 ruleset rules".to_owned());
    }
    let approvals = pull
        .latest_opinionated_reviews
        .as_ref()
        .map_or(Some(0), |r| {
            (!r.is_cut()).then(|| r.items().filter(|r| r.state == "APPROVED").count())
        });
    for rule in rules.items() {
        // A rule outside a ruleset (none known) counts as enforced.
        if rule
            .repository_ruleset
            .as_ref()
            .is_some_and(|r| r.enforcement != "ACTIVE")
        {
            continue;
        }
        let parameters = rule.parameters.as_ref();
        match rule.kind.as_str() {
            "CREATION" | "DELETION" | "NON_FAST_FORWARD" | "REQUIRED_LINEAR_HISTORY" => {}
            "REQUIRED_STATUS_CHECKS" => {
                let Some(checks) = parameters.and_then(|p| p.required_status_checks.as_ref())
                else {
                    return Some("a required status checks rule names no checks".to_owned());
                };
                required.extend(checks.iter().map(|c| Required {
                    context: &c.context,
                    app: c.integration_id,
                }));
            }
            "PULL_REQUEST" => {
                let Some(parameters) = parameters else {
                    return Some("a pull request rule came without its parameters".to_owned());
                };
                if parameters.require_code_owner_review || parameters.require_last_push_approval {
                    return Some(
                        "a ruleset asks for a code owner's review or approval of the last push"
                            .to_owned(),
                    );
                }
                let wanted = parameters.required_approving_review_count.unwrap_or(0);
                let enough = approvals.is_some_and(|n| u32::try_from(n).is_ok_and(|n| n >= wanted));
                if !enough {
                    return Some(format!("a ruleset asks for {wanted} approvals"));
                }
            }
            other => {
                return Some(format!(
                    "a ruleset's {other} rule, which Landfall does not check"
                ));
            }
        }
    }
    None
}

/// Whether `check` is on the head and every report of it passed.
fn passed(check: &Required<'_>, contexts: &[&Context]) -> bool {
    let mut reports = contexts.iter().filter_map(|c| match c {
        Context::CheckRun {
            name,
            conclusion,
            suite,
            ..
        } if name == check.context => {
            let app = suite
                .as_ref()
                .and_then(|s| s.app.as_ref())
                .and_then(|a| a.database_id);
            (check.app.is_none() || app == check.app)
                .then_some(passed_conclusion(conclusion.as_deref()))
        }
        // GitHub counts no status toward a check bound to an App.
        Context::StatusContext { context, state, .. } if context == check.context => {
            check.app.is_none().then_some(state == "SUCCESS")
        }
        _ => None,
    });
    let first = reports.next();
    first == Some(true) && reports.all(|ok| ok)
}

#[cfg(test)]
#[path = "mergeable_tests.rs"]
mod tests;
