//! The operator's server-wide switches, as Atlantis' server flags have them: autoplan off
//! (`LANDFALL_DISABLE_AUTOPLAN`, `--disable-autoplan`) and the commands a deployment runs
//! (`LANDFALL_ALLOW_COMMANDS`, `--allow-commands`), the login comments may address
//! (`LANDFALL_BOT_USER`, `--gh-user`), and the name statuses start with
//! (`LANDFALL_VCS_STATUS_NAME`, `--vcs-status-name`).

use std::collections::BTreeSet;

use super::{ConfigError, env_vars, flag};
use crate::command::Action;

/// The command names `LANDFALL_ALLOW_COMMANDS` takes: Atlantis' (so an operator's value carries
/// over) and Landfall's `cancel`; the defaults first.
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

/// The commands that run when `LANDFALL_ALLOW_COMMANDS` is unset: all but `import` and
/// `state`, which edit the state outside a reviewed plan (Atlantis' default leaves them out
/// too); an operator turns them on by naming them, or with `all`.
pub const DEFAULT_COMMANDS: &[&str] = COMMAND_NAMES.split_at(6).0;

/// The comment commands this deployment runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedCommands {
    names: BTreeSet<String>,
}

impl Default for AllowedCommands {
    fn default() -> Self {
        Self::of(DEFAULT_COMMANDS)
    }
}

impl AllowedCommands {
    fn of(names: &[&str]) -> Self {
        Self {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

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
            return Ok(Self::of(&COMMAND_NAMES));
        }
        if names.is_empty() {
            return Err("expected `all` or a list of commands".to_owned());
        }
        if let Some(name) = names.iter().find(|name| !COMMAND_NAMES.contains(name)) {
            return Err(format!(
                "`{name}` is not a command; the commands are all, {}",
                COMMAND_NAMES.join(", ")
            ));
        }
        Ok(Self::of(&names))
    }

    /// Whether `action` may run. `help` always may: it only explains.
    #[must_use]
    pub fn allows(&self, action: Action) -> bool {
        action == Action::Help || self.names.contains(action.allow_name())
    }

    /// The list as configured, for replies (`all` when every command runs).
    #[must_use]
    pub fn describe(&self) -> String {
        if self.names.len() == COMMAND_NAMES.len() {
            return "all".to_owned();
        }
        self.names.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The operator's server-wide switches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorSwitches {
    /// No plan on PR events anywhere (`LANDFALL_DISABLE_AUTOPLAN`).
    pub disable_autoplan: bool,
    /// The commands that run (`LANDFALL_ALLOW_COMMANDS`).
    pub allow_commands: AllowedCommands,
    /// The login an @-mention addresses the bot by (`LANDFALL_BOT_USER`), without the `@`.
    pub bot_user: Option<String>,
    /// Draft pull requests are planned by their events too (`LANDFALL_ALLOW_DRAFT_PRS`).
    pub allow_draft_prs: bool,
    /// The name statuses start with (`LANDFALL_VCS_STATUS_NAME`), when not `landfall`.
    pub vcs_status_name: Option<String>,
}

impl OperatorSwitches {
    /// The name statuses start with: `LANDFALL_VCS_STATUS_NAME`, else `landfall`.
    #[must_use]
    pub fn status_name(&self) -> &str {
        self.vcs_status_name
            .as_deref()
            .unwrap_or(crate::vcs::DEFAULT_STATUS_NAME)
    }

    /// Whether an @-mention of `login` addresses this deployment: only when it is
    /// `LANDFALL_BOT_USER` (logins compare without case, as the hosts compare them).
    #[must_use]
    pub fn mentions_the_bot(&self, login: &str) -> bool {
        is_the_bot(self.bot_user.as_deref(), login)
    }
}

/// Whether `login` is `bot` (`LANDFALL_BOT_USER`; unset, no login is), without case.
#[must_use]
pub fn is_the_bot(bot: Option<&str>, login: &str) -> bool {
    bot.is_some_and(|bot| bot.eq_ignore_ascii_case(login))
}

/// `LANDFALL_BOT_USER`'s value: one login, a leading `@` allowed.
pub fn bot_user(value: &str) -> Result<String, String> {
    let login = value.trim().trim_start_matches('@');
    if login.is_empty() || login.len() > 255 || login.contains(char::is_whitespace) {
        return Err("must be one login, such as `landfall-bot`, without spaces".to_owned());
    }
    Ok(login.to_owned())
}

/// `LANDFALL_VCS_STATUS_NAME`'s value: a name such as `landfall` or `atlantis` that statuses
/// start with (`<name>/plan`), so no `/`, `:` or space.
pub fn vcs_status_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 50 || !name.chars().all(valid) {
        return Err(
            "must be a name of letters, digits, `-`, `_` or `.` (at most 50), such as `atlantis`"
                .to_owned(),
        );
    }
    Ok(name.to_owned())
}

/// The variable `var` read by `parse`, when set.
fn parsed<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    get(var)
        .map(|value| parse(&value).map_err(|reason| ConfigError::Invalid { var, value, reason }))
        .transpose()
}

/// Reads the switches.
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
    let bot_user = parsed(get, env_vars::BOT_USER, bot_user)?;
    let vcs_status_name = parsed(get, env_vars::VCS_STATUS_NAME, vcs_status_name)?;
    Ok(OperatorSwitches {
        disable_autoplan,
        allow_commands,
        bot_user,
        allow_draft_prs: flag(get, env_vars::ALLOW_DRAFT_PRS)?,
        vcs_status_name,
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
        assert!(all.allows(Action::Apply) && all.allows(Action::StateRm));
        assert_eq!(all.describe(), "all");
        let default = AllowedCommands::default();
        assert!(default.allows(Action::Apply) && default.allows(Action::Cancel));
        assert!(!default.allows(Action::Import) && !default.allows(Action::StateRm));
        let state = AllowedCommands::parse("plan,state").unwrap();
        assert!(state.allows(Action::StateRm) && !state.allows(Action::Import));
        assert!(AllowedCommands::parse("approve_policies,import,state").is_ok());
        let err = AllowedCommands::parse("plan,destroy").unwrap_err();
        assert!(err.contains("`destroy` is not a command"), "{err}");
        assert!(AllowedCommands::parse(" , ").is_err());
    }

    #[test]
    fn the_bot_user_is_one_login_and_mentions_match_it_without_case() {
        let read = |value: &str| {
            switches(&|name: &str| (name == env_vars::BOT_USER).then(|| value.to_owned()))
        };
        let switches = read("@Landfall-Bot").unwrap();
        assert_eq!(switches.bot_user.as_deref(), Some("Landfall-Bot"));
        assert!(switches.mentions_the_bot("landfall-bot"));
        assert!(!switches.mentions_the_bot("landfall-bot2"));
        for bad in ["", "@", "landfall bot"] {
            let err = read(bad).unwrap_err().to_string();
            assert!(err.contains("LANDFALL_BOT_USER"), "{err}");
        }
        let unset = super::switches(&|_: &str| None).unwrap();
        assert!(!unset.mentions_the_bot("landfall-bot"));
    }
}
