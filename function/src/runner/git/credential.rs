//! The token and the git credential helper: the token taken off the runner's environment, kept
//! in a file only the clone's helper reads, removed before any step runs, and served only for
//! `https://` on the clone's host.

use std::io::{self, Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use secrecy::SecretString;

use crate::config::{env_vars, process};
use crate::event::Provider;

pub use crate::config::env_vars::{
    GIT_CREDENTIAL_HOST as CREDENTIAL_HOST_VAR, GIT_TOKEN_FILE as TOKEN_FILE_VAR,
    GIT_USERNAME as USERNAME_VAR, VCS_TOKEN_ON_STDIN as TOKEN_ON_STDIN_VAR,
};

/// Variables no process the runner starts gets (git, Terraform, `run` and `env` steps), should
/// the runner's own environment hold them: the token, the run's report credential and artifact
/// links, every secret of the function, and the ARNs that lead to them.
pub const WITHHELD_VARS: [&str; 9] = [
    env_vars::VCS_TOKEN,
    TOKEN_ON_STDIN_VAR,
    env_vars::VCS_TOKEN_ARN,
    env_vars::GITHUB_APP_KEY,
    env_vars::GITHUB_APP_KEY_ARN,
    env_vars::WEBHOOK_SECRET,
    env_vars::WEBHOOK_SECRET_ARN,
    env_vars::RUN_REPORT_TOKEN,
    env_vars::RUN_ARTIFACTS,
];

/// The runner's secrets, handed over on standard input: the token, the run's report credential
/// and its artifact links.
pub const HANDED_OVER: [&str; 3] = [
    env_vars::VCS_TOKEN,
    env_vars::RUN_REPORT_TOKEN,
    env_vars::RUN_ARTIFACTS,
];

/// The most bytes handed over through the pipe: well within the 64 KiB a Linux pipe holds
/// without a reader (presigned links with a session token are about 2 KiB each).
const MAX_HANDOVER_BYTES: usize = 48 * 1024;

/// Takes the runner's secrets ([`HANDED_OVER`]) out of its environment: when any is set, the
/// runner executes itself again (same process id, same arguments) without them, the secrets
/// written to a pipe that becomes the new image's standard input. `/proc/<pid>/environ` shows
/// the environment a process started with, whatever it removes later: only a new image drops it
/// (in a Job the runner is process 1, whose environment any process of the pod can read).
/// Returns only when there is nothing to hand over, or with the error that stopped it; the new
/// image finds them with [`handed_over`].
///
/// The process is also made non-dumpable: its `/proc` entries then belong to root, and the
/// steps (the same user) cannot read its memory, where the secrets stay for the report.
pub fn move_token_off_environment() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    let secrets: std::collections::BTreeMap<&str, String> = HANDED_OVER
        .iter()
        .filter_map(|name| process::var(name).map(|value| (*name, value)))
        .collect();
    if secrets.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(&secrets)?;
    if json.len() > MAX_HANDOVER_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the runner's secrets ({}) are longer than {MAX_HANDOVER_BYTES} bytes",
                HANDED_OVER.join(", ")
            ),
        ));
    }
    let (reader, mut writer) = io::pipe()?;
    writer.write_all(&json)?;
    drop(writer);
    let mut args = std::env::args_os();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    for name in HANDED_OVER {
        cmd.env_remove(name);
    }
    // `exec` returns only when it failed.
    Err(cmd
        .args(args)
        .env(TOKEN_ON_STDIN_VAR, "1")
        .stdin(reader)
        .exec())
}

