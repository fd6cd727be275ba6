use serde_json::{Value, json};

use super::{StillToCheck, judge};

const HEAD: &str = "a1b2c3";

/// A pull request approved, its threads resolved, whose base requires `ci/test` (passed) and
/// `landfall/apply` (pending), by branch protection.
fn answer() -> Value {
    json!({"data": {"repository": {"pullRequest": {
        "headRefOid": HEAD,
        "baseRefName": "main",
        "reviewDecision": "APPROVED",
        "latestOpinionatedReviews": {"pageInfo": {"hasNextPage": false}, "nodes": [{"state": "APPROVED"}]},
        "reviewThreads": {"pageInfo": {"hasNextPage": false}, "nodes": [{"isResolved": true}]},
        "baseRef": {
            "branchProtectionRule": {
                "requiresStatusChecks": true, "requiresStrictStatusChecks": false,
                "requiresApprovingReviews": true, "requiresCodeOwnerReviews": false,
                "requiredStatusChecks": [
                    {"context": "ci/test", "app": null},
                    {"context": "landfall/apply", "app": null}
                ],
                "requiresCommitSignatures": false, "requiresDeployments": false,
                "lockBranch": false, "restrictsPushes": false, "requireLastPushApproval": false
            },
            "rules": {"pageInfo": {"hasNextPage": false}, "nodes": []}
        },
    },
    "object": {"oid": HEAD, "statusCheckRollup": {"contexts": {
        "pageInfo": {"hasNextPage": false},
        "nodes": [
            {"__typename": "StatusContext", "context": "ci/test", "state": "SUCCESS"},
            {"__typename": "StatusContext", "context": "landfall/plan", "state": "SUCCESS"},
            {"__typename": "StatusContext", "context": "landfall/apply", "state": "PENDING"}
        ]
    }}}}}})
}

fn pull(answer: &mut Value) -> &mut Value {
    &mut answer["data"]["repository"]["pullRequest"]
}

fn contexts(answer: &mut Value) -> &mut Vec<Value> {
    answer["data"]["repository"]["object"]["statusCheckRollup"]["contexts"]["nodes"]
        .as_array_mut()
        .unwrap()
}

fn rules(answer: &mut Value) -> &mut Vec<Value> {
    pull(answer)["baseRef"]["rules"]["nodes"]
        .as_array_mut()
        .unwrap()
}

fn mergeable(answer: &Value) -> bool {
    mergeable_as(answer, "landfall")
}

fn mergeable_as(answer: &Value, status_name: &str) -> bool {
    left(answer, status_name).is_ok()
}

fn left(answer: &Value, status_name: &str) -> Result<StillToCheck, String> {
    judge(answer, HEAD, "main", status_name)
}

#[test]
fn only_landfalls_own_pending_check_is_passed_over() {
    assert!(mergeable(&answer()));
    // A project's apply check too, and a failed one.
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"context": "landfall/apply: infra/prod", "app": null}));
    contexts(&mut a).push(json!({"__typename": "StatusContext", "context": "landfall/apply: infra/prod", "state": "FAILURE"}));
    assert!(mergeable(&a));
}

