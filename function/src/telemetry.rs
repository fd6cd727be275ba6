//! Logs: JSON lines on standard output (what Lambda ships to CloudWatch), one object per event,
//! carrying the current webhook span's fields (provider, delivery id, repo, PR). Secrets never
//! reach a log: they are [`secrecy::SecretString`]s, which do not print.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{env_vars, process};

/// Installs the JSON subscriber. The filter comes from `LANDFALL_LOG`, then `RUST_LOG`, then
/// `info`: a level (`debug`) or per-module levels (`info,landfall_function::vcs=debug`). A
/// filter that does not parse is reported in the log and `info` is used. Calling it twice is
/// harmless.
pub fn init() {
    let (filter, invalid) =
        filter(process::var(env_vars::LOG).or_else(|| process::var(env_vars::RUST_LOG)));
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false);
    if tracing_subscriber::registry()
        .with(format)
        .with(filter)
        .try_init()
        .is_ok()
        && let Some((text, error)) = invalid
    {
        tracing::warn!(filter = %text, %error, "the log filter is not valid; logging at info");
    }
}

/// The filter `text` asks for, or `info` and why `text` was refused.
fn filter(text: Option<String>) -> (Targets, Option<(String, String)>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match text.filter(|t| !t.trim().is_empty()) {
        None => (info(), None),
        Some(text) => match text.trim().parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(error) => (info(), Some((text, error.to_string()))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn a_level_and_per_module_levels_are_understood() {
        let (targets, invalid) = filter(Some("warn,landfall_function::vcs=debug".into()));
        assert!(invalid.is_none());
        assert!(targets.would_enable("landfall_function::vcs::github", &Level::DEBUG));
        assert!(!targets.would_enable("landfall_function::store", &Level::INFO));
        assert!(targets.would_enable("landfall_function::store", &Level::WARN));
    }

    #[test]
    fn nothing_set_or_a_bad_filter_logs_at_info() {
        let (targets, invalid) = filter(None);
        assert!(invalid.is_none());
        assert!(targets.would_enable("anything", &Level::INFO));
        assert!(!targets.would_enable("anything", &Level::DEBUG));
        let (targets, invalid) = filter(Some("verbose=please=now".into()));
        assert!(targets.would_enable("anything", &Level::INFO));
        assert!(!targets.would_enable("anything", &Level::DEBUG));
        assert_eq!(invalid.unwrap().0, "verbose=please=now");
    }
}
