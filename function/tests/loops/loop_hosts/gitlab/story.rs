//! The GitLab story's doings: the fake on its mock server with the story's people, `serve`'s
//! environment, merge requests opened and approved, and GitLab-shaped deliveries (`Merge Request
//! Hook`, `Note Hook`) built from the corpus and sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use landfall_e2e::git;
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, matchers::any};

use super::super::{FORK, Headers, OUTSIDER, REPO, REVIEWER, Sent, WRITER, Workspace};
use super::{
    DEVELOPER, FORK_ID, FakeGitlab, Gitlab, GitlabState, HOOK_UUID, MAINTAINER, Mr, PROJECT_ID,
    REPORTER, user_json,
};
use crate::loop_common::{Server, server_env};

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
