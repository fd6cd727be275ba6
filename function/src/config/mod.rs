//! The function's configuration: environment variables read once at start-up into a typed
//! [`Config`]. Every variable is named once, in [`env_vars`] (the product's interface: the
//! rendered Terraform and the docs use them), and only [`process`] reads the environment. A
//! missing or invalid setting is a [`ConfigError`] that names the variable, and start-up reports
//! every problem at once; combinations that cannot work are refused here, not at the first run.
//! Secrets are [`SecretString`]s; a secret given by ARN is fetched from AWS Secrets Manager by
//! [`Config::resolve_secrets`], only when an `*_ARN` variable is set.

pub mod env_vars;
mod operator;
pub mod process;
mod secrets;
mod sections;
mod store;

use std::path::PathBuf;

use crate::allowlist::{AllowlistError, RepoAllowlist};
use crate::event::Provider;
use crate::repo_config::{Policy, PolicyError};
pub use operator::{
    AllowedCommands, COMMAND_NAMES, OperatorSwitches, bot_user, is_the_bot, vcs_status_name,
};
pub use process::FromVariables;
#[cfg(feature = "function")]
pub use secrets::read_secret_arn;
pub use secrets::{GithubAppConfig, SecretSource, Secrets};
pub use sections::{DispatchConfig, ServeLimits};
pub use store::{DEFAULT_DATA_DIR, LAMBDA_DATA_DIR, StoreConfig};

/// The default body limit: 25 MiB, GitHub's cap on webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Each of `errors` on a line of its own, with what caused it.
fn several(errors: &[ConfigError]) -> String {
    let mut out = String::new();
    for err in errors {
        out.push_str("\n  - ");
        out.push_str(&err.to_string());
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
    }
    out
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
    /// More than one setting is wrong: each, one a line.
    #[error("{} settings are wrong:{}", .0.len(), several(.0))]
    Several(Vec<ConfigError>),
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
    /// Secrets Manager has no value for the secret (none was put yet, or no such secret).
    #[error(
        "{var} ({arn}) was not found or has no value yet: put one with `aws secretsmanager put-secret-value`"
    )]
    SecretUnset {
        /// The ARN variable.
        var: &'static str,
        /// The ARN.
        arn: String,
    },
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
    /// Autoplan off, and the commands that run.
    pub switches: OperatorSwitches,
    /// The function's own base URL, where runners post their reports (`LANDFALL_REPORT_URL`).
    pub report_url: Option<String>,
    /// The webhook drift checks report to (`LANDFALL_DRIFT_WEBHOOK_URL` or `..._ARN`).
    pub drift_webhook_url: Option<SecretSource>,
}

impl Config {
    /// The operator's policy (`LANDFALL_POLICY`), read once at start-up and checked against this
    /// configuration: every repository its `drift` section sweeps must pass the allowlist.
    ///
    /// # Errors
    ///
    /// The policy cannot be read or used, or sweeps a repository the allowlist refuses.
    pub fn load_policy(&self) -> Result<Option<Policy>, PolicyError> {
        let Some(path) = &self.policy else {
            return Ok(None);
        };
        let policy = Policy::load(path)?;
        if let Some(repo) = policy
            .drift
            .as_deref()
            .and_then(|d| d.refused_by(&self.allowlist))
        {
            return Err(PolicyError::DriftRepositoryRefused {
                repo: repo.to_string(),
            });
        }
        Ok(Some(policy))
    }
}

