//! The conformance test's fake hosts: one responder per host that answers every request an
//! adapter makes plausibly (the shapes the adapters read, as the wiremock tests of each host
//! serve them), so that every operation runs to its end and makes all of its requests. Anything
//! unexpected gets a 418, which fails the operation that asked.

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::archive_common::{TREE, tarball};

/// The head commit every fake pull request has.
pub const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
/// The base branch's head.
pub const BASE: &str = "0123456789abcdef0123456789abcdef01234567";
/// The commit a merge made.
pub const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

fn json(value: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(value)
}

fn created(value: Value) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(value)
}

fn bytes(body: &[u8]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_bytes(body.to_vec())
}

fn archive(top: &str) -> ResponseTemplate {
    bytes(&tarball(top, SHA, TREE))
}

/// The title every fake tracking issue has.
pub const ISSUE_TITLE: &str = "Drift in acme/infra";

/// An open issue as GitHub and Gitea answer it: `number`, `html_url`, `title`, `body`, `state`.
fn github_issue(url: &str) -> Value {
    json!({"number": 12, "html_url": url, "title": ISSUE_TITLE, "body": "old", "state": "open"})
}

fn unexpected(req: &Request) -> ResponseTemplate {
    ResponseTemplate::new(418).set_body_string(format!("unexpected {} {}", req.method, req.url))
}

/// `req`'s method and its path after `base`.
fn route<'a>(req: &'a Request, base: &str) -> (&'a str, String) {
    let path = req.url.path().strip_prefix(base).unwrap_or(req.url.path());
    (req.method.as_str(), path.to_owned())
}

/// GitHub's GraphQL answer for #8: approved, no branch protection rule shown, a ruleset that
/// requires `landfall/apply` on an up-to-date branch, the check pending.
fn github_blocked_by_own_apply() -> Value {
    let none = json!({"pageInfo": {"hasNextPage": false}, "nodes": []});
    json!({"data": {"repository": {
        "pullRequest": {
            "headRefOid": SHA, "baseRefName": "main", "reviewDecision": "APPROVED",
            "latestOpinionatedReviews": none, "reviewThreads": none,
            "baseRef": {"branchProtectionRule": null, "rules": {
                "pageInfo": {"hasNextPage": false},
                "nodes": [{"type": "REQUIRED_STATUS_CHECKS",
                    "repositoryRuleset": {"enforcement": "ACTIVE"},
                    "parameters": {"strictRequiredStatusChecksPolicy": true,
                        "requiredStatusChecks": [{"context": "landfall/apply", "integrationId": null}]}}]
            }}
        },
        "object": {"oid": SHA, "statusCheckRollup": {"contexts": {
            "pageInfo": {"hasNextPage": false},
            "nodes": [{"__typename": "StatusContext", "context": "landfall/apply", "state": "PENDING", "isRequired": true}]
        }}}
    }}})
}

