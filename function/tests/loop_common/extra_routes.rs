//! The fake GitHub's routes beyond a pull request's: the repository (its default branch and
//! clone URL) and the default branch's head, the tracking issue (drift checks), and merging a
//! pull request (automerge).

use landfall_e2e::git;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{FakeGithub, HostState, REPO, json_response};

/// An issue as the fake host keeps it.
#[derive(Clone, Debug)]
pub struct Issue {
    pub title: String,
    pub body: String,
    pub state: String,
}

impl FakeGithub {
    /// Answers these routes; `None` for any other request.
    pub(super) fn extra_routes(
        &self,
        state: &mut HostState,
        request: &Request,
    ) -> Option<ResponseTemplate> {
        let path = request.url.path();
        let method = request.method.as_str();
        if path == format!("/repos/{REPO}") && method == "GET" {
            return Some(json_response(
                200,
                &json!({
                    "full_name": REPO,
                    "default_branch": "main",
                    "clone_url": format!("file://{}", self.repo.display()),
                }),
            ));
        }
        if path == "/graphql" && method == "POST" {
            return Some(self.graphql(state, request));
        }
        let rest = path.strip_prefix(&format!("/repos/{REPO}/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let body = || serde_json::from_slice::<Value>(&request.body).unwrap_or_default();
        Some(match (method, parts.as_slice()) {
            ("PUT", ["pulls", n, "merge"]) => {
                let number: u64 = n.parse().ok()?;
                state.merges.push((number, body()));
                json_response(
                    200,
                    &json!({"merged": true, "message": "Pull Request successfully merged"}),
                )
            }
            ("GET", ["git", "ref", "heads", branch @ ..]) => {
                let branch = branch.join("/");
                let sha = git(&self.repo, &["rev-parse", &branch]);
                json_response(
                    200,
                    &json!({"ref": format!("refs/heads/{branch}"), "object": {"sha": sha, "type": "commit"}}),
                )
            }
            ("GET", ["branches", branch]) => {
                let sha = git(&self.repo, &["rev-parse", branch]);
                json_response(200, &json!({"name": branch, "commit": {"sha": sha}}))
            }
            ("GET", ["commits", reference]) => {
                let sha = git(&self.repo, &["rev-parse", reference]);
                json_response(200, &json!({"sha": sha}))
            }
            ("POST", ["issues"]) => {
                let body = body();
                let number = 900 + state.issues.len() as u64;
                state.issues.insert(
                    number,
                    Issue {
                        title: body["title"].as_str().unwrap_or_default().to_owned(),
                        body: body["body"].as_str().unwrap_or_default().to_owned(),
                        state: "open".to_owned(),
                    },
                );
                json_response(201, &issue_json(number, &state.issues[&number]))
            }
            ("GET", ["issues", n]) => {
                let number: u64 = n.parse().ok()?;
                match state.issues.get(&number) {
                    Some(issue) => json_response(200, &issue_json(number, issue)),
                    None => json_response(404, &json!({"message": "Not Found"})),
                }
            }
            ("PATCH", ["issues", n]) => {
                let number: u64 = n.parse().ok()?;
                let body = body();
                let Some(issue) = state.issues.get_mut(&number) else {
                    return Some(json_response(404, &json!({"message": "Not Found"})));
                };
                if let Some(title) = body["title"].as_str() {
                    title.clone_into(&mut issue.title);
                }
                if let Some(text) = body["body"].as_str() {
                    text.clone_into(&mut issue.body);
                }
                if let Some(s) = body["state"].as_str() {
                    s.clone_into(&mut issue.state);
                }
                json_response(200, &issue_json(number, issue))
            }
            _ => return None,
        })
    }
}

impl FakeGithub {
    /// The one GraphQL query Landfall sends (what blocks a merge): no review required, the
    /// branch protection's required checks, the head's newest status of each context.
    fn graphql(&self, state: &HostState, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let number = body["variables"]["number"].as_u64().unwrap_or_default();
        let Some(pr) = state.prs.get(&number) else {
            return json_response(200, &json!({"data": {"repository": {"pullRequest": null}}}));
        };
        let sha = git(&self.repo, &["rev-parse", &pr.head]);
        let mut contexts: Vec<&str> = Vec::new();
        for (at, context, _) in &state.statuses {
            if *at == sha && !contexts.contains(&context.as_str()) {
                contexts.push(context);
            }
        }
        let rollup: Vec<Value> = contexts
            .iter()
            .map(|c| {
                let passed = if state.passed(&sha, c) {
                    "SUCCESS"
                } else {
                    "PENDING"
                };
                json!({"__typename": "StatusContext", "context": c, "state": passed})
            })
            .collect();
        let required: Vec<Value> = state
            .required_checks
            .iter()
            .map(|c| json!({"context": c, "app": null}))
            .collect();
        let none = json!({"pageInfo": {"hasNextPage": false}, "nodes": []});
        json_response(
            200,
            &json!({"data": {"repository": {"pullRequest": {
                "headRefOid": sha, "baseRefName": "main",
                "reviewDecision": null,
                "latestOpinionatedReviews": none,
                "reviewThreads": none,
                "baseRef": {
                    "branchProtectionRule": {
                        "requiresStatusChecks": true, "requiresStrictStatusChecks": false,
                        "requiresApprovingReviews": false, "requiresCodeOwnerReviews": false,
                        "requiredStatusChecks": required,
                        "requiresCommitSignatures": false, "requiresDeployments": false,
                        "lockBranch": false, "restrictsPushes": false,
                        "requireLastPushApproval": false
                    },
                    "rules": none
                },
            },
            "object": {"oid": sha, "statusCheckRollup": {"contexts": {
                "pageInfo": {"hasNextPage": false}, "nodes": rollup
            }}}}}}),
        )
    }
}

fn issue_json(number: u64, issue: &Issue) -> Value {
    json!({
        "number": number,
        "html_url": format!("https://github.com/{REPO}/issues/{number}"),
        "title": issue.title,
        "body": issue.body,
        "state": issue.state,
    })
}
