//! The function's configuration: environment variables read once at start-up into a typed
//! [`Config`]. The names in [`env_vars`] are the product's interface (the rendered Terraform and
//! the docs use them). A missing or invalid setting is a [`ConfigError`] that names the variable.
//! Secrets are [`SecretString`]s; a secret given by ARN is fetched from AWS Secrets Manager by
//! [`Config::resolve_secrets`], only when an `*_ARN` variable is set.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use secrecy::SecretString;

use crate::allowlist::{AllowlistError, RepoAllowlist};
use crate::event::Provider;

/// The environment variables the function reads.
pub mod env_vars {
    /// The VCS host: `github`, `gitlab`, `azure-devops`, `bitbucket-cloud`, `bitbucket-server`, `gitea`.
    pub const VCS: &str = "LANDFALL_VCS";
    /// The host's API base URL.
    pub const VCS_URL: &str = "LANDFALL_VCS_URL";
    /// The API token.
    pub const VCS_TOKEN: &str = "LANDFALL_VCS_TOKEN";
    /// The Secrets Manager ARN holding the API token.
    pub const VCS_TOKEN_ARN: &str = "LANDFALL_VCS_TOKEN_ARN";
    /// A GitHub App's numeric id (instead of a token, with `LANDFALL_VCS=github`).
    pub const GITHUB_APP_ID: &str = "LANDFALL_GITHUB_APP_ID";
    /// The GitHub App's private key (PEM).
    pub const GITHUB_APP_KEY: &str = "LANDFALL_GITHUB_APP_KEY";
    /// The Secrets Manager ARN holding the GitHub App's private key.
    pub const GITHUB_APP_KEY_ARN: &str = "LANDFALL_GITHUB_APP_KEY_ARN";
    /// The GitHub App installation to act as (optional: else found per repository).
    pub const GITHUB_INSTALLATION_ID: &str = "LANDFALL_GITHUB_INSTALLATION_ID";
    /// The webhook secret (for Azure DevOps, the basic-auth `user:password`).
    pub const WEBHOOK_SECRET: &str = "LANDFALL_WEBHOOK_SECRET";
    /// The Secrets Manager ARN holding the webhook secret.
    pub const WEBHOOK_SECRET_ARN: &str = "LANDFALL_WEBHOOK_SECRET_ARN";
    /// `true` to accept legacy SHA-1 signatures (`X-Hub-Signature: sha1=`).
    pub const WEBHOOK_ALLOW_SHA1: &str = "LANDFALL_WEBHOOK_ALLOW_SHA1";
    /// Comma-separated globs of repositories that may use this deployment.
    pub const REPO_ALLOWLIST: &str = "LANDFALL_REPO_ALLOWLIST";
    /// `dynamodb` or `embedded`.
    pub const STORE: &str = "LANDFALL_STORE";
    /// The DynamoDB table (with `LANDFALL_STORE=dynamodb`).
    pub const TABLE: &str = "LANDFALL_TABLE";
    /// The S3 bucket (with `LANDFALL_STORE=dynamodb`).
    pub const BUCKET: &str = "LANDFALL_BUCKET";
    /// The data directory (with `LANDFALL_STORE=embedded`).
    pub const DATA_DIR: &str = "LANDFALL_DATA_DIR";
    /// `kubernetes` or `local`.
    pub const DISPATCH: &str = "LANDFALL_DISPATCH";
    /// The runners' namespace (with `LANDFALL_DISPATCH=kubernetes`).
    pub const RUNNER_NAMESPACE: &str = "LANDFALL_RUNNER_NAMESPACE";
    /// The runner image (with `LANDFALL_DISPATCH=kubernetes`).
    pub const RUNNER_IMAGE: &str = "LANDFALL_RUNNER_IMAGE";
    /// The runners' service account (with `LANDFALL_DISPATCH=kubernetes`).
    pub const RUNNER_SERVICE_ACCOUNT: &str = "LANDFALL_RUNNER_SERVICE_ACCOUNT";
    /// The operator's server-side policy (Atlantis `repos.yaml` format).
    pub const POLICY: &str = "LANDFALL_POLICY";
    /// The largest webhook body accepted, in bytes.
    pub const MAX_BODY_BYTES: &str = "LANDFALL_MAX_BODY_BYTES";
    /// `serve` only: seconds a client has to send its request headers, and then its whole body.
    pub const BODY_TIMEOUT_SECS: &str = "LANDFALL_BODY_TIMEOUT_SECS";
    /// `serve` only: the most connections served at once (more wait in the accept queue).
    pub const MAX_CONNECTIONS: &str = "LANDFALL_MAX_CONNECTIONS";
    /// `serve` only: the bytes all request bodies being read may hold together.
    pub const BODY_BUDGET_BYTES: &str = "LANDFALL_BODY_BUDGET_BYTES";
    /// The log filter (`tracing` directives, e.g. `info,landfall_function=debug`).
    pub const LOG: &str = "LANDFALL_LOG";
    /// `true` to let runners clone `file://` URLs (local use and tests; never in production).
    pub const ALLOW_FILE_CLONE: &str = "LANDFALL_ALLOW_FILE_CLONE";
    /// Set by AWS Lambda: the runtime API's address. Its presence means "running under Lambda".
    pub const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
}