/// GitHub, a personal token's client and a GitHub App's.
pub fn github(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "");
    let repo = "/repos/acme/infra";
    match (method, path.strip_prefix(repo).unwrap_or(&path)) {
        ("GET", "/pulls/7") => json(json!({
            "number": 7, "state": "open", "merged": false, "mergeable_state": "clean",
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": BASE, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "octocat"}
        })),
        ("GET", "/pulls/8") => json(json!({
            "number": 8, "state": "open", "merged": false, "mergeable_state": "blocked",
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": BASE, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "octocat"}
        })),
        ("POST", "/graphql") => json(github_blocked_by_own_apply()),
        ("GET", "/branches/main") => json(json!({"name": "main", "protected": false})),
        ("GET", "/pulls/7/files") => json(json!([
            {"filename": "envs/prod/main.tf", "status": "modified", "previous_filename": null}
        ])),
        ("GET", "/contents/envs/prod/main.tf") => bytes(b"a = 1\n"),
        ("GET", p) if p == format!("/git/trees/{SHA}") => json(json!({
            "truncated": false,
            "tree": [{"path": "envs/prod/main.tf", "type": "blob", "sha": BASE}]
        })),
        ("GET", p) if p == format!("/tarball/{SHA}") => archive("acme-infra-ec26c3e"),
        ("POST", "/issues/7/comments") => created(json!({"id": 1001})),
        ("PATCH", "/issues/comments/1001") => json(json!({"id": 1001})),
        ("POST", p) if p == format!("/statuses/{SHA}") => created(json!({"id": 1})),
        ("POST", "/check-runs") => created(json!({"id": 4, "status": "in_progress"})),
        ("GET", "/collaborators/octocat/permission") => {
            json(json!({"permission": "write", "role_name": "maintain"}))
        }
        ("GET", "/pulls/7/reviews") => json(json!([
            {"id": 1, "user": {"login": "reviewer"}, "state": "APPROVED", "commit_id": SHA}
        ])),
        ("GET", p) if p == format!("/compare/main...{SHA}") => json(json!({"behind_by": 0})),
        (
            "GET",
            "/orgs/acme/teams/platform/memberships/octocat"
            | "/orgs/ops/teams/sre/memberships/octocat",
        ) => json(json!({"state": "active"})),
        ("GET", "/installation" | "/orgs/ops/installation") => json(json!({"id": 42})),
        ("POST", "/app/installations/42/access_tokens") => created(json!({
            "token": "ghs_installation", "expires_at": "2099-01-01T00:00:00Z"
        })),
        ("GET", "") => json(json!({
            "full_name": "acme/infra", "default_branch": "main",
            "clone_url": "https://github.com/acme/infra.git"
        })),
        ("GET", "/git/ref/heads/main") => json(json!({
            "ref": "refs/heads/main", "object": {"sha": BASE, "type": "commit"}
        })),
        ("POST", "/issues") => created(github_issue("https://github.com/acme/infra/issues/12")),
        ("GET" | "PATCH", "/issues/12") => {
            json(github_issue("https://github.com/acme/infra/issues/12"))
        }
        ("GET", "/git/ref/heads/feature") => json(json!({
            "ref": "refs/heads/feature", "object": {"sha": SHA, "type": "commit"}
        })),
        ("DELETE", "/git/refs/heads/feature") => ResponseTemplate::new(204),
        ("PUT", "/pulls/7/merge") => json(json!({
            "sha": MERGED, "merged": true, "message": "Pull Request successfully merged"
        })),
        _ => unexpected(req),
    }
}

