//! A fake Gitea (REST v1 under `/api/v1`) backed by the story's git repository, answering
//! exactly what the Gitea adapter (`src/vcs/gitea.rs`) asks, and Gitea-shaped deliveries signed
//! as Gitea signs them: `X-Gitea-Signature` (hex HMAC-SHA256 of the body) and the delivery's id
//! in `X-Gitea-Delivery`, with the `X-Gogs-*`, `X-GitHub-*` and `X-Hub-Signature*` copies Gitea
//! sends beside them.
//!
//! The corpus holds no Gitea delivery (its MANIFEST: "Gitea: no payload examples"). Gitea's
//! payloads follow GitHub's layout, and Gitea fills them with the objects its API returns
//! (`convert.ToAPIPullRequest`, `ToAPIIssue`, `ToAPIComment`): so each delivery starts from
//! the corpus's GitHub example (`github-octokit-webhooks/pull_request/opened.payload.json`,
//! `issue_comment/created.payload.json`, read in place), keeps Gitea's top-level keys only,
//! puts in the fake's own API objects, and adds Gitea's fields (`is_pull`, `commit_id`,
//! `review`, `requested_reviewer`).
//!
//! | endpoint (under `repos/acme/infra/`) | answer |
//! |---|---|
//! | `GET pulls/{n}` | the PR at its branch's head, with `merge_base` |
//! | `GET pulls/{n}/files` | `git diff main...head`, paged (`Link`) |
//! | `GET pulls/{n}/reviews` | the reviews, `stale` when not at the head, paged (`Link`) |
//! | `GET raw/{path}?ref=`, `git/trees/{sha}?recursive=true`, `archive/{sha}.tar.gz` | the repository |
//! | `POST issues/{n}/comments`, `PATCH issues/comments/{id}` | the PR's comments |
//! | `POST statuses/{sha}` | commit statuses |
//! | `GET collaborators/{login}/permission` | the user's access (`none` for a user who is no collaborator of this private repository; 404 for a user Gitea does not know), counted |
//! | `GET branches/{branch}` | the branch's head |
//!
//! Every request needs `Authorization: token <TOKEN>`; one without it is refused (401) and
//! counted. A request no route answers is kept in `unanswered`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac as _};
use landfall_e2e::{git, git_bytes};
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

use super::{
    FORK, Headers, Host, OUTSIDER, REPO, REVIEWER, Sent, WRITER, Workspace, archive, changed_files,
    json_response, not_found, page, query, tree,
};
use crate::loop_common::{SECRET, Server, TOKEN, server_env};

/// The base repository's id.
pub const REPO_ID: u64 = 101;
/// The outsider's fork's id.
pub const FORK_ID: u64 = 202;

/// A pull request as the fake keeps it.
#[derive(Clone, Debug)]
pub struct Pr {
    /// The head branch (in the one repository, whichever repository it is said to live in).
    pub branch: String,
    /// The author's login.
    pub author: String,
    /// `REPO`, or the fork's full name.
    pub head_repo: String,
}

#[derive(Debug, Default)]
pub struct GiteaState {
    pub prs: BTreeMap<u64, Pr>,
    /// Every user Gitea knows: login → id.
    pub users: BTreeMap<String, u64>,
    /// The repository's collaborators: login → access mode (`read`, `write`, `admin`).
    pub collaborators: BTreeMap<String, String>,
    /// (PR, login, state, commit id), in submission order (a review's id is its place + 1).
    pub reviews: Vec<(u64, String, String, String)>,
    /// `collaborators/{login}/permission` answered.
    pub permission_lookups: usize,
    /// (comment id, PR, body), in posting order.
    pub comments: Vec<(u64, u64, String)>,
    /// (sha, context, state).
    pub statuses: Vec<(String, String, String)>,
    /// Requests without the token.
    pub unauthorized: usize,
    /// Requests no route answers: `METHOD url`.
    pub unanswered: Vec<String>,
}

/// The fake Gitea API.
#[derive(Clone)]
pub struct FakeGitea {
    pub repo: PathBuf,
    pub clone_url: String,
    /// The server's own address (`http://127.0.0.1:port`), for `Link` headers.
    pub base: String,
    pub state: Arc<Mutex<GiteaState>>,
}

