//! What a runner Job is made of, shared by the Job's spec ([`super::kubernetes`]), its
//! environment ([`super::job_env`]) and its Secret ([`super::job_secret`]): the runner
//! settings, the Job's labels, and what the Kubernetes API can refuse.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::EnvVar;

use super::names::label_value;
use crate::run::RunSpec;

/// The label and annotation prefix of everything Landfall creates.
pub const LABEL_PREFIX: &str = "landfall.dev";

/// Where the runner's writable work volume is mounted; the clone, the plugin cache and
/// `HOME` live under it.
pub const WORK_DIR: &str = "/work";

/// The runner's user and group: a fixed non-root id, so `runAsNonRoot` can be verified by the
/// kubelet even for an image without a numeric `USER`.
pub const RUNNER_UID: i64 = 65_532;

/// How long past the run's own timeout the Job may live: the runner stops Terraform at the
/// timeout (SIGINT, then a kill after a grace period) and still needs time to upload and report.
pub const DEADLINE_MARGIN: Duration = crate::run::DEADLINE_GRACE;

/// How long Kubernetes waits between SIGTERM and SIGKILL when the Job is deleted or past its
/// deadline: the runner's own grace to the step it stops (SIGINT, then SIGKILL), then time to
/// upload the log and report. Kubernetes' default, 30 s, would kill the runner as it kills
/// Terraform, which then leaves its state lock held and the run unreported.
pub const TERMINATION_GRACE: Duration = Duration::from_secs(crate::run::STEP_GRACE.as_secs() + 90);

/// The Secret key that holds the VCS token, read by the Job through `secretKeyRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// The Secret's name in the runner namespace.
    pub name: String,
    /// The key inside it.
    pub key: String,
}

/// CPU and memory for the runner container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// CPU request, such as `250m`.
    pub cpu_request: String,
    /// Memory request, such as `512Mi`.
    pub memory_request: String,
    /// CPU limit.
    pub cpu_limit: String,
    /// Memory limit.
    pub memory_limit: String,
    /// The work volume's size limit (clone, providers, planfile).
    pub work_size_limit: String,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            cpu_request: "250m".to_owned(),
            memory_request: "512Mi".to_owned(),
            cpu_limit: "2".to_owned(),
            memory_limit: "2Gi".to_owned(),
            work_size_limit: "4Gi".to_owned(),
        }
    }
}

/// Where and how runner Jobs run: the function's `LANDFALL_RUNNER_*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSettings {
    /// The runner namespace (`LANDFALL_RUNNER_NAMESPACE`).
    pub namespace: String,
    /// The runner image (`LANDFALL_RUNNER_IMAGE`).
    pub image: String,
    /// The service account of plan Jobs (`LANDFALL_RUNNER_SERVICE_ACCOUNT`).
    pub service_account: String,
    /// The service account of apply Jobs (`LANDFALL_RUNNER_APPLY_SERVICE_ACCOUNT`): plans and
    /// applies are different cloud identities, so a plan's Terraform cannot use the write role.
    pub apply_service_account: String,
    /// The Secret key holding the VCS token.
    pub token_secret: SecretKeyRef,
    /// Requests and limits.
    pub resources: Resources,
    /// How long a finished Job (and its pod and logs) is kept.
    pub ttl_after_finished: Duration,
    /// Plain settings every runner needs, such as `LANDFALL_VCS_URL` and `AWS_REGION`, given to
    /// the Job as literal values: never a secret. The run's secrets are in its own Secret, the
    /// deployment's token in [`RunnerSettings::token_secret`], both read through `secretKeyRef`.
    pub env: Vec<(String, String)>,
}

impl RunnerSettings {
    /// Settings with the default token Secret (`landfall-vcs-token`, key `token`), resources and
    /// a one-hour TTL; apply Jobs use `service_account` too until
    /// [`RunnerSettings::apply_service_account`] is set.
    #[must_use]
    pub fn new(
        namespace: impl Into<String>,
        image: impl Into<String>,
        service_account: impl Into<String>,
    ) -> Self {
        let service_account = service_account.into();
        Self {
            namespace: namespace.into(),
            image: image.into(),
            apply_service_account: service_account.clone(),
            service_account,
            token_secret: SecretKeyRef {
                name: "landfall-vcs-token".to_owned(),
                key: "token".to_owned(),
            },
            resources: Resources::default(),
            ttl_after_finished: Duration::from_hours(1),
            env: Vec::new(),
        }
    }
}

/// The labels of a run's Job and pod: component, repository, PR, project and command, each a
/// valid label value (exact values are in the annotations).
#[must_use]
pub fn job_labels(spec: &RunSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "landfall-runner".to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "landfall".to_owned(),
        ),
        (
            format!("{LABEL_PREFIX}/repo"),
            label_value(spec.repo.as_str()),
        ),
        (format!("{LABEL_PREFIX}/pr"), spec.pr.to_string()),
        (
            format!("{LABEL_PREFIX}/project"),
            label_value(&spec.project.label()),
        ),
        (
            format!("{LABEL_PREFIX}/command"),
            spec.command.as_str().to_owned(),
        ),
    ])
}

/// A variable with a literal value. The kubelet expands `$(NAME)` in a value and turns `$$`
/// into `$`, so every `$` is written as `$$`: the runner reads the value as given (a project
/// name, a branch or a workflow step with `$` in it), and the signed spec still matches.
pub(super) fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into().replace('$', "$$")),
        value_from: None,
    }
}

/// What the Kubernetes API can refuse or fail. A 409 is not here: it is
/// [`DispatchOutcome::AlreadyDispatched`].
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    /// No EKS token could be made (no AWS credentials, or the token file cannot be written).
    #[error("cannot authenticate to the EKS cluster: {message}")]
    Auth {
        /// What failed.
        message: String,
    },
    /// The API answered with an error status (403: the function's role may not create Jobs or
    /// Secrets in the namespace; 5xx: the API server failed).
    #[error("{action} {job} in namespace {namespace} failed: HTTP {code}: {message}")]
    Api {
        /// What was being done, such as `creating Job`.
        action: &'static str,
        /// The Job's name.
        job: String,
        /// The namespace.
        namespace: String,
        /// The HTTP status.
        code: u16,
        /// The API's message.
        message: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The API could not be reached or its answer not read.
    #[error("{action} {job} in namespace {namespace} failed")]
    Transport {
        /// What was being done, such as `creating Job`.
        action: &'static str,
        /// The Job's name.
        job: String,
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The Job was created but its Secret could not be, so the Job was deleted again: the run
    /// did not start.
    #[error(
        "Job {job} in namespace {namespace} was withdrawn: its Secret could not be created \
         ({reason})"
    )]
    Withdrawn {
        /// The Job's name.
        job: String,
        /// The namespace.
        namespace: String,
        /// Why the Secret could not be created.
        reason: String,
    },
}

impl KubernetesError {
    /// `source`, the failure of `action` on Job `job` (or its Secret) in `namespace`, typed.
    pub(super) fn from_kube(
        action: &'static str,
        job: &str,
        namespace: &str,
        source: kube::Error,
    ) -> Self {
        let (job, namespace) = (job.to_owned(), namespace.to_owned());
        match source {
            kube::Error::Api(status) => Self::Api {
                action,
                job,
                namespace,
                code: status.code,
                message: status.message.clone(),
                source: kube::Error::Api(status),
            },
            source => Self::Transport {
                action,
                job,
                namespace,
                source,
            },
        }
    }
}
