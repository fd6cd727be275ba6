//! Getting the code: a clone at the exact head commit, only from the configured VCS host, and a
//! git credential helper that serves the VCS token to that clone only.
//!
//! The token never appears in a URL, an argument list, a log or the runner's environment. The
//! runner takes it out of its environment before anything else ([`move_token_off_environment`]),
//! writes it to a file readable only by itself, and points git at the helper through
//! `GIT_CONFIG_*` variables. The clone URL is checked first ([`check_clone_url`]): `https://` on
//! the VCS host, or `file://` when the operator allows it; nothing else is cloned and no
//! credential is offered to another host. Once the clone is done the file is removed
//! ([`forget_token`]) and the steps (Terraform, `run`) get no helper ([`step_git_env`]): the
//! pull request's code cannot read the token. The helper is this very binary:
//! `landfall-runner git-credential get`.

use std::io::{self, Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::config::env_vars;
use crate::event::Provider;

use super::process::{self, Capture};

/// The variable naming the host the helper serves.
pub const CREDENTIAL_HOST_VAR: &str = "LANDFALL_GIT_CREDENTIAL_HOST";
/// The variable naming the file that holds the token.
pub const TOKEN_FILE_VAR: &str = "LANDFALL_GIT_TOKEN_FILE";
/// The variable naming the user the helper answers with (an override of the host's default).
pub const USERNAME_VAR: &str = "LANDFALL_GIT_USERNAME";
/// Set on the runner by [`move_token_off_environment`]: its token arrives on standard input.
pub const TOKEN_ON_STDIN_VAR: &str = "LANDFALL_VCS_TOKEN_ON_STDIN";

/// Variables no process the runner starts gets (git, Terraform, `run` and `env` steps), should
/// the runner's own environment hold them: the token and every secret of the function, and the
/// ARNs that lead to them.
pub const WITHHELD_VARS: [&str; 7] = [
    env_vars::VCS_TOKEN,
    TOKEN_ON_STDIN_VAR,
    env_vars::VCS_TOKEN_ARN,
    env_vars::GITHUB_APP_KEY,
    env_vars::GITHUB_APP_KEY_ARN,
    env_vars::WEBHOOK_SECRET,
    env_vars::WEBHOOK_SECRET_ARN,
];

/// The longest token moved through the pipe (one page, which any pipe holds without a reader).
const MAX_TOKEN_BYTES: usize = 4096;

/// Takes the token out of the runner's environment: when `LANDFALL_VCS_TOKEN` is set, the runner
/// executes itself again (same process id, same arguments) without it, the token written to a
/// pipe that becomes the new image's standard input. `/proc/<pid>/environ` shows the environment
/// a process started with, whatever it removes later: only a new image drops it (in a Job the
/// runner is process 1, whose environment any process of the pod can read). Returns only when
/// there is no token, or with the error that stopped it; the new image finds the token with
/// [`token_from_environment`].
///
/// The process is also made non-dumpable: its `/proc` entries then belong to root, and the
/// steps (the same user) cannot read its memory, where the token stays for the report.
pub fn move_token_off_environment() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    let Some(token) = std::env::var_os(env_vars::VCS_TOKEN).filter(|token| !token.is_empty())
    else {
        return Ok(());
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is longer than {MAX_TOKEN_BYTES} bytes",
                env_vars::VCS_TOKEN
            ),
        ));
    }
    let (reader, mut writer) = io::pipe()?;
    writer.write_all(token.as_encoded_bytes())?;
    drop(writer);
    let mut args = std::env::args_os();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only when it failed.
    Err(cmd
        .args(args)
        .env_remove(env_vars::VCS_TOKEN)
        .env(TOKEN_ON_STDIN_VAR, "1")
        .stdin(reader)
        .exec())
}

