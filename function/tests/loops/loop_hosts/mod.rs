//! Shared by the GitLab and Gitea attack stories (`loop_authz_gitlab.rs`,
//! `loop_authz_gitea.rs`): the repository the fake hosts serve from, raw HTTP deliveries with
//! each host's own headers, waiting for the function's answers (the PR's comments, the server
//! log's "event handled" for one delivery), and the server log printed when a story fails.
//!
//! Each host's fake lives in its own module ([`gitlab`], [`gitea`]): a wiremock `Respond`
//! answering exactly the endpoints that host's adapter calls, from the local git repository,
//! with comments, statuses and permission lookups kept in a state struct.
#![allow(dead_code)]

pub mod gitea;
pub mod gitlab;

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use landfall_e2e::{commit_files, git, git_bytes};

/// The base repository of both stories (a GitLab project path, a Gitea `owner/name`).
pub const REPO: &str = "acme/infra";
/// The fork the outsider opens a PR/MR from.
pub const FORK: &str = "evil-outsider/infra";
/// Who writes to the repository (opens the PRs, applies, unlocks).
pub const WRITER: &str = "octocat";
/// Who reviews with write access.
pub const REVIEWER: &str = "reviewer";
/// Who has no access at all.
pub const OUTSIDER: &str = "evil-outsider";

