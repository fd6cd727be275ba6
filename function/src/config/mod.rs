//! The function's configuration: environment variables read once at start-up into a typed
//! [`Config`]. Every variable is named once, in [`env_vars`] (the product's interface: the
//! rendered Terraform and the docs use them), and only [`process`] reads the environment. A
//! missing or invalid setting is a [`ConfigError`] that names the variable, and start-up reports
//! every problem at once; combinations that cannot work are refused here, not at the first run.
//! Secrets are [`SecretString`]s; a secret given by ARN is fetched from AWS Secrets Manager by
//! [`Config::resolve_secrets`], only when an `*_ARN` variable is set.

pub mod env_vars;
pub mod process;
mod secrets;
mod sections;
mod store;

use std::path::PathBuf;

use crate::allowlist::{AllowlistError, RepoAllowlist};
use crate::event::Provider;
pub use secrets::{GithubAppConfig, SecretSource, Secrets, read_secret_arn, runner_github_app};
pub use sections::{DispatchConfig, ServeLimits};
pub use store::{DEFAULT_DATA_DIR, LAMBDA_DATA_DIR, StoreConfig};

/// The default body limit: 25 MiB, GitHub's cap on webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// A setting that stops start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{var} is not set: {hint}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A variable has a value we cannot use.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value (never a secret's).
        value: String,
        /// Why.
        reason: String,
    },
    /// Both a value and an ARN are set for the same secret.
    #[error("both {var} and {arn_var} are set: set only one")]
    Ambiguous {
        /// The value variable.
        var: &'static str,
        /// The ARN variable.
        arn_var: &'static str,
    },
    /// The allowlist has an invalid glob.
    #[error("{} is invalid", env_vars::REPO_ALLOWLIST)]
    Allowlist(#[source] AllowlistError),
    /// A secret could not be read from Secrets Manager.
    #[error("cannot read {var} ({arn}) from AWS Secrets Manager")]
    SecretsManager {
        /// The ARN variable.
        var: &'static str,
        /// The ARN.
        arn: String,
        /// What the SDK said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The function's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The VCS host.
    pub vcs: Provider,
    /// The host's API base URL; `None` for hosts with no public service (Bitbucket Server).
    pub vcs_url: Option<String>,
    /// The API token, if configured.
    pub vcs_token: Option<SecretSource>,
    /// The GitHub App, if configured (then there is no `vcs_token`).
    pub github_app: Option<GithubAppConfig>,
    /// The webhook secret.
    pub webhook_secret: SecretSource,
    /// Whether SHA-1 signatures are accepted.
    pub allow_sha1: bool,
    /// Which repositories may use this deployment.
    pub allowlist: RepoAllowlist,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
    /// `serve`'s limits on its clients.
    pub serve: ServeLimits,
    /// The store.
    pub store: StoreConfig,
    /// The dispatcher.
    pub dispatch: DispatchConfig,
    /// The operator's policy file.
    pub policy: Option<PathBuf>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process::var, process::under_lambda())
    }

    /// Reads the configuration through `lookup` (a variable's value, `None` when unset; empty
    /// values count as unset). `under_lambda` picks the production defaults (DynamoDB store,
    /// Kubernetes dispatch) instead of the embedded ones.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        under_lambda: bool,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let vcs = match get(env_vars::VCS) {
            Some(v) => {
                v.parse()
                    .map_err(|e: crate::event::UnknownProvider| ConfigError::Invalid {
                        var: env_vars::VCS,
                        value: v.clone(),
                        reason: e.to_string(),
                    })?
            }
            None => Provider::Github,
        };
        let vcs_url = match get(env_vars::VCS_URL) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(url) => {
                return Err(ConfigError::Invalid {
                    var: env_vars::VCS_URL,
                    value: url,
                    reason: "expected an http:// or https:// URL".to_owned(),
                });
            }
            None => default_vcs_url(vcs).map(str::to_owned),
        };
        let webhook_secret = secrets::secret(&get, env_vars::WEBHOOK_SECRET, env_vars::WEBHOOK_SECRET_ARN)?.ok_or(
            ConfigError::Missing {
                var: env_vars::WEBHOOK_SECRET,
                hint: "the function never accepts unsigned webhooks; set the secret configured on the VCS host \
                       (or LANDFALL_WEBHOOK_SECRET_ARN to read it from AWS Secrets Manager)",
            },
        )?;
        if vcs == Provider::AzureDevops
            && let SecretSource::Value(value) = &webhook_secret
            && !secrecy::ExposeSecret::expose_secret(value).contains(':')
        {
            return Err(ConfigError::Invalid {
                var: env_vars::WEBHOOK_SECRET,
                value: "(hidden)".to_owned(),
                reason:
                    "for azure-devops the secret is the service hook's basic-auth `user:password`"
                        .to_owned(),
            });
        }
        let vcs_token = secrets::secret(&get, env_vars::VCS_TOKEN, env_vars::VCS_TOKEN_ARN)?;
        let github_app = secrets::github_app(&get, vcs, vcs_token.is_some())?;
        let allow_sha1 = match get(env_vars::WEBHOOK_ALLOW_SHA1) {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| ConfigError::Invalid {
                var: env_vars::WEBHOOK_ALLOW_SHA1,
                value: v.clone(),
                reason: "expected true or false".to_owned(),
            })?,
        };
        allow_file_clone(&get)?;
        let allowlist = match get(env_vars::REPO_ALLOWLIST) {
            Some(spec) => RepoAllowlist::parse(&spec).map_err(ConfigError::Allowlist)?,
            None => RepoAllowlist::allow_all(),
        };
        let max_body_bytes =
            match get(env_vars::MAX_BODY_BYTES) {
                None => DEFAULT_MAX_BODY_BYTES,
                Some(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError::Invalid {
                        var: env_vars::MAX_BODY_BYTES,
                        value: v.clone(),
                        reason: "expected a positive number of bytes".to_owned(),
                    }
                })?,
            };
        let serve = sections::serve_limits(&get, max_body_bytes)?;
        let store = StoreConfig::from_lookup(get, under_lambda)?;
        let dispatch = sections::dispatch(&get, under_lambda)?;
        sections::check_store_reaches_runners(&store, &dispatch)?;
        let policy = get(env_vars::POLICY).map(PathBuf::from);
        if let Some(path) = &policy
            && !path.is_file()
        {
            return Err(ConfigError::Invalid {
                var: env_vars::POLICY,
                value: path.display().to_string(),
                reason: "no such file".to_owned(),
            });
        }
        Ok(Config {
            vcs,
            vcs_url,
            vcs_token,
            github_app,
            webhook_secret,
            allow_sha1,
            allowlist,
            max_body_bytes,
            serve,
            store,
            dispatch,
            policy,
        })
    }
}

/// The public service's API for hosts that have one.
#[must_use]
pub fn default_vcs_url(vcs: Provider) -> Option<&'static str> {
    match vcs {
        Provider::Github => Some("https://api.github.com"),
        Provider::Gitlab => Some("https://gitlab.com"),
        Provider::AzureDevops => Some("https://dev.azure.com"),
        Provider::BitbucketCloud => Some("https://api.bitbucket.org"),
        Provider::Gitea => Some("https://gitea.com"),
        Provider::BitbucketServer => None,
    }
}

/// Whether runners may clone `file://` URLs (`LANDFALL_ALLOW_FILE_CLONE`, default `false`). The
/// function checks it at start-up; a local runner inherits it and reads it again.
///
/// # Errors
///
/// When the value is not a boolean.
pub fn allow_file_clone(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get(env_vars::ALLOW_FILE_CLONE).filter(|v| !v.trim().is_empty()) {
        None => Ok(false),
        Some(v) => parse_bool(&v).ok_or_else(|| ConfigError::Invalid {
            var: env_vars::ALLOW_FILE_CLONE,
            value: v.clone(),
            reason: "expected true or false".to_owned(),
        }),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
