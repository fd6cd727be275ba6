//! The fake GitHub's answers: a pull request's routes (the PR, its files and reviews, the
//! comparison with `main`), the tree, contents and tarball (its pre-signed download, which must
//! carry no credentials), comments, statuses and collaborator permissions, each needing the
//! token.

use landfall_e2e::{git, git_bytes};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::{ARCHIVE_TOKEN, FakeGithub, HostState, REPO, TOKEN, json_response};

impl FakeGithub {
    /// The pull request routes: the PR, its files (the diff against `main`), its reviews.
    fn read_pull(&self, state: &HostState, parts: &[&str]) -> Option<ResponseTemplate> {
        let repo = &self.repo;
        Some(match parts {
            ["pulls", n] => {
                let n: u64 = n.parse().unwrap();
                let Some(pr) = state.prs.get(&n) else {
                    return Some(json_response(404, &json!({"message": "Not Found"})));
                };
                let sha = git(repo, &["rev-parse", &pr.head]);
                let blocked = state.required_checks.iter().any(|c| !state.passed(&sha, c));
                json_response(
                    200,
                    &json!({
                        "number": n,
                        "state": if pr.merged { "closed" } else { "open" },
                        "merged": pr.merged,
                        "mergeable": true,
                        "mergeable_state": if blocked { "blocked" } else { "clean" },
                        "user": {"login": pr.author},
                        "head": {"ref": pr.head, "sha": sha, "repo": {"full_name": pr.head_repo}},
                        "base": {"ref": "main", "sha": git(repo, &["rev-parse", "main"])},
                        "merge_commit_sha": state.merge_commits.get(&n),
                    }),
                )
            }
            ["pulls", n, "files"] => {
                let n: u64 = n.parse().unwrap();
                let head = state.prs[&n].head.clone();
                let diff = git(repo, &["diff", "--name-status", &format!("main...{head}")]);
                let files: Vec<Value> = diff
                    .lines()
                    .filter_map(|line| line.split_once('\t'))
                    .map(|(status, file)| {
                        let status = match status {
                            "A" => "added",
                            "D" => "removed",
                            _ => "modified",
                        };
                        json!({"filename": file, "status": status})
                    })
                    .collect();
                json_response(200, &Value::Array(files))
            }
            ["pulls", n, "reviews"] => {
                let n: u64 = n.parse().unwrap();
                let head = git(repo, &["rev-parse", &state.prs[&n].head]);
                let mut reviews = vec![
                    json!({"user": {"login": "reviewer"}, "state": "COMMENTED", "commit_id": head}),
                ];
                if state.approved.contains(&n) {
                    reviews.push(
                        json!({"user": {"login": "reviewer"}, "state": "APPROVED", "commit_id": head}),
                    );
                }
                for (_, login, review_state, commit) in state.reviews.iter().filter(|r| r.0 == n) {
                    reviews.push(json!({"user": {"login": login}, "state": review_state, "commit_id": commit}));
                }
                json_response(200, &Value::Array(reviews))
            }
            ["compare", basehead] => {
                let (base, head) = basehead.split_once("...").unwrap();
                let behind = git(repo, &["rev-list", "--count", &format!("{head}..{base}")]);
                let ahead = git(repo, &["rev-list", "--count", &format!("{base}..{head}")]);
                json_response(
                    200,
                    &json!({"behind_by": behind.parse::<u64>().unwrap(), "ahead_by": ahead.parse::<u64>().unwrap(), "status": "ahead"}),
                )
            }
            _ => return None,
        })
    }
}

impl FakeGithub {
    /// The pre-signed download the tarball endpoint redirects to (codeload.github.com on
    /// github.com): the repository's `git archive` at `sha`, as GitHub makes it.
    fn archive(&self, state: &mut HostState, request: &Request, sha: &str) -> ResponseTemplate {
        if request.headers.contains_key("authorization") {
            state.credentials_off_api += 1;
            return json_response(403, &json!({"message": "credentials sent off the API"}));
        }
        let signed = request
            .url
            .query_pairs()
            .any(|(k, v)| k == "token" && v == ARCHIVE_TOKEN);
        let prefix = format!("--prefix={}-{}/", REPO.replace('/', "-"), &sha[..7]);
        match git_bytes(&self.repo, &["archive", "--format=tar.gz", &prefix, sha]) {
            Some(archive) if signed => {
                state.archives += 1;
                ResponseTemplate::new(200).set_body_bytes(archive)
            }
            _ => json_response(404, &json!({"message": "Not Found"})),
        }
    }
}

