//! Comment commands: `landfall plan|apply|unlock|help|version` (and `atlantis ...` as an alias, so
//! teams migrate without retraining). Parsing is pure and never fails: a comment either is not
//! addressed to us (`None`), is a valid [`Command`], or is an [`InvalidCommand`] that carries the
//! reply to post. Extra arguments for Terraform are kept as argv, never joined for a shell, and
//! arguments that would make Terraform leave the project directory are refused.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The word that addresses the bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `landfall ...`
    Landfall,
    /// `atlantis ...`, accepted for migration.
    Atlantis,
}

impl Tool {
    /// The word as typed in comments.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Landfall => "landfall",
            Tool::Atlantis => "atlantis",
        }
    }
}

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run `terraform plan` for the selected projects.
    Plan,
    /// Apply the stored plans of the selected projects.
    Apply,
    /// Release the pull request's locks and discard its plans.
    Unlock,
    /// Reply with usage.
    Help,
    /// Reply with the function's version.
    Version,
}

impl Action {
    /// The command word.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Plan => "plan",
            Action::Apply => "apply",
            Action::Unlock => "unlock",
            Action::Help => "help",
            Action::Version => "version",
        }
    }
}

/// A valid command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// How it was addressed.
    pub tool: Tool,
    /// What it asks for.
    pub action: Action,
    /// `-p/--project`: a project name from the repo config.
    pub project: Option<String>,
    /// `-d/--dir`: a directory relative to the repository root, normalised (no `./`, no trailing `/`).
    pub dir: Option<String>,
    /// `-w/--workspace`: a Terraform workspace.
    pub workspace: Option<String>,
    /// `--verbose`: include the full output in the reply.
    pub verbose: bool,
    /// Everything after `--`, passed to Terraform as separate argv entries.
    pub extra_args: Vec<String>,
}

impl Command {
    fn new(tool: Tool, action: Action) -> Self {
        Command {
            tool,
            action,
            project: None,
            dir: None,
            workspace: None,
            verbose: false,
            extra_args: Vec::new(),
        }
    }

    /// The reply text for commands answered directly (`help`, `version`), `None` for the others.
    #[must_use]
    pub fn reply(&self) -> Option<String> {
        match self.action {
            Action::Help => Some(usage(self.tool)),
            Action::Version => Some(format!("landfall {}", env!("CARGO_PKG_VERSION"))),
            Action::Plan | Action::Apply | Action::Unlock => None,
        }
    }
}

/// A comment addressed to us that we cannot run, with the reply that says why and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCommand {
    /// How it was addressed.
    pub tool: Tool,
    /// What is wrong, in one line.
    pub error: String,
}

impl InvalidCommand {
    /// The reply to post: the error followed by usage.
    #[must_use]
    pub fn reply(&self) -> String {
        format!("**Error:** {}\n\n{}", self.error, usage(self.tool))
    }
}

/// A comment addressed to us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedComment {
    /// A command to run or answer.
    Command(Command),
    /// A command we cannot run; reply with its text.
    Invalid(InvalidCommand),
}

impl ParsedComment {
    /// The text to reply with directly, if any.
    #[must_use]
    pub fn reply(&self) -> Option<String> {
        match self {
            ParsedComment::Command(c) => c.reply(),
            ParsedComment::Invalid(i) => Some(i.reply()),
        }
    }
}

impl Serialize for ParsedComment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(9))?;
        match self {
            ParsedComment::Command(c) => {
                map.serialize_entry("tool", c.tool.as_str())?;
                map.serialize_entry("name", c.action.as_str())?;
                map.serialize_entry("project", &c.project)?;
                map.serialize_entry("dir", &c.dir)?;
                map.serialize_entry("workspace", &c.workspace)?;
                map.serialize_entry("verbose", &c.verbose)?;
                map.serialize_entry("extra_args", &c.extra_args)?;
                map.serialize_entry("error", &None::<String>)?;
                map.serialize_entry("reply", &c.reply())?;
            }
            ParsedComment::Invalid(i) => {
                map.serialize_entry("tool", i.tool.as_str())?;
                map.serialize_entry("name", &None::<String>)?;
                map.serialize_entry("project", &None::<String>)?;
                map.serialize_entry("dir", &None::<String>)?;
                map.serialize_entry("workspace", &None::<String>)?;
                map.serialize_entry("verbose", &false)?;
                map.serialize_entry("extra_args", &Vec::<String>::new())?;
                map.serialize_entry("error", &i.error)?;
                map.serialize_entry("reply", &i.reply())?;
            }
        }
        map.end()
    }
}

