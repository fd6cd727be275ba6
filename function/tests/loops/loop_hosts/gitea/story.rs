//! The Gitea story's doings: the fake on its mock server with the story's people, `serve`'s
//! environment, pull requests opened and reviewed, and Gitea-shaped deliveries (`pull_request`,
//! `issue_comment`) built from the corpus's GitHub examples, signed and sent.

use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use landfall_e2e::git;
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, matchers::any};

use super::super::{FORK, Headers, OUTSIDER, REPO, REVIEWER, Sent, WRITER, Workspace};
use super::{FakeGitea, Gitea, Pr, REPO_ID, user_json};
use crate::loop_common::{SECRET, Server, server_env};

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
                agit: false,
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
                agit: false,
            },
        );
    }

    /// AGit PR `n` by the outsider, who may only read the repository: its commits pushed to
    /// `refs/for/main` (here, `branch` of the one repository).
    pub fn open_agit_pr(&self, n: u64, branch: &str) {
        self.host.state.lock().unwrap().prs.insert(
            n,
            Pr {
                branch: branch.to_owned(),
                author: OUTSIDER.to_owned(),
                head_repo: REPO.to_owned(),
                agit: true,
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