/// GitLab under `/api/v4`: a merge request from a fork whose pipeline holds only Landfall's own
/// status (so mergeability reads the token's user and the statuses).
pub fn gitlab(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "/api/v4");
    let project = "/projects/acme%2Finfra";
    match (method, path.strip_prefix(project).unwrap_or(&path)) {
        ("GET", "/merge_requests/7") => json(json!({
            "iid": 7, "sha": SHA, "source_branch": "feature", "target_branch": "main",
            "author": {"username": "dev"}, "state": "opened",
            "detailed_merge_status": "ci_still_running", "has_conflicts": false,
            "source_project_id": 2, "target_project_id": 1, "diverged_commits_count": 0
        })),
        ("GET", "/user") => json(json!({"id": 99, "username": "landfall-bot"})),
        ("GET", p) if p == format!("/repository/commits/{SHA}/statuses") => json(json!([
            {"name": "landfall/plan: envs/prod", "status": "running",
             "author": {"username": "landfall-bot"}}
        ])),
        ("GET", "/projects/2") => json(json!({"path_with_namespace": "fork/infra"})),
        ("GET", "/merge_requests/7/diffs") => json(json!([
            {"old_path": "envs/prod/main.tf", "new_path": "envs/prod/main.tf"}
        ])),
        ("GET", "/repository/files/envs%2Fprod%2Fmain.tf/raw") => bytes(b"a = 1\n"),
        ("GET", "/repository/tree") => json(json!([{"path": "envs/prod/main.tf", "type": "blob"}])),
        ("GET", "/repository/archive.tar.gz") => archive(&format!("infra-{SHA}-{SHA}")),
        ("POST", "/merge_requests/7/notes") => created(json!({"id": 501})),
        ("PUT", "/merge_requests/7/notes/501") => json(json!({"id": 501})),
        ("POST", p) if p == format!("/statuses/{SHA}") => created(json!({"id": 1})),
        ("GET", "/users") => json(json!([{"id": 12, "username": "dev"}])),
        ("GET", "/members/all/12" | "/groups/acme%2Fplatform/members/12") => {
            json(json!({"id": 12, "access_level": 30, "state": "active"}))
        }
        ("GET", "/merge_requests/7/approvals") => json(json!({
            "approved_by": [{"user": {"id": 12, "username": "dev"}}]
        })),
        ("GET", "") => json(json!({
            "id": 1, "default_branch": "main",
            "http_url_to_repo": "https://gitlab.com/acme/infra.git"
        })),
        ("GET", "/repository/branches/main") => {
            json(json!({"name": "main", "commit": {"id": BASE}}))
        }
        ("POST" | "GET" | "PUT", "/issues" | "/issues/12") => {
            let status = if method == "POST" { 201 } else { 200 };
            ResponseTemplate::new(status).set_body_json(json!({
                "iid": 12, "web_url": "https://gitlab.com/acme/infra/-/issues/12",
                "title": ISSUE_TITLE, "description": "old", "state": "opened"
            }))
        }
        ("DELETE", "/repository/branches/feature") => ResponseTemplate::new(204),
        ("GET", "/repository/branches/feature") => {
            json(json!({"name": "feature", "commit": {"id": SHA}}))
        }
        ("PUT", "/merge_requests/7/merge") => json(json!({
            "iid": 7, "sha": SHA, "source_branch": "feature", "target_branch": "main",
            "state": "merged", "merge_commit_sha": MERGED, "squash_commit_sha": null
        })),
        _ => unexpected(req),
    }
}

/// Gitea under `/api/v1`.
pub fn gitea(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "/api/v1");
    let repo = "/repos/acme/infra";
    match (method, path.strip_prefix(repo).unwrap_or(&path)) {
        ("GET", "/pulls/3") => json(json!({
            "state": "open", "merged": false, "mergeable": true, "merge_base": BASE,
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": BASE, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "dev"}
        })),
        ("GET", "/pulls/3/files") => json(json!([
            {"filename": "envs/prod/main.tf", "status": "changed", "previous_filename": null}
        ])),
        ("GET", "/raw/envs/prod/main.tf") => bytes(b"a = 1\n"),
        ("GET", p) if p == format!("/git/trees/{SHA}") => json(json!({
            "truncated": false, "tree": [{"path": "envs/prod/main.tf", "type": "blob", "sha": BASE}]
        })),
        ("GET", p) if p == format!("/archive/{SHA}.tar.gz") => archive("infra"),
        ("POST", "/issues/3/comments") => created(json!({"id": 71})),
        ("PATCH", "/issues/comments/71") => json(json!({"id": 71})),
        ("POST", p) if p == format!("/statuses/{SHA}") => created(json!({"id": 1})),
        ("GET", "/collaborators/dev/permission") => json(json!({"permission": "write"})),
        ("GET", "/pulls/3/reviews") => json(json!([
            {"id": 1, "user": {"login": "lead"}, "state": "APPROVED", "commit_id": SHA,
             "dismissed": false, "stale": false, "official": true}
        ])),
        ("GET", "/branches/main") => json(json!({"name": "main", "commit": {"id": BASE}})),
        ("GET", "/orgs/acme/teams/search") => {
            json(json!({"ok": true, "data": [{"id": 7, "name": "platform"}]}))
        }
        ("GET", "/teams/7/members/dev") => json(json!({"login": "dev"})),
        ("GET", "") => json(json!({
            "full_name": "acme/infra", "default_branch": "main",
            "clone_url": "https://gitea.example.com/acme/infra.git"
        })),
        ("POST", "/issues") => created(github_issue(
            "https://gitea.example.com/acme/infra/issues/12",
        )),
        ("GET" | "PATCH", "/issues/12") => json(github_issue(
            "https://gitea.example.com/acme/infra/issues/12",
        )),
        ("GET", "/branches/feature") => json(json!({"name": "feature", "commit": {"id": SHA}})),
        ("DELETE", "/branches/feature") => ResponseTemplate::new(204),
        ("POST", "/pulls/3/merge") => ResponseTemplate::new(200),
        _ => unexpected(req),
    }
}

