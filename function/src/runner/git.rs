//! Getting the code: a clone at the exact head commit, and a git credential helper that serves
//! the VCS token to git for the VCS host only.
//!
//! The token never appears in a URL, an argument list or a log. The runner writes it to a file
//! readable only by itself, and points git at the helper through `GIT_CONFIG_*` variables; since
//! every git process inherits them, the helper also serves Terraform's own `git` calls for
//! private module sources on the same host (Atlantis users have to script that themselves).
//! The helper is this very binary: `landfall-runner git-credential get`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::event::Provider;

use super::process::{self, Capture};

/// The variable naming the host the helper serves.
pub const CREDENTIAL_HOST_VAR: &str = "LANDFALL_GIT_CREDENTIAL_HOST";
/// The variable naming the file that holds the token.
pub const TOKEN_FILE_VAR: &str = "LANDFALL_GIT_TOKEN_FILE";
/// The variable naming the user the helper answers with (an override of the host's default).
pub const USERNAME_VAR: &str = "LANDFALL_GIT_USERNAME";

/// The user name a host expects beside a token over HTTPS.
#[must_use]
pub fn token_username(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => "x-access-token",
        Provider::Gitlab | Provider::Gitea => "oauth2",
        Provider::BitbucketCloud | Provider::BitbucketServer => "x-token-auth",
        Provider::AzureDevops => "landfall",
    }
}

/// The parts of a clone URL the runner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneUrl {
    /// The scheme: `https`, `http`, `file`, `ssh`...
    pub scheme: String,
    /// The host (and port), empty for `file://`.
    pub host: String,
}

/// A clone URL that the runner will not use.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The URL has no `scheme://`.
    #[error("the clone URL {0:?} has no scheme (expected https:// or file://)")]
    NoScheme(String),
    /// The URL carries a password: the token must come from the credential helper.
    #[error("the clone URL carries a password; give it without credentials")]
    Credentials,
}

/// Reads a clone URL, refusing one with embedded credentials.
pub fn parse_clone_url(url: &str) -> Result<CloneUrl, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| UrlError::NoScheme(url.to_owned()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if userinfo.contains(':') {
                return Err(UrlError::Credentials);
            }
            host
        }
        None => authority,
    };
    Ok(CloneUrl {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
    })
}

/// The helper's answer to git's request (the `key=value` lines of the credential protocol):
/// the user and token for `https://<host>` exactly, and nothing otherwise.
#[must_use]
pub fn credential_answer(request: &str, host: &str, username: &str, token: &str) -> Option<String> {
    let mut protocol = None;
    let mut asked_host = None;
    for line in request.lines() {
        match line.split_once('=') {
            Some(("protocol", value)) => protocol = Some(value),
            Some(("host", value)) => asked_host = Some(value),
            _ => {}
        }
    }
    let matches = protocol == Some("https")
        && asked_host.is_some_and(|asked| asked.eq_ignore_ascii_case(host))
        && !host.is_empty()
        && !token.is_empty();
    matches.then(|| format!("username={username}\npassword={token}\n"))
}

/// The `git-credential` subcommand: answers `get` from the token file for the configured host;
/// `store` and `erase` are ignored.
pub fn credential_helper_main(
    operation: &str,
    stdin: &mut impl io::Read,
    stdout: &mut impl io::Write,
) -> io::Result<()> {
    if operation != "get" {
        return Ok(());
    }
    let mut request = String::new();
    stdin.read_to_string(&mut request)?;
    let host = std::env::var(CREDENTIAL_HOST_VAR).unwrap_or_default();
    let username = std::env::var(USERNAME_VAR).unwrap_or_else(|_| "x-access-token".to_owned());
    let Some(file) = std::env::var_os(TOKEN_FILE_VAR) else {
        return Ok(());
    };
    let token = std::fs::read_to_string(file)?;
    if let Some(answer) = credential_answer(&request, &host, &username, token.trim()) {
        stdout.write_all(answer.as_bytes())?;
    }
    Ok(())
}

/// The environment that points every git process (the clone, and Terraform's module fetches)
/// at the helper for `host`, and never at a prompt.
#[must_use]
pub fn git_env(
    helper_exe: &Path,
    host: &str,
    username: &str,
    token_file: &Path,
) -> Vec<(String, String)> {
    let exe = helper_exe.display().to_string().replace('\'', r"'\''");
    let config = [
        // An empty helper first clears any helper from system or global config.
        ("credential.helper", String::new()),
        ("credential.helper", format!("!'{exe}' git-credential")),
        ("advice.detachedHead", "false".to_owned()),
    ];
    let mut env = vec![
        ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
        ("GIT_CONFIG_COUNT".to_owned(), config.len().to_string()),
        (CREDENTIAL_HOST_VAR.to_owned(), host.to_owned()),
        (USERNAME_VAR.to_owned(), username.to_owned()),
        (TOKEN_FILE_VAR.to_owned(), token_file.display().to_string()),
    ];
    for (index, (key, value)) in config.into_iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{index}"), key.to_owned()));
        env.push((format!("GIT_CONFIG_VALUE_{index}"), value));
    }
    env
}

/// A clone that failed.
#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    /// A git command could not be started.
    #[error("running git {args} failed")]
    Spawn {
        /// The arguments.
        args: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A git command failed.
    #[error("git {args} failed:\n{output}")]
    Git {
        /// The arguments.
        args: String,
        /// Its output.
        output: String,
    },
    /// The checkout is not at the requested commit.
    #[error("the checkout is at {found}, not at the requested head {wanted}")]
    WrongCommit {
        /// The commit asked for.
        wanted: String,
        /// The commit checked out.
        found: String,
    },
    /// The run's time limit passed during the clone.
    #[error("the clone did not finish within the run's time limit")]
    TimedOut,
}

