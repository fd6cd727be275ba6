//! The production dispatcher: one Kubernetes Job per run, in the runner namespace, under the
//! runner's service account (which IRSA or EKS Pod Identity maps to the runner's IAM role).
//!
//! [`job_spec`] is pure: the same [`RunSpec`] and [`RunnerSettings`] always give the same Job,
//! which `kubernetes-validate --strict` accepts (see `function/tests/runner/dispatch_kubernetes.rs`).
//! [`KubernetesDispatcher`] creates it, then the run's own Secret that holds its secrets, owned
//! by the Job (see [`super::job_secret`]); the API's 409 means the run's Job already exists,
//! which is [`DispatchOutcome::AlreadyDispatched`].

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, PostParams, TypeMeta};

use super::names::label_value;
use super::{DispatchError, DispatchOutcome, Dispatcher};
use crate::run::{RunReport, RunSpec};

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

fn job_annotations(spec: &RunSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (format!("{LABEL_PREFIX}/repo"), spec.repo.to_string()),
        (format!("{LABEL_PREFIX}/dir"), spec.project.dir.clone()),
        (
            format!("{LABEL_PREFIX}/workspace"),
            spec.project.workspace.clone(),
        ),
        (
            format!("{LABEL_PREFIX}/head-sha"),
            spec.head_sha.to_string(),
        ),
    ])
}

pub(super) fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn quantities(pairs: [(&str, &str); 2]) -> BTreeMap<String, Quantity> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Quantity(value.to_owned())))
        .collect()
}

