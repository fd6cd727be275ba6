//! A runner Job's environment: the run's spec, the plain settings every runner gets, the work
//! folders, then the run's own secrets (report credential, artifact links, a token minted for it)
//! by reference to the run's own Secret ([`super::job_secret`]), and, when the run has no token of
//! its own, the deployment's token by reference to its Secret. No secret is ever a literal value
//! of the Job: its spec is readable by whoever may get Jobs, and audit logs keep it whole.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use secrecy::ExposeSecret as _;

use super::RunSecrets;
use super::job::{RunnerSettings, WORK_DIR, plain};
use crate::config::env_vars;
use crate::run::RunSpec;

/// What the run's own Secret holds, by key (the variable's name): the report credential, the
/// artifact links and the run's own VCS token. Empty when the run has none of them.
pub(super) fn secret_values(secrets: &RunSecrets) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = secrets
        .secret_env()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    if let Some(token) = &secrets.vcs_token {
        // A token minted for this run (read-only, one repository, short-lived), or the
        // deployment's own.
        values.insert(
            env_vars::VCS_TOKEN.to_owned(),
            token.expose_secret().to_owned(),
        );
    }
    values
}

/// The runner container's variables for `spec`'s run.
pub(super) fn job_env(
    spec: &RunSpec,
    secrets: &RunSecrets,
    settings: &RunnerSettings,
) -> Vec<EnvVar> {
    let own = spec.to_env();
    let mut env: Vec<EnvVar> = own
        .iter()
        .map(|(name, value)| plain(name, value.clone()))
        .collect();
    env.extend(
        settings
            .env
            .iter()
            .filter(|(name, _)| !own.iter().any(|(spec_name, _)| spec_name == name))
            .map(|(name, value)| plain(name, value.clone())),
    );
    env.push(plain(env_vars::WORK_DIR, WORK_DIR));
    env.push(plain("HOME", format!("{WORK_DIR}/home")));
    env.push(plain("TMPDIR", "/tmp"));
    env.extend(
        secrets
            .plain_env()
            .into_iter()
            .map(|(name, value)| plain(name, value)),
    );
    // The run's own Secret has the Job's name, and a key per variable.
    let run_secret = spec.run_id();
    env.extend(
        secret_values(secrets)
            .into_keys()
            .map(|name| from_secret(&name, &run_secret, &name, false)),
    );
    if secrets.vcs_token.is_none() {
        // With the token's ARN passed on, the runner reads it from Secrets Manager, and a
        // GitHub App's runner mints its own token: the deployment's Secret may then be absent.
        let optional = settings.env.iter().any(|(name, _)| {
            name == env_vars::VCS_TOKEN_ARN || name == env_vars::GITHUB_APP_ID
        });
        let deployment = &settings.token_secret;
        env.push(from_secret(
            env_vars::VCS_TOKEN,
            &deployment.name,
            &deployment.key,
            optional,
        ));
    }
    env
}

/// Variable `name` read from key `key` of Secret `secret` in the Job's namespace.
fn from_secret(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(optional),
            }),
            ..EnvVarSource::default()
        }),
    }
}