impl Respond for FakeGithub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        if let Some(sha) = request
            .url
            .path()
            .strip_prefix(&format!("/_codeload/{REPO}/legacy.tar.gz/"))
        {
            return self.archive(&mut state, request, sha);
        }
        if !auth.ends_with(TOKEN) {
            state.unauthorized += 1;
            return json_response(401, &json!({"message": "Bad credentials"}));
        }
        if let Some(response) = self.extra_routes(&mut state, request) {
            return response;
        }
        let path = request.url.path().to_owned();
        let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}/")) else {
            return json_response(404, &json!({"message": "Not Found"}));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let method = request.method.as_str();
        let repo = &self.repo;
        if method == "GET"
            && let ["collaborators", login, "permission"] = parts.as_slice()
        {
            return permission(&mut state, login);
        }
        if method == "GET"
            && let Some(response) = self.read_pull(&state, &parts)
        {
            return response;
        }
        match (method, parts.as_slice()) {
            ("GET", ["git", "trees", sha]) => {
                let files = git(repo, &["ls-tree", "-r", "--name-only", sha]);
                let tree: Vec<Value> = files
                    .lines()
                    .map(|p| json!({"path": p, "type": "blob", "mode": "100644"}))
                    .collect();
                json_response(200, &json!({"sha": sha, "tree": tree, "truncated": false}))
            }
            ("GET", ["tarball", sha]) => ResponseTemplate::new(302).insert_header(
                "location",
                format!("/_codeload/{REPO}/legacy.tar.gz/{sha}?token={ARCHIVE_TOKEN}").as_str(),
            ),
            ("GET", ["contents", file @ ..]) => {
                state.file_reads += 1;
                let file = file.join("/");
                let sha = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "ref")
                    .map(|(_, v)| v.into_owned())
                    .unwrap();
                match git_bytes(repo, &["show", &format!("{sha}:{file}")]) {
                    Some(bytes) => ResponseTemplate::new(200).set_body_bytes(bytes),
                    None => json_response(404, &json!({"message": "Not Found"})),
                }
            }
            ("POST", ["issues", n, "comments"]) => {
                let n: u64 = n.parse().unwrap();
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let id = 1000 + state.comments.len() as u64;
                state
                    .comments
                    .push((id, n, body["body"].as_str().unwrap().to_owned()));
                json_response(201, &json!({"id": id}))
            }
            ("PATCH", ["issues", "comments", id]) => {
                let id: u64 = id.parse().unwrap();
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let Some(comment) = state.comments.iter_mut().find(|c| c.0 == id) else {
                    return json_response(404, &json!({"message": "Not Found"}));
                };
                body["body"].as_str().unwrap().clone_into(&mut comment.2);
                json_response(200, &json!({"id": id}))
            }
            ("POST", ["statuses", sha]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                state.statuses.push((
                    (*sha).to_owned(),
                    body["context"].as_str().unwrap_or_default().to_owned(),
                    body["state"].as_str().unwrap_or_default().to_owned(),
                ));
                json_response(201, &json!({}))
            }
            _ => json_response(404, &json!({"message": "Not Found"})),
        }
    }
}

/// The collaborator permission route: the login's role, or 404 for a non-collaborator.
fn permission(state: &mut HostState, login: &str) -> ResponseTemplate {
    state.permission_lookups += 1;
    match state.roles.get(login) {
        Some(role) => {
            let permission = match role.as_str() {
                "maintain" => "write",
                "triage" => "read",
                other => other,
            };
            json_response(
                200,
                &json!({"permission": permission, "role_name": role, "user": {"login": login}}),
            )
        }
        None => json_response(404, &json!({"message": "Not Found"})),
    }
}