/// The secrets handed over to this runner: read from standard input once after
/// [`move_token_off_environment`], else from the environment (a runner started without that
/// step, as in-process tests do).
fn handover() -> &'static std::collections::HashMap<String, String> {
    static HANDOVER: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    HANDOVER.get_or_init(|| {
        if process::var_os(TOKEN_ON_STDIN_VAR).is_some_and(|v| v == "1") {
            let mut json = String::new();
            if let Err(err) = io::stdin()
                .take(MAX_HANDOVER_BYTES as u64)
                .read_to_string(&mut json)
            {
                eprintln!("landfall-runner: reading its secrets from standard input failed: {err}");
            }
            serde_json::from_str(&json).unwrap_or_else(|err| {
                eprintln!("landfall-runner: its secrets on standard input are not readable: {err}");
                std::collections::HashMap::new()
            })
        } else {
            HANDED_OVER
                .iter()
                .filter_map(|name| process::var(name).map(|value| ((*name).to_owned(), value)))
                .collect()
        }
    })
}

/// One of the secrets handed over ([`HANDED_OVER`]), when given and not empty.
#[must_use]
pub fn handed_over(name: &str) -> Option<String> {
    handover().get(name).filter(|v| !v.is_empty()).cloned()
}

/// The token given to the runner (see [`handed_over`]).
#[must_use]
pub fn token_from_environment() -> Option<SecretString> {
    handed_over(env_vars::VCS_TOKEN).map(SecretString::from)
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

/// The user and password the clone answers with for the deployment's `token`. A token of the
/// form `user:secret` (the form the API adapters send as basic auth: a Bitbucket Cloud API token
/// with its account's email, a Bitbucket Server personal token with its user, an Azure DevOps
/// PAT with a user) is that user and that secret; Bitbucket Cloud takes an API token with the
/// static user `x-bitbucket-api-token-auth`, not the email. Any other token goes with the user
/// name the host expects beside a bare token ([`token_username`]).
#[must_use]
pub fn clone_credential(provider: Provider, token: &str) -> (String, String) {
    let split = matches!(
        provider,
        Provider::BitbucketCloud | Provider::BitbucketServer | Provider::AzureDevops
    );
    match token.split_once(':') {
        // `:PAT`, Azure DevOps' basic auth with an empty user: the PAT with the host's user.
        Some(("", secret)) if split && !secret.is_empty() => {
            (token_username(provider).to_owned(), secret.to_owned())
        }
        Some((user, secret)) if split && !user.is_empty() && !secret.is_empty() => {
            let user = if provider == Provider::BitbucketCloud && user.contains('@') {
                "x-bitbucket-api-token-auth"
            } else {
                user
            };
            (user.to_owned(), secret.to_owned())
        }
        _ => (token_username(provider).to_owned(), token.to_owned()),
    }
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
    let host = process::var(CREDENTIAL_HOST_VAR).unwrap_or_default();
    let username = process::var(USERNAME_VAR).unwrap_or_else(|| "x-access-token".to_owned());
    let Some(file) = process::var_os(TOKEN_FILE_VAR) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_and_secret_token_answers_as_that_user_on_the_hosts_that_take_one() {
        use Provider as P;
        let cases = [
            (
                P::BitbucketCloud,
                "me@example.com:ATATT3x",
                ("x-bitbucket-api-token-auth", "ATATT3x"),
            ),
            (
                P::BitbucketCloud,
                "bot:app-password",
                ("bot", "app-password"),
            ),
            (
                P::BitbucketCloud,
                "access-token",
                ("x-token-auth", "access-token"),
            ),
            (
                P::BitbucketServer,
                "svc-landfall:BBDC-x",
                ("svc-landfall", "BBDC-x"),
            ),
            (P::AzureDevops, "landfall:pat", ("landfall", "pat")),
            (P::AzureDevops, "pat", ("landfall", "pat")),
            (P::AzureDevops, ":pat", ("landfall", "pat")),
            // A GitHub or GitLab token is never split, whatever it holds.
            (P::Github, "ghp_x", ("x-access-token", "ghp_x")),
            (P::Gitlab, "a:b", ("oauth2", "a:b")),
        ];
        for (provider, token, (user, secret)) in cases {
            let got = clone_credential(provider, token);
            assert_eq!(
                (got.0.as_str(), got.1.as_str()),
                (user, secret),
                "{provider:?} {token}"
            );
        }
    }

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
