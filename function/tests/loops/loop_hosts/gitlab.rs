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
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::MockServer;

use super::{Host, Sent, Workspace};

mod api;
mod story;

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
