//! Shared by the loop tests: a fake GitHub API backed by a local git repository, the real
//! `landfall-function serve` as a child process, and GitHub-shaped signed deliveries.
#![allow(dead_code)]

pub mod extra_routes;
mod routes;
pub mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use landfall_e2e::{commit_files, git};
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};

pub const SECRET: &str = "loop-webhook-secret";
pub const TOKEN: &str = "loop-vcs-token-5f1c";
pub const REPO: &str = "acme/infra";
/// The token GitHub signs a tarball's download URL with.
pub const ARCHIVE_TOKEN: &str = "loop-archive-token";

/// A pull request as the fake host keeps it.
#[derive(Clone, Debug)]
pub struct Pr {
    pub head: String,
    pub author: String,
    pub merged: bool,
    /// The head repository's full name: `REPO`, or a fork's.
    pub head_repo: String,
}

#[derive(Debug, Default)]
pub struct HostState {
    pub prs: BTreeMap<u64, Pr>,
    /// PRs approved by `reviewer` at their current head.
    pub approved: BTreeSet<u64>,
    /// More reviews: (PR, login, state, commit id).
    pub reviews: Vec<(u64, String, String, String)>,
    /// Repository roles by login (`admin`, `maintain`, `write`, `triage`, `read`); anyone else
    /// is not a collaborator (404).
    pub roles: BTreeMap<String, String>,
    /// Permission lookups answered.
    pub permission_lookups: usize,
    /// (comment id, PR, body), in posting order.
    pub comments: Vec<(u64, u64, String)>,
    /// (sha, context, state).
    pub statuses: Vec<(String, String, String)>,
    pub unauthorized: usize,
    /// Tree archives downloaded (from the tarball endpoint's redirect).
    pub archives: usize,
    /// Requests to the archive download that carried credentials (it is pre-signed: none must).
    pub credentials_off_api: usize,
    /// Files read one by one through the contents API.
    pub file_reads: usize,
    /// Issues by number (drift's tracking issue).
    pub issues: BTreeMap<u64, extra_routes::Issue>,
    /// The commit each merged PR left on `main` (`merge_commit_sha`).
    pub merge_commits: BTreeMap<u64, String>,
    /// Merge requests received (automerge): PR and body, in order.
    pub merges: Vec<(u64, Value)>,
    /// The status checks `main`'s branch protection requires: a pull request whose head has not
    /// passed one of them is `blocked`.
    pub required_checks: Vec<String>,
}

impl HostState {
    /// Whether the newest status of `context` at `sha` is a success.
    pub fn passed(&self, sha: &str, context: &str) -> bool {
        self.statuses
            .iter()
            .rev()
            .find(|(at, name, _)| at == sha && name == context)
            .is_some_and(|(_, _, state)| state == "success")
    }
}

/// The fake GitHub API: answers what the GitHub adapter asks, from the git repository.
#[derive(Clone)]
pub struct FakeGithub {
    pub repo: PathBuf,
    pub state: Arc<Mutex<HostState>>,
}

pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// The server child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `landfall-function` binary: Cargo's for tests, else the one beside the running example
/// (`target/<profile>/examples/<name>` → `target/<profile>/landfall-function`).
pub fn function_binary() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_landfall-function") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("landfall-function"))
        .unwrap()
}

pub fn start_server(vars: &[(&str, String)], log: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(function_binary());
    command
        .args(["serve", "--listen", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, _) in landfall_function::config::process::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("LANDFALL_") || name.starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    let mut server = Server {
        child: command.spawn().unwrap(),
        addr,
    };
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = log.to_owned();
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(log).unwrap();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server never said it was listening");
        if line.contains("\"listening\"") {
            let log: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(log["addr"], server.addr.as_str());
            return server;
        }
    }
}

impl Server {
    /// Posts a signed GitHub delivery; returns the status and how long the answer took.
    pub fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Duration) {
        deliver_to(
            &self.addr,
            "/",
            event,
            delivery,
            body,
            Duration::from_secs(30),
        )
    }
}

/// Posts a signed GitHub delivery to `http://{addr}{path}`, waiting at most `timeout` for the
/// answer; returns the status and how long the answer took.
pub fn deliver_to(
    addr: &str,
    path: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
    timeout: Duration,
) -> (u16, Duration) {
    let (name, value) = sign(Provider::Github, SECRET, body);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         User-Agent: GitHub-Hookshot/loop\r\nX-GitHub-Event: {event}\r\nX-GitHub-Delivery: {delivery}\r\n\
         X-GitHub-Hook-ID: 1\r\n{name}: {value}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    head.extend_from_slice(body);
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(&head).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, elapsed)
}

