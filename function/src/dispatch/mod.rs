//! Dispatch: starting one Terraform run (PR × project × command × head commit) somewhere it can
//! run. One [`Dispatcher`] trait, two real implementations:
//!
//! - [`kubernetes::KubernetesDispatcher`], production: one Kubernetes Job per run, built by the
//!   pure [`kubernetes::job_spec`], named deterministically so a retry finds its own Job (a 409
//!   is [`DispatchOutcome::AlreadyDispatched`], not an error). The run's secrets are in a Secret
//!   of its own ([`job_secret`]) the Job reads them from, never in the Job.
//! - [`local::LocalDispatcher`], the default outside AWS: the same `landfall-runner` binary as a
//!   detached child process with the same inputs.
//!
//! Both hand the runner a [`RunSpec`] and its [`RunSecrets`] as environment variables
//! ([`RunSpec::to_env`], [`RunSecrets::env`]); the runner itself is [`crate::runner`]. The Job
//! layout and the variables are described in `docs/runs.md`.

pub mod eks;
mod job;
mod job_env;
mod job_secret;
pub mod kubeconfig;
pub mod kubernetes;
pub mod local;
pub mod names;
mod state;

use std::future::Future;

use std::time::Duration;

use crate::forward::forward_to_variants;
use crate::run::{RunReport, RunSpec};

pub use job_secret::job_secret;
pub use kubernetes::{KubernetesDispatcher, KubernetesError, RunnerSettings, job_spec_with};
pub use local::{LocalDispatcher, LocalError};

/// The answer to a dispatch: an expected outcome, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum DispatchOutcome {
    /// The run was started; its id (the Job name).
    Dispatched {
        /// The run's id.
        run_id: String,
    },
    /// The same run was dispatched before (a retry or redelivery); nothing new was started.
    AlreadyDispatched {
        /// The run's id.
        run_id: String,
    },
}

impl DispatchOutcome {
    /// The run's id, either way.
    #[must_use]
    pub fn run_id(&self) -> &str {
        match self {
            Self::Dispatched { run_id } | Self::AlreadyDispatched { run_id } => run_id,
        }
    }
}

/// Everything that can fail in a dispatch, by implementation.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The Kubernetes API refused or failed the Job.
    #[error(transparent)]
    Kubernetes(#[from] KubernetesError),
    /// The local runner process could not be started.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// What one run is given besides its spec, each for that run only: a short-lived VCS token
/// (a GitHub App's installation token for the repository, read-only), the report credential
/// and where to post the report, and the presigned links of its artifacts. Its `Debug` shows
/// none of them.
#[derive(Clone, Default)]
pub struct RunSecrets {
    /// The run's own VCS token; `None` leaves the dispatcher's (the token of the deployment).
    pub vcs_token: Option<secrecy::SecretString>,
    /// Where the runner posts its report, and its credential (see [`crate::run::report_auth`]).
    pub report: Option<(String, secrecy::SecretString)>,
    /// The run's artifact links; `None` for a local folder the runner writes itself.
    pub artifacts: Option<crate::store::presigned::RunLinks>,
}

impl std::fmt::Debug for RunSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSecrets")
            .field("vcs_token", &self.vcs_token.is_some())
            .field("report_url", &self.report.as_ref().map(|(url, _)| url))
            .field("artifacts", &self.artifacts.is_some())
            .finish()
    }
}

impl RunSecrets {
    /// The runner's variables for these, the VCS token aside (each dispatcher passes it its own
    /// way): values in the clear, to hand to the runner only. [`RunSecrets::plain_env`] then
    /// [`RunSecrets::secret_env`].
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.plain_env();
        env.extend(self.secret_env());
        env
    }

    /// Those of [`RunSecrets::env`] that are no secret: where the runner posts its report.
    #[must_use]
    pub fn plain_env(&self) -> Vec<(&'static str, String)> {
        self.report
            .iter()
            .map(|(url, _)| (crate::config::env_vars::RUN_REPORT_URL, url.clone()))
            .collect()
    }

    /// Those of [`RunSecrets::env`] that are secrets: the report credential, and the artifact
    /// links (each a bearer capability: whoever holds a presigned link can use it).
    #[must_use]
    pub fn secret_env(&self) -> Vec<(&'static str, String)> {
        use secrecy::ExposeSecret as _;
        let mut env = Vec::new();
        if let Some((_, credential)) = &self.report {
            env.push((
                crate::config::env_vars::RUN_REPORT_TOKEN,
                credential.expose_secret().to_owned(),
            ));
        }
        if let Some(links) = &self.artifacts {
            env.push((
                crate::config::env_vars::RUN_ARTIFACTS,
                serde_json::to_string(links).expect("links serialise"),
            ));
        }
        env
    }
}

/// Starts runs, and hands back the reports of runs that report to the function. A run that was
/// already started is [`DispatchOutcome::AlreadyDispatched`].
pub trait Dispatcher: Send + Sync {
    /// Starts `spec`'s run with `secrets` and returns at once, without waiting for it to
    /// finish.
    fn dispatch(
        &self,
        spec: &RunSpec,
        secrets: &RunSecrets,
    ) -> impl Future<Output = Result<DispatchOutcome, DispatchError>> + Send;

    /// Whether run `run_id` is still going, as far as where it runs can tell: the sweeper asks
    /// about runs whose record says they are in progress.
    fn run_state(&self, run_id: &str) -> impl Future<Output = RunState> + Send;

    /// Stops run `run_id` (`landfall cancel`): Kubernetes deletes its Job with foreground
    /// propagation (the runner gets SIGTERM and stops its step as at its deadline); locally the
    /// runner gets SIGINT, and SIGKILL if it has not ended in time. `Ok(false)` when it was not
    /// running; `Err` says why it could not be stopped.
    fn cancel(&self, run_id: &str) -> impl Future<Output = Result<bool, String>> + Send;

    /// Waits for the report of run `run_id` (looking every `poll`): `Err` holds why none came
    /// (with the runner's log tail when it ended without one). `None` when this dispatcher's
    /// runs record their own results.
    fn report(
        &self,
        spec: &RunSpec,
        run_id: &str,
        poll: Duration,
    ) -> impl Future<Output = Option<Result<RunReport, String>>> + Send;
}

/// Where a run stands, as its dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Still going (or starting).
    Running,
    /// Ended without its result being recorded: why, for the PR comment.
    Ended(String),
    /// Could not be told (the API did not answer): looked at again next sweep.
    Unknown(String),
}

/// The dispatcher chosen at start-up: one type for both implementations.
#[derive(Debug, Clone)]
pub enum AnyDispatcher {
    /// Kubernetes Jobs (production).
    Kubernetes(Box<KubernetesDispatcher>),
    /// A local child process.
    Local(LocalDispatcher),
}

forward_to_variants! {
    impl Dispatcher for AnyDispatcher { Kubernetes, Local }
    fn dispatch(&self, spec: &RunSpec, secrets: &RunSecrets) -> Result<DispatchOutcome, DispatchError>;
    fn run_state(&self, run_id: &str) -> RunState;
    fn cancel(&self, run_id: &str) -> Result<bool, String>;
    fn report(
        &self, spec: &RunSpec, run_id: &str, poll: Duration
    ) -> Option<Result<RunReport, String>>;
}
