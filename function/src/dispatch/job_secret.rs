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
//! two) never starts and fails at its deadline, holding nothing. This file builds it; the
//! dispatcher ([`super::kubernetes`]) writes it.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DynamicObject, TypeMeta};
use serde_json::json;

use super::RunSecrets;
use super::job::{RunnerSettings, job_labels};
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
pub(super) fn dynamic_secret(secret: &Secret) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: "v1".to_owned(),
            kind: "Secret".to_owned(),
        }),
        metadata: secret.metadata.clone(),
        data: json!({ "type": secret.type_, "stringData": secret.string_data }),
    }
}

/// The owner reference that makes Job `job` (its `uid`) the owner of its Secret.
/// `blockOwnerDeletion` is false: deleting the Job never waits for its Secret (and setting it
/// would take a right on `jobs/finalizers`).
pub(super) fn owned_by(job: &str, uid: &str) -> Vec<OwnerReference> {
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
