//! The local dispatcher, the default outside AWS: runs the same `landfall-runner` binary as a
//! child process with the same inputs a Job gets ([`RunSpec::to_env`] plus the runner
//! settings), detached from the request: the dispatch returns as soon as the process has
//! started, and a thread reaps it when it ends.
//!
//! Each run gets a folder `<runs dir>/<run id>/` holding its work directory, its log
//! (`runner.log`), its report (`report.json`) and, once it has ended, its exit status (`exit`).
//! Creating that folder is the idempotency check: a second dispatch of the same run finds it and
//! answers [`DispatchOutcome::AlreadyDispatched`], as a Kubernetes 409 does.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use secrecy::{ExposeSecret as _, SecretString};

use super::kubernetes::WORK_DIR_VAR;
use super::spec::RunSpec;
use super::{DispatchError, DispatchOutcome, Dispatcher};
use crate::config::env_vars;

/// The variable naming the file where the runner writes its [`crate::runner::RunReport`].
pub const REPORT_FILE_VAR: &str = "LANDFALL_RUN_REPORT";

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

/// Runs `landfall-runner` as a detached child process.
#[derive(Clone)]
pub struct LocalDispatcher {
    runner: PathBuf,
    runs_dir: PathBuf,
    env: Vec<(String, String)>,
    token: Option<SecretString>,
}

impl std::fmt::Debug for LocalDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDispatcher")
            .field("runner", &self.runner)
            .field("runs_dir", &self.runs_dir)
            .field("env", &self.env)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl LocalDispatcher {
    /// Runs `runner` with run folders under `runs_dir`; `env` holds the same plain settings a
    /// Job gets (store, region), `token` the VCS token handed to the runner in its environment.
    #[must_use]
    pub fn new(
        runner: impl Into<PathBuf>,
        runs_dir: impl Into<PathBuf>,
        env: Vec<(String, String)>,
        token: Option<SecretString>,
    ) -> Self {
        Self {
            runner: runner.into(),
            runs_dir: runs_dir.into(),
            env,
            token,
        }
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

    fn command(&self, spec: &RunSpec, run_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.runner);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LANDFALL_RUN_") {
                cmd.env_remove(name);
            }
        }
        cmd.env_remove(env_vars::VCS_TOKEN);
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        for (name, value) in spec.to_env() {
            cmd.env(name, value);
        }
        cmd.env(WORK_DIR_VAR, run_dir.join("work"));
        cmd.env(REPORT_FILE_VAR, run_dir.join("report.json"));
        if let Some(token) = &self.token {
            cmd.env(env_vars::VCS_TOKEN, token.expose_secret());
        }
        cmd.stdin(Stdio::null());
        // Its own process group: a Ctrl-C meant for the server does not stop a run midway.
        cmd.process_group(0);
        cmd
    }
}

impl Dispatcher for LocalDispatcher {
    async fn dispatch(&self, spec: &RunSpec) -> Result<DispatchOutcome, DispatchError> {
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
        let mut cmd = self.command(spec, &run_dir);
        cmd.stdout(log).stderr(log_err);
        let mut child = cmd.spawn().map_err(|source| LocalError::Spawn {
            runner: self.runner.clone(),
            source,
        })?;
        tracing::info!(run = %run_id, pid = child.id(), "local runner started");
        let exit_file = run_dir.join("exit");
        std::thread::Builder::new()
            .name(format!("reap-{run_id}"))
            .spawn(move || {
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(err) => format!("wait failed: {err}"),
                };
                if let Err(err) = fs::write(&exit_file, status) {
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
