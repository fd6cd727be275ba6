//! The run's own Secret: the values a runner Job must not carry in its spec (the report
//! credential, the presigned artifact links, the run's VCS token), which the Job reads through
//! `secretKeyRef`. A Job's spec is readable by whoever may `get jobs` in the runner namespace, and
//! EKS's audit policy logs Job requests whole; Secrets are logged without their body, and reading
//! one takes `get secrets`.
//!
//! Its lifetime is the Job's: created just after the Job, owned by it from its creation, so the
//! garbage collector deletes it with the Job (at `ttlSecondsAfterFinished`, or when `landfall
//! cancel` deletes the Job), and there is never a Secret without an owner, whenever the function
//! stops. A pod that starts before its Secret exists waits for it (`optional: false`); a Job whose
//! Secret cannot be created is withdrawn, and one left without (the function stopped between the
//! two) never starts and fails at its deadline, holding nothing.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams, TypeMeta};
use serde_json::json;

use super::RunSecrets;
use super::kubernetes::{KubernetesDispatcher, KubernetesError, RunnerSettings, job_labels};
use crate::run::RunSpec;

/// The Secret of `spec`'s run holding its `secrets`, named and labelled like its Job, a key per
/// variable; `None` when the run has no secret of its own. Pure: no I/O, deterministic.
#[must_use]
pub fn job_secret(spec: &RunSpec, secrets: &RunSecrets, settings: &RunnerSettings) -> Option<Secret> {
    let values = super::job_env::secret_values(secrets);
    if values.is_empty() {
        return None;
    }
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(spec.run_id()),
            namespace: Some(settings.namespace.clone()),
            labels: Some(job_labels(spec)),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        string_data: Some(values),
        ..Secret::default()
    })
}

/// The Secret as the API server receives it: the same JSON as the typed Secret.
fn dynamic_secret(secret: &Secret) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: "v1".to_owned(),
            kind: "Secret".to_owned(),
        }),
        metadata: secret.metadata.clone(),
        data: json!({ "type": secret.type_, "stringData": secret.string_data }),
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

/// The owner reference that makes Job `job` (its `uid`) the owner of its Secret.
/// `blockOwnerDeletion` is false: deleting the Job never waits for its Secret (and setting it
/// would take a right on `jobs/finalizers`).
fn owned_by(job: &str, uid: &str) -> Vec<OwnerReference> {
    vec![OwnerReference {
        api_version: "batch/v1".to_owned(),
        kind: "Job".to_owned(),
        name: job.to_owned(),
        uid: uid.to_owned(),
        block_owner_deletion: Some(false),
        controller: None,
    }]
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::config::env_vars;
    use crate::dispatch::job_spec_with;
    use crate::run::env::tests::plan_spec;
    use crate::store::presigned::RunLinks;

    const TOKEN: &str = "ghs_run0token0f0r0this0run0only";
    const CREDENTIAL: &str = "report-credential-5f1c2e";
    const PUT_LINK: &str =
        "https://bucket.s3.amazonaws.com/logs/run.log?X-Amz-Signature=put0signature0abc";
    const GET_LINK: &str =
        "https://bucket.s3.amazonaws.com/plans/run.tfplan?X-Amz-Signature=get0signature0def";

    fn settings() -> RunnerSettings {
        RunnerSettings::new("landfall-runners", "runner:1", "landfall-runner")
    }

    fn run_secrets() -> RunSecrets {
        RunSecrets {
            vcs_token: Some(SecretString::from(TOKEN)),
            report: Some((
                "https://function.example/runs/report".to_owned(),
                SecretString::from(CREDENTIAL),
            )),
            artifacts: Some(RunLinks {
                put: vec![("logs/run.log".to_owned(), PUT_LINK.to_owned())],
                get: vec![("plans/run.tfplan".to_owned(), GET_LINK.to_owned())],
            }),
        }
    }

    #[test]
    fn no_secret_of_the_run_is_in_its_job_only_in_its_secret() {
        let spec = plan_spec();
        let secrets = run_secrets();
        let job = serde_json::to_string(&job_spec_with(&spec, &secrets, &settings())).unwrap();
        for secret in [TOKEN, CREDENTIAL, PUT_LINK, GET_LINK, "signature0"] {
            assert!(!job.contains(secret), "{secret} is in the Job: {job}");
        }

        let secret = job_secret(&spec, &secrets, &settings()).expect("the run has secrets");
        let secret = serde_json::to_value(secret).unwrap();
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["metadata"]["name"], spec.run_id());
        assert_eq!(secret["metadata"]["namespace"], "landfall-runners");
        let values = &secret["stringData"];
        assert_eq!(values[env_vars::VCS_TOKEN], TOKEN);
        assert_eq!(values[env_vars::RUN_REPORT_TOKEN], CREDENTIAL);
        let links: RunLinks =
            serde_json::from_str(values[env_vars::RUN_ARTIFACTS].as_str().unwrap()).unwrap();
        assert_eq!(links, secrets.artifacts.unwrap());
        assert_eq!(values.as_object().unwrap().len(), 3, "{values}");
    }

    #[test]
    fn the_job_reads_each_secret_from_the_runs_secret_and_the_rest_in_the_clear() {
        let spec = plan_spec();
        let job = serde_json::to_value(job_spec_with(&spec, &run_secrets(), &settings())).unwrap();
        let env = job["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        let var = |name: &str| env.iter().find(|var| var["name"] == name).unwrap();
        for name in [
            env_vars::VCS_TOKEN,
            env_vars::RUN_REPORT_TOKEN,
            env_vars::RUN_ARTIFACTS,
        ] {
            assert_eq!(
                var(name)["valueFrom"]["secretKeyRef"],
                json!({ "name": spec.run_id(), "key": name, "optional": false }),
                "{name}"
            );
            assert!(var(name).get("value").is_none(), "{name}");
        }
        assert_eq!(
            var(env_vars::RUN_REPORT_URL)["value"],
            "https://function.example/runs/report"
        );
        assert_eq!(var("LANDFALL_RUN_PR")["value"], "42");
        let tokens = env.iter().filter(|var| var["name"] == env_vars::VCS_TOKEN);
        assert_eq!(tokens.count(), 1, "the deployment's token is not referenced too");
    }

    #[test]
    fn a_run_without_secrets_of_its_own_has_no_secret() {
        assert!(job_secret(&plan_spec(), &RunSecrets::default(), &settings()).is_none());
        let secrets = RunSecrets {
            report: Some(("https://function.example/runs/report".to_owned(), SecretString::from(CREDENTIAL))),
            ..RunSecrets::default()
        };
        let secret = job_secret(&plan_spec(), &secrets, &settings()).unwrap();
        assert_eq!(
            secret.string_data.unwrap().into_keys().collect::<Vec<_>>(),
            [env_vars::RUN_REPORT_TOKEN],
            "the report URL is no secret"
        );
    }
}