/// The token given to the runner: on standard input after [`move_token_off_environment`], else
/// in `LANDFALL_VCS_TOKEN` (a runner started without that step, as in-process tests do).
#[must_use]
pub fn token_from_environment() -> Option<SecretString> {
    let token = if std::env::var_os(TOKEN_ON_STDIN_VAR).is_some_and(|v| v == "1") {
        let mut token = String::new();
        if let Err(err) = io::stdin()
            .take(MAX_TOKEN_BYTES as u64)
            .read_to_string(&mut token)
        {
            eprintln!("landfall-runner: reading the token from standard input failed: {err}");
        }
        token
    } else {
        std::env::var(env_vars::VCS_TOKEN).unwrap_or_default()
    };
    (!token.is_empty()).then(|| SecretString::from(token))
}

/// Where the token file goes in the work directory (a 0700 folder of its own).
#[must_use]
pub fn token_file(work_dir: &Path) -> PathBuf {
    work_dir.join("secrets").join("vcs-token")
}

/// Removes the token file once the clone is done, before any step runs; a file already gone is
/// fine.
pub fn forget_token(token_file: &Path) -> io::Result<()> {
    match std::fs::remove_file(token_file) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// The git settings of the steps after the clone: no credential helper at all (an empty helper
/// clears any from the system or global config), and never a prompt. A private module over
/// HTTPS is not served the token: Terraform runs the pull request's code.
#[must_use]
pub fn step_git_env() -> Vec<(String, String)> {
    [
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "credential.helper"),
        ("GIT_CONFIG_VALUE_0", ""),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec()
}

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
    /// Not `https://` (nor an allowed `file://`).
    #[error("the clone URL {url:?} is not an https:// URL{hint}")]
    Scheme {
        /// The URL.
        url: String,
        /// What would allow it, if anything.
        hint: &'static str,
    },
    /// The host part cannot be read safely.
    #[error(
        "the clone URL {url:?} has no plain host name (letters, digits, dots, dashes and a port)"
    )]
    Malformed {
        /// The URL.
        url: String,
    },
    /// The URL is on another host than the VCS host's.
    #[error(
        "the clone URL {url:?} is on {host}, not on the VCS host ({expected}): the runner clones, and \
         offers its token, only there"
    )]
    OtherHost {
        /// The URL.
        url: String,
        /// Its host.
        host: String,
        /// The hosts allowed.
        expected: String,
    },
}

/// The hosts a runner clones from: the VCS host's (its API URL's host, `LANDFALL_VCS_URL`, or the
/// public service's), over HTTPS. GitHub's and Bitbucket Cloud's API live on `api.<host>`, so
/// `<host>` is one too (`api.github.com` → `github.com`; GitHub Enterprise Cloud's
/// `api.<tenant>.ghe.com` → `<tenant>.ghe.com`); Azure DevOps' `dev.azure.com` also serves the
/// older `<organisation>.visualstudio.com`. Self-hosted servers (GitHub Enterprise Server,
/// GitLab, Gitea, Bitbucket Server, Azure DevOps Server) clone from their own host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneHosts {
    /// Host names (lowercase) and their HTTPS port.
    exact: Vec<(String, u16)>,
    /// Whether `*.visualstudio.com` is one.
    visualstudio: bool,
}

impl CloneHosts {
    /// The clone hosts of `provider` with the API at `vcs_url` (else the public service's).
    #[must_use]
    pub fn for_vcs(provider: Provider, vcs_url: Option<&str>) -> Self {
        let url = vcs_url
            .filter(|url| !url.trim().is_empty())
            .or_else(|| crate::config::default_vcs_url(provider));
        let mut exact = Vec::new();
        let mut visualstudio = false;
        if let Some((name, port)) = url.and_then(url_host) {
            if matches!(provider, Provider::Github | Provider::BitbucketCloud)
                && let Some(site) = name.strip_prefix("api.")
            {
                exact.push((site.to_owned(), port));
            }
            visualstudio = provider == Provider::AzureDevops && name == "dev.azure.com";
            exact.push((name, port));
        }
        Self {
            exact,
            visualstudio,
        }
    }

