//! A fake GitLab (REST v4 under `/api/v4`) backed by the story's git repository, answering
//! exactly what the GitLab adapter (`src/vcs/gitlab.rs`) asks, and GitLab-shaped deliveries
//! built from the real recorded ones in the corpus (`gitlab-xanzy-go-gitlab/merge_request.json`
//! and `note_merge_request.json`, GitLab's documented examples), authenticated as GitLab does:
//! the secret in `X-Gitlab-Token`, the delivery's id in `X-Gitlab-Event-UUID`.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /projects/:id` | the project, or a fork by its numeric id |
//! | `GET /projects/:id/merge_requests/:iid` | the MR at its branch's head; `diverged_commits_count` with `include_diverged_commits_count=true` |
//! | `GET .../merge_requests/:iid/diffs` | `git diff main...head`, paged (`X-Next-Page`) |
//! | `GET .../merge_requests/:iid/approvals` | `approved_by` at the current head (approvals removed on push) |
//! | `POST .../merge_requests/:iid/notes`, `PUT .../notes/:id` | the MR's notes |
//! | `GET .../repository/files/:path/raw?ref=`, `.../repository/tree`, `.../repository/archive.tar.gz?sha=` | the repository |
//! | `POST .../statuses/:sha` | commit statuses |
//! | `GET .../members/all/:user_id` | the member's `access_level`; 404 for non-members (counted) |
//! | `GET /users?username=` | the user's id (counted) |
//!
//! Every request needs `PRIVATE-TOKEN`; one without it is refused (401) and counted. A request
//! no route answers is kept in `unanswered`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use landfall_e2e::{git, git_bytes};
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

use super::{
    FORK, Headers, Host, OUTSIDER, REPO, REVIEWER, Sent, WRITER, Workspace, archive, changed_files,
    decode, json_response, not_found, page, query, tree,
};
use crate::loop_common::{Server, TOKEN, server_env};

/// The base project's numeric id.
pub const PROJECT_ID: u64 = 101;
/// The outsider's fork's id.
pub const FORK_ID: u64 = 202;
/// The webhook's own id (`X-Gitlab-Webhook-UUID`), the same on every delivery.
pub const HOOK_UUID: &str = "5a8e1f3c-2b7d-4c19-9e0a-6f4d2c8b7a31";
/// GitLab's role levels.
pub const REPORTER: u64 = 20;
pub const DEVELOPER: u64 = 30;
pub const MAINTAINER: u64 = 40;

/// A merge request as the fake keeps it.
#[derive(Clone, Debug)]
pub struct Mr {
    /// The source branch (in the one repository, whichever project it is said to live in).
    pub branch: String,
    /// The author's username.
    pub author: String,
    /// `PROJECT_ID`, or a fork's id.
    pub source_project_id: u64,
}

#[derive(Debug, Default)]
pub struct GitlabState {
    pub mrs: BTreeMap<u64, Mr>,
    /// Every user GitLab knows: username → id.
    pub users: BTreeMap<String, u64>,
    /// The project's members (inherited ones included): user id → access level.
    pub members: BTreeMap<u64, u64>,
    /// Projects other than the base one: id → `path_with_namespace`.
    pub forks: BTreeMap<u64, String>,
    /// (MR iid, username, the MR's head when given). The project removes approvals when commits
    /// are added, so only those given at the current head are listed.
    pub approvals: Vec<(u64, String, String)>,
    /// `members/all/:user_id` answered.
    pub permission_lookups: usize,
    /// `users?username=` answered.
    pub user_lookups: usize,
    /// (note id, MR iid, body), in posting order.
    pub notes: Vec<(u64, u64, String)>,
    /// (sha, name, state).
    pub statuses: Vec<(String, String, String)>,
    /// Requests without the token.
    pub unauthorized: usize,
    /// Requests no route answers: `METHOD path`.
    pub unanswered: Vec<String>,
}

/// The fake GitLab API.
#[derive(Clone)]
pub struct FakeGitlab {
    pub repo: PathBuf,
    pub clone_url: String,
    pub state: Arc<Mutex<GitlabState>>,
}

impl Host for FakeGitlab {
    fn comments(&self, pr: u64) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .notes
            .iter()
            .filter(|n| n.1 == pr)
            .map(|n| n.2.clone())
            .collect()
    }

    fn statuses(&self) -> usize {
        self.state.lock().unwrap().statuses.len()
    }
}

