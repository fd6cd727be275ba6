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
//! | `GET pulls/{n}/reviews` | the reviews, `stale` when not at the head, paged by number (`X-Total-Count`, no `Link`, as Gitea) |
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

use serde_json::{Value, json};
use wiremock::MockServer;

use super::{Host, Sent, Workspace};

mod api;
mod story;

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
    /// An AGit pull request (`git push origin HEAD:refs/for/main`): Gitea names no head branch
    /// (`head.ref` is `refs/pull/{n}/head`, `head.label` empty) and the base repository as
    /// the head's.
    pub agit: bool,
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

/// The Gitea story: the workspace, the fake host and the deliveries sent so far.
pub struct Gitea {
    pub ws: Workspace,
    pub host: FakeGitea,
    pub mock: MockServer,
    pub sent: Sent,
    deliveries: u64,
}
