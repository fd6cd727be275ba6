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

use serde::Deserialize;

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
    /// The head commit (a `Commit`; any other object comes as `{}`).
    object: Option<HeadCommit>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadCommit {
    oid: Option<String>,
    status_check_rollup: Option<Rollup>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pull {
    head_ref_oid: String,
    base_ref_name: String,
    review_decision: Option<String>,
    latest_opinionated_reviews: Option<Page<Review>>,
    review_threads: Page<Thread>,
    base_ref: Option<BaseRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    page_info: Option<PageInfo>,
    #[serde(default = "Vec::new")]
    nodes: Vec<Option<T>>,
}

impl<T> Page<T> {
    /// More than one page, or an entry GitHub could not give (`null`).
    fn is_cut(&self) -> bool {
        self.page_info.as_ref().is_none_or(|p| p.has_next_page)
            || self.nodes.iter().any(Option::is_none)
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
    requires_approving_reviews: bool,
    requires_code_owner_reviews: bool,
    requires_status_checks: bool,
    requires_strict_status_checks: bool,
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

/// The two parameter shapes read; any other rule's parameters come as `{}`, so every field
/// is optional here and a missing one is judged as unknown.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    required_status_checks: Option<Vec<RulesetCheck>>,
    strict_required_status_checks_policy: Option<bool>,
    required_approving_review_count: Option<u32>,
    require_code_owner_review: Option<bool>,
    require_last_push_approval: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulesetCheck {
    context: String,
    integration_id: Option<i64>,
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
    fn failing_required(&self, status_name: &str) -> Option<&str> {
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
        (required && !passed && !is_own_apply(name, status_name)).then_some(name.as_str())
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

fn passed_conclusion(conclusion: Option<&str>) -> bool {
    matches!(conclusion, Some("SUCCESS" | "NEUTRAL" | "SKIPPED"))
}

#[derive(Debug, Deserialize)]
struct Suite {
    app: Option<App>,
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
    /// read it: the branch (`GET .../branches/{base}`) must say it has no protection.
    pub no_protection: bool,
    /// A required check is enforced on an up-to-date branch: the head must contain the base.
    pub up_to_date: bool,
}

/// Whether the pull request is blocked by Landfall's own apply checks alone: `Ok` with what
/// is still to be read, or `Err` with what else blocks it (or could, unseen). `head` is the
/// head commit and `base` the base branch the REST answer named.
pub(super) fn judge(
    answer: &Answer,
    head: &str,
    base: &str,
    status_name: &str,
) -> Result<StillToCheck, String> {
    if !answer.errors.is_empty() {
        return Err(format!("GitHub's GraphQL API answered {:?}", answer.errors));
    }
    let repository = answer.data.as_ref().and_then(|d| d.repository.as_ref());
    let Some(pull) = repository.and_then(|r| r.pull_request.as_ref()) else {
        return Err("GitHub's GraphQL API did not show the pull request".to_owned());
    };
    if pull.head_ref_oid != head {
        return Err("the head commit moved".to_owned());
    }
    if pull.base_ref_name != base {
        return Err("the pull request was retargeted".to_owned());
    }
    let commit = repository.and_then(|r| r.object.as_ref());
    if commit.is_none_or(|c| c.oid.as_deref() != Some(head)) {
        return Err("the head commit was not shown".to_owned());
    }
    review_blocker(pull)?;
    let Some(base_ref) = &pull.base_ref else {
        return Err("the base branch is gone".to_owned());
    };
    let mut left = StillToCheck::default();
    let mut required = Vec::new();
    match &base_ref.branch_protection_rule {
        None => left.no_protection = true,
        Some(rule) => protection_checks(pull, rule, &mut required, &mut left)?,
    }
    ruleset_blocker(pull, base_ref, &mut required, &mut left)?;
    let contexts = commit
        .and_then(|c| c.status_check_rollup.as_ref())
        .map(|r| &r.contexts);
    if contexts.is_some_and(Page::is_cut) {
        return Err("the head has more than 100 checks".to_owned());
    }
    let contexts: Vec<&Context> = contexts.into_iter().flat_map(Page::items).collect();
    // GitHub's own word on each report, which holds where the rules cannot be read.
    if let Some(name) = contexts
        .iter()
        .find_map(|c| c.failing_required(status_name))
    {
        return Err(format!("GitHub requires {name:?}, which has not passed"));
    }
    let mut own_unfinished = false;
    for check in &required {
        let passed = passed(check, &contexts);
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
    pull: &Pull,
    rule: &'a Protection,
    required: &mut Vec<Required<'a>>,
    left: &mut StillToCheck,
) -> Result<(), String> {
    if rule.requires_commit_signatures
        || rule.requires_deployments
        || rule.lock_branch
        || rule.restricts_pushes
        || rule.require_last_push_approval
    {
        return Err("the branch protection asks for what Landfall does not check (signed commits, deployments, a lock, push restrictions or approval of the last push)".to_owned());
    }
    let reviews = rule.requires_approving_reviews || rule.requires_code_owner_reviews;
    if reviews && pull.review_decision.as_deref() != Some("APPROVED") {
        return Err(
            "the branch protection requires reviews, and GitHub gave no decision".to_owned(),
        );
    }
    if !rule.requires_status_checks {
        return Ok(());
    }
    let Some(checks) = &rule.required_status_checks else {
        return Err("the branch protection requires status checks it does not name".to_owned());
    };
    left.up_to_date |= rule.requires_strict_status_checks;
    required.extend(checks.iter().map(|c| Required {
        context: &c.context,
        source: match &c.app {
            None => Source::Anyone,
            Some(App {
                database_id: Some(id),
            }) => Source::App(*id),
            Some(App { database_id: None }) => Source::Unknown,
        },
    }));
    Ok(())
}

/// Reviews: GitHub's decision, the writers' latest reviews, the review threads.
fn review_blocker(pull: &Pull) -> Result<(), String> {
    match pull.review_decision.as_deref() {
        None | Some("APPROVED") => {}
        Some(other) => return Err(format!("the review decision is {other}")),
    }
    let reviews = pull.latest_opinionated_reviews.as_ref();
    if reviews.is_some_and(|r| r.is_cut() || r.items().any(|r| r.state == "CHANGES_REQUESTED")) {
        return Err("a writer requested changes".to_owned());
    }
    if pull.review_threads.is_cut() || pull.review_threads.items().any(|t| !t.is_resolved) {
        return Err("a review thread is not resolved".to_owned());
    }
    Ok(())
}

/// Collects the active rulesets' required checks into `required`; the first rule that blocks,
/// or that Landfall cannot judge, is the error.
fn ruleset_blocker<'a>(
    pull: &Pull,
    base: &'a BaseRef,
    required: &mut Vec<Required<'a>>,
    left: &mut StillToCheck,
) -> Result<(), String> {
    let Some(rules) = &base.rules else {
        return Err("the base branch's rulesets were not shown".to_owned());
    };
    if rules.is_cut() {
        return Err("the base branch has more than 100 ruleset rules".to_owned());
    }
    let approvals = pull
        .latest_opinionated_reviews
        .as_ref()
        .map_or(0, |r| r.items().filter(|r| r.state == "APPROVED").count());
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
                let (Some(checks), Some(strict)) = (
                    parameters.and_then(|p| p.required_status_checks.as_ref()),
                    parameters.and_then(|p| p.strict_required_status_checks_policy),
                ) else {
                    return Err("a required status checks rule came without its checks".to_owned());
                };
                left.up_to_date |= strict;
                required.extend(checks.iter().map(|c| Required {
                    context: &c.context,
                    source: c.integration_id.map_or(Source::Anyone, Source::App),
                }));
            }
            "PULL_REQUEST" => {
                let (Some(wanted), Some(false), Some(false)) =
                    parameters.map_or((None, None, None), |p| {
                        (
                            p.required_approving_review_count,
                            p.require_code_owner_review,
                            p.require_last_push_approval,
                        )
                    })
                else {
                    return Err("a ruleset asks for a code owner's review or approval of the last push, or its review rule cannot be read".to_owned());
                };
                if u32::try_from(approvals).map_or(true, |n| n < wanted) {
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
            let counts = match check.source {
                Source::Anyone => true,
                Source::App(id) => app == Some(id),
                Source::Unknown => false,
            };
            counts.then_some(passed_conclusion(conclusion.as_deref()))
        }
        // GitHub counts no status toward a check bound to an App.
        Context::StatusContext { context, state, .. } if context == check.context => {
            (check.source == Source::Anyone).then_some(state == "SUCCESS")
        }
        _ => None,
    });
    let first = reports.next();
    first == Some(true) && reports.all(|ok| ok)
}

#[cfg(test)]
#[path = "mergeable_tests.rs"]
mod tests;