fn user_json(username: &str, id: u64) -> Value {
    json!({
        "id": id,
        "username": username,
        "name": username,
        "state": "active",
        "locked": false,
        "avatar_url": format!("https://gitlab.example/uploads/-/system/user/avatar/{id}/avatar.png"),
        "web_url": format!("https://gitlab.example/{username}"),
    })
}

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
    fn hook_project_json(&self, id: u64, path: &str) -> Value {
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

    fn source_path(state: &GitlabState, mr: &Mr) -> String {
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

/// The GitLab story: the workspace, the fake host and the deliveries sent so far.
pub struct Gitlab {
    pub ws: Workspace,
    pub host: FakeGitlab,
    pub mock: MockServer,
    pub sent: Sent,
    deliveries: u64,
    /// Counts the story's events, so each is distinct as real ones are. The story's own, not a
    /// static: the loop tests share one process.
    events: AtomicU64,
}

/// A delivery of the corpus, read in place.
fn corpus(rel: &str) -> Value {
    let path = landfall_e2e::shared_dir().join("corpus").join(rel);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

impl Gitlab {
    /// A fake GitLab on `runtime` over an empty repository. The people: the writer
    /// (Developer), the reviewer (Maintainer), a reporter, and the outsider, whom GitLab knows
    /// but who is no member.
    pub fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let ws = Workspace::new();
        let mock = runtime.block_on(MockServer::start());
        let host = FakeGitlab {
            repo: ws.origin(),
            clone_url: ws.clone_url(),
            state: Arc::default(),
        };
        {
            let mut state = host.state.lock().unwrap();
            for (username, id, level) in [
                (WRITER, 11, Some(DEVELOPER)),
                (REVIEWER, 12, Some(MAINTAINER)),
                ("reporter", 13, Some(REPORTER)),
                (OUTSIDER, 666, None),
            ] {
                state.users.insert(username.to_owned(), id);
                if let Some(level) = level {
                    state.members.insert(id, level);
                }
            }
            state.forks.insert(FORK_ID, FORK.to_owned());
        }
        runtime.block_on(Mock::given(any()).respond_with(host.clone()).mount(&mock));
        Gitlab {
            ws,
            host,
            mock,
            sent: Sent::default(),
            deliveries: 0,
            events: AtomicU64::new(0),
        }
    }

    /// `serve`'s environment: GitLab at the fake's `/api/v4`, the embedded store, local
    /// dispatch, the policy.
    pub fn env(&self, policy: &std::path::Path) -> Vec<(&'static str, String)> {
        let mut env = server_env(&self.mock, &self.ws.data());
        for (name, value) in &mut env {
            match *name {
                "LANDFALL_VCS" => "gitlab".clone_into(value),
                "LANDFALL_VCS_URL" => *value = format!("{}/api/v4", self.mock.uri()),
                _ => {}
            }
        }
        env.push(("LANDFALL_POLICY", policy.display().to_string()));
        env
    }

    /// MR `iid` from `branch` of the base project, by `author`.
    pub fn open_mr(&self, iid: u64, branch: &str, author: &str) {
        self.host.state.lock().unwrap().mrs.insert(
            iid,
            Mr {
                branch: branch.to_owned(),
                author: author.to_owned(),
                source_project_id: PROJECT_ID,
            },
        );
    }

    /// MR `iid` from `branch` of the outsider's fork.
    pub fn open_fork_mr(&self, iid: u64, branch: &str) {
        self.host.state.lock().unwrap().mrs.insert(
            iid,
            Mr {
                branch: branch.to_owned(),
                author: OUTSIDER.to_owned(),
                source_project_id: FORK_ID,
            },
        );
    }

    /// `username` approves MR `iid` at its current head.
    pub fn approve(&self, iid: u64, username: &str) {
        let mut state = self.host.state.lock().unwrap();
        let head = git(&self.host.repo, &["rev-parse", &state.mrs[&iid].branch]);
        state.approvals.push((iid, username.to_owned(), head));
    }

    fn next_delivery(&mut self) -> String {
        self.deliveries += 1;
        self.last_delivery()
    }

    /// The id of the latest delivery.
    pub fn last_delivery(&self) -> String {
        format!("9f0c2d4e-7a1b-4c3d-8e5f-{:012x}", self.deliveries)
    }

    /// The headers GitLab sends with a delivery of `event` (`Merge Request Hook`, `Note Hook`).
    fn headers(event: &str, uuid: &str, body: &[u8]) -> Headers {
        let (token_header, token) = sign(Provider::Gitlab, crate::loop_common::SECRET, body);
        [
            ("Content-Type", "application/json".to_owned()),
            ("User-Agent", "GitLab/17.6.1".to_owned()),
            ("X-Gitlab-Event", event.to_owned()),
            ("X-Gitlab-Webhook-UUID", HOOK_UUID.to_owned()),
            ("X-Gitlab-Instance", "https://gitlab.example".to_owned()),
            ("X-Gitlab-Event-UUID", uuid.to_owned()),
            ("Idempotency-Key", format!("idem-{uuid}")),
            (token_header, token),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The `merge_request` part of a hook: the MR as GitLab names it in both kinds of event.
    fn hook_mr(&self, state: &GitlabState, iid: u64, into: &mut Value) {
        let mr = &state.mrs[&iid];
        let sha = git(&self.host.repo, &["rev-parse", &mr.branch]);
        into["id"] = json!(9000 + iid);
        into["iid"] = json!(iid);
        into["title"] = json!(format!("Change {iid}"));
        into["description"] = json!("");
        into["target_branch"] = json!("main");
        into["source_branch"] = json!(mr.branch);
        into["source_project_id"] = json!(mr.source_project_id);
        into["target_project_id"] = json!(PROJECT_ID);
        into["author_id"] = json!(state.users[&mr.author]);
        into["state"] = json!("opened");
        into["merge_status"] = json!("can_be_merged");
        into["detailed_merge_status"] = json!("mergeable");
        into["url"] = json!(format!(
            "https://gitlab.example/{REPO}/-/merge_requests/{iid}"
        ));
        into["source"] = self
            .host
            .hook_project_json(mr.source_project_id, &FakeGitlab::source_path(state, mr));
        into["target"] = self.host.hook_project_json(PROJECT_ID, REPO);
        into["last_commit"]["id"] = json!(sha);
        into["last_commit"]["url"] = json!(format!("https://gitlab.example/{REPO}/-/commit/{sha}"));
        into["work_in_progress"] = json!(false);
        into["labels"] = json!([]);
    }

    /// A `Merge Request Hook` with `action` (`open`, `reopen`) on MR `iid`, sent by its author.
    pub fn merge_request_event(&self, action: &str, iid: u64) -> Vec<u8> {
        let mut payload = corpus("gitlab-xanzy-go-gitlab/merge_request.json");
        let state = self.host.state.lock().unwrap();
        let author = state.mrs[&iid].author.clone();
        payload["user"] = user_json(&author, state.users[&author]);
        payload["project"] = self.host.hook_project_json(PROJECT_ID, REPO);
        payload["repository"] = json!({
            "name": "infra",
            "url": self.host.clone_url,
            "description": "",
            "homepage": format!("https://gitlab.example/{REPO}"),
        });
        let attributes = &mut payload["object_attributes"];
        self.hook_mr(&state, iid, attributes);
        attributes["action"] = json!(action);
        attributes["assignee_ids"] = json!([]);
        attributes["assignee_id"] = Value::Null;
        attributes["reviewer_ids"] = json!([]);
        // Each event is a new one: GitLab's bodies carry the time of the change (an identical
        // body is a replay, which the function does not handle twice).
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        attributes["updated_at"] = json!(format!(
            "2026-12-04 10:{:02}:{:02} UTC",
            (n / 60) % 60,
            n % 60
        ));
        payload["labels"] = json!([]);
        payload["assignees"] = json!([]);
        payload["reviewers"] = json!([]);
        payload["changes"] = if action == "reopen" {
            json!({"state_id": {"previous": 2, "current": 1}})
        } else {
            json!({})
        };
        serde_json::to_vec(&payload).unwrap()
    }

    /// A `Note Hook`: `username` comments `text` on MR `iid`.
    pub fn note_event(&self, iid: u64, username: &str, text: &str, note_id: u64) -> Vec<u8> {
        let mut payload = corpus("gitlab-xanzy-go-gitlab/note_merge_request.json");
        let state = self.host.state.lock().unwrap();
        let user_id = state.users[username];
        payload["user"] = user_json(username, user_id);
        payload["project_id"] = json!(PROJECT_ID);
        payload["project"] = self.host.hook_project_json(PROJECT_ID, REPO);
        payload["repository"] = json!({
            "name": "infra",
            "url": self.host.clone_url,
            "description": "",
            "homepage": format!("https://gitlab.example/{REPO}"),
        });
        let note = &mut payload["object_attributes"];
        note["id"] = json!(note_id);
        note["note"] = json!(text);
        note["description"] = json!(text);
        note["noteable_type"] = json!("MergeRequest");
        note["author_id"] = json!(user_id);
        note["project_id"] = json!(PROJECT_ID);
        note["noteable_id"] = json!(9000 + iid);
        note["system"] = json!(false);
        note["action"] = json!("create");
        note["url"] = json!(format!(
            "https://gitlab.example/{REPO}/-/merge_requests/{iid}#note_{note_id}"
        ));
        self.hook_mr(&state, iid, &mut payload["merge_request"]);
        serde_json::to_vec(&payload).unwrap()
    }

    /// The headers that carry a GitLab delivery's id (an unsigned one's).
    pub const DELIVERY_ID_HEADERS: [&str; 3] = [
        "X-Gitlab-Event-UUID",
        "Idempotency-Key",
        "X-Gitlab-Webhook-UUID",
    ];

    /// Delivers MR `iid`'s `action` event; returns the delivery id.
    pub fn deliver_mr(&mut self, server: &Server, action: &str, iid: u64) -> String {
        let id = self.next_delivery();
        let body = self.merge_request_event(action, iid);
        let headers = Self::headers("Merge Request Hook", &id, &body);
        let status = self.sent.post(&server.addr, &id, headers, body);
        assert_eq!(status, 202, "{action} !{iid}");
        id
    }

    /// Delivers `username`'s note `text` on MR `iid`; returns the delivery id.
    pub fn deliver_note(
        &mut self,
        server: &Server,
        iid: u64,
        username: &str,
        text: &str,
    ) -> String {
        let id = self.next_delivery();
        let body = self.note_event(iid, username, text, 7000 + self.deliveries);
        let headers = Self::headers("Note Hook", &id, &body);
        let status = self.sent.post(&server.addr, &id, headers, body);
        assert_eq!(status, 202, "{text}");
        id
    }
}
