//! A `blocked` pull request on GitHub: where the `mergeable` requirement asks, the pull request
//! is read again and one GraphQL query says whether Landfall's own apply checks are all that
//! block it (`POST /graphql`, `/api/graphql` on Enterprise Server). Reading the pull request
//! alone sends no query.

use landfall_function::vcs::VcsClient;
use landfall_function::vcs::github::GithubClient;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{PR, SHA, client, github_get, policy, repo};

/// Approved, `ci/test` passed, the required `landfall/apply` pending.
fn graphql_answer(apply: &str) -> Value {
    json!({"data": {"repository": {"pullRequest": {
        "headRefOid": SHA, "baseRefName": "main",
        "reviewDecision": "APPROVED",
        "latestOpinionatedReviews": {"pageInfo": {"hasNextPage": false}, "nodes": [{"state": "APPROVED"}]},
        "reviewThreads": {"pageInfo": {"hasNextPage": false}, "nodes": []},
        "baseRef": {
            "branchProtectionRule": {
                "requiresStatusChecks": true, "requiresStrictStatusChecks": false,
                "requiresApprovingReviews": true, "requiresCodeOwnerReviews": false,
                "requiredStatusChecks": [{"context": "ci/test", "app": null}, {"context": "landfall/apply", "app": null}],
                "requiresCommitSignatures": false, "requiresDeployments": false,
                "lockBranch": false, "restrictsPushes": false, "requireLastPushApproval": false
            },
            "rules": {"pageInfo": {"hasNextPage": false}, "nodes": []}
        },
    },
    "object": {"oid": SHA, "statusCheckRollup": {"contexts": {
        "pageInfo": {"hasNextPage": false},
        "nodes": [
            {"__typename": "CheckRun", "name": "ci/test", "conclusion": "SUCCESS", "checkSuite": {"app": {"databaseId": 15368}}},
            {"__typename": "StatusContext", "context": "landfall/apply", "state": apply}
        ]
    }}}}}})
}

async fn blocked_pull_request(server: &MockServer, prefix: &str) {
    let auth = ("authorization", "Bearer ghp_test");
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/repos/acme/infra/pulls/7")))
        .and(header(auth.0, auth.1))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open", "merged": false, "mergeable": true,
            "mergeable_state": "blocked",
            "head": {"ref": "feature", "sha": SHA}, "base": {"ref": "main"},
            "user": {"login": "octocat"}
        })))
        .mount(server)
        .await;
}

/// A fake GitHub whose PR #7 is `blocked` and whose GraphQL API gives `answer` (none: 404).
async fn blocked_host(answer: Option<Value>) -> MockServer {
    let server = MockServer::start().await;
    blocked_pull_request(&server, "").await;
    if let Some(answer) = answer {
        graphql(&server, "/graphql", answer).await;
    }
    server
}

/// The pull request read (`blocked`: not mergeable as read), then asked about.
async fn judged(c: &GithubClient) -> Option<bool> {
    let pr = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.mergeable, Some(false), "blocked, as read");
    c.mergeable(&repo(), &pr).await.unwrap()
}

async fn graphql(server: &MockServer, at: &str, answer: Value) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(header("authorization", "Bearer ghp_test"))
        .and(|r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            body["variables"] == json!({"owner": "acme", "name": "infra", "number": 7, "head": SHA})
                && body["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("reviewDecision"))
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_pull_request_blocked_only_by_landfalls_own_apply_check_is_mergeable() {
    let server = blocked_host(Some(graphql_answer("PENDING"))).await;
    assert_eq!(judged(&client(&server)).await, Some(true));
}

#[tokio::test]
async fn a_pull_request_blocked_by_anything_else_is_not() {
    // Landfall's check passed, so something Landfall cannot see blocks.
    let server = blocked_host(Some(graphql_answer("SUCCESS"))).await;
    assert_eq!(judged(&client(&server)).await, Some(false));

    // A GraphQL error (GitHub answers 200 with `errors`): no.
    let mut answer = graphql_answer("PENDING");
    answer["errors"] =
        json!([{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]);
    let server = blocked_host(Some(answer)).await;
    assert_eq!(judged(&client(&server)).await, Some(false));

    // No GraphQL endpoint at all (a 404): no, and the pull request is still read.
    let server = blocked_host(None).await;
    assert_eq!(judged(&client(&server)).await, Some(false));
}

#[tokio::test]
async fn enterprise_servers_graphql_is_beside_its_rest_api() {
    let server = MockServer::start().await;
    blocked_pull_request(&server, "/api/v3").await;
    graphql(&server, "/api/graphql", graphql_answer("PENDING")).await;
    let base = format!("{}/api/v3", server.uri());
    let c = GithubClient::personal_token(Some(&base), SecretString::from("ghp_test"), policy())
        .unwrap();
    assert_eq!(judged(&c).await, Some(true));
}

#[tokio::test]
async fn a_conflicting_pull_request_needs_no_query() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open", "mergeable_state": "dirty",
            "head": {"ref": "feature", "sha": SHA}, "base": {"ref": "main"},
            "user": {"login": "octocat"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    assert_eq!(judged(&client(&server)).await, Some(false));
}

#[tokio::test]
async fn an_unshown_protection_rule_is_asked_of_the_branch() {
    for (branch, expected) in [
        (json!({"name": "main", "protected": false}), true),
        // Protected by a ruleset alone (GitHub says `protected` then too), or by a rule not shown.
        (
            json!({"name": "main", "protected": true, "protection": {"enabled": false}}),
            false,
        ),
        (
            json!({"name": "main", "protected": true, "protection": {"enabled": true}}),
            false,
        ),
        (json!({"name": "main", "protected": true}), false),
    ] {
        // Only a ruleset's required landfall/apply is shown.
        let mut answer = graphql_answer("PENDING");
        let pull = &mut answer["data"]["repository"]["pullRequest"];
        pull["baseRef"]["branchProtectionRule"] = Value::Null;
        pull["baseRef"]["rules"]["nodes"] = json!([{"type": "REQUIRED_STATUS_CHECKS",
            "repositoryRuleset": {"enforcement": "ACTIVE"},
            "parameters": {"strictRequiredStatusChecksPolicy": false,
                "requiredStatusChecks": [{"context": "landfall/apply", "integrationId": null}]}}]);
        let server = blocked_host(Some(answer)).await;
        github_get("/repos/acme/infra/branches/main")
            .respond_with(ResponseTemplate::new(200).set_body_json(branch.clone()))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(judged(&client(&server)).await, Some(expected), "{branch}");
    }
}

#[tokio::test]
async fn a_strict_check_needs_the_head_up_to_date_with_its_base() {
    for (behind_by, expected) in [(0, true), (2, false)] {
        let mut answer = graphql_answer("PENDING");
        answer["data"]["repository"]["pullRequest"]["baseRef"]["branchProtectionRule"]["requiresStrictStatusChecks"] =
            json!(true);
        let server = blocked_host(Some(answer)).await;
        github_get(&format!("/repos/acme/infra/compare/main...{SHA}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"behind_by": behind_by})))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(
            judged(&client(&server)).await,
            Some(expected),
            "behind by {behind_by}"
        );
    }
}

/// Every webhook, report and sweep reads pull requests: that alone asks GitHub nothing more.
#[tokio::test]
async fn reading_a_blocked_pull_request_sends_no_query() {
    let server = blocked_host(None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.mergeable, Some(false));
}
