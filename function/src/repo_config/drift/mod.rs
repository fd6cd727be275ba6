//! Scheduled drift detection's settings (issue 18): the repo file's `drift` key, on a project or
//! at the top level as the default of every project of the file, merged over the policy's
//! top-level `drift` section into each project's [`DriftSettings`].
//!
//! ```yaml
//! projects:
//! - dir: network
//!   drift:
//!     enabled: true            # default true when the key is present
//!     schedule: rate(6 hours)  # or cron(0 6 * * ? *); default: the policy's
//!     mode: report             # or remediate, with the policy's leave
//! - dir: dns
//!   drift: true                # the shorthand: enabled with the defaults
//! ```

mod policy;
mod schedule;

pub(super) use policy::read_drift_policy;
pub use policy::{DriftPolicy, DriftProjects};
pub use schedule::{DriftSchedule, RateUnit};

use super::read::{Reader, Setting};
use super::yaml::{Entry, Value};

/// What a drift check does with the drift it finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftMode {
    /// Reports it.
    #[default]
    Report,
    /// Applies the default branch's configuration to undo it.
    Remediate,
}

impl DriftMode {
    /// As written in YAML.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMode::Report => "report",
            DriftMode::Remediate => "remediate",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "report" => Some(DriftMode::Report),
            "remediate" => Some(DriftMode::Remediate),
            _ => None,
        }
    }
}

/// How and when one project is checked for drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftSettings {
    /// When it is due.
    pub schedule: DriftSchedule,
    /// What is done with drift.
    pub mode: DriftMode,
}

/// A repo file's `drift` key as written, on a project or at the top level; each unset key falls
/// back to the top level's, then to the policy's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftKey {
    /// The key's line.
    pub line: usize,
    /// `enabled`: true unless it says false (`drift: true|false` sets only this).
    pub enabled: bool,
    /// `schedule`.
    pub schedule: Option<DriftSchedule>,
    /// `mode`, with its line (the policy may refuse `remediate`).
    pub mode: Option<Setting<DriftMode>>,
}

const DRIFT_KEYS: [&str; 3] = ["enabled", "schedule", "mode"];

/// Reads `drift: true|false` or `drift: {enabled, schedule, mode}`.
pub(super) fn read_drift_key(r: &mut Reader, e: &Entry) -> Option<DriftKey> {
    let mut key = DriftKey {
        line: e.line,
        enabled: true,
        schedule: None,
        mode: None,
    };
    let entries = match &e.value.value {
        Value::Map(entries) => entries,
        Value::Scalar { text, plain: true } if text == "true" || text == "false" => {
            key.enabled = text == "true";
            return Some(key);
        }
        _ => {
            r.error(e.line, "`drift` must be true, false or a mapping")
                .help = Some(
                "write `drift: true`, or `drift:` with `enabled`, `schedule` and `mode` under it"
                    .to_owned(),
            );
            return None;
        }
    };
    let errors_before = r.diagnostics.len();
    for d in entries {
        match d.key.as_str() {
            "enabled" => key.enabled = r.bool(&d.value, "`drift.enabled`").unwrap_or(true),
            "schedule" => key.schedule = read_schedule(r, d, "`drift.schedule`"),
            "mode" => {
                key.mode = read_mode(r, d, "`drift.mode`").map(|value| Setting {
                    value,
                    line: d.line,
                });
            }
            _ => r.unknown_key(d, "`drift`", &DRIFT_KEYS),
        }
    }
    (r.diagnostics.len() == errors_before).then_some(key)
}

pub(super) fn read_schedule(r: &mut Reader, e: &Entry, what: &str) -> Option<DriftSchedule> {
    let text = r.non_empty(&e.value, what)?;
    DriftSchedule::parse(&text)
        .map_err(|why| {
            r.error(e.line, format!("{what}: {why}")).help = Some(
                "EventBridge's syntax, in UTC: `rate(6 hours)`, `rate(1 day)` or `cron(0 6 * * ? *)`"
                    .to_owned(),
            );
        })
        .ok()
}

pub(super) fn read_mode(r: &mut Reader, e: &Entry, what: &str) -> Option<DriftMode> {
    let text = r.string(&e.value, what)?;
    let mode = DriftMode::parse(&text);
    if mode.is_none() {
        r.error(e.line, format!("{what}: `{text}` is not a drift mode"))
            .help = Some("the modes are report and remediate".to_owned());
    }
    mode
}

impl DriftPolicy {
    /// The settings of a project whose own `drift` key is `own`, under the file's top-level
    /// `file`: `None` when drift is not checked for it (turned off, or `projects: configured`
    /// and no key says anything).
    #[must_use]
    pub fn settings_for(
        &self,
        file: Option<&DriftKey>,
        own: Option<&DriftKey>,
    ) -> Option<DriftSettings> {
        let keys = || own.into_iter().chain(file);
        // The nearest key decides; a key is on unless it says `enabled: false`.
        let enabled = own
            .or(file)
            .map_or(self.projects == DriftProjects::All, |k| k.enabled);
        enabled.then(|| DriftSettings {
            schedule: keys()
                .find_map(|k| k.schedule.clone())
                .unwrap_or_else(|| self.schedule.clone()),
            mode: keys()
                .find_map(|k| k.mode.as_ref().map(|m| m.value))
                .unwrap_or(self.mode),
        })
    }
}

#[cfg(all(test, feature = "function"))]
mod tests;