    fn allows(&self, name: &str, port: u16) -> bool {
        self.exact.iter().any(|(n, p)| n == name && *p == port)
            || (self.visualstudio
                && port == 443
                && name
                    .strip_suffix(".visualstudio.com")
                    .is_some_and(|org| !org.is_empty() && !org.contains('.')))
    }

    fn describe(&self) -> String {
        let mut hosts: Vec<String> = self
            .exact
            .iter()
            .map(|(name, port)| {
                if *port == 443 {
                    name.clone()
                } else {
                    format!("{name}:{port}")
                }
            })
            .collect();
        if self.visualstudio {
            hosts.push("*.visualstudio.com".to_owned());
        }
        if hosts.is_empty() {
            format!("none: set {}", env_vars::VCS_URL)
        } else {
            hosts.join(", ")
        }
    }
}

/// The host name (lowercase) and port of a plain `host[:port]`; `None` when it is anything else.
fn host_and_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (name, port) = match authority.rsplit_once(':') {
        Some((name, port)) => (name, port.parse().ok().filter(|p| *p > 0)?),
        None => (authority, default_port),
    };
    let plain = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    plain.then(|| (name.to_ascii_lowercase(), port))
}

/// The host of an API URL (`https://host[:port]/path`); an HTTPS port of 443 unless it names one.
fn url_host(url: &str) -> Option<(String, u16)> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_and_port(authority, 443)
}

