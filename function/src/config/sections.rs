//! The settings of `serve`'s limits and of dispatch, and the combinations that cannot work.

use super::{ConfigError, StoreConfig, env_vars};

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
    /// How often `serve` sweeps (`LANDFALL_SWEEP_SECS`, 60 s by default; `0`: never). Under
    /// Lambda the rendered EventBridge Scheduler schedule does it instead.
    pub sweep_every: Option<std::time::Duration>,
    /// How often `serve` looks for projects whose drift check is due (`LANDFALL_DRIFT_SECS`,
    /// an hour by default; `0`: never). Under Lambda the rendered drift schedule does it.
    pub drift_every: Option<std::time::Duration>,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            body_timeout: std::time::Duration::from_secs(10),
            max_connections: 256,
            body_budget_bytes: 64 * 1024 * 1024,
            sweep_every: Some(std::time::Duration::from_mins(1)),
            drift_every: Some(std::time::Duration::from_hours(1)),
        }
    }
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
        /// The service account of plan Jobs.
        service_account: String,
        /// The service account of apply Jobs (`LANDFALL_RUNNER_APPLY_SERVICE_ACCOUNT`; the plan
        /// Jobs' when unset): its own cloud role, with the write rights plans do not get.
        apply_service_account: String,
    },
    /// A local process.
    Local,
}

/// `serve`'s limits: whole positive numbers, a timeout of at most an hour, and a budget that can
/// hold at least one body of the largest size (by default it is raised to that size).
pub(super) fn serve_limits(
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
    let every = |var: &'static str, default: std::time::Duration| {
        Ok::<_, ConfigError>(match get(var).as_deref().map(str::trim) {
            Some("0") => None,
            _ => Some(
                number(var, 86_400, "a number of seconds")?
                    .map_or(default, std::time::Duration::from_secs),
            ),
        })
    };
    let sweep_every = every(env_vars::SWEEP_SECS, std::time::Duration::from_mins(1))?;
    let drift_every = every(env_vars::DRIFT_SECS, std::time::Duration::from_hours(1))?;
    Ok(ServeLimits {
        body_timeout,
        max_connections,
        body_budget_bytes,
        sweep_every,
        drift_every,
    })
}

pub(super) fn dispatch(
    get: &impl Fn(&str) -> Option<String>,
    under_lambda: bool,
) -> Result<DispatchConfig, ConfigError> {
    let kind = get(env_vars::DISPATCH)
        .unwrap_or_else(|| if under_lambda { "kubernetes" } else { "local" }.to_owned());
    let required =
        |var: &'static str, hint: &'static str| get(var).ok_or(ConfigError::Missing { var, hint });
    match kind.as_str() {
        "kubernetes" => {
            let namespace = required(
                env_vars::RUNNER_NAMESPACE,
                "Kubernetes dispatch needs the runners' namespace",
            )?;
            let image = required(
                env_vars::RUNNER_IMAGE,
                "Kubernetes dispatch needs the runner image",
            )?;
            let service_account = required(
                env_vars::RUNNER_SERVICE_ACCOUNT,
                "Kubernetes dispatch needs the runners' service account",
            )?;
            Ok(DispatchConfig::Kubernetes {
                namespace,
                image,
                apply_service_account: get(env_vars::RUNNER_APPLY_SERVICE_ACCOUNT)
                    .unwrap_or_else(|| service_account.clone()),
                service_account,
            })
        }
        "local" => Ok(DispatchConfig::Local),
        _ => Err(ConfigError::Invalid {
            var: env_vars::DISPATCH,
            value: kind,
            reason: "expected kubernetes or local".to_owned(),
        }),
    }
}

/// Refuses a store the runners cannot reach: the embedded store lives in this process's folder,
/// and a Kubernetes Job can neither open it nor report to it.
pub(super) fn check_store_reaches_runners(
    store: &StoreConfig,
    dispatch: &DispatchConfig,
) -> Result<(), ConfigError> {
    if matches!(store, StoreConfig::Embedded { .. })
        && matches!(dispatch, DispatchConfig::Kubernetes { .. })
    {
        return Err(ConfigError::Invalid {
            var: env_vars::STORE,
            value: "embedded".to_owned(),
            reason: "the embedded store lives in this process's folder, which Kubernetes Jobs \
                     cannot reach; with LANDFALL_DISPATCH=kubernetes set LANDFALL_STORE=dynamodb \
                     (and LANDFALL_TABLE, LANDFALL_BUCKET), or use LANDFALL_DISPATCH=local"
                .to_owned(),
        });
    }
    Ok(())
}
