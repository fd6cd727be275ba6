//! A runner Job's environment: the run's spec, the plain settings every runner gets, the work
//! folders, the run's own secrets (report credential, artifact links, a token minted for it)
//! and, when the run has no token of its own, the deployment's token from its Secret.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use secrecy::ExposeSecret as _;

use super::RunSecrets;
use super::kubernetes::{RunnerSettings, WORK_DIR, plain};
use crate::config::env_vars;
use crate::run::RunSpec;

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
            .env()
            .into_iter()
            .map(|(name, value)| plain(name, value)),
    );
    if let Some(token) = &secrets.vcs_token {
        // A token minted for this run (read-only, one repository, short-lived).
        env.push(plain(env_vars::VCS_TOKEN, token.expose_secret()));
        return env;
    }
    env.push(EnvVar {
        name: env_vars::VCS_TOKEN.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: settings.token_secret.name.clone(),
                key: settings.token_secret.key.clone(),
                // With the token's ARN passed on, the runner reads it from Secrets Manager, and
                // a GitHub App's runner mints its own token: the Secret may then be absent.
                optional: Some(settings.env.iter().any(|(name, _)| {
                    name == env_vars::VCS_TOKEN_ARN || name == env_vars::GITHUB_APP_ID
                })),
            }),
            ..EnvVarSource::default()
        }),
    });
    env
}
