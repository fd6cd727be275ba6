//! The local dispatcher, the default outside AWS: runs the same `landfall-runner` binary as a
//! child process with the same inputs a Job gets ([`RunSpec::to_env`] plus the runner
//! settings), detached from the request: the dispatch returns as soon as the process has
//! started, and a thread reaps it when it ends.
//!
//! Each run gets a folder `<runs dir>/<run id>/` holding its work directory, its log
//! (`runner.log`), its report (`report.json`) and, once it has ended, its exit status (`exit`).
//! Creating that folder is the idempotency check: a second dispatch of the same run finds it and
//! answers [`DispatchOutcome::AlreadyDispatched`], as a Kubernetes 409 does.
//!
//! The runner executes the pull request's Terraform, so it starts from an empty environment
//! (`env_clear`), not the function's: it gets the run's variables, the plain settings a Job gets,
//! the token (which it takes out of its environment at once, see
//! [`crate::runner::git::move_token_off_environment`]) and the few variables of
//! [`INHERITED_VARS`]. The webhook secret and its ARN, a GitHub App's key given directly, the
//! token's ARN (the token itself is handed over) and whatever else the function was given stay
//! behind.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};

use super::{DispatchError, DispatchOutcome, Dispatcher};
use crate::config::env_vars;
use crate::run::{RunReport, RunSpec};

/// The variables of the function's environment a local runner inherits: what a process needs to
/// run (`PATH`, `HOME`, `TMPDIR`, the locale, the time zone, CA certificates for Terraform and
/// git), Terraform's CLI settings, the runner's own settings, the AWS SDK's region, endpoint and
/// credentials (a runner with the DynamoDB store writes its results itself), and proxies. Also
/// every `LC_*` and `AWS_ENDPOINT_URL_*` ([`INHERITED_PREFIXES`]). Nothing else: not the webhook
/// secret, not the token (handed over on its own), not a GitHub App's key.
pub const INHERITED_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    crate::config::env_vars::TERRAFORM,
    crate::config::env_vars::TOFU,
    crate::config::env_vars::TERRAFORM_VERSIONS_DIR,
    crate::config::env_vars::PLUGIN_CACHE_DIR,
    crate::config::env_vars::RUN_GRACE,
    env_vars::ALLOW_FILE_CLONE,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Prefixes of inherited variables: the locale's categories and the AWS SDK's per-service
/// endpoints.
pub const INHERITED_PREFIXES: &[&str] = &["LC_", "AWS_ENDPOINT_URL_"];

/// Variables a runner never gets, even among the settings it is given.
const NEVER_PASSED: [&str; 4] = [
    env_vars::VCS_TOKEN,
    env_vars::GITHUB_APP_KEY,
    env_vars::WEBHOOK_SECRET,
    env_vars::WEBHOOK_SECRET_ARN,
];

/// The part of `vars` (a process environment) a local runner inherits: [`INHERITED_VARS`] and
/// [`INHERITED_PREFIXES`].
pub fn inherited_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            INHERITED_VARS.contains(&name.as_ref())
                || INHERITED_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
        })
        .collect()
}

