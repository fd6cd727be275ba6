//! Secrets: given directly or by AWS Secrets Manager ARN, read only when needed, never shown.

#[cfg(feature = "function")]
use std::future::Future;
#[cfg(feature = "function")]
use std::pin::Pin;

use secrecy::SecretString;

#[cfg(feature = "function")]
use super::Config;
use super::{ConfigError, env_vars};
use crate::event::Provider;

/// Where a secret comes from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    /// Given directly in the environment.
    Value(SecretString),
    /// To be read from AWS Secrets Manager.
    Arn {
        /// The variable that named it.
        var: &'static str,
        /// The secret's ARN.
        arn: String,
    },
}

/// A GitHub App to authenticate as, instead of a token.
#[derive(Clone, Debug)]
pub struct GithubAppConfig {
    /// The App's id (`LANDFALL_GITHUB_APP_ID`).
    pub app_id: u64,
    /// Its private key, PEM (`LANDFALL_GITHUB_APP_KEY` or `..._ARN`).
    pub key: SecretSource,
    /// The installation (`LANDFALL_GITHUB_INSTALLATION_ID`); `None`: per repository.
    pub installation_id: Option<u64>,
}

/// The secrets, once read.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The webhook secret.
    pub webhook_secret: SecretString,
    /// The API token.
    pub vcs_token: Option<SecretString>,
    /// The GitHub App's private key (PEM), checked to be an RSA key.
    pub github_app_key: Option<SecretString>,
    /// The webhook drift checks report to, checked to be an https URL.
    pub drift_webhook_url: Option<SecretString>,
}

impl Secrets {
    /// Whether the function can talk to the host: a token, or a GitHub App's key.
    #[must_use]
    pub fn has_vcs_credentials(&self) -> bool {
        self.vcs_token.is_some() || self.github_app_key.is_some()
    }
}

#[cfg(feature = "function")]
impl Config {
    /// Reads the secrets, from Secrets Manager for those given by ARN (the AWS SDK is set up only
    /// then). A GitHub App key read from Secrets Manager is checked here.
    pub async fn resolve_secrets(&self) -> Result<Secrets, ConfigError> {
        let app_key = self.github_app.as_ref().map(|app| &app.key);
        let drift_webhook = self.drift_webhook_url.as_ref();
        let needs_aws = [
            Some(&self.webhook_secret),
            self.vcs_token.as_ref(),
            app_key,
            drift_webhook,
        ]
        .into_iter()
        .flatten()
        .any(|source| matches!(source, SecretSource::Arn { .. }));
        let client = if needs_aws {
            Some(secrets_manager_client().await)
        } else {
            None
        };
        let webhook_secret = fetch(client.as_ref(), &self.webhook_secret).await?;
        let vcs_token = match &self.vcs_token {
            Some(source) => Some(fetch(client.as_ref(), source).await?),
            None => None,
        };
        let github_app_key = match app_key {
            Some(source) => {
                let key = fetch(client.as_ref(), source).await?;
                if let SecretSource::Arn { var, arn } = source {
                    check_app_key(var, arn, &key)?;
                }
                Some(key)
            }
            None => None,
        };
        let drift_webhook_url = match drift_webhook {
            Some(source) => match fetch(client.as_ref(), source).await {
                Ok(url) => {
                    if let SecretSource::Arn { var, arn } = source {
                        check_webhook_url(var, arn, &url)?;
                    }
                    Some(url)
                }
                // The platform creates the secret empty: drift is then reported without it.
                Err(unset @ ConfigError::SecretUnset { .. }) => {
                    tracing::warn!("{unset}; drift checks post to no webhook");
                    None
                }
                Err(err) => return Err(err),
            },
            None => None,
        };
        Ok(Secrets {
            webhook_secret,
            vcs_token,
            github_app_key,
            drift_webhook_url,
        })
    }
}

#[cfg(feature = "function")]
/// Reads one secret from Secrets Manager by ARN (`var` names the setting in errors), with the
/// SDK's default configuration. The runner reads the VCS token this way when its Job carries
/// `LANDFALL_VCS_TOKEN_ARN` instead of a Kubernetes Secret.
pub async fn read_secret_arn(var: &'static str, arn: &str) -> Result<SecretString, ConfigError> {
    let client = secrets_manager_client().await;
    fetch_arn(Some(&client), var, arn).await
}

#[cfg(feature = "function")]
async fn fetch(
    client: Option<&aws_sdk_secretsmanager::Client>,
    source: &SecretSource,
) -> Result<SecretString, ConfigError> {
    match source {
        SecretSource::Value(value) => Ok(value.clone()),
        SecretSource::Arn { var, arn } => fetch_arn(client, var, arn).await,
    }
}

#[cfg(feature = "function")]
/// The AWS SDK's futures are large (kilobytes of state): kept inline, they would size the stack
/// frames of every caller up to the Lambda entry point, and a cold start with the secrets given
/// directly would fault in those stack pages for nothing. Built here, behind a box, they cost
/// only when a secret is given by ARN.
type SecretFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[cfg(feature = "function")]
#[inline(never)]
fn secrets_manager_client() -> SecretFuture<'static, aws_sdk_secretsmanager::Client> {
    Box::pin(async {
        let sdk = crate::aws::sdk_config().await;
        aws_sdk_secretsmanager::Client::new(&sdk)
    })
}