/// Production defaults under Lambda: the DynamoDB store and Kubernetes dispatch.
impl FromVariables for Config {
    fn from_variables(
        get: &impl Fn(&str) -> Option<String>,
        under_lambda: bool,
    ) -> Result<Self, ConfigError> {
        let mut found = Problems::default();
        let vcs = found.take(vcs(get)).unwrap_or(Provider::Github);
        let vcs_url = found.take(vcs_url(get, vcs)).flatten();
        let webhook_secret = found.take(webhook_secret(get, vcs));
        let vcs_token = found
            .take(secrets::secret(
                get,
                env_vars::VCS_TOKEN,
                env_vars::VCS_TOKEN_ARN,
            ))
            .flatten();
        let github_app = found
            .take(secrets::github_app(get, vcs, vcs_token.is_some()))
            .flatten();
        let allow_sha1 = found
            .take(flag(get, env_vars::WEBHOOK_ALLOW_SHA1))
            .unwrap_or(false);
        found.take(allow_file_clone(get));
        let allowlist = found.take(match get(env_vars::REPO_ALLOWLIST) {
            Some(spec) => RepoAllowlist::parse(&spec).map_err(ConfigError::Allowlist),
            None => Ok(RepoAllowlist::allow_all()),
        });
        let max_body_bytes = found
            .take(max_body_bytes(get))
            .unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let serve = found.take(sections::serve_limits(get, max_body_bytes));
        let store = found.take(StoreConfig::from_variables(get, under_lambda));
        let dispatch = found.take(sections::dispatch(get, under_lambda));
        if let (Some(store), Some(dispatch)) = (&store, &dispatch) {
            found.take(sections::check_store_reaches_runners(store, dispatch));
        }
        let policy = found.take(policy(get)).flatten();
        let switches = found.take(operator::switches(get)).unwrap_or_default();
        let report_url = found.take(report_url(get)).flatten();
        let drift_webhook_url = found.take(secrets::drift_webhook_url(get)).flatten();
        if matches!(dispatch, Some(DispatchConfig::Kubernetes { .. }))
            && report_url.is_none()
            && !under_lambda
        {
            found.0.push(ConfigError::Missing {
                var: env_vars::REPORT_URL,
                hint: "Kubernetes Jobs post their reports to the function: set the function's \
                       base URL as the cluster reaches it (under Lambda, its Function URL is \
                       found by itself)",
            });
        }
        match (webhook_secret, allowlist, serve, store, dispatch) {
            (Some(webhook_secret), Some(allowlist), Some(serve), Some(store), Some(dispatch))
                if found.0.is_empty() =>
            {
                // A delivery without a repository URL is matched on the VCS URL's host, here
                // as in the handler: the drift repositories are checked with it at start-up.
                let allowlist = allowlist.with_vcs_url(vcs_url.as_deref());
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
                    switches,
                    report_url,
                    drift_webhook_url,
                })
            }
            _ => Err(found.into_error()),
        }
    }
}

/// The problems found so far: start-up reports every one of them at once.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    /// The value, or `None` with its problem kept.
    fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|err| self.0.push(err)).ok()
    }

    /// One problem as itself, several as [`ConfigError::Several`].
    fn into_error(mut self) -> ConfigError {
        if self.0.len() == 1 {
            self.0.remove(0)
        } else {
            ConfigError::Several(self.0)
        }
    }
}

fn vcs(get: &impl Fn(&str) -> Option<String>) -> Result<Provider, ConfigError> {
    let Some(v) = get(env_vars::VCS) else {
        return Ok(Provider::Github);
    };
    v.parse()
        .map_err(|e: crate::event::UnknownProvider| ConfigError::Invalid {
            var: env_vars::VCS,
            value: v.clone(),
            reason: e.to_string(),
        })
}

/// `LANDFALL_REPORT_URL`: the function's base URL as runners reach it, without a trailing slash.
fn report_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = get(env_vars::REPORT_URL) else {
        return Ok(None);
    };
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Some(url.trim().trim_end_matches('/').to_owned()))
    } else {
        Err(ConfigError::Invalid {
            var: env_vars::REPORT_URL,
            value: url,
            reason: "expected the function's http:// or https:// base URL".to_owned(),
        })
    }
}

fn vcs_url(
    get: &impl Fn(&str) -> Option<String>,
    vcs: Provider,
) -> Result<Option<String>, ConfigError> {
    match get(env_vars::VCS_URL) {
        Some(url) => check_vcs_url(&url).map(Some),
        None => match default_vcs_url(vcs) {
            Some(url) => Ok(Some(url.to_owned())),
            None => Err(ConfigError::Missing {
                var: env_vars::VCS_URL,
                hint: "Azure DevOps and Bitbucket Server have no public API to default to: set \
                       https://dev.azure.com/<organization> (or the collection's URL), or the \
                       Bitbucket server's base URL",
            }),
        },
    }
}

