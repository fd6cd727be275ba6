//! The fake Gitea's answers: the routes under `/api/v1/repos/acme/infra/` (pull requests, their
//! files and reviews, the repository, comments, statuses, permissions and branches), each needing
//! `Authorization: token`, paged with Gitea's `Link` and `X-Total-Count`.

use landfall_e2e::{git, git_bytes};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::super::{REPO, archive, changed_files, json_response, not_found, page, query, tree};
use super::{FORK_ID, FakeGitea, GiteaState, REPO_ID, user_json};
use crate::loop_common::TOKEN;

impl FakeGitea {
    pub(super) fn repo_json(&self, state: &GiteaState, id: u64, full_name: &str) -> Value {
        let (owner, name) = full_name.split_once('/').unwrap();
        let owner_id = state.users.get(owner).copied().unwrap_or(id + 1000);
        json!({
            "id": id,
            "owner": user_json(owner, owner_id),
            "name": name,
            "full_name": full_name,
            "description": "",
            "empty": false,
            "private": true,
            "fork": id != REPO_ID,
            "template": false,
            "mirror": false,
            "html_url": format!("https://gitea.example/{full_name}"),
            "url": format!("{}/api/v1/repos/{full_name}", self.base),
            "ssh_url": format!("git@gitea.example:{full_name}.git"),
            "clone_url": self.clone_url,
            "default_branch": "main",
            "archived": false,
            "has_pull_requests": true,
        })
    }

    pub(super) fn pr_json(&self, state: &GiteaState, n: u64) -> Value {
        let pr = &state.prs[&n];
        let sha = git(&self.repo, &["rev-parse", &pr.branch]);
        let main = git(&self.repo, &["rev-parse", "main"]);
        let merge_base = git(&self.repo, &["merge-base", "main", &sha]);
        let head_id = if pr.head_repo == REPO {
            REPO_ID
        } else {
            FORK_ID
        };
        let head_owner = pr.head_repo.split_once('/').unwrap().0;
        json!({
            "id": 3000 + n,
            "url": format!("https://gitea.example/{REPO}/pulls/{n}"),
            "number": n,
            "user": user_json(&pr.author, state.users[&pr.author]),
            "title": format!("Change {n}"),
            "body": "",
            "labels": [],
            "milestone": null,
            "assignee": null,
            "assignees": null,
            "requested_reviewers": null,
            "state": "open",
            "draft": false,
            "is_locked": false,
            "comments": 0,
            "html_url": format!("https://gitea.example/{REPO}/pulls/{n}"),
            "diff_url": format!("https://gitea.example/{REPO}/pulls/{n}.diff"),
            "patch_url": format!("https://gitea.example/{REPO}/pulls/{n}.patch"),
            "mergeable": true,
            "merged": false,
            "merged_at": null,
            "merge_commit_sha": null,
            "merged_by": null,
            "allow_maintainer_edit": false,
            "base": {
                "label": "main",
                "ref": "main",
                "sha": main,
                "repo_id": REPO_ID,
                "repo": self.repo_json(state, REPO_ID, REPO),
            },
            "head": {
                "label": if pr.agit { String::new() } else if head_id == REPO_ID { pr.branch.clone() } else { format!("{head_owner}:{}", pr.branch) },
                "ref": if pr.agit { format!("refs/pull/{n}/head") } else { pr.branch.clone() },
                "sha": sha,
                "repo_id": head_id,
                "repo": self.repo_json(state, head_id, &pr.head_repo),
            },
            "merge_base": merge_base,
            "due_date": null,
            "closed_at": null,
            "pin_order": 0,
        })
    }

    /// One page of `items` by `page` and `limit`, with `X-Total-Count`, and a `Link` to the next
    /// page when `linked` (Gitea links the pages of a PR's files, not of its reviews).
    fn paged(&self, request: &Request, items: &[Value], linked: bool) -> ResponseTemplate {
        let number: usize = query(request, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let limit: usize = query(request, "limit")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30);
        let (slice, next) = page(items, number, limit);
        let mut response = json_response(200, &Value::Array(slice))
            .insert_header("x-total-count", items.len().to_string().as_str());
        if let Some(next) = next.filter(|_| linked) {
            let mut url = url::Url::parse(&format!("{}{}", self.base, request.url.path())).unwrap();
            url.query_pairs_mut()
                .append_pair("limit", &limit.to_string())
                .append_pair("page", &next.to_string());
            response = response.insert_header("link", format!("<{url}>; rel=\"next\"").as_str());
        }
        response
    }

    fn comment_json(state: &GiteaState, id: u64, n: u64, body: &str) -> Value {
        json!({
            "id": id,
            "html_url": format!("https://gitea.example/{REPO}/pulls/{n}#issuecomment-{id}"),
            "pull_request_url": format!("https://gitea.example/{REPO}/pulls/{n}"),
            "issue_url": "",
            "user": user_json("landfall-bot", state.users.get("landfall-bot").copied().unwrap_or(99)),
            "original_author": "",
            "original_author_id": 0,
            "body": body,
            "assets": [],
        })
    }