pub fn corpus(rel: &str) -> Value {
    let path = landfall_e2e::shared_dir()
        .join("corpus/github-octokit-webhooks")
        .join(rel);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Puts our repository into an octokit example payload.
pub fn set_repository(payload: &mut Value, clone_url: &str) {
    let repository = &mut payload["repository"];
    repository["full_name"] = json!(REPO);
    repository["name"] = json!("infra");
    repository["owner"]["login"] = json!("acme");
    repository["clone_url"] = json!(clone_url);
    repository["default_branch"] = json!("main");
    payload["sender"]["login"] = json!("octocat");
}

pub struct Story {
    pub dir: tempfile::TempDir,
    pub host: FakeGithub,
    pub deliveries: u64,
    /// Counts the story's events, so each is distinct as real ones are. The story's own, not a
    /// static: the loop tests share one process.
    events: AtomicU64,
    /// Counts the story's comments, so each has its own id as real ones do.
    comments: AtomicU64,
}

impl Story {
    pub fn origin(&self) -> PathBuf {
        self.dir.path().join("origin")
    }

    pub fn clone_url(&self) -> String {
        format!("file://{}", self.origin().display())
    }

    pub fn main_tf(&self, value: &str) -> String {
        format!(
            "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n\n\
             resource \"terraform_data\" \"app\" {{\n  input = \"{value}\"\n}}\n",
            self.dir.path().join("state/terraform.tfstate").display()
        )
    }

    /// Commits `files` on `branch` (created from main when new); returns the new head.
    pub fn commit(&self, branch: &str, files: &[(&str, String)], message: &str) -> String {
        commit_files(&self.origin(), branch, files, message)
    }

    pub fn next_delivery(&mut self) -> String {
        self.deliveries += 1;
        format!("72d3162e-cc78-11e3-81ab-{:012x}", self.deliveries)
    }

    pub fn pull_request(&self, action: &str, number: u64, merged: bool) -> Vec<u8> {
        let mut payload = corpus("pull_request/opened.payload.json");
        let pr = self.host.state.lock().unwrap().prs[&number].clone();
        let repo = self.origin();
        set_repository(&mut payload, &self.clone_url());
        payload["action"] = json!(action);
        payload["number"] = json!(number);
        payload["sender"]["login"] = json!(pr.author);
        // Each event is a new one: GitHub's bodies carry the time of the change (an identical
        // body is a replay, which the function does not handle twice).
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        payload["pull_request"]["updated_at"] =
            json!(format!("2026-12-04T10:{:02}:{:02}Z", (n / 60) % 60, n % 60));
        let p = &mut payload["pull_request"];
        p["number"] = json!(number);
        p["state"] = json!(if action == "closed" { "closed" } else { "open" });
        p["merged"] = json!(merged);
        p["user"]["login"] = json!(pr.author);
        p["head"]["ref"] = json!(pr.head);
        p["head"]["sha"] = json!(git(&repo, &["rev-parse", &pr.head]));
        p["head"]["repo"]["full_name"] = json!(pr.head_repo);
        p["head"]["repo"]["clone_url"] = json!(self.clone_url());
        p["base"]["ref"] = json!("main");
        p["base"]["sha"] = json!(git(&repo, &["rev-parse", "main"]));
        p["base"]["repo"]["full_name"] = json!(REPO);
        p["base"]["repo"]["clone_url"] = json!(self.clone_url());
        serde_json::to_vec(&payload).unwrap()
    }

    pub fn comment(&self, number: u64, text: &str) -> Vec<u8> {
        self.comment_by(number, text, "octocat")
    }

    /// A comment on PR `number` by `login`.
    pub fn comment_by(&self, number: u64, text: &str, login: &str) -> Vec<u8> {
        let mut payload = corpus("issue_comment/created.payload.json");
        set_repository(&mut payload, &self.clone_url());
        payload["action"] = json!("created");
        payload["issue"]["number"] = json!(number);
        payload["issue"]["pull_request"] = json!({
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
        });
        payload["comment"]["body"] = json!(text);
        payload["comment"]["user"]["login"] = json!(login);
        // Every comment is a new one, with its own id, as on GitHub (an identical body is a
        // replay, which the function does not handle twice).
        payload["comment"]["id"] = json!(5_000_001 + self.comments.fetch_add(1, Ordering::Relaxed));
        payload["sender"]["login"] = json!(login);
        let author = self
            .host
            .state
            .lock()
            .unwrap()
            .prs
            .get(&number)
            .map(|p| p.author.clone());
        if let Some(author) = author {
            payload["issue"]["user"]["login"] = json!(author);
        }
        serde_json::to_vec(&payload).unwrap()
    }

    pub fn comments(&self, pr: u64) -> Vec<String> {
        self.host
            .state
            .lock()
            .unwrap()
            .comments
            .iter()
            .filter(|c| c.1 == pr)
            .map(|c| c.2.clone())
            .collect()
    }

    /// Waits for a comment on `pr`, posted after the first `after` ones, that contains `needle`
    /// (comments are edited in place as results arrive).
    pub fn wait_comment(&self, pr: u64, after: usize, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_mins(3);
        loop {
            let comments = self.comments(pr);
            if let Some(found) = comments.iter().skip(after).find(|c| c.contains(needle)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no comment on #{pr} containing {needle:?}; comments after {after}: {:#?}",
                comments.iter().skip(after).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A fake GitHub (on `runtime`) over an empty repository `origin` in a fresh folder.
pub fn new_story(runtime: &tokio::runtime::Runtime) -> (MockServer, Story) {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "--quiet", "--initial-branch=main"]);
    let mock = runtime.block_on(MockServer::start());
    let host = FakeGithub {
        repo: origin,
        state: Arc::default(),
    };
    // The story's people: octocat and the reviewer can write; anyone else is an outsider.
    {
        let mut state = host.state.lock().unwrap();
        state.roles.insert("octocat".to_owned(), "write".to_owned());
        state
            .roles
            .insert("reviewer".to_owned(), "maintain".to_owned());
    }
    runtime.block_on(Mock::given(any()).respond_with(host.clone()).mount(&mock));
    let story = Story {
        dir,
        host,
        deliveries: 0,
        events: AtomicU64::new(0),
        comments: AtomicU64::new(0),
    };
    (mock, story)
}

/// The brief's variables for `serve` against `mock`, with the embedded store in `data`, local
/// dispatch, `.tools/bin` on `PATH` and Terraform kept offline.
pub fn server_env(mock: &MockServer, data: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("LANDFALL_VCS", "github".to_owned()),
        ("LANDFALL_VCS_URL", mock.uri()),
        ("LANDFALL_VCS_TOKEN", TOKEN.to_owned()),
        ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
        ("LANDFALL_REPO_ALLOWLIST", "acme/*".to_owned()),
        ("LANDFALL_STORE", "embedded".to_owned()),
        ("LANDFALL_DATA_DIR", data.display().to_string()),
        ("LANDFALL_DISPATCH", "local".to_owned()),
        ("LANDFALL_ALLOW_FILE_CLONE", "true".to_owned()),
        (
            "PATH",
            landfall_e2e::path_with_tools()
                .to_string_lossy()
                .into_owned(),
        ),
        (
            "TF_CLI_CONFIG_FILE",
            landfall_e2e::tools_dir()
                .join("terraformrc-offline")
                .display()
                .to_string(),
        ),
    ]
}

/// A story whose `main` holds one project at `v1`, the operator policy `policy` written beside
/// it, and the variables that serve it (the embedded store in the returned data folder).
pub fn story_with_policy(
    runtime: &tokio::runtime::Runtime,
    policy: &str,
) -> (MockServer, Story, Vec<(&'static str, String)>, PathBuf) {
    let (mock, story) = new_story(runtime);
    story.commit(
        "main",
        &[("envs/app/main.tf", story.main_tf("v1"))],
        "initial",
    );
    let file = story.dir.path().join("repos.yaml");
    std::fs::write(&file, policy).unwrap();
    let data = story.dir.path().join("data");
    let mut env = server_env(&mock, &data);
    env.push(("LANDFALL_POLICY", file.display().to_string()));
    (mock, story, env, data)
}

/// Sets PR `number` on `head` by `author` in the fake host.
pub fn open_pr(story: &Story, number: u64, head: &str, author: &str) {
    story.host.state.lock().unwrap().prs.insert(
        number,
        Pr {
            head: head.to_owned(),
            author: author.to_owned(),
            merged: false,
            head_repo: REPO.to_owned(),
        },
    );
}

/// The number of runs dispatched locally so far.
pub fn run_dirs(data: &Path) -> usize {
    std::fs::read_dir(data.join("runs")).map_or(0, Iterator::count)
}