/// Whether `secret` is basic auth's `user:password` with a password: what an Azure DevOps service
/// hook sends (`:` alone, from two empty variables, would let anyone in).
#[must_use]
pub fn is_basic_auth(secret: &str) -> bool {
    secret
        .split_once(':')
        .is_some_and(|(_, password)| !password.trim().is_empty())
}

/// Whether `url` is plain `http://` to this machine's loopback (`localhost`, `127.0.0.1`,
/// `[::1]`): the one place a credential may be sent unencrypted (a test's fake host).
#[must_use]
pub fn is_loopback_http(url: &str) -> bool {
    url::Url::parse(url.trim()).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    })
}

/// `LANDFALL_VCS_URL` as the function uses it: an http(s) URL without a trailing slash. The
/// bootstrap CLI checks `landfall.toml`'s `vcs_url` with this too.
///
/// # Errors
///
/// When it is not an `http://` or `https://` URL, or holds credentials (the error shows it
/// without them).
pub fn check_vcs_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |value: String, reason: &str| ConfigError::Invalid {
        var: env_vars::VCS_URL,
        value,
        reason: reason.to_owned(),
    };
    if let Some(credentials) = url_credentials(url) {
        let mut shown = url.to_owned();
        shown.replace_range(credentials, "");
        return Err(invalid(
            shown,
            "it holds credentials (`user:token@`); the token goes in LANDFALL_VCS_TOKEN (or \
             its _ARN), never in a URL, which is logged",
        ));
    }
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || url.contains(char::is_whitespace) || url.contains(['?', '#']) {
            // Shown without its query or fragment, which may carry a token.
            let shown = url.split(['?', '#']).next().unwrap_or_default();
            return Err(invalid(
                shown.to_owned(),
                "expected a base URL: a host, then a path if any (no spaces, query or fragment)",
            ));
        }
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        // Without a scheme, what stands before an `@` in the host part may be a token too.
        let host = url.split('/').next().unwrap_or_default();
        let shown = host.rfind('@').map_or(url, |at| &url[at + 1..]);
        Err(invalid(
            shown.to_owned(),
            "expected an http:// or https:// URL",
        ))
    }
}

/// Why `url` (checked by [`check_vcs_url`]) is not the API base URL of a `vcs` host, if it
/// is not: each adapter appends its paths to the API's own base (`/api/v4` on GitLab, `/api/v1`
/// on Gitea, `/api/v3` on GitHub Enterprise Server, `/2.0` on Bitbucket Cloud), and Azure
/// DevOps' names the organisation. The bootstrap CLI checks `landfall.toml`'s `vcs_url` with it;
/// the function does not (tests serve an API at any path).
#[must_use]
pub fn vcs_url_problem(vcs: Provider, url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let ends = |suffix: &str| path == suffix.trim_start_matches('/') || path.ends_with(suffix);
    let expected = match vcs {
        Provider::Gitlab if !ends("/api/v4") => {
            "GitLab's API base ends in /api/v4 (https://gitlab.example.com/api/v4)"
        }
        Provider::Gitea if !ends("/api/v1") => {
            "Gitea's API base ends in /api/v1 (https://gitea.example.com/api/v1)"
        }
        Provider::Github if !host.starts_with("api.") && !ends("/api/v3") => {
            "GitHub Enterprise Server's API base ends in /api/v3 (https://github.example.com/api/v3); GitHub Enterprise Cloud's is https://api.<name>.ghe.com"
        }
        Provider::BitbucketCloud if !ends("/2.0") => {
            "Bitbucket Cloud's API base is https://api.bitbucket.org/2.0"
        }
        // `https://<organization>.visualstudio.com` names the organisation in its host.
        Provider::AzureDevops if path.is_empty() && !host.ends_with(".visualstudio.com") => {
            "Azure DevOps' base names the organisation (https://dev.azure.com/<organization>) or the collection"
        }
        Provider::BitbucketServer
            if path.ends_with("rest/api/1.0") || path.ends_with("rest/api/latest") =>
        {
            "Bitbucket Server's base is the server's own URL (https://bitbucket.example.com, or its context path), without /rest/api/1.0"
        }
        _ => return None,
    };
    Some(expected.to_owned())
}

