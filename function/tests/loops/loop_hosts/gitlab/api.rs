//! The fake GitLab's answers: the routes under `/api/v4` (the project, its merge requests,
//! repository, statuses and members, users by name), each needing `PRIVATE-TOKEN`, paged as
//! GitLab pages.

use landfall_e2e::{git, git_bytes};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::super::{
    REPO, archive, changed_files, decode, json_response, not_found, page, query, tree,
};
use super::{FakeGitlab, GitlabState, Mr, PROJECT_ID, user_json};
use crate::loop_common::TOKEN;

/// A page of `items` as GitLab answers it, with its pagination headers.
fn paged(request: &Request, items: &[Value]) -> ResponseTemplate {
    let number: usize = query(request, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let per_page: usize = query(request, "per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(20);
    let (slice, next) = page(items, number, per_page);
    let pages = items.len().div_ceil(per_page).max(1);
    json_response(200, &Value::Array(slice))
        .insert_header("x-page", number.to_string().as_str())
        .insert_header("x-per-page", per_page.to_string().as_str())
        .insert_header("x-total", items.len().to_string().as_str())
        .insert_header("x-total-pages", pages.to_string().as_str())
        .insert_header(
            "x-next-page",
            next.map(|n| n.to_string()).unwrap_or_default().as_str(),
        )
        .insert_header(
            "x-prev-page",
            if number > 1 {
                (number - 1).to_string()
            } else {
                String::new()
            }
            .as_str(),
        )
}

impl FakeGitlab {
    fn project_json(&self, id: u64, path: &str) -> Value {
        let (namespace, name) = path.split_once('/').unwrap();
        json!({
            "id": id,
            "name": name,
            "path": name,
            "path_with_namespace": path,
            "name_with_namespace": format!("{namespace} / {name}"),
            "default_branch": "main",
            "visibility": "private",
            "web_url": format!("https://gitlab.example/{path}"),
            "http_url_to_repo": self.clone_url,
            "namespace": {"id": id + 1000, "name": namespace, "path": namespace, "kind": "group", "full_path": namespace},
        })
    }

    /// A project as a webhook names it (`project`, `source`, `target`).
    pub(super) fn hook_project_json(&self, id: u64, path: &str) -> Value {
        let (namespace, name) = path.split_once('/').unwrap();
        json!({
            "id": id,
            "name": name,
            "description": "",
            "web_url": format!("https://gitlab.example/{path}"),
            "avatar_url": null,
            "git_ssh_url": format!("git@gitlab.example:{path}.git"),
            "git_http_url": self.clone_url,
            "namespace": namespace,
            "visibility_level": 0,
            "path_with_namespace": path,
            "default_branch": "main",
            "ci_config_path": null,
            "homepage": format!("https://gitlab.example/{path}"),
            "url": format!("git@gitlab.example:{path}.git"),
            "ssh_url": format!("git@gitlab.example:{path}.git"),
            "http_url": self.clone_url,
        })
    }

    pub(super) fn source_path(state: &GitlabState, mr: &Mr) -> String {
        if mr.source_project_id == PROJECT_ID {
            REPO.to_owned()
        } else {
            state.forks[&mr.source_project_id].clone()
        }
    }

    fn mr_json(&self, state: &GitlabState, iid: u64, diverged: bool) -> Value {
        let mr = &state.mrs[&iid];
        let sha = git(&self.repo, &["rev-parse", &mr.branch]);
        let main = git(&self.repo, &["rev-parse", "main"]);
        let base = git(&self.repo, &["merge-base", "main", &sha]);
        let author_id = state.users[&mr.author];
        let mut j = json!({
            "id": 9000 + iid,
            "iid": iid,
            "project_id": PROJECT_ID,
            "title": format!("Change {iid}"),
            "description": "",
            "state": "opened",
            "target_branch": "main",
            "source_branch": mr.branch,
            "source_project_id": mr.source_project_id,
            "target_project_id": PROJECT_ID,
            "author": user_json(&mr.author, author_id),
            "draft": false,
            "work_in_progress": false,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "has_conflicts": false,
            "blocking_discussions_resolved": true,
            "sha": sha,
            "merge_commit_sha": null,
            "squash_commit_sha": null,
            "diff_refs": {"base_sha": base, "head_sha": sha, "start_sha": main},
            "references": {"short": format!("!{iid}"), "full": format!("{REPO}!{iid}")},
            "web_url": format!("https://gitlab.example/{REPO}/-/merge_requests/{iid}"),
        });
        if diverged {
            let behind = git(
                &self.repo,
                &["rev-list", "--count", &format!("{sha}..main")],
            );
            j["diverged_commits_count"] = json!(behind.parse::<u64>().unwrap());
        }
        j
    }

    /// The routes under `/projects/:id/` of the base project.
    fn project_route(
        &self,
        state: &mut GitlabState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        match parts.first() {
            Some(&"merge_requests") => self.merge_request_route(state, request, method, parts),
            Some(&"repository") => self.repository_route(request, method, parts),
            _ => Self::status_and_member_route(state, request, method, parts),
        }
    }

    /// `merge_requests/...`: the MR, its diffs, approvals and notes.
    fn merge_request_route(
        &self,
        state: &mut GitlabState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        let repo = &self.repo;
        let mr_iid = |state: &GitlabState, n: &str| -> Option<u64> {
            let iid: u64 = n.parse().ok()?;
            state.mrs.contains_key(&iid).then_some(iid)
        };
        Some(match (method, parts) {
            ("GET", ["merge_requests", n]) => {
                let Some(iid) = mr_iid(state, n) else {
                    return Some(not_found("404 Not found"));
                };
                let diverged =
                    query(request, "include_diverged_commits_count").as_deref() == Some("true");
                json_response(200, &self.mr_json(state, iid, diverged))
            }
            ("GET", ["merge_requests", n, "diffs"]) => {
                let iid = mr_iid(state, n)?;
                let head = state.mrs[&iid].branch.clone();
                let diffs: Vec<Value> = changed_files(repo, "main", &head)
                    .into_iter()
                    .map(|(status, old, new)| {
                        json!({
                            "old_path": old,
                            "new_path": new,
                            "a_mode": if status == 'A' { "0" } else { "100644" },
                            "b_mode": if status == 'D' { "0" } else { "100644" },
                            "new_file": status == 'A',
                            "renamed_file": status == 'R',
                            "deleted_file": status == 'D',
                            "generated_file": false,
                            "diff": "",
                        })
                    })
                    .collect();
                paged(request, &diffs)
            }
            ("GET", ["merge_requests", n, "approvals"]) => {
                let iid = mr_iid(state, n)?;
                let head = git(repo, &["rev-parse", &state.mrs[&iid].branch]);
                let approved_by: Vec<Value> = state
                    .approvals
                    .iter()
                    .filter(|(i, _, at)| *i == iid && *at == head)
                    .map(|(_, username, _)| json!({"user": user_json(username, state.users[username])}))
                    .collect();
                json_response(
                    200,
                    &json!({
                        "id": 9000 + iid,
                        "iid": iid,
                        "project_id": PROJECT_ID,
                        "title": format!("Change {iid}"),
                        "state": "opened",
                        "merge_status": "can_be_merged",
                        "approved": !approved_by.is_empty(),
                        "approvals_required": 0,
                        "approvals_left": 0,
                        "require_password_to_approve": false,
                        "approved_by": approved_by,
                        "suggested_approvers": [],
                        "approvers": [],
                        "approver_groups": [],
                        "user_has_approved": false,
                        "user_can_approve": false,
                        "approval_rules_left": [],
                        "has_approval_rules": false,
                        "merge_request_approvers_available": false,
                        "multiple_approval_rules_available": false,
                        "invalid_approvers_rules": [],
                    }),
                )
            }
            ("POST", ["merge_requests", n, "notes"]) => {
                let iid = mr_iid(state, n)?;
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let text = body["body"].as_str()?.to_owned();
                let id = 5000 + state.notes.len() as u64;
                state.notes.push((id, iid, text.clone()));
                json_response(201, &Self::note_json(id, iid, &text))
            }
            ("PUT", ["merge_requests", n, "notes", id]) => {
                let iid = mr_iid(state, n)?;
                let id: u64 = id.parse().ok()?;
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let text = body["body"].as_str()?.to_owned();
                let Some(note) = state.notes.iter_mut().find(|c| c.0 == id && c.1 == iid) else {
                    return Some(not_found("404 Not found"));
                };
                note.2.clone_from(&text);
                json_response(200, &Self::note_json(id, iid, &text))
            }
            _ => return None,
        })
    }

    /// `repository/...`: files, the tree and the archive.
    fn repository_route(
        &self,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        let repo = &self.repo;
        Some(match (method, parts) {
            ("GET", ["repository", "files", file, "raw"]) => {
                let sha = query(request, "ref")?;
                match git_bytes(repo, &["show", &format!("{sha}:{}", decode(file))]) {
                    Some(bytes) => ResponseTemplate::new(200)
                        .insert_header("content-type", "text/plain; charset=utf-8")
                        .set_body_bytes(bytes),
                    None => not_found("404 File Not Found"),
                }
            }
            ("GET", ["repository", "tree"]) => {
                let sha = query(request, "ref")?;
                if query(request, "recursive").as_deref() != Some("true") {
                    return None;
                }
                let entries: Vec<Value> = tree(repo, &sha)
                    .into_iter()
                    .map(|(path, kind, mode, id)| {
                        let name = path.rsplit('/').next().unwrap().to_owned();
                        json!({"id": id, "name": name, "type": kind, "path": path, "mode": mode})
                    })
                    .collect();
                paged(request, &entries)
            }
            ("GET", ["repository", "archive.tar.gz"]) => {
                let sha = query(request, "sha")?;
                let sha = git(repo, &["rev-parse", &sha]);
                match archive(repo, &sha, &format!("infra-{sha}-{sha}/")) {
                    Some(bytes) => ResponseTemplate::new(200)
                        .insert_header("content-type", "application/octet-stream")
                        .insert_header(
                            "content-disposition",
                            format!("attachment; filename=\"infra-{sha}.tar.gz\"").as_str(),
                        )
                        .set_body_bytes(bytes),
                    None => not_found("404 Not Found"),
                }
            }
            _ => return None,
        })
    }

    /// `statuses/:sha` and `members/all/:user_id`.
    fn status_and_member_route(
        state: &mut GitlabState,
        request: &Request,
        method: &str,
        parts: &[&str],
    ) -> Option<ResponseTemplate> {
        Some(match (method, parts) {
            ("POST", ["statuses", sha]) => {
                let body: Value = serde_json::from_slice(&request.body).ok()?;
                let status = body["state"].as_str().unwrap_or_default().to_owned();
                if ![
                    "pending", "running", "success", "failed", "canceled", "skipped",
                ]
                .contains(&status.as_str())
                {
                    return Some(json_response(400, &json!({"error": "state is invalid"})));
                }
                let name = body["name"].as_str().unwrap_or("default").to_owned();
                state
                    .statuses
                    .push(((*sha).to_owned(), name.clone(), status.clone()));
                json_response(
                    201,
                    &json!({
                        "id": 700 + state.statuses.len(),
                        "sha": sha,
                        "ref": null,
                        "status": status,
                        "name": name,
                        "target_url": body["target_url"],
                        "description": body["description"],
                        "allow_failure": false,
                        "author": user_json("landfall-bot", 99),
                    }),
                )
            }
            ("GET", ["members", "all", user_id]) => {
                state.permission_lookups += 1;
                let user_id: u64 = user_id.parse().ok()?;
                let username = state
                    .users
                    .iter()
                    .find(|(_, id)| **id == user_id)
                    .map(|(u, _)| u.clone());
                match (username, state.members.get(&user_id)) {
                    (Some(username), Some(level)) => {
                        let mut member = user_json(&username, user_id);
                        member["access_level"] = json!(level);
                        member["membership_state"] = json!("active");
                        member["expires_at"] = Value::Null;
                        json_response(200, &member)
                    }
                    _ => not_found("404 Not found"),
                }
            }
            _ => return None,
        })
    }

    fn note_json(id: u64, iid: u64, body: &str) -> Value {
        json!({
            "id": id,
            "type": null,
            "body": body,
            "attachment": null,
            "author": user_json("landfall-bot", 99),
            "system": false,
            "noteable_id": 9000 + iid,
            "noteable_type": "MergeRequest",
            "noteable_iid": iid,
            "resolvable": false,
            "confidential": false,
            "internal": false,
        })
    }
}

impl Respond for FakeGitlab {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let token = request
            .headers
            .get("private-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(TOKEN) {
            state.unauthorized += 1;
            return json_response(401, &json!({"message": "401 Unauthorized"}));
        }
        let method = request.method.as_str().to_owned();
        let path = request.url.path().to_owned();
        let parts: Vec<&str> = path
            .strip_prefix("/api/v4/")
            .unwrap_or_default()
            .split('/')
            .collect();
        let answer = match parts.as_slice() {
            ["users"] if method == "GET" => {
                state.user_lookups += 1;
                let wanted = query(request, "username").unwrap_or_default();
                let found: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|(u, _)| u.eq_ignore_ascii_case(&wanted))
                    .map(|(u, id)| user_json(u, *id))
                    .collect();
                Some(json_response(200, &Value::Array(found)))
            }
            ["projects", id] if method == "GET" => {
                let id = decode(id);
                Some(if id == REPO || id == PROJECT_ID.to_string() {
                    json_response(200, &self.project_json(PROJECT_ID, REPO))
                } else {
                    match id
                        .parse()
                        .ok()
                        .and_then(|n: u64| state.forks.get(&n).map(|p| self.project_json(n, p)))
                    {
                        Some(project) => json_response(200, &project),
                        None => not_found("404 Project Not Found"),
                    }
                })
            }
            ["projects", id, rest @ ..] if decode(id) == REPO || *id == PROJECT_ID.to_string() => {
                self.project_route(&mut state, request, &method, rest)
            }
            _ => None,
        };
        answer.unwrap_or_else(|| {
            state.unanswered.push(format!("{method} {}", request.url));
            not_found("404 Not Found")
        })
    }
}