/// How a clone went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloned {
    /// The commit checked out, in full.
    pub sha: String,
    /// Whether the shallow fetch of the one commit worked (else a full fetch was needed).
    pub shallow: bool,
}

fn git(
    dir: &Path,
    args: &[&str],
    env: &[(String, String)],
    deadline: Instant,
) -> Result<String, CloneError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let shown = args.join(" ");
    let done = process::run(cmd, Capture::Split, deadline, Duration::from_secs(5), false).map_err(
        |source| CloneError::Spawn {
            args: shown.clone(),
            source,
        },
    )?;
    if done.timed_out {
        return Err(CloneError::TimedOut);
    }
    if done.status.success() {
        Ok(done.text())
    } else {
        Err(CloneError::Git {
            args: shown,
            output: format!("{}{}", done.text(), done.stderr_text()),
        })
    }
}

/// Clones `url` into `dest` at `sha`: a shallow fetch of that one commit where the server allows
/// it (GitHub, GitLab and `file://` do), else a full fetch and a checkout. `env` carries the
/// credential helper ([`git_env`]).
pub fn clone_at(
    url: &str,
    sha: &str,
    dest: &Path,
    env: &[(String, String)],
    deadline: Instant,
) -> Result<Cloned, CloneError> {
    std::fs::create_dir_all(dest).map_err(|source| CloneError::Spawn {
        args: format!("init {}", dest.display()),
        source,
    })?;
    git(dest, &["init", "--quiet"], env, deadline)?;
    git(dest, &["remote", "add", "origin", url], env, deadline)?;
    let shallow = git(
        dest,
        &["fetch", "--quiet", "--depth=1", "--no-tags", "origin", sha],
        env,
        deadline,
    )
    .is_ok();
    if !shallow {
        git(
            dest,
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ],
            env,
            deadline,
        )?;
    }
    let target = if shallow { "FETCH_HEAD" } else { sha };
    git(
        dest,
        &["checkout", "--quiet", "--detach", target],
        env,
        deadline,
    )?;
    let found = git(dest, &["rev-parse", "HEAD"], env, deadline)?
        .trim()
        .to_owned();
    if !found.starts_with(sha) {
        return Err(CloneError::WrongCommit {
            wanted: sha.to_owned(),
            found,
        });
    }
    Ok(Cloned {
        sha: found,
        shallow,
    })
}

/// The project directory inside the clone, refusing a `dir` that would leave it.
#[must_use]
pub fn project_dir(repo: &Path, dir: &str) -> Option<PathBuf> {
    let relative = Path::new(dir);
    let plain = !relative.is_absolute()
        && relative.components().all(|component| {
            matches!(
                component,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    plain.then(|| repo.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_answers_only_for_https_on_the_vcs_host() {
        let ask = |request: &str| credential_answer(request, "github.com", "x-access-token", "tok");
        assert_eq!(
            ask("protocol=https\nhost=github.com\npath=acme/infra.git\n").as_deref(),
            Some("username=x-access-token\npassword=tok\n")
        );
        assert_eq!(ask("protocol=https\nhost=evil.example\n"), None);
        assert_eq!(ask("protocol=http\nhost=github.com\n"), None);
        assert_eq!(ask("host=github.com\n"), None);
    }

    #[test]
    fn clone_urls_with_passwords_are_refused() {
        assert!(matches!(
            parse_clone_url("https://x:secret@github.com/a/b.git"),
            Err(UrlError::Credentials)
        ));
        assert_eq!(
            parse_clone_url("https://git@GitHub.com/a/b.git").unwrap(),
            CloneUrl {
                scheme: "https".into(),
                host: "github.com".into()
            }
        );
        assert_eq!(parse_clone_url("file:///tmp/repo").unwrap().host, "");
    }

    #[test]
    fn project_dirs_cannot_leave_the_clone() {
        let repo = Path::new("/w/repo");
        assert_eq!(project_dir(repo, "envs/prod"), Some(repo.join("envs/prod")));
        assert_eq!(project_dir(repo, "."), Some(repo.join(".")));
        assert_eq!(project_dir(repo, "../x"), None);
        assert_eq!(project_dir(repo, "/etc"), None);
    }

    #[test]
    fn git_itself_gets_the_token_from_the_helper_and_only_for_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "s3cret-token").unwrap();
        // A stand-in helper with the same protocol: this test binary cannot be the runner.
        let helper = dir.path().join("helper");
        std::fs::write(
            &helper,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 0\n\
             req=$(cat)\ncase \"$req\" in *host=$LANDFALL_GIT_CREDENTIAL_HOST*) \
             printf 'username=%s\\npassword=%s\\n' \"$LANDFALL_GIT_USERNAME\" \"$(cat \"$LANDFALL_GIT_TOKEN_FILE\")\";; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut env = git_env(&helper, "git.example.com", "oauth2", &token_file);
        // git appends the operation to the helper string; drop our subcommand word for the stub.
        for (name, value) in &mut env {
            if name == "GIT_CONFIG_VALUE_1" {
                *value = value.replace(" git-credential", "");
            }
        }
        let fill = |host: &str| {
            let mut cmd = Command::new("git");
            cmd.args(["credential", "fill"])
                .envs(env.iter().map(|(n, v)| (n, v)))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            std::io::Write::write_all(
                &mut child.stdin.take().unwrap(),
                format!("protocol=https\nhost={host}\n\n").as_bytes(),
            )
            .unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let answer = fill("git.example.com");
        assert!(answer.contains("username=oauth2"), "{answer}");
        assert!(answer.contains("password=s3cret-token"), "{answer}");
        assert!(!fill("other.example.com").contains("s3cret-token"));
    }
}