/// Where a URL's credentials stand, with the `@` after them, if it holds any: the user
/// information of an `http(s)://` or `oci://` URL (a token may be the user name alone), a
/// password in an `ssh://` one. `git@host:path` names a user, no secret.
#[must_use]
pub fn url_credentials(url: &str) -> Option<std::ops::Range<usize>> {
    let (scheme, rest) = url.split_once("://")?;
    let start = scheme.len() + 3;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let userinfo = &authority[..authority.rfind('@')?];
    let secret = !scheme.eq_ignore_ascii_case("ssh") || userinfo.contains(':');
    secret.then(|| start..start + userinfo.len() + 1)
}

fn webhook_secret(
    get: &impl Fn(&str) -> Option<String>,
    vcs: Provider,
) -> Result<SecretSource, ConfigError> {
    let secret = secrets::secret(get, env_vars::WEBHOOK_SECRET, env_vars::WEBHOOK_SECRET_ARN)?
        .ok_or(ConfigError::Missing {
            var: env_vars::WEBHOOK_SECRET,
            hint: "the function never accepts unsigned webhooks; set the secret configured on the \
                   VCS host (or LANDFALL_WEBHOOK_SECRET_ARN to read it from AWS Secrets Manager)",
        })?;
    if vcs == Provider::AzureDevops
        && let SecretSource::Value(value) = &secret
        && !is_basic_auth(secrecy::ExposeSecret::expose_secret(value))
    {
        return Err(ConfigError::Invalid {
            var: env_vars::WEBHOOK_SECRET,
            value: "(hidden)".to_owned(),
            reason: "for azure-devops the secret is the service hook's basic-auth `user:password`"
                .to_owned(),
        });
    }
    Ok(secret)
}

fn max_body_bytes(get: &impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let Some(v) = get(env_vars::MAX_BODY_BYTES) else {
        return Ok(DEFAULT_MAX_BODY_BYTES);
    };
    v.trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::Invalid {
            var: env_vars::MAX_BODY_BYTES,
            value: v.clone(),
            reason: "expected a positive number of bytes".to_owned(),
        })
}

fn policy(get: &impl Fn(&str) -> Option<String>) -> Result<Option<PathBuf>, ConfigError> {
    let Some(path) = get(env_vars::POLICY).map(PathBuf::from) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Err(ConfigError::Invalid {
            var: env_vars::POLICY,
            value: path.display().to_string(),
            reason: "no such file".to_owned(),
        });
    }
    Ok(Some(path))
}

/// A `true`/`false` setting, `false` when unset.
fn flag(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match get(var).filter(|v| !v.trim().is_empty()) {
        None => Ok(false),
        Some(v) => parse_bool(&v).ok_or_else(|| ConfigError::Invalid {
            var,
            value: v.clone(),
            reason: "expected true or false".to_owned(),
        }),
    }
}

/// The API base URL of the public service, for hosts whose API has one address: the URL the
/// adapter is built with when `LANDFALL_VCS_URL` is not set. Azure DevOps' names the
/// organisation, and Bitbucket Server is always self-hosted: `None`.
#[must_use]
pub fn default_vcs_url(vcs: Provider) -> Option<&'static str> {
    use crate::vcs::{bitbucket_cloud, gitea, github, gitlab};
    match vcs {
        Provider::Github => Some(github::DEFAULT_URL),
        Provider::Gitlab => Some(gitlab::DEFAULT_URL),
        Provider::BitbucketCloud => Some(bitbucket_cloud::DEFAULT_URL),
        Provider::Gitea => Some(gitea::DEFAULT_URL),
        Provider::AzureDevops | Provider::BitbucketServer => None,
    }
}

/// Whether runners may clone `file://` URLs (`LANDFALL_ALLOW_FILE_CLONE`, default `false`). The
/// function checks it at start-up; a local runner inherits it and reads it again.
///
/// # Errors
///
/// When the value is not a boolean.
pub fn allow_file_clone(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    flag(get, env_vars::ALLOW_FILE_CLONE)
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