/// The default body limit: 25 MiB, GitHub's cap on webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// `serve`'s limits on its clients. Lambda has its own (the function URL's payload and timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send its headers, and then its whole body
    /// (`LANDFALL_BODY_TIMEOUT_SECS`, 10 s by default).
    pub body_timeout: std::time::Duration,
    /// The most connections served at once (`LANDFALL_MAX_CONNECTIONS`, 256 by default).
    pub max_connections: usize,
    /// The bytes all bodies being read may hold together (`LANDFALL_BODY_BUDGET_BYTES`, 64 MiB by
    /// default, and never less than the body limit).
    pub body_budget_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            body_timeout: std::time::Duration::from_secs(10),
            max_connections: 256,
            body_budget_bytes: 64 * 1024 * 1024,
        }
    }
}

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

/// Where the function keeps locks, plan records and planfiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// DynamoDB and S3.
    DynamoDb {
        /// The table.
        table: String,
        /// The bucket.
        bucket: String,
    },
    /// The embedded store in a local directory.
    Embedded {
        /// The directory.
        data_dir: PathBuf,
    },
}

/// Where Terraform runs are dispatched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DispatchConfig {
    /// Kubernetes Jobs.
    Kubernetes {
        /// The namespace.
        namespace: String,
        /// The runner image.
        image: String,
        /// The service account.
        service_account: String,
    },
    /// A local process.
    Local,
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

/// The secrets, once read.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The webhook secret.
    pub webhook_secret: SecretString,
    /// The API token.
    pub vcs_token: Option<SecretString>,
    /// The GitHub App's private key (PEM), checked to be an RSA key.
    pub github_app_key: Option<SecretString>,
}