#[test]
fn another_required_check_that_has_not_passed_blocks() {
    for state in ["PENDING", "FAILURE", "ERROR", "EXPECTED"] {
        let mut a = answer();
        contexts(&mut a)[0]["state"] = json!(state);
        assert!(!mergeable(&a), "{state}");
    }
    // Missing altogether.
    let mut a = answer();
    contexts(&mut a).remove(0);
    assert!(!mergeable(&a));
    // One report passed, another of the same name did not.
    let mut a = answer();
    contexts(&mut a).push(json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": "FAILURE", "checkSuite": {"app": {"databaseId": 15368}}}));
    assert!(!mergeable(&a));
    // A check run still running.
    let mut a = answer();
    contexts(&mut a)[0] = json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": null, "checkSuite": {"app": {"databaseId": 15368}}});
    assert!(!mergeable(&a));
    contexts(&mut a)[0]["conclusion"] = json!("NEUTRAL");
    assert!(mergeable(&a));
}

#[test]
fn a_check_bound_to_an_app_passes_only_by_that_apps_check_run() {
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"][0]["app"] =
        json!({"databaseId": 15368});
    // A status of that name (any writer can post one) does not count.
    assert!(!mergeable(&a));
    contexts(&mut a)[0] = json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": "SUCCESS", "checkSuite": {"app": {"databaseId": 999}}});
    assert!(!mergeable(&a));
    contexts(&mut a)[0]["checkSuite"]["app"]["databaseId"] = json!(15368);
    assert!(mergeable(&a));
}

#[test]
fn reviews_and_threads_must_be_settled() {
    for decision in ["REVIEW_REQUIRED", "CHANGES_REQUESTED"] {
        let mut a = answer();
        pull(&mut a)["reviewDecision"] = json!(decision);
        assert!(!mergeable(&a), "{decision}");
    }
    let mut a = answer();
    pull(&mut a)["reviewDecision"] = Value::Null;
    assert!(
        !mergeable(&a),
        "the protection requires reviews: no decision is no approval"
    );
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiresApprovingReviews"] = json!(false);
    assert!(mergeable(&a), "no review required");
    pull(&mut a)["reviewThreads"]["nodes"][0]["isResolved"] = json!(false);
    assert!(!mergeable(&a));
}

#[test]
fn a_report_github_marks_required_blocks_even_where_the_rules_are_not_read() {
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    contexts(&mut a)[0]["state"] = json!("FAILURE");
    assert!(mergeable(&a), "not required: GitHub would not block on it");
    contexts(&mut a)[0]["isRequired"] = json!(true);
    assert!(!mergeable(&a));
    // Landfall's own, marked required, is what is passed over.
    contexts(&mut a)[0]["state"] = json!("SUCCESS");
    contexts(&mut a)[2]["isRequired"] = json!(true);
    assert!(mergeable(&a));
}

#[test]
fn when_no_landfall_check_is_unfinished_something_else_blocks() {
    let mut a = answer();
    contexts(&mut a)[2]["state"] = json!("SUCCESS");
    assert!(!mergeable(&a));
    // Nothing required that can be seen (the protection was not readable).
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"] = Value::Null;
    assert!(!mergeable(&a));
}

#[test]
fn protection_settings_landfall_does_not_check_block() {
    for setting in [
        "requiresCommitSignatures",
        "requiresDeployments",
        "lockBranch",
        "restrictsPushes",
        "requireLastPushApproval",
    ] {
        let mut a = answer();
        pull(&mut a)["baseRef"]["branchProtectionRule"][setting] = json!(true);
        assert!(!mergeable(&a), "{setting}");
    }
}

#[test]
fn active_rulesets_are_judged_and_others_left_out() {
    // A ruleset's required check, failing: blocks when active, not when only evaluated.
    let rule = json!({"type": "REQUIRED_STATUS_CHECKS", "repositoryRuleset": {"enforcement": "ACTIVE"},
        "parameters": {"strictRequiredStatusChecksPolicy": false, "requiredStatusChecks": [{"context": "lint", "integrationId": null}]}});
    let mut a = answer();
    rules(&mut a).push(rule.clone());
    contexts(&mut a)
        .push(json!({"__typename": "StatusContext", "context": "lint", "state": "FAILURE"}));
    assert!(!mergeable(&a));
    rules(&mut a)[0]["repositoryRuleset"]["enforcement"] = json!("EVALUATE");
    assert!(mergeable(&a));
    // The ruleset alone requires landfall/apply: still Landfall's own block.
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"] = Value::Null;
    let mut own = rule;
    own["parameters"]["requiredStatusChecks"][0]["context"] = json!("landfall/apply");
    rules(&mut a).push(own);
    assert!(mergeable(&a));
    // Rules that do not stop a merge, and one Landfall does not judge.
    for kind in [
        "DELETION",
        "NON_FAST_FORWARD",
        "REQUIRED_LINEAR_HISTORY",
        "CREATION",
    ] {
        rules(&mut a).push(json!({"type": kind, "repositoryRuleset": {"enforcement": "ACTIVE"}, "parameters": null}));
    }
    assert!(mergeable(&a));
    rules(&mut a).push(json!({"type": "MERGE_QUEUE", "repositoryRuleset": {"enforcement": "ACTIVE"}, "parameters": {}}));
    assert!(!mergeable(&a));
}

#[test]
fn a_rulesets_approvals_are_counted_from_writers() {
    let mut a = answer();
    pull(&mut a)["reviewDecision"] = Value::Null;
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiresApprovingReviews"] = json!(false);
    rules(&mut a).push(json!({"type": "PULL_REQUEST", "repositoryRuleset": {"enforcement": "ACTIVE"},
        "parameters": {"requiredApprovingReviewCount": 2, "requireCodeOwnerReview": false, "requireLastPushApproval": false}}));
    assert!(!mergeable(&a), "one approval of two");
    pull(&mut a)["latestOpinionatedReviews"]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"state": "CHANGES_REQUESTED"}));
    assert!(!mergeable(&a));
    pull(&mut a)["latestOpinionatedReviews"]["nodes"][1]["state"] = json!("APPROVED");
    assert!(mergeable(&a));
    rules(&mut a)[0]["parameters"]["requireCodeOwnerReview"] = json!(true);
    assert!(!mergeable(&a));
}

