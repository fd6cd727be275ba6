//! Pull-request code is untrusted: what a PR's Terraform (built-in functions only) and its
//! workflow's `run` steps can reach, tried as an attacker would, and checked by effect.
//!
//! - Through `landfall-function serve` with local dispatch, the real runner and the real
//!   `terraform`: a PR whose Terraform prints `file()` of the token file (by the path its
//!   variable names, and by the work folder's layout), of `/proc/self/environ` and of its parent
//!   (the runner)'s environment, unmasked with `nonsensitive(sensitive(...))`, and whose workflow
//!   dumps `env` and the runner's `/proc/$PPID/environ`, gets neither the VCS token nor the
//!   webhook secret into any comment, status, report, log or file the run leaves; the attack did
//!   run (its outputs are in the comment).
//! - A clone URL on another host than the VCS host's is refused before git runs and before the
//!   credential helper exists; on the VCS host, the same fake `git` is offered the token, so the
//!   refusal is what kept it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use landfall_function::event::Provider;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::run::{ProjectSpec, RunCommand, RunReport, RunSpec, RunStatus};

use crate::loop_common;
use crate::loop_common::{SECRET, TOKEN, open_pr, start_server, story_with_policy};

/// The operator allows repository-defined workflows, as Atlantis users often do.
const POLICY: &str =
    "repos:\n- id: /.*/\n  allowed_overrides: [workflow]\n  allow_custom_workflows: true\n";

/// The PR's workflow: `run` steps that dump the environment they get and the runner's own.
const ATLANTIS_YAML: &str = r"version: 3
projects:
- dir: envs/app
  workflow: leak
workflows:
  leak:
    plan:
      steps:
      - init
      - run: echo step-env-dump; env
      - run: tr '\0' '\n' < /proc/$PPID/environ || echo parent-environ-unreadable
      - run: ls -la ../../../secrets || echo no-secrets-folder
      - plan
";

/// The PR's Terraform: every read a plan can make with built-in functions, printed unmasked.
fn attack_tf(state: &Path) -> String {
    r#"terraform {
  backend "local" {
    path = "STATE"
  }
}

locals {
  self_environ   = replace(file("/proc/self/environ"), "\u0000", "\n")
  ppid           = split(" ", regex("\\) (.*)", file("/proc/self/stat"))[0])[1]
  parent_environ = replace(try(file("/proc/${local.ppid}/environ"), "parent-environ-unreadable"), "\u0000", "\n")
  by_layout      = "${abspath(path.root)}/../../../secrets/vcs-token"
  token_path     = try(regex("LANDFALL_GIT_TOKEN_FILE=([^\n]*)", local.self_environ)[0], local.by_layout)
  token_by_var   = try(file(local.token_path), "token-file-gone")
  token_by_path  = try(file(local.by_layout), "token-file-gone")
}

resource "terraform_data" "leak" {
  input = "${local.token_by_var}|${local.token_by_path}"
}

output "self_environ" {
  value = nonsensitive(sensitive(local.self_environ))
}

output "parent_environ" {
  value = nonsensitive(sensitive(local.parent_environ))
}

output "token" {
  value = nonsensitive(sensitive("tokens:${local.token_by_var}|${local.token_by_path}"))
}
"#
    .replace("STATE", &state.display().to_string())
}