/// Azure DevOps: the organisation `acme` (its identity service at the same address, as for a
/// Server collection).
pub fn azure_devops(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "/acme");
    let repo = "/Platform/_apis/git/repositories/infra";
    let lower = path.to_ascii_lowercase();
    let query = req.url.query().unwrap_or_default();
    match (
        method,
        lower
            .strip_prefix(&repo.to_ascii_lowercase())
            .unwrap_or(&lower),
    ) {
        ("GET", "/pullrequests/42") => json(json!({
            "lastMergeSourceCommit": {"commitId": SHA},
            "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main",
            "createdBy": {"uniqueName": "dev@example.com"}, "status": "active",
            "mergeStatus": "succeeded",
            "reviewers": [{"vote": 10, "id": "id-lead", "uniqueName": "lead@example.com"}]
        })),
        ("PATCH", "/pullrequests/42") => json(json!({
            "pullRequestId": 42, "status": "completed", "mergeStatus": "succeeded",
            "lastMergeSourceCommit": {"commitId": SHA}, "lastMergeCommit": {"commitId": MERGED},
            "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main"
        })),
        ("GET", "/pullrequests/42/iterations") => json(json!({
            "value": [{"id": 1, "sourceRefCommit": {"commitId": SHA}}]
        })),
        ("GET", "/pullrequests/42/iterations/1/changes") => json(json!({
            "changeEntries": [{"item": {"path": "/envs/prod/main.tf"}, "changeType": "edit"}],
            "nextSkip": 0, "nextTop": 0
        })),
        ("GET", "/items") if query.contains("scopePath") => {
            json(json!({"value": [{"path": "/envs/prod/main.tf", "isFolder": false}]}))
        }
        ("GET", "/items") => bytes(b"a = 1\n"),
        ("POST", "/pullrequests/42/threads") => json(json!({"id": 3, "comments": [{"id": 1}]})),
        ("PATCH", "/pullrequests/42/threads/3/comments/1") => json(json!({"id": 1})),
        ("POST", "/pullrequests/42/statuses") => json(json!({"id": 2, "iterationId": 1})),
        ("POST", p) if p == format!("/commits/{SHA}/statuses") => created(json!({"id": 1})),
        ("GET", "/diffs/commits") => json(json!({
            "behindCount": 0, "aheadCount": 1, "baseCommit": BASE, "commonCommit": BASE
        })),
        ("GET", "") => json(json!({
            "id": "repo-id", "name": "infra", "project": {"id": "project-id", "name": "Platform"},
            "defaultBranch": "refs/heads/main",
            "remoteUrl": "https://dev.azure.com/acme/Platform/_git/infra"
        })),
        ("GET", "/refs") if query.contains("heads%2Fmain") => json(json!({
            "value": [{"name": "refs/heads/main", "objectId": BASE}], "count": 1
        })),
        ("GET", "/refs") => json(json!({
            "value": [{"name": "refs/heads/feature", "objectId": SHA}], "count": 1
        })),
        ("POST", "/platform/_apis/wit/workitems/$issue")
        | ("GET" | "PATCH", "/platform/_apis/wit/workitems/12") => json(json!({
            "id": 12, "rev": 1,
            "fields": {"System.Title": ISSUE_TITLE, "System.Description": "old", "System.State": "Doing"},
            "_links": {"html": {"href": "https://dev.azure.com/acme/Platform/_workitems/edit/12"}}
        })),
        ("GET", "/platform/_apis/wit/workitemtypes/issue/states") => {
            json(json!({"count": 3, "value": [
                {"name": "To Do", "color": "b2b2b2", "category": "Proposed"},
                {"name": "Doing", "color": "007acc", "category": "InProgress"},
                {"name": "Done", "color": "339933", "category": "Completed"}
            ]}))
        }
        ("POST", "/refs") => json(json!({"value": [{
            "name": "refs/heads/feature", "success": true, "updateStatus": "succeeded"
        }], "count": 1})),
        ("GET", "/_apis/identities") => json(json!({
            "value": [{"id": "id-dev", "descriptor": "Microsoft.IdentityModel.Claims.ClaimsIdentity;dev"}]
        })),
        ("GET", p) if p.starts_with("/_apis/accesscontrollists/") => json(json!({"value": [{
            "token": "repoV2/project-id/repo-id",
            "acesDictionary": {"Microsoft.IdentityModel.Claims.ClaimsIdentity;dev": {
                "descriptor": "Microsoft.IdentityModel.Claims.ClaimsIdentity;dev",
                "allow": 4, "deny": 0}}
        }]})),
        _ => unexpected(req),
    }
}