/// The story's folder: the repository the fake host serves (`origin`), the Terraform state,
/// the function's data directory, the policy and the server log.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A fresh folder with an empty repository on `main`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "--quiet", "--initial-branch=main"]);
        Workspace { dir }
    }

    pub fn origin(&self) -> PathBuf {
        self.dir.path().join("origin")
    }

    pub fn clone_url(&self) -> String {
        format!("file://{}", self.origin().display())
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The Terraform state the story's applies write (a local backend outside the clone).
    pub fn state_file(&self) -> Option<Vec<u8>> {
        std::fs::read(self.dir.path().join("state/terraform.tfstate")).ok()
    }

    /// One `terraform_data` resource whose input is `value`, with its state in the workspace.
    pub fn main_tf(&self, value: &str) -> String {
        format!(
            "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n\n\
             resource \"terraform_data\" \"app\" {{\n  input = \"{value}\"\n}}\n",
            self.dir.path().join("state/terraform.tfstate").display()
        )
    }

    /// Writes the operator's policy (`LANDFALL_POLICY`); returns its path.
    pub fn policy(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("repos.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Commits `files` on `branch` (created from main when new); returns the new head.
    pub fn commit(&self, branch: &str, files: &[(&str, String)], message: &str) -> String {
        commit_files(&self.origin(), branch, files, message)
    }

    /// Brings `branch` up to date with `main` (a merge commit); returns the new head.
    pub fn merge_main_into(&self, branch: &str) -> String {
        let repo = self.origin();
        git(&repo, &["checkout", "--quiet", branch]);
        git(&repo, &["merge", "--quiet", "--no-edit", "main"]);
        git(&repo, &["checkout", "--quiet", "main"]);
        self.rev(branch)
    }

    pub fn rev(&self, rev: &str) -> String {
        git(&self.origin(), &["rev-parse", rev])
    }
}

/// What a fake host changed, as the story checks it.
pub trait Host {
    /// The bodies of PR `pr`'s comments, in posting order (edited in place).
    fn comments(&self, pr: u64) -> Vec<String>;
    /// Commit statuses set so far.
    fn statuses(&self) -> usize;
}

/// Waits for a comment on `pr`, posted after the first `after` ones, that contains `needle`.
pub fn wait_comment(host: &impl Host, pr: u64, after: usize, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        let comments = host.comments(pr);
        if let Some(found) = comments.iter().skip(after).find(|c| c.contains(needle)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no comment on #{pr} containing {needle:?}; comments after {after}: {:#?}",
            comments.iter().skip(after).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the server log says delivery `id` was handled (its "event handled" line, which
/// carries the delivery's span).
pub fn wait_handled(log: &Path, id: &str) {
    wait_log(log, id, "event handled");
}

/// Waits for a line of the server log with `message` in delivery `id`'s span.
pub fn wait_log(log: &Path, id: &str, message: &str) {
    let deadline = Instant::now() + Duration::from_mins(3);
    let message = format!("\"message\":\"{message}\"");
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().any(|l| l.contains(&message) && l.contains(id)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server log never said {message} for delivery {id}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A delivery's headers, by name.
pub type Headers = Vec<(String, String)>;

/// Deliveries as sent, to send again: id → (headers, body).
#[derive(Debug, Default)]
pub struct Sent(std::collections::BTreeMap<String, (Headers, Vec<u8>)>);

impl Sent {
    /// Posts and keeps a delivery; returns the status.
    pub fn post(&mut self, addr: &str, id: &str, headers: Headers, body: Vec<u8>) -> u16 {
        let status = post(addr, &headers, &body);
        self.0.insert(id.to_owned(), (headers, body));
        status
    }

    /// Posts delivery `id` again, byte for byte; returns the status.
    pub fn replay(&self, addr: &str, id: &str) -> u16 {
        let (headers, body) = &self.0[id];
        post(addr, headers, body)
    }

    /// Posts delivery `id` again without the headers named in `strip`; returns the status.
    pub fn replay_without(&self, addr: &str, id: &str, strip: &[&str]) -> u16 {
        let (headers, body) = &self.0[id];
        let headers: Headers = headers
            .iter()
            .filter(|(k, _)| !strip.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .cloned()
            .collect();
        post(addr, &headers, body)
    }
}

/// Posts `body` to the server with `headers`; returns the HTTP status.
pub fn post(addr: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        write!(request, "{name}: {value}\r\n").unwrap();
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(&bytes).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Prints the server log when the story fails (declare it after the workspace, so that it is
/// dropped, and prints, before the folder is removed).
pub struct LogOnFailure(pub PathBuf);

impl Drop for LogOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            eprintln!("---- server log ({}) ----\n{log}", self.0.display());
        }
    }
}

pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub fn not_found(message: &str) -> ResponseTemplate {
    json_response(404, &json!({ "message": message }))
}

/// A query parameter of `request`.
pub fn query(request: &wiremock::Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A percent-encoded path segment, decoded.
pub fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The files `head` changes against where it left `base` (`git diff base...head`), renames
/// found: (status letter, old path, new path).
pub fn changed_files(repo: &Path, base: &str, head: &str) -> Vec<(char, String, String)> {
    let diff = git(
        repo,
        &["diff", "--name-status", "-M", &format!("{base}...{head}")],
    );
    diff.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let status = fields.first()?.chars().next()?;
            Some(match fields.as_slice() {
                [_, old, new] => (status, (*old).to_owned(), (*new).to_owned()),
                [_, path] => (status, (*path).to_owned(), (*path).to_owned()),
                _ => return None,
            })
        })
        .collect()
}

/// Every file of the tree at `sha`: (path, type `blob`/`tree`, mode, object id), directories
/// included, as hosts list a recursive tree.
pub fn tree(repo: &Path, sha: &str) -> Vec<(String, String, String, String)> {
    git(repo, &["ls-tree", "-r", "-t", sha])
        .lines()
        .filter_map(|line| {
            let (meta, path) = line.split_once('\t')?;
            let mut meta = meta.split(' ');
            let mode = meta.next()?.to_owned();
            let kind = meta.next()?.to_owned();
            let id = meta.next()?.to_owned();
            Some((path.to_owned(), kind, mode, id))
        })
        .collect()
}

/// `git archive` of `sha` as a `.tar.gz` with every entry under `prefix`.
pub fn archive(repo: &Path, sha: &str, prefix: &str) -> Option<Vec<u8>> {
    git_bytes(
        repo,
        &[
            "archive",
            "--format=tar.gz",
            &format!("--prefix={prefix}"),
            sha,
        ],
    )
}

/// One page of `items`: the 1-based `page` of `per_page`, and the next page's number if any.
pub fn page<T: Clone>(items: &[T], page: usize, per_page: usize) -> (Vec<T>, Option<usize>) {
    let page = page.max(1);
    let per_page = per_page.max(1);
    let start = (page - 1) * per_page;
    let slice: Vec<T> = items.iter().skip(start).take(per_page).cloned().collect();
    let next = (start + per_page < items.len()).then_some(page + 1);
    (slice, next)
}