/// Checks a clone URL before git runs or any credential exists: `https://` on one of `hosts`,
/// with no password and a plain host; `file://` (no host) only when `allow_file`
/// (`LANDFALL_ALLOW_FILE_CLONE=true`). Everything else (`http://`, `ssh://`, `ext::`, another
/// host, a host git and this check might read differently) is refused.
pub fn check_clone_url(
    url: &str,
    hosts: &CloneHosts,
    allow_file: bool,
) -> Result<CloneUrl, UrlError> {
    let parsed = parse_clone_url(url)?;
    let (_, rest) = url.split_once("://").unwrap_or_default();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if parsed.scheme == "file" && allow_file {
        return if authority.is_empty() {
            Ok(parsed)
        } else {
            Err(UrlError::Malformed {
                url: url.to_owned(),
            })
        };
    }
    if parsed.scheme != "https" {
        return Err(UrlError::Scheme {
            url: url.to_owned(),
            hint: if parsed.scheme == "file" {
                " (file:// clones need LANDFALL_ALLOW_FILE_CLONE=true, for local use and tests)"
            } else {
                ""
            },
        });
    }
    // One `@` at most, and no backslash: where parsers disagree, a URL could name one host
    // to this check and another to git.
    if authority.contains('\\') || authority.matches('@').count() > 1 {
        return Err(UrlError::Malformed {
            url: url.to_owned(),
        });
    }
    let (name, port) = host_and_port(&parsed.host, 443).ok_or_else(|| UrlError::Malformed {
        url: url.to_owned(),
    })?;
    if !hosts.allows(&name, port) {
        return Err(UrlError::OtherHost {
            url: url.to_owned(),
            host: parsed.host,
            expected: hosts.describe(),
        });
    }
    Ok(parsed)
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

/// The environment that points the clone's git processes at the helper for `host` (the checked
/// clone URL's), and never at a prompt. The steps after the clone get [`step_git_env`] instead.
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
    for name in WITHHELD_VARS {
        cmd.env_remove(name);
    }
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
    fn clone_urls_must_be_https_on_the_vcs_host() {
        let github = CloneHosts::for_vcs(Provider::Github, None);
        let check = |url: &str, hosts: &CloneHosts| check_clone_url(url, hosts, false);
        assert_eq!(
            check("https://github.com/acme/infra.git", &github)
                .unwrap()
                .host,
            "github.com"
        );
        assert!(check("https://GitHub.com:443/acme/infra.git", &github).is_ok());
        for (url, says) in [
            ("https://evil.example/acme/infra.git", "not on the VCS host"),
            (
                "https://github.com.evil.example/a/b.git",
                "not on the VCS host",
            ),
            ("https://github.com:8443/a/b.git", "not on the VCS host"),
            (
                "https://github.com@evil.example/a/b.git",
                "not on the VCS host",
            ),
            ("https://evil.example\\@github.com/a/b.git", "no plain host"),
            ("https://a@b@github.com/a/b.git", "no plain host"),
            ("https://github.com%2eevil/a/b.git", "no plain host"),
            ("http://github.com/acme/infra.git", "not an https:// URL"),
            ("ssh://git@github.com/acme/infra.git", "not an https:// URL"),
            ("ext::sh -c touch% /tmp/pwned", "no scheme"),
            ("file:///srv/repo", "LANDFALL_ALLOW_FILE_CLONE=true"),
        ] {
            let err = check(url, &github).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
        }
        assert_eq!(
            check_clone_url("file:///srv/repo", &github, true)
                .unwrap()
                .host,
            ""
        );
        assert!(check_clone_url("file://evil.example/srv/repo", &github, true).is_err());
        assert!(check_clone_url("https://evil.example/a.git", &github, true).is_err());

        // Enterprise and self-hosted: the API URL's own host (and port).
        let ghes = CloneHosts::for_vcs(Provider::Github, Some("https://ghe.corp.example/api/v3"));
        assert!(check("https://ghe.corp.example/acme/infra.git", &ghes).is_ok());
        assert!(check("https://github.com/acme/infra.git", &ghes).is_err());
        let ghe_cloud = CloneHosts::for_vcs(Provider::Github, Some("https://api.acme.ghe.com"));
        assert!(check("https://acme.ghe.com/acme/infra.git", &ghe_cloud).is_ok());
        let gitea = CloneHosts::for_vcs(Provider::Gitea, Some("https://git.corp.example:3000"));
        assert!(check("https://git.corp.example:3000/acme/infra.git", &gitea).is_ok());
        assert!(check("https://git.corp.example/acme/infra.git", &gitea).is_err());
        let gitlab = CloneHosts::for_vcs(Provider::Gitlab, None);
        assert!(check("https://gitlab.com/group/sub/infra.git", &gitlab).is_ok());
        let bitbucket = CloneHosts::for_vcs(Provider::BitbucketCloud, None);
        assert!(
            check(
                "https://x-token-auth@bitbucket.org/acme/infra.git",
                &bitbucket
            )
            .is_ok()
        );
        let azure = CloneHosts::for_vcs(Provider::AzureDevops, None);
        assert!(check("https://acme@dev.azure.com/acme/proj/_git/infra", &azure).is_ok());
        assert!(check("https://acme.visualstudio.com/proj/_git/infra", &azure).is_ok());
        assert!(check("https://a.b.visualstudio.com/proj/_git/infra", &azure).is_err());
        assert!(check("https://acme.visualstudio.com/proj/_git/infra", &github).is_err());
        // Bitbucket Server has no public service: without LANDFALL_VCS_URL nothing is cloned.
        let server = CloneHosts::for_vcs(Provider::BitbucketServer, None);
        let err = check("https://bitbucket.corp/scm/a/b.git", &server).unwrap_err();
        assert!(err.to_string().contains("LANDFALL_VCS_URL"), "{err}");
    }

    #[test]
    fn steps_get_no_credential_helper() {
        let env = step_git_env();
        assert!(env.iter().all(|(name, value)| name != TOKEN_FILE_VAR
            && name != CREDENTIAL_HOST_VAR
            && !value.contains("git-credential")));
        assert!(env.contains(&("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())));
        let dir = tempfile::tempdir().unwrap();
        let file = token_file(dir.path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "tok").unwrap();
        forget_token(&file).unwrap();
        assert!(!file.exists());
        forget_token(&file).unwrap();
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