impl Secrets {
    /// Whether the function can talk to the host: a token, or a GitHub App's key.
    #[must_use]
    pub fn has_vcs_credentials(&self) -> bool {
        self.vcs_token.is_some() || self.github_app_key.is_some()
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let lambda = std::env::var_os(env_vars::LAMBDA_RUNTIME_API).is_some();
        Self::from_lookup(|name| std::env::var(name).ok(), lambda)
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
        let webhook_secret = secret(&get, env_vars::WEBHOOK_SECRET, env_vars::WEBHOOK_SECRET_ARN)?.ok_or(
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
        let vcs_token = secret(&get, env_vars::VCS_TOKEN, env_vars::VCS_TOKEN_ARN)?;
        let github_app = github_app(&get, vcs, vcs_token.is_some())?;
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
        let serve = serve_limits(&get, max_body_bytes)?;
        let store = store(&get, under_lambda)?;
        let dispatch = dispatch(&get, under_lambda)?;
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

    /// Reads the secrets, from Secrets Manager for those given by ARN (the AWS SDK is set up only
    /// then). A GitHub App key read from Secrets Manager is checked here.
    pub async fn resolve_secrets(&self) -> Result<Secrets, ConfigError> {
        let app_key = self.github_app.as_ref().map(|app| &app.key);
        let needs_aws = [Some(&self.webhook_secret), self.vcs_token.as_ref(), app_key]
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
        Ok(Secrets {
            webhook_secret,
            vcs_token,
            github_app_key,
        })
    }
}

/// A runner's GitHub App, from the same variables as the function's (`LANDFALL_GITHUB_APP_ID`,
/// `LANDFALL_GITHUB_APP_KEY` or `..._ARN`, `LANDFALL_GITHUB_INSTALLATION_ID`): the App's id,
/// its private key (read from Secrets Manager when given by ARN) and the installation, or `None`
/// when no App is configured.
///
/// # Errors
///
/// When the settings are incomplete or invalid, or the key cannot be read.
pub async fn runner_github_app() -> Result<Option<(GithubAppConfig, SecretString)>, ConfigError> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(app) = github_app(&get, Provider::Github, false)? else {
        return Ok(None);
    };
    let key = match &app.key {
        SecretSource::Value(key) => key.clone(),
        SecretSource::Arn { var, arn } => read_secret_arn(var, arn).await?,
    };
    Ok(Some((app, key)))
}

/// Reads one secret from Secrets Manager by ARN (`var` names the setting in errors), with the
/// SDK's default configuration. The runner reads the VCS token this way when its Job carries
/// `LANDFALL_VCS_TOKEN_ARN` instead of a Kubernetes Secret.
pub async fn read_secret_arn(var: &'static str, arn: &str) -> Result<SecretString, ConfigError> {
    let client = secrets_manager_client().await;
    fetch_arn(Some(&client), var, arn).await
}

async fn fetch(
    client: Option<&aws_sdk_secretsmanager::Client>,
    source: &SecretSource,
) -> Result<SecretString, ConfigError> {
    match source {
        SecretSource::Value(value) => Ok(value.clone()),
        SecretSource::Arn { var, arn } => fetch_arn(client, var, arn).await,
    }
}

/// The AWS SDK's futures are large (kilobytes of state): kept inline, they would size the stack
/// frames of every caller up to the Lambda entry point, and a cold start with the secrets given
/// directly would fault in those stack pages for nothing. Built here, behind a box, they cost
/// only when a secret is given by ARN.
type SecretFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[inline(never)]
fn secrets_manager_client() -> SecretFuture<'static, aws_sdk_secretsmanager::Client> {
    Box::pin(async {
        let sdk = crate::aws::sdk_config().await;
        aws_sdk_secretsmanager::Client::new(&sdk)
    })
}

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

/// The GitHub App settings: all of them or none, only for GitHub.
fn github_app(
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

fn secret(
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

/// `serve`'s limits: whole positive numbers, a timeout of at most an hour, and a budget that can
/// hold at least one body of the largest size (by default it is raised to that size).
fn serve_limits(
    get: &impl Fn(&str) -> Option<String>,
    max_body_bytes: usize,
) -> Result<ServeLimits, ConfigError> {
    let number = |var: &'static str, max: u64, what: &str| -> Result<Option<u64>, ConfigError> {
        get(var)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| ConfigError::Invalid {
                        var,
                        value: v.clone(),
                        reason: format!("expected {what} from 1 to {max}"),
                    })
            })
            .transpose()
    };
    let defaults = ServeLimits::default();
    let body_timeout = number(env_vars::BODY_TIMEOUT_SECS, 3600, "a number of seconds")?
        .map_or(defaults.body_timeout, std::time::Duration::from_secs);
    let max_connections = number(
        env_vars::MAX_CONNECTIONS,
        1 << 20,
        "a number of connections",
    )?
    .map_or(defaults.max_connections, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    let body_budget_bytes = match number(env_vars::BODY_BUDGET_BYTES, 1 << 40, "a number of bytes")?
    {
        None => defaults.body_budget_bytes.max(max_body_bytes),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n >= max_body_bytes => n,
            _ => {
                return Err(ConfigError::Invalid {
                    var: env_vars::BODY_BUDGET_BYTES,
                    value: n.to_string(),
                    reason: format!(
                        "a body of LANDFALL_MAX_BODY_BYTES ({max_body_bytes} bytes) would never fit: \
                         set at least that"
                    ),
                });
            }
        },
    };
    Ok(ServeLimits {
        body_timeout,
        max_connections,
        body_budget_bytes,
    })
}