    /// The routes under `repos/acme/infra/`.
    fn repo_route(
        &self,
        state: &mut GiteaState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        match parts.first() {
            Some(&"pulls") => self.pull_route(state, request, method, parts),
            Some(&("raw" | "git" | "archive" | "branches")) => {
                self.repository_route(request, method, parts)
            }
            _ => self.write_and_permission_route(state, request, method, parts),
        }
    }

    /// `pulls/{n}...`: the PR, its files and reviews.
    fn pull_route(
        &self,
        state: &mut GiteaState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        let repo = &self.repo;
        let pr_number = |state: &GiteaState, n: &str| -> Option<u64> {
            let n: u64 = n.parse().ok()?;
            state.prs.contains_key(&n).then_some(n)
        };
        Some(match (method, parts) {
            ("GET", ["pulls", n]) => match pr_number(state, n) {
                Some(n) => json_response(200, &self.pr_json(state, n)),
                None => not_found("pull request does not exist"),
            },
            ("GET", ["pulls", n, "files"]) => {
                let n = pr_number(state, n)?;
                let head = state.prs[&n].branch.clone();
                let files: Vec<Value> = changed_files(repo, "main", &head)
                    .into_iter()
                    .map(|(status, old, new)| {
                        let status = match status {
                            'A' => "added",
                            'D' => "deleted",
                            'R' => "renamed",
                            'C' => "copied",
                            _ => "changed",
                        };
                        json!({
                            "filename": new,
                            "previous_filename": if old == new { String::new() } else { old },
                            "status": status,
                            "additions": 1,
                            "deletions": 1,
                            "changes": 2,
                            "html_url": format!("https://gitea.example/{REPO}/src/commit/{head}/{new}"),
                            "contents_url": format!("{}/api/v1/repos/{REPO}/contents/{new}?ref={head}", self.base),
                            "raw_url": format!("https://gitea.example/{REPO}/raw/commit/{head}/{new}"),
                        })
                    })
                    .collect();
                self.paged(request, &files, true)
            }
            ("GET", ["pulls", n, "reviews"]) => {
                let n = pr_number(state, n)?;
                let head = git(repo, &["rev-parse", &state.prs[&n].branch]);
                let reviews: Vec<Value> = state
                    .reviews
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.0 == n)
                    .map(|(i, (_, login, review_state, commit))| {
                        let official = state
                            .collaborators
                            .get(login)
                            .is_some_and(|p| p != "read");
                        json!({
                            "id": i + 1,
                            "user": user_json(login, state.users[login]),
                            "team": null,
                            "state": review_state,
                            "body": "",
                            "commit_id": commit,
                            "stale": *commit != head,
                            "official": official,
                            "dismissed": false,
                            "comments_count": 0,
                            "html_url": format!("https://gitea.example/{REPO}/pulls/{n}#issuecomment-{}", i + 1),
                            "pull_request_url": format!("https://gitea.example/{REPO}/pulls/{n}"),
                        })
                    })
                    .collect();
                self.paged(request, &reviews, false)
            }
            _ => return None,
        })
    }

    /// `raw`, `git/trees`, `archive` and `branches`: the repository.
    fn repository_route(
        &self,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        let repo = &self.repo;
        Some(match (method, parts) {
            ("GET", ["raw", file @ ..]) => {
                let sha = query(request, "ref")?;
                let file = file
                    .iter()
                    .map(|s| super::super::decode(s))
                    .collect::<Vec<_>>()
                    .join("/");
                match git_bytes(repo, &["show", &format!("{sha}:{file}")]) {
                    Some(bytes) => ResponseTemplate::new(200)
                        .insert_header("content-type", "text/plain; charset=utf-8")
                        .set_body_bytes(bytes),
                    None => not_found("object does not exist"),
                }
            }
            ("GET", ["git", "trees", sha]) => {
                let sha = git(repo, &["rev-parse", &format!("{sha}^{{tree}}")]);
                let entries: Vec<Value> = if query(request, "recursive").as_deref() == Some("true")
                {
                    tree(repo, &sha)
                        .into_iter()
                        .map(|(path, kind, mode, id)| {
                            json!({"path": path, "mode": mode, "type": kind, "size": 0, "sha": id,
                                   "url": format!("{}/api/v1/repos/{REPO}/git/blobs/{id}", self.base)})
                        })
                        .collect()
                } else {
                    return None;
                };
                let number: usize = query(request, "page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                let per_page: usize = query(request, "per_page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1000);
                let (slice, next) = page(&entries, number, per_page);
                json_response(
                    200,
                    &json!({
                        "sha": sha,
                        "url": format!("{}/api/v1/repos/{REPO}/git/trees/{sha}", self.base),
                        "tree": slice,
                        "truncated": next.is_some(),
                        "page": number,
                        "total_count": entries.len(),
                    }),
                )
            }
            ("GET", ["archive", file]) => {
                let sha = file.strip_suffix(".tar.gz")?;
                match archive(repo, sha, "infra/") {
                    Some(bytes) => ResponseTemplate::new(200)
                        .insert_header("content-type", "application/octet-stream")
                        .set_body_bytes(bytes),
                    None => not_found("archive not found"),
                }
            }
            ("GET", ["branches", branch @ ..]) => {
                let branch = branch
                    .iter()
                    .map(|s| super::super::decode(s))
                    .collect::<Vec<_>>()
                    .join("/");
                let Some(sha) = git_bytes(
                    repo,
                    &["rev-parse", "--verify", &format!("refs/heads/{branch}")],
                ) else {
                    return Some(not_found("branch does not exist"));
                };
                let sha = String::from_utf8_lossy(&sha).trim().to_owned();
                json_response(
                    200,
                    &json!({
                        "name": branch,
                        "commit": {
                            "id": sha,
                            "message": "",
                            "url": format!("https://gitea.example/{REPO}/commit/{sha}"),
                        },
                        "protected": false,
                        "required_approvals": 0,
                        "enable_status_check": false,
                        "status_check_contexts": [],
                        "user_can_push": true,
                        "user_can_merge": true,
                        "effective_branch_protection_name": "",
                    }),
                )
            }
            _ => return None,
        })
    }

    /// Comments, statuses and `collaborators/{login}/permission`.
    fn write_and_permission_route(
        &self,
        state: &mut GiteaState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        let pr_number = |state: &GiteaState, n: &str| -> Option<u64> {
            let n: u64 = n.parse().ok()?;
            state.prs.contains_key(&n).then_some(n)
        };
        Some(match (method, parts) {
            ("POST", ["issues", n, "comments"]) => {
                let n = pr_number(state, n)?;
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let text = body["body"].as_str()?.to_owned();
                let id = 4000 + state.comments.len() as u64;
                state.comments.push((id, n, text.clone()));
                json_response(201, &Self::comment_json(state, id, n, &text))
            }
            ("PATCH", ["issues", "comments", id]) => {
                let id: u64 = id.parse().ok()?;
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let text = body["body"].as_str()?.to_owned();
                let Some(comment) = state.comments.iter_mut().find(|c| c.0 == id) else {
                    return Some(not_found("comment does not exist"));
                };
                comment.2.clone_from(&text);
                let n = comment.1;
                json_response(200, &Self::comment_json(state, id, n, &text))
            }
            ("POST", ["statuses", sha]) => {
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let status = body["state"].as_str().unwrap_or_default().to_owned();
                if !["pending", "success", "error", "failure", "warning"].contains(&status.as_str())
                {
                    return Some(json_response(422, &json!({"message": "invalid state"})));
                }
                let context = body["context"].as_str().unwrap_or_default().to_owned();
                state
                    .statuses
                    .push(((*sha).to_owned(), context.clone(), status.clone()));
                json_response(
                    201,
                    &json!({
                        "id": state.statuses.len(),
                        "status": status,
                        "target_url": body["target_url"],
                        "description": body["description"],
                        "url": format!("{}/api/v1/repos/{REPO}/statuses/{sha}", self.base),
                        "context": context,
                        "creator": user_json("landfall-bot", 99),
                    }),
                )
            }
            ("GET", ["collaborators", login, "permission"]) => {
                state.permission_lookups += 1;
                let login = super::super::decode(login);
                let Some(id) = state.users.get(&login).copied() else {
                    return Some(not_found(&format!(
                        "user does not exist [uid: 0, name: {login}]"
                    )));
                };
                let permission = state
                    .collaborators
                    .get(&login)
                    .cloned()
                    .unwrap_or_else(|| "none".to_owned());
                json_response(
                    200,
                    &json!({"permission": permission, "role_name": permission, "user": user_json(&login, id)}),
                )
            }
            _ => return None,
        })
    }
}

impl Respond for FakeGitea {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("token {TOKEN}")) {
            state.unauthorized += 1;
            return json_response(401, &json!({"message": "token is required"}));
        }
        let method = request.method.as_str().to_owned();
        let path = request.url.path().to_owned();
        let answer = path
            .strip_prefix(&format!("/api/v1/repos/{REPO}/"))
            .and_then(|rest| {
                let parts: Vec<&str> = rest.split('/').collect();
                self.repo_route(&mut state, request, &method, &parts)
            });
        answer.unwrap_or_else(|| {
            state.unanswered.push(format!("{method} {}", request.url));
            not_found("not found")
        })
    }
}