fn secs_i64(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The Job for one run without secrets of its own (the deployment's token, no report
/// credential, no artifact links). Pure: no I/O, deterministic.
#[must_use]
pub fn job_spec(spec: &RunSpec, settings: &RunnerSettings) -> Job {
    job_spec_with(spec, &super::RunSecrets::default(), settings)
}

/// The Job for one run with its `secrets`, which it reads from the run's own Secret
/// ([`super::job_secret()`], created after it and owned by it): none of their values is in the
/// Job. Pure: no I/O, deterministic.
#[must_use]
#[allow(clippy::too_many_lines)] // One literal object, easier to review whole than split.
pub fn job_spec_with(
    spec: &RunSpec,
    secrets: &super::RunSecrets,
    settings: &RunnerSettings,
) -> Job {
    let name = spec.run_id();
    let labels = job_labels(spec);

    let env = super::job_env::job_env(spec, secrets, settings);

    let resources = &settings.resources;
    let container = Container {
        name: "runner".to_owned(),
        image: Some(settings.image.clone()),
        command: Some(vec!["landfall-runner".to_owned()]),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(quantities([
                ("cpu", &resources.cpu_request),
                ("memory", &resources.memory_request),
            ])),
            limits: Some(quantities([
                ("cpu", &resources.cpu_limit),
                ("memory", &resources.memory_limit),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "work".to_owned(),
                mount_path: WORK_DIR.to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };

    let empty_dir = |limit: &str| Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(Quantity(limit.to_owned())),
        }),
        ..Volume::default()
    };

    Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(settings.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(job_annotations(spec)),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(secs_i64(spec.project.timeout + DEADLINE_MARGIN)),
            ttl_seconds_after_finished: Some(
                i32::try_from(settings.ttl_after_finished.as_secs()).unwrap_or(i32::MAX),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    // Only a plan runs with the plan role; whatever writes the state runs with
                    // the apply role.
                    service_account_name: Some(if spec.command.writes_state() {
                        settings.apply_service_account.clone()
                    } else {
                        settings.service_account.clone()
                    }),
                    // The runner never calls the Kubernetes API; IRSA and Pod Identity inject
                    // their own projected token regardless.
                    automount_service_account_token: Some(false),
                    restart_policy: Some("Never".to_owned()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUNNER_UID),
                        run_as_group: Some(RUNNER_UID),
                        fs_group: Some(RUNNER_UID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "work".to_owned(),
                            ..empty_dir(&resources.work_size_limit)
                        },
                        Volume {
                            name: "tmp".to_owned(),
                            ..empty_dir("1Gi")
                        },
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
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

/// Creates runner Jobs through a [`kube::Client`] built once at start-up.
#[derive(Clone)]
pub struct KubernetesDispatcher {
    client: kube::Client,
    settings: RunnerSettings,
    eks: Option<std::sync::Arc<super::eks::EksAuth>>,
}

impl std::fmt::Debug for KubernetesDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesDispatcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KubernetesDispatcher {
    /// A dispatcher creating Jobs with `client`.
    #[must_use]
    pub fn new(client: kube::Client, settings: RunnerSettings) -> Self {
        Self {
            client,
            settings,
            eks: None,
        }
    }

    /// A dispatcher whose client authenticates with EKS tokens that `auth` keeps fresh.
    #[must_use]
    pub fn with_eks(
        client: kube::Client,
        settings: RunnerSettings,
        auth: super::eks::EksAuth,
    ) -> Self {
        Self {
            client,
            settings,
            eks: Some(std::sync::Arc::new(auth)),
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &RunnerSettings {
        &self.settings
    }

    pub(super) fn client(&self) -> kube::Client {
        self.client.clone()
    }

    pub(super) fn eks(&self) -> Option<&super::eks::EksAuth> {
        self.eks.as_deref()
    }

    /// The runner namespace's objects of kind `K`, read and written as dynamic objects.
    pub(super) fn namespaced<K: kube::Resource<DynamicType = ()>>(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.settings.namespace,
            &ApiResource::erase::<K>(&()),
        )
    }
}

/// The Job as the API server receives it: the same JSON as the typed Job.
fn dynamic_job(job: Job) -> DynamicObject {
    let spec = serde_json::to_value(job.spec).unwrap_or_default();
    DynamicObject {
        types: Some(TypeMeta {
            api_version: "batch/v1".to_owned(),
            kind: "Job".to_owned(),
        }),
        metadata: job.metadata,
        data: serde_json::json!({ "spec": spec }),
    }
}

impl Dispatcher for KubernetesDispatcher {
    async fn run_state(&self, run_id: &str) -> super::RunState {
        self.job_state(run_id).await
    }

    async fn cancel(&self, run_id: &str) -> Result<bool, String> {
        self.delete_job(run_id).await
    }

    /// A Job records its own result: nothing comes back here.
    async fn report(
        &self,
        _spec: &RunSpec,
        _run_id: &str,
        _poll: Duration,
    ) -> Option<Result<RunReport, String>> {
        None
    }

    async fn dispatch(
        &self,
        spec: &RunSpec,
        secrets: &super::RunSecrets,
    ) -> Result<DispatchOutcome, DispatchError> {
        let job = job_spec_with(spec, secrets, &self.settings);
        let secret = super::job_secret::job_secret(spec, secrets, &self.settings);
        let run_id = spec.run_id();
        let namespace = &self.settings.namespace;
        if let Some(auth) = &self.eks {
            auth.refresh().await.map_err(|err| KubernetesError::Auth {
                message: format!("{err:#}"),
            })?;
        }
        // Created as a dynamic object: the answer is only looked at for its status and uid, so
        // the binary carries no deserializer for a whole Job (pod spec, volumes...). Then the
        // run's secrets, in a Secret the Job owns from its creation.
        let created = self
            .namespaced::<Job>()
            .create(&PostParams::default(), &dynamic_job(job))
            .await;
        match created {
            Ok(created) => {
                if let Some(secret) = &secret {
                    self.put_secret_or_withdraw(secret, &run_id, created.metadata.uid.as_deref())
                        .await?;
                }
                tracing::info!(job = %run_id, namespace = %namespace, "runner Job created");
                Ok(DispatchOutcome::Dispatched { run_id })
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(job = %run_id, "runner Job already exists");
                if let Some(secret) = &secret {
                    self.put_secret_of_existing_job(secret, &run_id).await;
                }
                Ok(DispatchOutcome::AlreadyDispatched { run_id })
            }
            Err(err) => {
                Err(KubernetesError::from_kube("creating Job", &run_id, namespace, err).into())
            }
        }
    }
}

#[cfg(test)]
mod tests;