fn store(
    get: &impl Fn(&str) -> Option<String>,
    under_lambda: bool,
) -> Result<StoreConfig, ConfigError> {
    let kind = get(env_vars::STORE)
        .unwrap_or_else(|| if under_lambda { "dynamodb" } else { "embedded" }.to_owned());
    match kind.as_str() {
        "dynamodb" => Ok(StoreConfig::DynamoDb {
            table: get(env_vars::TABLE).ok_or(ConfigError::Missing {
                var: env_vars::TABLE,
                hint: "the DynamoDB store needs its table name",
            })?,
            bucket: get(env_vars::BUCKET).ok_or(ConfigError::Missing {
                var: env_vars::BUCKET,
                hint: "the DynamoDB store keeps planfiles in an S3 bucket",
            })?,
        }),
        "embedded" => Ok(StoreConfig::Embedded {
            data_dir: get(env_vars::DATA_DIR).map_or_else(
                || {
                    PathBuf::from(if under_lambda {
                        "/tmp/landfall"
                    } else {
                        ".landfall"
                    })
                },
                PathBuf::from,
            ),
        }),
        _ => Err(ConfigError::Invalid {
            var: env_vars::STORE,
            value: kind,
            reason: "expected dynamodb or embedded".to_owned(),
        }),
    }
}