impl Host for FakeGitea {
    fn comments(&self, pr: u64) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .comments
            .iter()
            .filter(|c| c.1 == pr)
            .map(|c| c.2.clone())
            .collect()
    }

    fn statuses(&self) -> usize {
        self.state.lock().unwrap().statuses.len()
    }
}

fn user_json(login: &str, id: u64) -> Value {
    json!({
        "id": id,
        "login": login,
        "login_name": "",
        "source_id": 0,
        "full_name": "",
        "email": format!("{login}@noreply.gitea.example"),
        "avatar_url": format!("https://gitea.example/avatars/{id}"),
        "html_url": format!("https://gitea.example/{login}"),
        "language": "",
        "is_admin": false,
        "restricted": false,
        "active": false,
        "prohibit_login": false,
        "visibility": "public",
        "username": login,
    })
}

impl FakeGitea {
    fn repo_json(&self, state: &GiteaState, id: u64, full_name: &str) -> Value {
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

    fn pr_json(&self, state: &GiteaState, n: u64) -> Value {
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
                "label": if head_id == REPO_ID { pr.branch.clone() } else { format!("{head_owner}:{}", pr.branch) },
                "ref": pr.branch,
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

    /// A page of `items` (`page`, `limit`), with Gitea's `Link` and `X-Total-Count`.
    fn paged(&self, request: &Request, items: &[Value]) -> ResponseTemplate {
        let number: usize = query(request, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let limit: usize = query(request, "limit")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30);
        let (slice, next) = page(items, number, limit);
        let mut response = json_response(200, &Value::Array(slice))
            .insert_header("x-total-count", items.len().to_string().as_str());
        if let Some(next) = next {
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
                self.paged(request, &files)
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
                self.paged(request, &reviews)
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
                    .map(|s| super::decode(s))
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
                    .map(|s| super::decode(s))
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
                let login = super::decode(login);
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

/// The Gitea story: the workspace, the fake host and the deliveries sent so far.
pub struct Gitea {
    pub ws: Workspace,
    pub host: FakeGitea,
    pub mock: MockServer,
    pub sent: Sent,
    deliveries: u64,
}

/// A delivery of the corpus, read in place.
fn corpus(rel: &str) -> Value {
    let path = landfall_e2e::shared_dir()
        .join("corpus/github-octokit-webhooks")
        .join(rel);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Keeps only `keys` of a payload object (Gitea's top level), in the corpus's order.
fn keep_only(payload: &mut Value, keys: &[&str]) {
    if let Some(object) = payload.as_object_mut() {
        object.retain(|k, _| keys.contains(&k.as_str()));
    }
}

impl Gitea {
    /// A fake Gitea on `runtime` over an empty repository. The people: the writer (`write`),
    /// the reviewer (`admin`), a reader (`read`), and the outsider, whom Gitea knows but who
    /// is no collaborator of this private repository.
    pub fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let ws = Workspace::new();
        let mock = runtime.block_on(MockServer::start());
        let host = FakeGitea {
            repo: ws.origin(),
            clone_url: ws.clone_url(),
            base: mock.uri(),
            state: Arc::default(),
        };
        {
            let mut state = host.state.lock().unwrap();
            for (login, id, access) in [
                ("acme", 1, None),
                (WRITER, 11, Some("write")),
                (REVIEWER, 12, Some("admin")),
                ("reader", 13, Some("read")),
                (OUTSIDER, 666, None),
            ] {
                state.users.insert(login.to_owned(), id);
                if let Some(access) = access {
                    state
                        .collaborators
                        .insert(login.to_owned(), access.to_owned());
                }
            }
        }
        runtime.block_on(Mock::given(any()).respond_with(host.clone()).mount(&mock));
        Gitea {
            ws,
            host,
            mock,
            sent: Sent::default(),
            deliveries: 0,
        }
    }

    /// `serve`'s environment: Gitea at the fake's `/api/v1`, the embedded store, local
    /// dispatch, the policy.
    pub fn env(&self, policy: &std::path::Path) -> Vec<(&'static str, String)> {
        let mut env = server_env(&self.mock, &self.ws.data());
        for (name, value) in &mut env {
            match *name {
                "LANDFALL_VCS" => "gitea".clone_into(value),
                "LANDFALL_VCS_URL" => *value = format!("{}/api/v1", self.mock.uri()),
                _ => {}
            }
        }
        env.push(("LANDFALL_POLICY", policy.display().to_string()));
        env
    }

    /// PR `n` from `branch` of the base repository, by `author`.
    pub fn open_pr(&self, n: u64, branch: &str, author: &str) {
        self.host.state.lock().unwrap().prs.insert(
            n,
            Pr {
                branch: branch.to_owned(),
                author: author.to_owned(),
                head_repo: REPO.to_owned(),
            },
        );
    }

    /// PR `n` from `branch` of the outsider's fork.
    pub fn open_fork_pr(&self, n: u64, branch: &str) {
        self.host.state.lock().unwrap().prs.insert(
            n,
            Pr {
                branch: branch.to_owned(),
                author: OUTSIDER.to_owned(),
                head_repo: FORK.to_owned(),
            },
        );
    }

    /// `login` reviews PR `n` with `state` (`APPROVED`, `REQUEST_CHANGES`, `COMMENT`) at its
    /// current head.
    pub fn review(&self, n: u64, login: &str, review_state: &str) {
        let mut state = self.host.state.lock().unwrap();
        let head = git(&self.host.repo, &["rev-parse", &state.prs[&n].branch]);
        state
            .reviews
            .push((n, login.to_owned(), review_state.to_owned(), head));
    }

    fn next_delivery(&mut self) -> String {
        self.deliveries += 1;
        self.last_delivery()
    }

    /// The id of the latest delivery.
    pub fn last_delivery(&self) -> String {
        format!("3b9e6a70-1c2d-4e5f-a6b7-{:012x}", self.deliveries)
    }

    /// The headers Gitea sends with a delivery of `event` (`pull_request`, `issue_comment`)
    /// of type `kind` (`pull_request`, `pull_request_comment`).
    fn headers(event: &str, kind: &str, id: &str, body: &[u8]) -> Headers {
        let (signature_header, signature) = sign(Provider::Gitea, SECRET, body);
        let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
        sha1.update(body);
        let sha1 = hex::encode(sha1.finalize().into_bytes());
        [
            ("Content-Type", "application/json".to_owned()),
            ("User-Agent", "Go-http-client/1.1".to_owned()),
            ("X-GitHub-Delivery", id.to_owned()),
            ("X-GitHub-Event", event.to_owned()),
            ("X-GitHub-Event-Type", kind.to_owned()),
            ("X-Gitea-Delivery", id.to_owned()),
            ("X-Gitea-Event", event.to_owned()),
            ("X-Gitea-Event-Type", kind.to_owned()),
            (signature_header, signature.clone()),
            ("X-Gogs-Delivery", id.to_owned()),
            ("X-Gogs-Event", event.to_owned()),
            ("X-Gogs-Event-Type", kind.to_owned()),
            ("X-Gogs-Signature", signature.clone()),
            ("X-Hub-Signature", format!("sha1={sha1}")),
            ("X-Hub-Signature-256", format!("sha256={signature}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A `pull_request` delivery with `action` (`opened`, `reopened`) on PR `n`, sent by its
    /// author.
    pub fn pull_request_event(&self, action: &str, n: u64) -> Vec<u8> {
        let mut payload = corpus("pull_request/opened.payload.json");
        keep_only(
            &mut payload,
            &["action", "number", "pull_request", "repository", "sender"],
        );
        let state = self.host.state.lock().unwrap();
        let author = state.prs[&n].author.clone();
        payload["action"] = json!(action);
        payload["number"] = json!(n);
        payload["pull_request"] = self.host.pr_json(&state, n);
        payload["requested_reviewer"] = Value::Null;
        payload["repository"] = self.host.repo_json(&state, REPO_ID, REPO);
        payload["sender"] = user_json(&author, state.users[&author]);
        payload["commit_id"] = json!("");
        payload["review"] = Value::Null;
        serde_json::to_vec(&payload).unwrap()
    }

    /// An `issue_comment` delivery: `login` comments `text` on PR `n`.
    pub fn comment_event(&self, n: u64, login: &str, text: &str, comment_id: u64) -> Vec<u8> {
        let mut payload = corpus("issue_comment/created.payload.json");
        keep_only(
            &mut payload,
            &["action", "issue", "comment", "repository", "sender"],
        );
        let state = self.host.state.lock().unwrap();
        let pr = state.prs[&n].clone();
        payload["action"] = json!("created");
        let issue = &mut payload["issue"];
        keep_only(
            issue,
            &[
                "id",
                "url",
                "html_url",
                "number",
                "user",
                "title",
                "body",
                "labels",
                "state",
                "milestone",
                "assignee",
                "assignees",
                "comments",
                "created_at",
                "updated_at",
                "closed_at",
                "locked",
            ],
        );
        issue["id"] = json!(3000 + n);
        issue["url"] = json!(format!("{}/api/v1/repos/{REPO}/issues/{n}", self.host.base));
        issue["html_url"] = json!(format!("https://gitea.example/{REPO}/pulls/{n}"));
        issue["number"] = json!(n);
        issue["user"] = user_json(&pr.author, state.users[&pr.author]);
        issue["original_author"] = json!("");
        issue["original_author_id"] = json!(0);
        issue["title"] = json!(format!("Change {n}"));
        issue["body"] = json!("");
        issue["ref"] = json!("");
        issue["labels"] = json!([]);
        issue["milestone"] = Value::Null;
        issue["assignee"] = Value::Null;
        issue["assignees"] = Value::Null;
        issue["state"] = json!("open");
        issue["is_locked"] = json!(false);
        issue["pull_request"] = json!({"merged": false, "merged_at": null, "draft": false});
        issue["repository"] =
            json!({"id": REPO_ID, "name": "infra", "owner": "acme", "full_name": REPO});
        issue["pin_order"] = json!(0);
        let comment = &mut payload["comment"];
        keep_only(
            comment,
            &["id", "html_url", "user", "body", "created_at", "updated_at"],
        );
        comment["id"] = json!(comment_id);
        comment["html_url"] = json!(format!(
            "https://gitea.example/{REPO}/pulls/{n}#issuecomment-{comment_id}"
        ));
        comment["pull_request_url"] = json!(format!("https://gitea.example/{REPO}/pulls/{n}"));
        comment["issue_url"] = json!("");
        comment["user"] = user_json(login, state.users[login]);
        comment["original_author"] = json!("");
        comment["original_author_id"] = json!(0);
        comment["body"] = json!(text);
        comment["assets"] = json!([]);
        payload["repository"] = self.host.repo_json(&state, REPO_ID, REPO);
        payload["sender"] = user_json(login, state.users[login]);
        payload["is_pull"] = json!(true);
        serde_json::to_vec(&payload).unwrap()
    }

    /// The headers that carry a Gitea delivery's id.
    pub const DELIVERY_ID_HEADERS: [&str; 3] =
        ["X-Gitea-Delivery", "X-Gogs-Delivery", "X-GitHub-Delivery"];

    /// Delivers PR `n`'s `action` event; returns the delivery id.
    pub fn deliver_pr(&mut self, server: &Server, action: &str, n: u64) -> String {
        let id = self.next_delivery();
        let body = self.pull_request_event(action, n);
        let headers = Self::headers("pull_request", "pull_request", &id, &body);
        let status = self.sent.post(&server.addr, &id, headers, body);
        assert_eq!(status, 202, "{action} #{n}");
        id
    }

    /// Delivers `login`'s comment `text` on PR `n`; returns the delivery id.
    pub fn deliver_comment(&mut self, server: &Server, n: u64, login: &str, text: &str) -> String {
        let id = self.next_delivery();
        let body = self.comment_event(n, login, text, 8000 + self.deliveries);
        let headers = Self::headers("issue_comment", "pull_request_comment", &id, &body);
        let status = self.sent.post(&server.addr, &id, headers, body);
        assert_eq!(status, 202, "{text}");
        id
    }
}