#[cfg(feature = "function")]
#[inline(never)]
fn fetch_arn<'a>(
    client: Option<&'a aws_sdk_secretsmanager::Client>,
    var: &'static str,
    arn: &'a str,
) -> SecretFuture<'a, Result<SecretString, ConfigError>> {
    Box::pin(async move {
        let error =
            |source: Box<dyn std::error::Error + Send + Sync>| ConfigError::SecretsManager {
                var,
                arn: arn.to_owned(),
                source,
            };
        let Some(client) = client else {
            return Err(error("no AWS Secrets Manager client was set up".into()));
        };
        let out = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
                if e.as_service_error()
                    .is_some_and(GetSecretValueError::is_resource_not_found_exception)
                {
                    return ConfigError::SecretUnset {
                        var,
                        arn: arn.to_owned(),
                    };
                }
                error(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                        .to_string()
                        .into(),
                )
            })?;
        let value = out.secret_string().ok_or_else(|| {
            error("the secret has no SecretString (binary secrets are not supported)".into())
        })?;
        Ok(SecretString::from(value.to_owned()))
    })
}

/// Stops start-up when `key` (from `var`, shown as `shown`) is not an RSA private key in PEM.
fn check_app_key(var: &'static str, shown: &str, key: &SecretString) -> Result<(), ConfigError> {
    crate::vcs::github::app_key(secrecy::ExposeSecret::expose_secret(key).as_bytes())
        .map(drop)
        .map_err(|e| ConfigError::Invalid {
            var,
            value: shown.to_owned(),
            reason: e.to_string(),
        })
}

/// `LANDFALL_DRIFT_WEBHOOK_URL` (or `_ARN`), its value checked when given directly.
pub(super) fn drift_webhook_url(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    let var = env_vars::DRIFT_WEBHOOK_URL;
    let source = secret(get, var, env_vars::DRIFT_WEBHOOK_URL_ARN)?;
    if let Some(SecretSource::Value(url)) = &source {
        check_webhook_url(var, "(hidden)", url)?;
    }
    Ok(source)
}

/// Stops start-up when the drift webhook (from `var`, shown as `shown`: the URL is a credential)
/// is not https; plain http only to localhost, for tests.
fn check_webhook_url(
    var: &'static str,
    shown: &str,
    url: &SecretString,
) -> Result<(), ConfigError> {
    let url = secrecy::ExposeSecret::expose_secret(url);
    let https = url::Url::parse(url.trim()).is_ok_and(|u| u.scheme() == "https" && u.has_host());
    let allowed = https || super::is_loopback_http(url);
    if allowed {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        var,
        value: shown.to_owned(),
        reason: "expected an https:// URL (http:// only to localhost)".to_owned(),
    })
}

/// The GitHub App settings: all of them or none, only for GitHub.
pub(super) fn github_app(
    get: &impl Fn(&str) -> Option<String>,
    vcs: Provider,
    has_token: bool,
) -> Result<Option<GithubAppConfig>, ConfigError> {
    let id = |var: &'static str, what: &str| -> Result<Option<u64>, ConfigError> {
        get(var)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::Invalid {
                        var,
                        value: v.clone(),
                        reason: format!("expected {what}"),
                    })
            })
            .transpose()
    };
    let app_id = id(
        env_vars::GITHUB_APP_ID,
        "the App's numeric id (the App's settings page, \"App ID\")",
    )?;
    let key = secret(get, env_vars::GITHUB_APP_KEY, env_vars::GITHUB_APP_KEY_ARN)?;
    let installation_id = id(
        env_vars::GITHUB_INSTALLATION_ID,
        "the installation's numeric id (the number at the end of its settings URL)",
    )?;
    let (app_id, key) = match (app_id, key) {
        (None, None) if installation_id.is_none() => return Ok(None),
        (Some(app_id), Some(key)) => (app_id, key),
        (None, _) => {
            return Err(ConfigError::Missing {
                var: env_vars::GITHUB_APP_ID,
                hint: "a GitHub App's private key or installation is set, but not the App's id",
            });
        }
        (Some(_), None) => {
            return Err(ConfigError::Missing {
                var: env_vars::GITHUB_APP_KEY,
                hint: "a GitHub App needs its private key (PEM), or LANDFALL_GITHUB_APP_KEY_ARN \
                       to read it from AWS Secrets Manager",
            });
        }
    };
    if vcs != Provider::Github {
        return Err(ConfigError::Invalid {
            var: env_vars::GITHUB_APP_ID,
            value: app_id.to_string(),
            reason: format!(
                "GitHub App settings are for LANDFALL_VCS=github, not {}",
                vcs.as_str()
            ),
        });
    }
    if has_token {
        return Err(ConfigError::Invalid {
            var: env_vars::VCS_TOKEN,
            value: "(hidden)".to_owned(),
            reason: format!(
                "a GitHub App is configured ({}): unset the token, or the App's variables",
                env_vars::GITHUB_APP_ID
            ),
        });
    }
    if let SecretSource::Value(pem) = &key {
        check_app_key(env_vars::GITHUB_APP_KEY, "(hidden)", pem)?;
    }
    Ok(Some(GithubAppConfig {
        app_id,
        key,
        installation_id,
    }))
}

pub(super) fn secret(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    arn_var: &'static str,
) -> Result<Option<SecretSource>, ConfigError> {
    match (get(var), get(arn_var)) {
        (Some(_), Some(_)) => Err(ConfigError::Ambiguous { var, arn_var }),
        (Some(value), None) => Ok(Some(SecretSource::Value(SecretString::from(value)))),
        (None, Some(arn)) if arn.starts_with("arn:") => {
            Ok(Some(SecretSource::Arn { var: arn_var, arn }))
        }
        (None, Some(arn)) => Err(ConfigError::Invalid {
            var: arn_var,
            value: arn,
            reason: "expected an ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
                .to_owned(),
        }),
        (None, None) => Ok(None),
    }
}
