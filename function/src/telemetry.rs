//! Logs: JSON lines on standard output (what Lambda ships to CloudWatch), one object per event,
//! carrying the current webhook span's fields (provider, delivery id, repo, PR). Secrets never
//! reach a log: they are [`secrecy::SecretString`]s, which do not print.

use tracing_subscriber::EnvFilter;

use crate::config::env_vars;

/// Installs the JSON subscriber. The filter comes from `LANDFALL_LOG`, then `RUST_LOG`, then
/// `info`. Calling it twice is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_env(env_vars::LOG)
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
}