#[test]
fn what_cannot_be_read_whole_blocks() {
    let mut a = answer();
    pull(&mut a)["headRefOid"] = json!("d4e5f6");
    assert!(!mergeable(&a), "the head moved");
    let mut a = answer();
    pull(&mut a)["baseRef"]["rules"] = Value::Null;
    assert!(!mergeable(&a), "rulesets not shown");
    let mut a = answer();
    pull(&mut a)["baseRefName"] = json!("dev");
    assert!(!mergeable(&a), "retargeted between the two reads");
    let mut a = answer();
    a["data"]["repository"]["object"] = json!({});
    assert!(!mergeable(&a), "not a commit");
    // Only Landfall's check required: a head not shown is no head without checks.
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    assert!(mergeable(&a));
    a["data"]["repository"]["object"] = Value::Null;
    assert!(!mergeable(&a), "no head commit");
    let mut a = answer();
    contexts(&mut a).push(Value::Null);
    assert!(!mergeable(&a), "a check GitHub could not give");
    for list in [
        "/reviewThreads/pageInfo/hasNextPage",
        "/baseRef/rules/pageInfo/hasNextPage",
        "/latestOpinionatedReviews/pageInfo/hasNextPage",
    ] {
        let mut a = answer();
        *pull(&mut a).pointer_mut(list).unwrap() = json!(true);
        assert!(!mergeable(&a), "{list}");
    }
    {
        let list = "/data/repository/object/statusCheckRollup/contexts/pageInfo/hasNextPage";
        let mut a = answer();
        *a.pointer_mut(list).unwrap() = json!(true);
        assert!(!mergeable(&a), "{list}");
    }
    assert!(!mergeable(
        &json!({"data": null, "errors": [{"message": "Resource not accessible by integration"}]})
    ));
    let mut a = answer();
    a["errors"] = json!([{"message": "something"}]);
    assert!(!mergeable(&a));
    assert!(!mergeable(
        &json!({"data": {"repository": {"pullRequest": null}}})
    ));
}

#[test]
fn the_status_name_says_which_checks_are_landfalls() {
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"][1]["context"] =
        json!("atlantis/apply");
    contexts(&mut a)[2]["context"] = json!("atlantis/apply");
    assert!(!mergeable(&a));
    assert!(mergeable_as(&a, "atlantis"));
}

fn require(answer: &mut Value, context: &str) {
    pull(answer)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"context": context, "app": null}));
}

#[test]
fn only_landfalls_apply_checks_are_its_own() {
    // Another system's check under the same prefix, Landfall's own plan, and names that only
    // start like an apply check: each must pass like any other.
    for context in [
        "landfall/apply-ci",
        "landfall/plan",
        "landfall/applying",
        "landfallx/apply",
    ] {
        let mut a = answer();
        require(&mut a, context);
        contexts(&mut a)
            .push(json!({"__typename": "StatusContext", "context": context, "state": "FAILURE"}));
        assert!(!mergeable(&a), "{context}");
    }
    // A status name that is a prefix of another system's names.
    let mut a = answer();
    require(&mut a, "ci/apply-tests");
    assert!(!mergeable_as(&a, "ci"));
}

