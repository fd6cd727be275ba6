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
    Capabilities, Container, EmptyDirVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, Secret, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams, TypeMeta};
use serde_json::json;

pub use super::job::{
    DEADLINE_MARGIN, KubernetesError, LABEL_PREFIX, RUNNER_UID, Resources, RunnerSettings,
    SecretKeyRef, TERMINATION_GRACE, WORK_DIR, job_labels,
};
use super::job_secret::{dynamic_secret, job_secret, owned_by};
use super::{DispatchError, DispatchOutcome, Dispatcher};
use crate::run::{RunReport, RunSpec};

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
                    termination_grace_period_seconds: Some(secs_i64(TERMINATION_GRACE)),
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
        let secret = job_secret(spec, secrets, &self.settings);
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

impl KubernetesDispatcher {
    /// Creates the run's `secret`, owned by its Job `job_uid` from the start, so that the garbage
    /// collector deletes it with the Job (at `ttlSecondsAfterFinished`, or when `landfall cancel`
    /// deletes the Job) and no Secret ever exists without an owner. One already there was
    /// written by an earlier attempt at the same run (a redelivery): it is given this attempt's
    /// values, fresher than the ones it holds, and the Job as owner.
    pub(super) async fn put_secret(
        &self,
        secret: &Secret,
        job_uid: &str,
    ) -> Result<(), KubernetesError> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let secrets = self.namespaced::<Secret>();
        let error = |action, err| {
            KubernetesError::from_kube(action, name, &self.settings().namespace, err)
        };
        let owners = owned_by(name, job_uid);
        let mut owned = dynamic_secret(secret);
        owned.metadata.owner_references = Some(owners.clone());
        match secrets.create(&PostParams::default(), &owned).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let values = Patch::Merge(json!({
                    "metadata": { "ownerReferences": owners },
                    "stringData": secret.string_data,
                }));
                match secrets.patch(name, &PatchParams::default(), &values).await {
                    Ok(_) => Ok(()),
                    Err(err) => Err(error("writing the Secret of Job", err)),
                }
            }
            Err(err) => Err(error("creating the Secret of Job", err)),
        }
    }

    /// [`Self::put_secret`] for the Job with `uid`; without one, the error `no_uid`.
    async fn put_secret_for(
        &self,
        secret: &Secret,
        uid: Option<&str>,
        no_uid: &str,
    ) -> Result<(), String> {
        match uid {
            Some(uid) => self.put_secret(secret, uid).await.map_err(|e| e.to_string()),
            None => Err(no_uid.to_owned()),
        }
    }

    /// Gives Job `job`, just created with `uid`, its run's `secret`.
    ///
    /// If that fails, the Job is deleted (the dispatch fails, and the run is reported as not
    /// started): without its Secret its pod cannot start. Deleting it in the foreground also
    /// takes a Secret that was created after all (an answer lost on the way back), since the
    /// Secret is the Job's from its creation.
    pub(super) async fn put_secret_or_withdraw(
        &self,
        secret: &Secret,
        job: &str,
        uid: Option<&str>,
    ) -> Result<(), KubernetesError> {
        let put = self
            .put_secret_for(secret, uid, "the API's answer to the Job's creation has no uid")
            .await;
        let Err(reason) = put else {
            return Ok(());
        };
        let namespace = &self.settings().namespace;
        tracing::error!(job, namespace, reason, "the run's Secret cannot be created: withdrawing its Job");
        if let Err(err) = self.delete_job(job).await {
            tracing::error!(job, namespace, error = err, "the withdrawn Job could not be deleted: delete it by hand");
        }
        Err(KubernetesError::Withdrawn {
            job: job.to_owned(),
            namespace: namespace.clone(),
            reason,
        })
    }

    /// After a 409 on Job `job`: the Job of an earlier attempt at the run gets this attempt's
    /// `secret` (fresh values; created if that attempt stopped before it could). A Job already
    /// gone needs none. Anything else is logged: the Job is not this attempt's to withdraw, and
    /// without its Secret it fails at its deadline.
    pub(super) async fn put_secret_of_existing_job(&self, secret: &Secret, job: &str) {
        let put = match self.namespaced::<Job>().get_opt(job).await {
            Ok(Some(existing)) => {
                let uid = existing.metadata.uid.as_deref();
                self.put_secret_for(secret, uid, "the existing Job has no uid")
                    .await
            }
            Ok(None) => return,
            Err(err) => Err(err.to_string()),
        };
        if let Err(reason) = put {
            tracing::error!(
                job,
                namespace = %self.settings().namespace,
                reason,
                "the existing Job's Secret could not be written: the Job cannot start"
            );
        }
    }
}

#[cfg(test)]
mod tests;