/// What can fail starting a local run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The run's folder could not be created.
    #[error("creating the run folder {} failed", path.display())]
    RunDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The runner could not be started.
    #[error("starting the runner {} failed; build it with `cargo build --bin landfall-runner`", runner.display())]
    Spawn {
        /// The runner binary.
        runner: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Runs `landfall-runner` as a detached child process. Its `Debug` shows the token as
/// `SecretString`'s, redacted.
#[derive(Clone, Debug)]
pub struct LocalDispatcher {
    runner: PathBuf,
    runs_dir: PathBuf,
    env: Vec<(String, String)>,
    token: Option<SecretString>,
    /// The runners started by this process and not yet ended, by run id: whom `cancel` signals.
    /// Kept in memory, never in the run folder, where the run's own code could rewrite it.
    running: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl LocalDispatcher {
    /// Runs `runner` with run folders under `runs_dir`; `env` holds the same plain settings a
    /// Job gets (store, region), `token` the VCS token handed to the runner in its environment.
    ///
    /// The current process becomes non-dumpable: its `/proc` entries then belong to root, so a
    /// runner's Terraform, running as the same user, cannot read the function's environment
    /// (where the webhook secret and the token may be) or its memory. Root reads them anyway:
    /// do not run local dispatch as root where pull requests are not trusted.
    #[must_use]
    pub fn new(
        runner: impl Into<PathBuf>,
        runs_dir: impl Into<PathBuf>,
        env: Vec<(String, String)>,
        token: Option<SecretString>,
    ) -> Self {
        if let Err(err) =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            tracing::warn!(%err, "could not make the function non-dumpable");
        }
        // A runner handed the token does not need the ARN it came from; a GitHub App's runner
        // cannot act as the App without the key's ARN (a key given directly stays here), so it
        // runs without a token rather than failing on a half-configured App.
        let has_key_arn = env
            .iter()
            .any(|(name, _)| name == env_vars::GITHUB_APP_KEY_ARN);
        let env = env
            .into_iter()
            .filter(|(name, _)| {
                !(NEVER_PASSED.contains(&name.as_str())
                    || (token.is_some() && name == env_vars::VCS_TOKEN_ARN)
                    || (!has_key_arn
                        && (name == env_vars::GITHUB_APP_ID
                            || name == env_vars::GITHUB_INSTALLATION_ID)))
            })
            .collect();
        Self {
            runner: runner.into(),
            runs_dir: runs_dir.into(),
            env,
            token,
            running: std::sync::Arc::default(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u32>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `landfall-runner` beside the current executable, as installed by `cargo install` or
    /// built by `cargo build`.
    #[must_use]
    pub fn runner_beside_current_exe() -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("landfall-runner")))
            .unwrap_or_else(|| PathBuf::from("landfall-runner"))
    }

    /// The folder of run `run_id`.
    #[must_use]
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.runs_dir.join(run_id)
    }

    /// The report of run `run_id`, once the runner has written it.
    #[must_use]
    pub fn report_path(&self, run_id: &str) -> PathBuf {
        self.run_dir(run_id).join("report.json")
    }

    /// The exit status of run `run_id` (`exit status: 0`...), once it has ended.
    #[must_use]
    pub fn exit_status(&self, run_id: &str) -> Option<String> {
        fs::read_to_string(self.run_dir(run_id).join("exit")).ok()
    }

    fn command(&self, spec: &RunSpec, secrets: &super::RunSecrets, run_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.runner);
        cmd.env_clear();
        cmd.envs(inherited_env(crate::config::process::vars_os()));
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        for (name, value) in spec.to_env() {
            cmd.env(name, value);
        }
        cmd.env(env_vars::WORK_DIR, run_dir.join("work"));
        cmd.env(env_vars::RUN_REPORT, run_dir.join("report.json"));
        cmd.envs(secrets.env());
        if let Some(token) = secrets.vcs_token.as_ref().or(self.token.as_ref()) {
            cmd.env(env_vars::VCS_TOKEN, token.expose_secret());
        }
        cmd.stdin(Stdio::null());
        // Its own process group: a Ctrl-C meant for the server does not stop a run midway.
        cmd.process_group(0);
        cmd
    }
}

/// How long a cancelled local runner has to stop its step and report before it is killed: its
/// own grace between SIGINT and SIGKILL to the step (`LANDFALL_RUN_GRACE`, 30 s) and some.
const CANCEL_WAIT: Duration = Duration::from_secs(45);

impl Dispatcher for LocalDispatcher {
    /// Ended once the child's exit is recorded (its reaper writes `exit`) with no report; a run
    /// whose function restarted has no reaper, and is failed at its deadline instead. A runner
    /// that wrote its report is being recorded (by the function waiting for it).
    async fn run_state(&self, run_id: &str) -> super::RunState {
        // A runner this process started and still runs is running, whatever its folder says.
        if self.running().contains_key(run_id) || self.report_path(run_id).exists() {
            return super::RunState::Running;
        }
        match self.exit_status(run_id) {
            Some(status) => super::RunState::Ended(format!(
                "the runner ended ({}) without recording its result",
                status.trim()
            )),
            None => super::RunState::Running,
        }
    }