/// Waits until the one run has ended (its exit is recorded); returns its folder.
fn wait_for_run_end(data: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let ended = std::fs::read_dir(data.join("runs"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|dir| dir.join("exit").is_file());
        if let Some(dir) = ended {
            return dir;
        }
        assert!(Instant::now() < deadline, "the run never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Neither the token nor the webhook secret anywhere: comments, statuses, every file under
/// `data` (the run's log and report, its clone, planfile and show JSON, the stored log) and the
/// function's own log.
fn assert_no_secret_anywhere(story: &loop_common::Story, data: &Path, server_log: &Path) {
    let host = story.host.state.lock().unwrap();
    for (_, pr, body) in &host.comments {
        for secret in [TOKEN, SECRET] {
            assert!(
                !body.contains(secret),
                "a secret in a comment on #{pr}:\n{body}"
            );
        }
    }
    for (sha, context, state) in &host.statuses {
        assert!(
            ![TOKEN, SECRET]
                .iter()
                .any(|s| context.contains(s) || state.contains(s) || sha.contains(s))
        );
    }
    assert_eq!(host.unauthorized, 0);
    drop(host);
    let mut scanned = 0;
    for file in files(data).into_iter().chain([server_log.to_owned()]) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [TOKEN, SECRET] {
            assert!(
                !contains(&bytes, secret),
                "{} holds a secret",
                file.display()
            );
        }
        scanned += 1;
    }
    assert!(scanned > 10, "the run left its files: {scanned}");
}

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn a_prs_terraform_and_steps_reach_neither_the_token_nor_the_webhook_secret() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_mock, mut story, env, data) = story_with_policy(&runtime, POLICY);
    let server_log = story.dir.path().join("server.log");
    let server = start_server(&env, &server_log);

    let state = story.dir.path().join("state/terraform.tfstate");
    story.commit(
        "attack",
        &[
            ("envs/app/main.tf", attack_tf(&state)),
            ("atlantis.yaml", ATLANTIS_YAML.to_owned()),
        ],
        "a harmless change",
    );
    open_pr(&story, 1, "attack", "octocat");
    let id = story.next_delivery();
    let (status, _) = server.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    let comment = story.wait_comment(1, 0, "Plan: 1 to add");

    let run_dir = wait_for_run_end(&data);
    drop(server);

    // The attack ran: Terraform read its own environment, tried the runner's and the token
    // file, and printed what it found into the plan the comment shows.
    assert!(comment.contains("PULL_NUM=1"), "{comment}");
    assert!(
        comment.contains("tokens:token-file-gone|token-file-gone"),
        "{comment}"
    );
    assert!(
        // Only the runner's own environment holds this (non-secret) marker.
        comment.contains("LANDFALL_VCS_TOKEN_ON_STDIN=1")
            || comment.contains("parent-environ-unreadable"),
        "{comment}"
    );
    // The steps dumped their environment and the runner's into the log.
    let report: RunReport =
        serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let log_key = &report.log.as_ref().expect("the run stored its log").key;
    let log = std::fs::read_to_string(data.join("artifacts").join(log_key)).unwrap();
    let (_, dump) = log.split_once("step-env-dump\n").expect("the env step ran");
    assert!(dump.contains("PATH="), "{log}");
    assert!(dump.contains("PULL_NUM=1"), "{log}");
    assert!(
        log.contains("LANDFALL_VCS_TOKEN_ON_STDIN=1") || log.contains("parent-environ-unreadable"),
        "the runner's environment was read, or could not be: {log}"
    );
    let (_, listing) = log
        .split_once("$ ls -la ../../../secrets")
        .expect("the ls step ran");
    assert!(!listing.contains("vcs-token"), "{log}");

    // Nothing secret in the steps' environment or the runner's, not even by name.
    for name in [
        "LANDFALL_VCS_TOKEN=",
        "LANDFALL_WEBHOOK_SECRET",
        "LANDFALL_GIT_TOKEN_FILE",
        "LANDFALL_GIT_CREDENTIAL_HOST",
        "LANDFALL_GITHUB_APP_KEY",
    ] {
        assert!(!log.contains(name), "{name} in the log:\n{log}");
        assert!(!comment.contains(name), "{name} in the comment:\n{comment}");
    }

    assert_no_secret_anywhere(&story, &data, &server_log);
    assert!(!run_dir.join("work/secrets/vcs-token").exists());
}