/// Bitbucket Cloud under `/2.0`: a pull request with a short head hash (resolved in full).
pub fn bitbucket_cloud(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "/2.0");
    let repo = "/repositories/acme/infra";
    let account = json!({"nickname": "dev", "uuid": "{dev-uuid}"});
    match (method, path.strip_prefix(repo).unwrap_or(&path)) {
        ("GET", "/pullrequests/5") => json(json!({
            "source": {"branch": {"name": "feature"}, "commit": {"hash": &SHA[..12]},
                       "repository": {"full_name": "acme/infra"}},
            "destination": {"branch": {"name": "main"}, "commit": {"hash": &BASE[..12]}},
            "author": account, "state": "OPEN",
            "participants": [{"user": account, "approved": true, "state": "approved"}]
        })),
        ("GET", p) if p == format!("/commit/{}", &SHA[..12]) => json(json!({"hash": SHA})),
        ("GET", "/pullrequests/5/diffstat") => json(json!({"values": [{
            "status": "modified", "old": {"path": "envs/prod/main.tf"},
            "new": {"path": "envs/prod/main.tf"}
        }]})),
        ("GET", p) if p == format!("/src/{SHA}/") => json(json!({
            "values": [{"type": "commit_file", "path": "envs/prod/main.tf"}]
        })),
        ("GET", p) if p == format!("/src/{SHA}/envs/prod/main.tf") => bytes(b"a = 1\n"),
        ("POST", "/pullrequests/5/comments") => created(json!({"id": 9})),
        ("PUT", "/pullrequests/5/comments/9") => json(json!({"id": 9})),
        ("POST", p) if p == format!("/commit/{SHA}/statuses/build") => created(json!({})),
        ("GET", "/workspaces/acme/permissions/repositories/infra") => {
            json(json!({"values": [{"permission": "write"}]}))
        }
        ("GET", "/refs/branches/main") => json(json!({"name": "main", "target": {"hash": BASE}})),
        ("GET", p) if p == format!("/merge-base/{SHA}..{BASE}") => json(json!({"hash": BASE})),
        ("GET", "") => json(json!({
            "full_name": "acme/infra", "mainbranch": {"name": "main"},
            "links": {"clone": [
                {"name": "https", "href": "https://bot@bitbucket.org/acme/infra.git"},
                {"name": "ssh", "href": "git@bitbucket.org:acme/infra.git"}
            ]}
        })),
        ("POST" | "GET", "/issues" | "/issues/12") => {
            ResponseTemplate::new(if method == "POST" { 201 } else { 200 }).set_body_json(json!({
                "type": "issue", "id": 12, "title": ISSUE_TITLE, "state": "new",
                "content": {"raw": "old", "markup": "markdown"},
                "links": {"html": {"href": "https://bitbucket.org/acme/infra/issues/12"}}
            }))
        }
        ("POST", "/issues/12/changes") => created(json!({"type": "issue_change", "changes": {}})),
        ("GET", "/refs/branches/feature") => {
            json(json!({"name": "feature", "target": {"hash": SHA}}))
        }
        ("DELETE", "/refs/branches/feature") => ResponseTemplate::new(204),
        _ => unexpected(req),
    }
}