#[test]
fn an_up_to_date_branch_is_left_to_check_where_a_rule_enforces_it() {
    assert_eq!(left(&answer(), "landfall"), Ok(StillToCheck::default()));
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiresStrictStatusChecks"] = json!(true);
    let expected = StillToCheck {
        up_to_date: true,
        ..StillToCheck::default()
    };
    assert_eq!(left(&a, "landfall"), Ok(expected));
    // No rule shown: that there is none is left to check; the ruleset's strict policy too.
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"] = Value::Null;
    rules(&mut a).push(
        json!({"type": "REQUIRED_STATUS_CHECKS", "repositoryRuleset": {"enforcement": "ACTIVE"},
        "parameters": {"strictRequiredStatusChecksPolicy": true,
            "requiredStatusChecks": [{"context": "landfall/apply", "integrationId": null}]}}),
    );
    let expected = StillToCheck {
        no_protection: true,
        up_to_date: true,
    };
    assert_eq!(left(&a, "landfall"), Ok(expected));
}

#[test]
fn required_checks_that_cannot_be_read_block() {
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"] = Value::Null;
    assert!(!mergeable(&a), "required but not named");
    // An App GitHub does not name: nothing counts.
    let mut a = answer();
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiredStatusChecks"][0]["app"] =
        json!({"databaseId": null});
    contexts(&mut a)[0] = json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": "SUCCESS", "checkSuite": {"app": {"databaseId": 15368}}});
    assert!(!mergeable(&a));
}

#[test]
fn a_rulesets_app_bound_check_and_enforcement() {
    let mut a = answer();
    rules(&mut a).push(
        json!({"type": "REQUIRED_STATUS_CHECKS", "repositoryRuleset": null,
        "parameters": {"strictRequiredStatusChecksPolicy": false,
            "requiredStatusChecks": [{"context": "ci/test", "integrationId": 15368}]}}),
    );
    assert!(!mergeable(&a), "a status does not count for an App's check");
    contexts(&mut a)[0] = json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": "SUCCESS", "checkSuite": {"app": {"databaseId": 15368}}});
    assert!(mergeable(&a));
    contexts(&mut a)[0]["conclusion"] = json!("FAILURE");
    assert!(!mergeable(&a));
    // The same status that an active ruleset's App-bound check does not count.
    contexts(&mut a)[0] =
        json!({"__typename": "StatusContext", "context": "ci/test", "state": "SUCCESS"});
    assert!(!mergeable(&a));
    rules(&mut a)[0]["repositoryRuleset"] = json!({"enforcement": "DISABLED"});
    assert!(mergeable(&a), "a disabled ruleset is left out");
}

#[test]
fn conclusions_that_pass_and_those_that_do_not() {
    for (conclusion, passes) in [
        ("SUCCESS", true),
        ("NEUTRAL", true),
        ("SKIPPED", true),
        ("CANCELLED", false),
        ("STALE", false),
        ("TIMED_OUT", false),
        ("ACTION_REQUIRED", false),
        ("STARTUP_FAILURE", false),
    ] {
        let mut a = answer();
        contexts(&mut a)[0] = json!({"__typename": "CheckRun", "name": "ci/test", "conclusion": conclusion, "checkSuite": {"app": null}});
        assert_eq!(mergeable(&a), passes, "{conclusion}");
        // Marked required by GitHub alone (the rule not shown).
        let mut a = answer();
        contexts(&mut a).push(json!({"__typename": "CheckRun", "name": "lint", "conclusion": conclusion, "isRequired": true, "checkSuite": {"app": null}}));
        assert_eq!(mergeable(&a), passes, "{conclusion}, isRequired");
    }
}

#[test]
fn a_writers_request_for_changes_and_a_rulesets_last_push_approval_block() {
    let mut a = answer();
    pull(&mut a)["reviewDecision"] = Value::Null;
    pull(&mut a)["baseRef"]["branchProtectionRule"]["requiresApprovingReviews"] = json!(false);
    pull(&mut a)["latestOpinionatedReviews"]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"state": "CHANGES_REQUESTED"}));
    assert!(!mergeable(&a));
    let mut a = answer();
    rules(&mut a).push(json!({"type": "PULL_REQUEST", "repositoryRuleset": {"enforcement": "ACTIVE"},
        "parameters": {"requiredApprovingReviewCount": 1, "requireCodeOwnerReview": false, "requireLastPushApproval": true}}));
    assert!(!mergeable(&a));
    rules(&mut a)[0]["parameters"]["requireLastPushApproval"] = json!(false);
    assert!(mergeable(&a));
    rules(&mut a)[0]["parameters"] = json!({});
    assert!(
        !mergeable(&a),
        "a review rule whose parameters were not shown"
    );
}