fn dispatch(
    get: &impl Fn(&str) -> Option<String>,
    under_lambda: bool,
) -> Result<DispatchConfig, ConfigError> {
    let kind = get(env_vars::DISPATCH)
        .unwrap_or_else(|| if under_lambda { "kubernetes" } else { "local" }.to_owned());
    let required =
        |var: &'static str, hint: &'static str| get(var).ok_or(ConfigError::Missing { var, hint });
    match kind.as_str() {
        "kubernetes" => Ok(DispatchConfig::Kubernetes {
            namespace: required(
                env_vars::RUNNER_NAMESPACE,
                "Kubernetes dispatch needs the runners' namespace",
            )?,
            image: required(
                env_vars::RUNNER_IMAGE,
                "Kubernetes dispatch needs the runner image",
            )?,
            service_account: required(
                env_vars::RUNNER_SERVICE_ACCOUNT,
                "Kubernetes dispatch needs the runners' service account",
            )?,
        }),
        "local" => Ok(DispatchConfig::Local),
        _ => Err(ConfigError::Invalid {
            var: env_vars::DISPATCH,
            value: kind,
            reason: "expected kubernetes or local".to_owned(),
        }),
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
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn config(vars: &[(&str, &str)], under_lambda: bool) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned(), under_lambda)
    }

    #[test]
    fn a_secret_alone_is_enough_outside_lambda() {
        let c = config(&[("LANDFALL_WEBHOOK_SECRET", "s")], false).unwrap();
        assert_eq!(c.vcs, Provider::Github);
        assert_eq!(c.vcs_url.as_deref(), Some("https://api.github.com"));
        assert_eq!(
            c.store,
            StoreConfig::Embedded {
                data_dir: ".landfall".into()
            }
        );
        assert_eq!(c.dispatch, DispatchConfig::Local);
        assert!(c.allowlist.allows_all());
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.serve, ServeLimits::default());
    }

    #[test]
    fn file_clones_are_allowed_only_when_the_operator_says_so() {
        let get = |value: &'static str| {
            move |name: &str| (name == "LANDFALL_ALLOW_FILE_CLONE").then(|| value.to_owned())
        };
        assert!(!allow_file_clone(&|_: &str| None).unwrap());
        assert!(allow_file_clone(&get("true")).unwrap());
        assert!(!allow_file_clone(&get("false")).unwrap());
        let err = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_ALLOW_FILE_CLONE", "sure"),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("LANDFALL_ALLOW_FILE_CLONE"),
            "{err}"
        );
    }

    #[test]
    fn serve_limits_are_read_and_the_budget_holds_the_largest_body() {
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_BODY_TIMEOUT_SECS", " 3 "),
                ("LANDFALL_MAX_CONNECTIONS", "8"),
                ("LANDFALL_BODY_BUDGET_BYTES", "26214400"),
            ],
            false,
        )
        .unwrap();
        let expected = ServeLimits {
            body_timeout: std::time::Duration::from_secs(3),
            max_connections: 8,
            body_budget_bytes: 26_214_400,
        };
        assert_eq!(c.serve, expected);
        // A body limit above the default budget raises the default budget to it...
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_MAX_BODY_BYTES", "104857600"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.serve.body_budget_bytes, 104_857_600);
        // ...but a budget set below it is a mistake.
        let err = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_BODY_BUDGET_BYTES", "1024"),
            ],
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("LANDFALL_BODY_BUDGET_BYTES=\"1024\" is invalid")
                && err.contains("LANDFALL_MAX_BODY_BYTES (26214400 bytes)"),
            "{err}"
        );
    }

    #[test]
    fn start_up_without_a_secret_names_the_variable() {
        let err = config(&[("LANDFALL_VCS", "gitlab")], false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("LANDFALL_WEBHOOK_SECRET is not set"),
            "{err}"
        );
        let err = config(&[("LANDFALL_WEBHOOK_SECRET", "  ")], false).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                var: "LANDFALL_WEBHOOK_SECRET",
                ..
            }
        ));
    }

    #[test]
    fn invalid_settings_name_their_variable() {
        for (vars, var) in [
            (vec![("LANDFALL_VCS", "svn")], "LANDFALL_VCS"),
            (
                vec![("LANDFALL_VCS_URL", "gitlab.example.com")],
                "LANDFALL_VCS_URL",
            ),
            (
                vec![("LANDFALL_WEBHOOK_ALLOW_SHA1", "maybe")],
                "LANDFALL_WEBHOOK_ALLOW_SHA1",
            ),
            (
                vec![("LANDFALL_REPO_ALLOWLIST", "a/[b")],
                "LANDFALL_REPO_ALLOWLIST",
            ),
            (vec![("LANDFALL_STORE", "postgres")], "LANDFALL_STORE"),
            (vec![("LANDFALL_DISPATCH", "nomad")], "LANDFALL_DISPATCH"),
            (
                vec![("LANDFALL_MAX_BODY_BYTES", "0")],
                "LANDFALL_MAX_BODY_BYTES",
            ),
            (
                vec![("LANDFALL_BODY_TIMEOUT_SECS", "0")],
                "LANDFALL_BODY_TIMEOUT_SECS",
            ),
            (
                vec![("LANDFALL_BODY_TIMEOUT_SECS", "1.5")],
                "LANDFALL_BODY_TIMEOUT_SECS",
            ),
            (
                vec![("LANDFALL_MAX_CONNECTIONS", "-1")],
                "LANDFALL_MAX_CONNECTIONS",
            ),
            (
                vec![("LANDFALL_BODY_BUDGET_BYTES", "64MiB")],
                "LANDFALL_BODY_BUDGET_BYTES",
            ),
            (
                vec![("LANDFALL_POLICY", "/nonexistent/repos.yaml")],
                "LANDFALL_POLICY",
            ),
            (
                vec![("LANDFALL_VCS_TOKEN_ARN", "not-an-arn")],
                "LANDFALL_VCS_TOKEN_ARN",
            ),
        ] {
            let mut vars = vars;
            vars.push(("LANDFALL_WEBHOOK_SECRET", "s"));
            let err = config(&vars, false).unwrap_err();
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn a_secret_and_its_arn_together_are_ambiguous() {
        let err = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:x"),
            ],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Ambiguous { .. }));
    }

    #[test]
    fn under_lambda_the_production_store_and_dispatch_need_their_settings() {
        let err = config(&[("LANDFALL_WEBHOOK_SECRET", "s")], true).unwrap_err();
        assert!(
            err.to_string().starts_with("LANDFALL_TABLE is not set"),
            "{err}"
        );
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_TABLE", "t"),
                ("LANDFALL_BUCKET", "b"),
                ("LANDFALL_RUNNER_NAMESPACE", "landfall"),
                ("LANDFALL_RUNNER_IMAGE", "img"),
                ("LANDFALL_RUNNER_SERVICE_ACCOUNT", "runner"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            c.store,
            StoreConfig::DynamoDb {
                table: "t".into(),
                bucket: "b".into()
            }
        );
        assert!(matches!(c.dispatch, DispatchConfig::Kubernetes { .. }));
    }

    #[test]
    fn azure_devops_secrets_are_user_and_password() {
        let err = config(
            &[
                ("LANDFALL_VCS", "azure-devops"),
                ("LANDFALL_WEBHOOK_SECRET", "nopassword"),
            ],
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("user:password"));
        assert!(
            !err.to_string().contains("nopassword"),
            "the secret is never echoed"
        );
        config(
            &[
                ("LANDFALL_VCS", "azure-devops"),
                ("LANDFALL_WEBHOOK_SECRET", "u:p"),
            ],
            false,
        )
        .unwrap();
    }

    #[test]
    fn bitbucket_server_has_no_default_url_and_urls_lose_their_trailing_slash() {
        let c = config(
            &[
                ("LANDFALL_VCS", "bitbucket-server"),
                ("LANDFALL_WEBHOOK_SECRET", "s"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.vcs_url, None);
        let c = config(
            &[
                ("LANDFALL_VCS_URL", "https://ghe.example.com/api/v3/"),
                ("LANDFALL_WEBHOOK_SECRET", "s"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(c.vcs_url.as_deref(), Some("https://ghe.example.com/api/v3"));
    }

    #[tokio::test]
    async fn secrets_given_directly_resolve_without_aws() {
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_VCS_TOKEN", "t"),
            ],
            false,
        )
        .unwrap();
        let secrets = c.resolve_secrets().await.unwrap();
        assert_eq!(secrets.webhook_secret.expose_secret(), "s");
        assert_eq!(secrets.vcs_token.unwrap().expose_secret(), "t");
    }

    const APP_KEY: &str = include_str!("../tests/vcs_fixtures/github-app-test-key.pem");

    #[tokio::test]
    async fn a_github_app_replaces_the_token() {
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_GITHUB_APP_ID", " 12345 "),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                ("LANDFALL_GITHUB_INSTALLATION_ID", "99"),
            ],
            false,
        )
        .unwrap();
        let app = c.github_app.as_ref().unwrap();
        assert_eq!((app.app_id, app.installation_id), (12345, Some(99)));
        assert!(c.vcs_token.is_none());
        let secrets = c.resolve_secrets().await.unwrap();
        assert!(secrets.has_vcs_credentials());
        assert_eq!(
            secrets.github_app_key.unwrap().expose_secret().trim(),
            APP_KEY.trim()
        );
        // The installation is optional.
        let c = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_GITHUB_APP_ID", "12345"),
                (
                    "LANDFALL_GITHUB_APP_KEY_ARN",
                    "arn:aws:secretsmanager:eu-west-1:1:secret:k",
                ),
            ],
            false,
        )
        .unwrap();
        assert!(matches!(
            c.github_app.unwrap().key,
            SecretSource::Arn {
                var: "LANDFALL_GITHUB_APP_KEY_ARN",
                ..
            }
        ));
    }

    #[test]
    fn github_app_mistakes_stop_start_up_naming_the_variable() {
        let base = [("LANDFALL_WEBHOOK_SECRET", "s")];
        for (vars, var, says) in [
            (
                vec![
                    ("LANDFALL_GITHUB_APP_ID", "my-app"),
                    ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                ],
                "LANDFALL_GITHUB_APP_ID",
                "numeric id",
            ),
            (
                vec![
                    ("LANDFALL_GITHUB_APP_ID", "1"),
                    ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                    ("LANDFALL_GITHUB_INSTALLATION_ID", "-3"),
                ],
                "LANDFALL_GITHUB_INSTALLATION_ID",
                "numeric id",
            ),
            (
                vec![
                    ("LANDFALL_GITHUB_APP_ID", "1"),
                    (
                        "LANDFALL_GITHUB_APP_KEY",
                        "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----",
                    ),
                ],
                "LANDFALL_GITHUB_APP_KEY",
                "not an RSA private key in PEM",
            ),
            (
                vec![("LANDFALL_GITHUB_APP_KEY", APP_KEY)],
                "LANDFALL_GITHUB_APP_ID",
                "not the App's id",
            ),
            (
                vec![("LANDFALL_GITHUB_APP_ID", "1")],
                "LANDFALL_GITHUB_APP_KEY",
                "private key",
            ),
            (
                vec![
                    ("LANDFALL_GITHUB_APP_ID", "1"),
                    ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                    ("LANDFALL_VCS_TOKEN", "ghp_x"),
                ],
                "LANDFALL_VCS_TOKEN",
                "unset the token",
            ),
            (
                vec![
                    ("LANDFALL_VCS", "gitlab"),
                    ("LANDFALL_GITHUB_APP_ID", "1"),
                    ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
                ],
                "LANDFALL_GITHUB_APP_ID",
                "not gitlab",
            ),
        ] {
            let mut vars = vars;
            vars.extend(base);
            let err = config(&vars, false).unwrap_err().to_string();
            assert!(err.starts_with(var) && err.contains(says), "{var}: {err}");
            assert!(
                !err.contains("nope") && !err.contains("ghp_x"),
                "no secret in {err}"
            );
        }
    }

    #[tokio::test]
    async fn the_vcs_client_is_built_from_the_app_or_the_token() {
        use crate::vcs::{AnyVcs, RetryPolicy};
        let app = config(
            &[
                ("LANDFALL_WEBHOOK_SECRET", "s"),
                ("LANDFALL_GITHUB_APP_ID", "1"),
                ("LANDFALL_GITHUB_APP_KEY", APP_KEY),
            ],
            false,
        )
        .unwrap();
        let secrets = app.resolve_secrets().await.unwrap();
        let vcs = AnyVcs::from_config(&app, &secrets, RetryPolicy::default()).unwrap();
        assert!(matches!(vcs, AnyVcs::Github(_)));
        let gitlab = config(
            &[("LANDFALL_WEBHOOK_SECRET", "s"), ("LANDFALL_VCS", "gitlab")],
            false,
        )
        .unwrap();
        let secrets = gitlab.resolve_secrets().await.unwrap();
        assert!(!secrets.has_vcs_credentials());
        let err = AnyVcs::from_config(&gitlab, &secrets, RetryPolicy::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("LANDFALL_VCS_TOKEN is not set"),
            "{err}"
        );
    }
}