/// Parses a comment. Only the first line counts, and it must start (after whitespace) with
/// `landfall` or `atlantis`; otherwise the comment is not for us and this returns `None`.
#[must_use]
pub fn parse_comment(body: &str) -> Option<ParsedComment> {
    let line = body.trim_start().lines().next()?.trim_end();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let tool = if word.eq_ignore_ascii_case("landfall") {
        Tool::Landfall
    } else if word.eq_ignore_ascii_case("atlantis") {
        Tool::Atlantis
    } else {
        return None;
    };
    Some(match parse_words(tool, rest) {
        Ok(command) => ParsedComment::Command(command),
        Err(error) => ParsedComment::Invalid(InvalidCommand {
            tool,
            error: error.to_string(),
        }),
    })
}

/// Why a comment addressed to us is not a valid command.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum CommandError {
    /// The quoting does not follow shell words.
    #[error("the command has an unterminated quote or escape")]
    Quoting,
    /// The command word is not one we know.
    #[error("unknown command {0:?}: use plan, apply, unlock, help or version")]
    UnknownCommand(String),
    /// A flag we do not know.
    #[error("unknown flag {flag:?} for {action}")]
    UnknownFlag { action: &'static str, flag: String },
    /// A flag given twice.
    #[error("flag {0} is given more than once")]
    Repeated(&'static str),
    /// A flag that needs a value has none.
    #[error("flag {0} needs a value")]
    MissingValue(&'static str),
    /// A flag that takes no value was given one.
    #[error("flag --{0} takes no value")]
    UnexpectedValue(&'static str),
    /// A word that is not a flag.
    #[error(
        "unexpected argument {0:?} (flags are -p, -d, -w, --verbose; Terraform arguments go after --)"
    )]
    Positional(String),
    /// `-p` together with `-d` or `-w`.
    #[error("-p/--project cannot be combined with -d/--dir or -w/--workspace")]
    ProjectWithDir,
    /// A command that takes no flags or arguments got some.
    #[error("{0} takes no flags or arguments")]
    NoArgs(&'static str),
    /// `-d` that is absolute or leaves the repository.
    #[error("directory {0:?} must be a relative path inside the repository")]
    BadDir(String),
    /// `-w` that is not a plain name.
    #[error("workspace {0:?} must be a plain name (letters, digits, '-', '_', '.')")]
    BadWorkspace(String),
    /// `-p` that is empty or has control characters.
    #[error("project name {0:?} is not valid")]
    BadProject(String),
    /// An extra argument that would escape the project directory.
    #[error("Terraform argument {0:?} is not allowed: it would act outside the project directory")]
    EscapingArg(String),
}

fn parse_words(tool: Tool, rest: &str) -> Result<Command, CommandError> {
    let words = shell_words::split(rest).map_err(|_| CommandError::Quoting)?;
    let (flags, extra): (&[String], &[String]) = match words.iter().position(|w| w == "--") {
        Some(i) => (&words[..i], &words[i + 1..]),
        None => (&words, &[]),
    };
    let Some((name, flags)) = flags.split_first() else {
        return Ok(Command::new(tool, Action::Help));
    };
    let action = match name.as_str() {
        "plan" => Action::Plan,
        "apply" => Action::Apply,
        "unlock" => Action::Unlock,
        "help" | "-h" | "--help" => return Ok(Command::new(tool, Action::Help)),
        "version" => Action::Version,
        other => return Err(CommandError::UnknownCommand(other.to_owned())),
    };
    let mut command = Command::new(tool, action);
    if matches!(action, Action::Unlock | Action::Version) {
        return if flags.is_empty() && extra.is_empty() {
            Ok(command)
        } else if flags.iter().any(|f| f == "-h" || f == "--help") {
            Ok(Command::new(tool, Action::Help))
        } else {
            Err(CommandError::NoArgs(action.as_str()))
        };
    }
    if parse_flags(&mut command, flags)? {
        return Ok(Command::new(tool, Action::Help));
    }
    if command.project.is_some() && (command.dir.is_some() || command.workspace.is_some()) {
        return Err(CommandError::ProjectWithDir);
    }
    if let Some(project) = &command.project
        && (project.is_empty() || project.chars().any(char::is_control))
    {
        return Err(CommandError::BadProject(project.clone()));
    }
    if let Some(dir) = command.dir.take() {
        command.dir = Some(normalise_dir(&dir).ok_or(CommandError::BadDir(dir))?);
    }
    if let Some(ws) = &command.workspace
        && !is_plain_name(ws)
    {
        return Err(CommandError::BadWorkspace(ws.clone()));
    }
    check_extra_args(extra)?;
    command.extra_args = extra.to_vec();
    Ok(command)
}

/// Reads `-p`, `-d`, `-w` and `--verbose` into `command`. Returns `true` when help was asked for.
fn parse_flags(command: &mut Command, flags: &[String]) -> Result<bool, CommandError> {
    let mut i = 0;
    while i < flags.len() {
        let arg = flags[i].as_str();
        i += 1;
        let (key, inline): (&str, Option<&str>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (long, None),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            let first = chars.next().map_or(0, char::len_utf8);
            let (k, v) = short.split_at(first);
            (k, (!v.is_empty()).then(|| v.strip_prefix('=').unwrap_or(v)))
        } else {
            return Err(CommandError::Positional(arg.to_owned()));
        };
        let slot = match key {
            "p" | "project" => &mut command.project,
            "d" | "dir" => &mut command.dir,
            "w" | "workspace" => &mut command.workspace,
            "verbose" => {
                if inline.is_some() {
                    return Err(CommandError::UnexpectedValue("verbose"));
                }
                if command.verbose {
                    return Err(CommandError::Repeated("--verbose"));
                }
                command.verbose = true;
                continue;
            }
            "h" | "help" => return Ok(true),
            _ => {
                return Err(CommandError::UnknownFlag {
                    action: command.action.as_str(),
                    flag: arg.to_owned(),
                });
            }
        };
        let label = match key {
            "p" | "project" => "-p/--project",
            "d" | "dir" => "-d/--dir",
            _ => "-w/--workspace",
        };
        if slot.is_some() {
            return Err(CommandError::Repeated(label));
        }
        let value = if let Some(v) = inline {
            v.to_owned()
        } else {
            let v = flags.get(i).ok_or(CommandError::MissingValue(label))?;
            i += 1;
            v.clone()
        };
        *slot = Some(value);
    }
    Ok(false)
}

/// A relative directory inside the repository, normalised; `None` if it is absolute or climbs out.
fn normalise_dir(dir: &str) -> Option<String> {
    if dir.is_empty()
        || dir.starts_with(['/', '\\'])
        || dir.contains(':')
        || dir.chars().any(char::is_control)
    {
        return None;
    }
    let mut parts = Vec::new();
    for part in dir.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Terraform flags whose value is a path; absolute paths and `..` are refused for them.
const PATH_FLAGS: [&str; 6] = [
    "state",
    "state-out",
    "backup",
    "var-file",
    "plugin-dir",
    "config",
];
/// Terraform flags the runner owns: `-chdir` moves Terraform elsewhere, `-out` picks the planfile.
const FORBIDDEN_FLAGS: [&str; 2] = ["chdir", "out"];

/// A Terraform flag's name and its `=value`, for `-name[=value]` or `--name[=value]`; `None`
/// for an argument that is not a flag.
pub(crate) fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    let flag = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    Some(match flag.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (flag, None),
    })
}

fn check_extra_args(args: &[String]) -> Result<(), CommandError> {
    let mut expect_path = false;
    for arg in args {
        if expect_path {
            expect_path = false;
            if normalise_dir(arg).is_none() {
                return Err(CommandError::EscapingArg(arg.clone()));
            }
            continue;
        }
        let Some((name, value)) = split_flag(arg) else {
            continue;
        };
        if FORBIDDEN_FLAGS.contains(&name) {
            return Err(CommandError::EscapingArg(arg.clone()));
        }
        if PATH_FLAGS.contains(&name) {
            match value {
                Some(v) if normalise_dir(v).is_none() => {
                    return Err(CommandError::EscapingArg(arg.clone()));
                }
                Some(_) => {}
                None => expect_path = true,
            }
        }
    }
    if expect_path {
        // A path flag at the very end has no value; Terraform would fail, so say so now.
        return Err(CommandError::EscapingArg(
            args.last().cloned().unwrap_or_default(),
        ));
    }
    Ok(())
}

/// The usage text replied to `help` and to invalid commands.
#[must_use]
pub fn usage(tool: Tool) -> String {
    let t = tool.as_str();
    format!(
        "Usage: `{t} <command> [flags] [-- terraform arguments]`\n\n\
         Commands:\n\
         - `{t} plan`: plan the projects this pull request changes\n\
         - `{t} apply`: apply the plans made at the current head commit\n\
         - `{t} unlock`: release this pull request's locks and discard its plans\n\
         - `{t} help`: show this text\n\
         - `{t} version`: show the Landfall version\n\n\
         Flags for plan and apply:\n\
         - `-p, --project NAME`: only this project\n\
         - `-d, --dir DIR`: only the project in this directory\n\
         - `-w, --workspace NAME`: only this Terraform workspace\n\
         - `--verbose`: include the full output\n\n\
         Arguments after `--` go to Terraform as they are, e.g. `{t} plan -d infra -- -var-file=prod.tfvars`; \
         `-chdir`, `-out` and paths outside the project are refused."
    )
}

impl fmt::Display for Command {
    /// The canonical spelling, e.g. `landfall plan -d infra -- -var x=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tool.as_str(), self.action.as_str())?;
        for (flag, long, value) in [
            ("-p", "--project", &self.project),
            ("-d", "--dir", &self.dir),
            ("-w", "--workspace", &self.workspace),
        ] {
            match value {
                // A value that looks like a flag (`--`) is only unambiguous joined to its flag.
                Some(v) if v.starts_with('-') => {
                    write!(f, " {long}={}", shell_words::quote(v))?;
                }
                Some(v) => write!(f, " {flag} {}", shell_words::quote(v))?,
                None => {}
            }
        }
        if self.verbose {
            f.write_str(" --verbose")?;
        }
        if !self.extra_args.is_empty() {
            write!(f, " -- {}", shell_words::join(&self.extra_args))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Command {
        match parse_comment(text) {
            Some(ParsedComment::Command(c)) => c,
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }

    fn error(text: &str) -> String {
        match parse_comment(text) {
            Some(ParsedComment::Invalid(i)) => i.error,
            other => panic!("{text:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn a_value_that_looks_like_a_flag_survives_the_canonical_spelling() {
        let Some(ParsedComment::Command(first)) = parse_comment("landfall plan --workspace=--")
        else {
            panic!("parses");
        };
        assert_eq!(first.to_string(), "landfall plan --workspace=--");
        let Some(ParsedComment::Command(second)) = parse_comment(&first.to_string()) else {
            panic!("the canonical spelling parses");
        };
        assert_eq!(second, first);
    }

    #[test]
    fn a_comment_that_does_not_start_with_the_tool_is_not_a_command() {
        assert_eq!(parse_comment("This MR needs work."), None);
        assert_eq!(parse_comment("please run landfall plan"), None);
        assert_eq!(parse_comment("atlantis-bot plan"), None);
        assert_eq!(parse_comment(""), None);
        assert_eq!(parse_comment("   \n  "), None);
    }

    #[test]
    fn leading_whitespace_and_later_lines_are_allowed() {
        let c = command("  \n\tlandfall plan -d infra\r\nthanks!\natlantis apply");
        assert_eq!(c.action, Action::Plan);
        assert_eq!(c.dir.as_deref(), Some("infra"));
    }

    #[test]
    fn atlantis_is_an_alias_for_landfall() {
        let c = command("atlantis apply -p staging");
        assert_eq!(
            (c.tool, c.action, c.project.as_deref()),
            (Tool::Atlantis, Action::Apply, Some("staging"))
        );
    }

    #[test]
    fn every_flag_spelling_is_understood() {
        for text in [
            "landfall plan -d a/b -w prod --verbose",
            "landfall plan --dir a/b --workspace prod --verbose",
            "landfall plan --dir=a/b --workspace=prod --verbose",
            "landfall plan -da/b -wprod --verbose",
            "landfall plan -d=./a/b/ -w=prod --verbose",
        ] {
            let c = command(text);
            assert_eq!(c.dir.as_deref(), Some("a/b"), "{text}");
            assert_eq!(c.workspace.as_deref(), Some("prod"), "{text}");
            assert!(c.verbose, "{text}");
        }
    }

    #[test]
    fn quoting_follows_shell_words() {
        let c = command(r#"landfall plan -p "my project" -- -var 'name=a b' -var=x=\"y\""#);
        assert_eq!(c.project.as_deref(), Some("my project"));
        assert_eq!(c.extra_args, ["-var", "name=a b", "-var=x=\"y\""]);
    }

    #[test]
    fn bare_tool_name_and_help_flags_ask_for_help() {
        for text in [
            "landfall",
            "atlantis help",
            "landfall --help",
            "landfall plan -h",
            "landfall unlock --help",
        ] {
            assert_eq!(command(text).action, Action::Help, "{text}");
        }
        assert!(
            command("landfall help")
                .reply()
                .unwrap()
                .contains("landfall plan")
        );
    }

    #[test]
    fn version_replies_with_the_crate_version() {
        assert!(
            command("landfall version")
                .reply()
                .unwrap()
                .contains(env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn unknown_commands_and_flags_get_a_helpful_reply() {
        assert!(error("landfall destroy").contains("unknown command \"destroy\""));
        assert!(error("landfall plan --force").contains("unknown flag \"--force\""));
        assert!(error("landfall plan infra").contains("unexpected argument"));
        let Some(ParsedComment::Invalid(invalid)) = parse_comment("atlantis destroy") else {
            panic!()
        };
        assert!(invalid.reply().contains("atlantis plan"));
    }

    #[test]
    fn malformed_flags_are_refused() {
        assert!(error("landfall plan -d").contains("needs a value"));
        assert!(error("landfall plan -d a -d b").contains("more than once"));
        assert!(error("landfall plan --verbose=yes").contains("takes no value"));
        assert!(error("landfall plan -p x -d y").contains("cannot be combined"));
        assert!(error("landfall unlock -p x").contains("takes no flags"));
        assert!(error("landfall plan -d 'unterminated").contains("quote"));
        assert!(error("landfall plan -w ../x").contains("workspace"));
    }

    #[test]
    fn directories_outside_the_repository_are_refused() {
        for dir in ["/etc", "../other", "a/../../b", "C:\\x", "\\\\server"] {
            assert!(
                error(&format!("landfall plan -d '{dir}'")).contains("relative path"),
                "{dir}"
            );
        }
        assert_eq!(command("landfall plan -d .").dir.as_deref(), Some("."));
    }

    #[test]
    fn extra_args_that_escape_the_project_are_refused() {
        for arg in [
            "-chdir=/tmp",
            "--chdir=x",
            "-out=plan",
            "-state=/var/state",
            "-state-out=../s",
            "-backup ../b",
            "-var-file=/etc/passwd",
            "-state",
        ] {
            assert!(
                error(&format!("landfall plan -- {arg}")).contains("not allowed"),
                "{arg}"
            );
        }
        let c = command(
            "landfall apply -- -var-file=env/prod.tfvars -lock-timeout=5m -target=aws_s3_bucket.x",
        );
        assert_eq!(c.extra_args.len(), 3);
    }

    #[test]
    fn display_spells_the_command_canonically() {
        let c = command("atlantis plan --dir=./a -w prod -- -var 'x=a b'");
        assert_eq!(c.to_string(), "atlantis plan -d a -w prod -- -var 'x=a b'");
    }
}
