//! The operator's server-wide switches, as Atlantis' server flags have them: autoplan off
//! (`LANDFALL_DISABLE_AUTOPLAN`, `--disable-autoplan`) and the commands a deployment runs
//! (`LANDFALL_ALLOW_COMMANDS`, `--allow-commands`).

use std::collections::BTreeSet;

use super::{ConfigError, env_vars, flag};
use crate::command::Action;

/// The command names `LANDFALL_ALLOW_COMMANDS` takes: Atlantis' (so an operator's value carries
/// over) and Landfall's `cancel`; Landfall runs `plan`, `apply`, `unlock`, `cancel` and `version`.
pub const COMMAND_NAMES: [&str; 8] = [
    "version",
    "plan",
    "apply",
    "unlock",
    "cancel",
    "approve_policies",
    "import",
    "state",
];

/// The comment commands this deployment runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedCommands {
    /// `None`: every command.
    only: Option<BTreeSet<String>>,
}

impl AllowedCommands {
    /// Parses `all` or a comma-separated list of [`COMMAND_NAMES`].
    ///
    /// # Errors
    ///
    /// A name that is not a command, or an empty list.
    pub fn parse(value: &str) -> Result<Self, String> {
        let names: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if names.contains(&"all") {
            return Ok(Self::default());
        }
        if names.is_empty() {
            return Err("expected `all` or a list of commands".to_owned());
        }
        let mut only = BTreeSet::new();
        for name in names {
            if !COMMAND_NAMES.contains(&name) {
                return Err(format!(
                    "`{name}` is not a command; the commands are all, {}",
                    COMMAND_NAMES.join(", ")
                ));
            }
            only.insert(name.to_owned());
        }
        Ok(Self { only: Some(only) })
    }

    /// Whether `action` may run. `help` always may: it only explains.
    #[must_use]
    pub fn allows(&self, action: Action) -> bool {
        action == Action::Help
            || self
                .only
                .as_ref()
                .is_none_or(|only| only.contains(action.as_str()))
    }

    /// The list as configured, for replies (`all` when every command runs).
    #[must_use]
    pub fn describe(&self) -> String {
        self.only.as_ref().map_or_else(
            || "all".to_owned(),
            |only| only.iter().cloned().collect::<Vec<_>>().join(","),
        )
    }
}

/// The operator's server-wide switches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorSwitches {
    /// No plan on PR events anywhere (`LANDFALL_DISABLE_AUTOPLAN`).
    pub disable_autoplan: bool,
    /// The commands that run (`LANDFALL_ALLOW_COMMANDS`).
    pub allow_commands: AllowedCommands,
}

/// Reads both switches.
pub(super) fn switches(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<OperatorSwitches, ConfigError> {
    let disable_autoplan = flag(get, env_vars::DISABLE_AUTOPLAN)?;
    let allow_commands = match get(env_vars::ALLOW_COMMANDS) {
        None => AllowedCommands::default(),
        Some(value) => AllowedCommands::parse(&value).map_err(|reason| ConfigError::Invalid {
            var: env_vars::ALLOW_COMMANDS,
            value,
            reason,
        })?,
    };
    Ok(OperatorSwitches {
        disable_autoplan,
        allow_commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_takes_atlantis_names_and_refuses_others() {
        let only = AllowedCommands::parse("plan, unlock").unwrap();
        assert!(only.allows(Action::Plan) && only.allows(Action::Unlock));
        assert!(!only.allows(Action::Apply) && !only.allows(Action::Version));
        assert!(only.allows(Action::Help));
        assert_eq!(only.describe(), "plan,unlock");
        let all = AllowedCommands::parse("all").unwrap();
        assert!(all.allows(Action::Apply));
        assert!(AllowedCommands::parse("approve_policies,import,state").is_ok());
        let err = AllowedCommands::parse("plan,destroy").unwrap_err();
        assert!(err.contains("`destroy` is not a command"), "{err}");
        assert!(AllowedCommands::parse(" , ").is_err());
    }
}