/// A `git` that logs its arguments and, asked to fetch, asks the real git for credentials the
/// way a fetch over HTTPS does (for the VCS host, and for another host), logging the answers.
fn fake_git(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let log = dir.join("fake-git.log");
    let script = format!(
        "#!/bin/sh\necho \"git $*\" >> '{log}'\ncase \" $* \" in\n*\" fetch \"*)\n\
         for host in github.com evil.example; do\n\
         printf 'protocol=https\\nhost=%s\\n\\n' \"$host\" | '{real}' credential fill >> '{log}' 2>/dev/null \
         || echo \"no credential for $host\" >> '{log}'\ndone\nexit 1;;\nesac\nexit 0\n",
        log = log.display(),
    );
    let git = bin.join("git");
    std::fs::write(&git, script).unwrap();
    std::fs::set_permissions(&git, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (bin, log)
}

const RUNNER_TOKEN: &str = "tok-runner-secrets-9e1d27";

fn spec(clone_url: &str, trigger: &str) -> RunSpec {
    RunSpec {
        provider: Provider::Github,
        repo: RepoName::new("acme/infra"),
        head_repo: RepoName::new("acme/infra"),
        pr: PullRequestNumber(7),
        head_sha: CommitSha::new("0123456789abcdef0123456789abcdef01234567"),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: clone_url.to_owned(),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec {
            timeout: Duration::from_mins(2),
            ..ProjectSpec::new("envs/app")
        },
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: trigger.to_owned(),
        report_back: None,
        apply: None,
    }
}

/// Runs the real runner on `spec` with the fake `git` first on `PATH`; returns its report.
fn run_with_fake_git(dir: &Path, spec: &RunSpec, fake_bin: &Path) -> RunReport {
    let report_file = dir.join(format!("{}.json", spec.trigger));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landfall-runner"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LANDFALL_") {
            cmd.env_remove(name);
        }
    }
    let path = std::env::join_paths(
        std::iter::once(fake_bin.to_owned())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let output = cmd
        .envs(spec.to_env())
        .env("PATH", path)
        .env("LANDFALL_STORE", "embedded")
        .env("LANDFALL_DATA_DIR", dir.join("data"))
        .env(
            "LANDFALL_WORK_DIR",
            dir.join(format!("work-{}", spec.trigger)),
        )
        .env("LANDFALL_RUN_REPORT", &report_file)
        .env("LANDFALL_VCS_TOKEN", RUNNER_TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(RUNNER_TOKEN), "{stderr}");
    let json = std::fs::read_to_string(&report_file)
        .unwrap_or_else(|err| panic!("no report ({err}); stderr:\n{stderr}"));
    assert!(!json.contains(RUNNER_TOKEN), "{json}");
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_clone_url_off_the_vcs_host_is_refused_before_any_credential_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (fake_bin, git_log) = fake_git(dir.path());

    // On the VCS host (github.com, the default): git runs, and the helper offers the token for
    // that host only. The clone then fails (the fake fetches nothing), and the file is gone.
    let on_host = spec("https://github.com/acme/infra.git", "on-host");
    let report = run_with_fake_git(dir.path(), &on_host, &fake_bin);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    let asked = std::fs::read_to_string(&git_log).unwrap();
    assert!(asked.contains(" fetch "), "{asked}");
    assert!(
        asked.contains(&format!(
            "host=github.com\nusername=x-access-token\npassword={RUNNER_TOKEN}"
        )),
        "{asked}"
    );
    assert!(asked.contains("no credential for evil.example"), "{asked}");
    assert!(!dir.path().join("work-on-host/secrets/vcs-token").exists());
    std::fs::remove_file(&git_log).unwrap();

    // Elsewhere, or not over HTTPS: refused, saying why; git never ran, and no token file or
    // helper was ever set up.
    for (n, (url, says)) in [
        (
            "https://evil.example/acme/infra.git",
            "not on the VCS host (github.com",
        ),
        (
            "https://github.com.evil.example/acme/infra.git",
            "not on the VCS host",
        ),
        (
            "https://github.com@evil.example/acme/infra.git",
            "not on the VCS host",
        ),
        ("http://github.com/acme/infra.git", "is not an https:// URL"),
        (
            "ssh://git@github.com/acme/infra.git",
            "is not an https:// URL",
        ),
        ("file:///srv/git/infra", "LANDFALL_ALLOW_FILE_CLONE=true"),
    ]
    .into_iter()
    .enumerate()
    {
        let trigger = format!("off-host-{n}");
        let report = run_with_fake_git(dir.path(), &spec(url, &trigger), &fake_bin);
        assert_eq!(
            report.status,
            RunStatus::Failed,
            "{url}: {}",
            report.comment
        );
        assert!(
            report.comment.contains("refused"),
            "{url}: {}",
            report.comment
        );
        assert!(report.comment.contains(says), "{url}: {}", report.comment);
        assert!(!git_log.exists(), "{url}: git ran");
        assert!(
            !dir.path().join(format!("work-{trigger}/secrets")).exists(),
            "{url}: the token was written"
        );
    }
}