    async fn cancel(&self, run_id: &str) -> Result<bool, String> {
        use rustix::process::{Pid, Signal, kill_process_group};
        // Only a runner this process started and still runs: a run folder names nothing here.
        let Some(pid) = self
            .running()
            .get(run_id)
            .and_then(|pid| i32::try_from(*pid).ok())
            .and_then(Pid::from_raw)
        else {
            return Ok(false);
        };
        kill_process_group(pid, Signal::INT)
            .map_err(|err| format!("SIGINT to the runner: {err}"))?;
        // The runner stops its step (SIGINT, then SIGKILL after its grace) and reports.
        let until = Instant::now() + CANCEL_WAIT;
        while self.running().contains_key(run_id) {
            if Instant::now() > until {
                let _ = kill_process_group(pid, Signal::KILL);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(true)
    }

    /// Waits for the runner to end, looking every `poll`, then reads its `report.json`; `Err`
    /// holds the log tail of a runner that ended without one, or says that it did not end in
    /// time (the run's limit plus five minutes).
    async fn report(
        &self,
        spec: &RunSpec,
        run_id: &str,
        poll: Duration,
    ) -> Option<Result<RunReport, String>> {
        let report = self.report_path(run_id);
        let deadline = Instant::now() + spec.project.timeout + Duration::from_mins(5);
        let read = || async {
            let json = tokio::fs::read(&report).await.ok()?;
            serde_json::from_slice::<RunReport>(&json).ok()
        };
        Some(loop {
            // Read once the runner has ended: the report is its last write, and nothing a step
            // started outlives the step, so a file a step wrote there is not taken for it.
            if let Some(status) = self.exit_status(run_id) {
                if let Some(parsed) = read().await {
                    break Ok(parsed);
                }
                let log = tokio::fs::read_to_string(self.run_dir(run_id).join("runner.log"))
                    .await
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                break Err(format!(
                    "the runner ended ({}) without a report:\n{}",
                    status.trim(),
                    tail.join("\n")
                ));
            }
            if Instant::now() > deadline {
                break Err("the runner did not report in time".to_owned());
            }
            tokio::time::sleep(poll).await;
        })
    }

    async fn dispatch(
        &self,
        spec: &RunSpec,
        secrets: &super::RunSecrets,
    ) -> Result<DispatchOutcome, DispatchError> {
        let run_id = spec.run_id();
        let run_dir = self.run_dir(&run_id);
        let dir_error = |source| LocalError::RunDir {
            path: run_dir.clone(),
            source,
        };
        fs::create_dir_all(&self.runs_dir).map_err(dir_error)?;
        match fs::create_dir(&run_dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                return Ok(DispatchOutcome::AlreadyDispatched { run_id });
            }
            Err(err) => return Err(dir_error(err).into()),
        }
        let log = fs::File::create(run_dir.join("runner.log")).map_err(dir_error)?;
        let log_err = log.try_clone().map_err(dir_error)?;
        let mut cmd = self.command(spec, secrets, &run_dir);
        cmd.stdout(log).stderr(log_err);
        let mut child = cmd.spawn().map_err(|source| LocalError::Spawn {
            runner: self.runner.clone(),
            source,
        })?;
        tracing::info!(run = %run_id, pid = child.id(), "local runner started");
        // The runner leads its own process group: `cancel` signals it by this id.
        self.running().insert(run_id.clone(), child.id());
        let running = std::sync::Arc::clone(&self.running);
        let ended_id = run_id.clone();
        let exit_file = run_dir.join("exit");
        std::thread::Builder::new()
            .name(format!("reap-{run_id}"))
            .spawn(move || {
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(err) => format!("wait failed: {err}"),
                };
                running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&ended_id);
                // Written aside and renamed: a reader sees no file or the whole status, never
                // the empty file `fs::write` creates first.
                let partial = exit_file.with_extension("partial");
                if let Err(err) =
                    fs::write(&partial, status).and_then(|()| fs::rename(&partial, &exit_file))
                {
                    tracing::warn!(file = %exit_file.display(), %err, "could not record a run's exit");
                }
            })
            .map_err(|source| LocalError::Spawn {
                runner: self.runner.clone(),
                source,
            })?;
        Ok(DispatchOutcome::Dispatched { run_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::env::tests::plan_spec;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            .collect()
    }

    #[test]
    fn a_runner_inherits_only_the_allowlist() {
        let kept = inherited_env(os(&[
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000"),
            ("LANDFALL_TERRAFORM", "/opt/terraform"),
            ("LANDFALL_WEBHOOK_SECRET", "hook"),
            ("LANDFALL_WEBHOOK_SECRET_ARN", "arn:hook"),
            ("LANDFALL_VCS_TOKEN", "tok"),
            ("LANDFALL_VCS_TOKEN_ARN", "arn:tok"),
            ("LANDFALL_GITHUB_APP_KEY", "-----BEGIN RSA PRIVATE KEY-----"),
            ("LANDFALL_RUN_PR", "99"),
            ("CARGO_PKG_NAME", "x"),
            ("SOME_OTHER_SECRET", "s"),
        ]));
        let names: Vec<String> = kept
            .iter()
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "PATH",
                "LC_ALL",
                "AWS_ENDPOINT_URL_S3",
                "LANDFALL_TERRAFORM"
            ]
        );
    }

    #[test]
    fn the_runner_command_holds_no_secret_but_its_own_token() {
        let dispatcher = LocalDispatcher::new(
            "/bin/landfall-runner",
            "/tmp/runs",
            vec![
                ("LANDFALL_STORE".to_owned(), "embedded".to_owned()),
                ("LANDFALL_VCS_TOKEN_ARN".to_owned(), "arn:tok".to_owned()),
                ("LANDFALL_WEBHOOK_SECRET".to_owned(), "hook".to_owned()),
                ("LANDFALL_GITHUB_APP_ID".to_owned(), "1".to_owned()),
            ],
            Some(SecretString::from("tok")),
        );
        let cmd = dispatcher.command(
            &plan_spec(),
            &crate::dispatch::RunSecrets::default(),
            Path::new("/tmp/runs/r"),
        );
        let env: std::collections::BTreeMap<String, Option<String>> = cmd
            .get_envs()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(env["LANDFALL_STORE"].as_deref(), Some("embedded"));
        assert_eq!(env["LANDFALL_VCS_TOKEN"].as_deref(), Some("tok"));
        assert_eq!(env["LANDFALL_RUN_PR"].as_deref(), Some("42"));
        for name in [
            "LANDFALL_VCS_TOKEN_ARN",
            "LANDFALL_WEBHOOK_SECRET",
            "LANDFALL_GITHUB_APP_ID",
        ] {
            assert!(!env.contains_key(name), "{name} reaches the runner");
        }
        // Nothing of the test's own environment but the allowlist: the command starts empty.
        assert!(
            env.keys().all(|name| !name.starts_with("CARGO_")),
            "{env:?}"
        );
    }
}