/// Bitbucket Data Center at the server's root.
pub fn bitbucket_server(req: &Request) -> ResponseTemplate {
    let (method, path) = route(req, "/rest/api");
    let repo = "/1.0/projects/PLAT/repos/infra";
    let last_page = |values: Value| json(json!({"values": values, "isLastPage": true}));
    match (method, path.strip_prefix(repo).unwrap_or(&path)) {
        ("GET", "/pull-requests/5") => json(json!({
            "fromRef": {"displayId": "feature", "latestCommit": SHA,
                        "repository": {"slug": "infra", "project": {"key": "PLAT"}}},
            "toRef": {"displayId": "main", "latestCommit": BASE},
            "author": {"user": {"name": "dev"}}, "state": "OPEN",
            "reviewers": [{"user": {"name": "lead"}, "status": "APPROVED", "lastReviewedCommit": SHA}],
            "participants": []
        })),
        ("GET", "/pull-requests/5/merge") => json(json!({"canMerge": true})),
        ("GET", "/pull-requests/5/changes") => {
            last_page(json!([{"path": {"toString": "envs/prod/main.tf"}, "type": "MODIFY"}]))
        }
        ("GET", "/raw/envs/prod/main.tf") => bytes(b"a = 1\n"),
        ("GET", "/files") => last_page(json!(["envs/prod/main.tf"])),
        ("GET", "/archive") => archive("landfall"),
        ("POST", "/pull-requests/5/comments") => created(json!({"id": 11, "version": 0})),
        ("GET", "/pull-requests/5/comments/11") => json(json!({"id": 11, "version": 0})),
        ("PUT", "/pull-requests/5/comments/11") => json(json!({"id": 11, "version": 1})),
        ("GET", "/compare/commits") => last_page(json!([])),
        ("POST", p) if p == format!("/latest/projects/PLAT/repos/infra/commits/{SHA}/builds") => {
            ResponseTemplate::new(204)
        }
        ("GET", "/1.0/users") => last_page(json!([{"name": "dev", "slug": "dev"}])),
        ("GET", "/default-branch") => json(json!({"id": "refs/heads/main", "displayId": "main"})),
        ("GET", "") => json(json!({"slug": "infra", "links": {"clone": [
            {"name": "http", "href": "https://bitbucket.example.com/scm/plat/infra.git"},
            {"name": "ssh", "href": "ssh://git@bitbucket.example.com:7999/plat/infra.git"}
        ]}})),
        ("GET", "/branches")
            if req
                .url
                .query()
                .unwrap_or_default()
                .contains("filterText=main") =>
        {
            last_page(json!([{"id": "refs/heads/main", "displayId": "main", "latestCommit": BASE}]))
        }
        ("GET", "/branches") => last_page(json!([
            {"id": "refs/heads/feature", "displayId": "feature", "latestCommit": SHA}
        ])),
        ("DELETE", "/rest/branch-utils/latest/projects/PLAT/repos/infra/branches") => {
            ResponseTemplate::new(204)
        }
        _ => unexpected(req),
    }
}
