//! From the words after the tool's name to a [`Command`]: flags, their values, and the Terraform
//! arguments after `--`, refused when they would act outside the project directory (paths are
//! checked with [`normalize_dir`], the one normaliser).

use super::{Action, Command, Tool};
use crate::dir::normalize_dir;

/// Why a comment addressed to us is not a valid command.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum CommandError {
    /// The quoting does not follow shell words.
    #[error("the command has an unterminated quote or escape")]
    Quoting,
    /// The command word is not one we know.
    #[error(
        "unknown command {}: use plan, apply, import, state rm, unlock, cancel, approve_policies, help or version",
        code(.0)
    )]
    UnknownCommand(String),
    /// `state` without `rm`.
    #[error("unknown state command {}: Landfall runs `state rm ADDRESS...`", code(.0))]
    UnknownStateCommand(String),
    /// `import` without exactly an address and an ID, `state rm` without an address.
    #[error("{0}")]
    Operands(&'static str),
    /// An address or ID that is empty, too long or has control characters.
    #[error("{} is not a valid address or ID", code(.0))]
    BadOperand(String),
    /// A flag we do not know.
    #[error("unknown flag {} for {action}", code(.flag))]
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
        "unexpected argument {} (flags are -p, -d, -w, --verbose; Terraform arguments go after --)",
        code(.0)
    )]
    Positional(String),
    /// `-p` together with `-d` or `-w`.
    #[error("-p/--project cannot be combined with -d/--dir or -w/--workspace")]
    ProjectWithDir,
    /// A command that takes flags but no Terraform arguments got some.
    #[error("{0} takes -p, -d and -w, but no Terraform arguments")]
    NoTerraformArgs(&'static str),
    /// A command that takes no flags or arguments got some.
    #[error("{0} takes no flags or arguments")]
    NoArgs(&'static str),
    /// `-d` that is absolute or leaves the repository.
    #[error("directory {} must be a relative path inside the repository", code(.0))]
    BadDir(String),
    /// `-w` that is not a plain name.
    #[error("workspace {} must be a plain name (letters, digits, '-', '_', '.')", code(.0))]
    BadWorkspace(String),
    /// `-p` that is empty or has control characters.
    #[error("project name {} is not valid", code(.0))]
    BadProject(String),
    /// An extra argument that would escape the project directory.
    #[error("Terraform argument {} is not allowed: it would act outside the project directory", code(.0))]
    EscapingArg(String),
}

/// A word of the comment as the reply quotes it: escaped, in a code span nothing in it can
/// close (the reply is posted as the bot, and the word is whatever the commenter typed).
fn code(word: &str) -> String {
    crate::markdown::inline_code(&format!("{word:?}"))
}

/// Where `rm` stands in the words after `state`, after flags only (`-d DIR rm ADDRESS`);
/// `None` for a help flag; the word that is not `rm` otherwise.
fn state_subcommand(words: &[String]) -> Result<Option<usize>, String> {
    let takes_value = |w: &str| {
        matches!(
            w,
            "-d" | "--dir" | "-w" | "--workspace" | "-p" | "--project"
        )
    };
    let mut i = 0;
    while let Some(word) = words.get(i) {
        match word.as_str() {
            "rm" => return Ok(Some(i)),
            "-h" | "--help" => return Ok(None),
            w if takes_value(w) => i += 2,
            w if w.starts_with('-') => i += 1,
            other => return Err(other.to_owned()),
        }
    }
    Err(String::new())
}

/// Whether `word` is one of the commands that make a comment starting with Atlantis' third name,
/// `run`, ours: a command that acts, spelled exactly. Not `help` or `version`, nor anything
/// shell words would read differently ("run #123 failed"), so that a colleague's "run version 2"
/// gets no reply.
pub(super) fn names_a_command(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "plan" | "apply" | "unlock" | "cancel" | "approve_policies" | "import" | "state"
    )
}

pub(super) fn parse_words(tool: Tool, rest: &str) -> Result<Command, CommandError> {
    let words = shell_words::split(rest).map_err(|_| CommandError::Quoting)?;
    let (flags, extra): (&[String], &[String]) = match words.iter().position(|w| w == "--") {
        Some(i) => (&words[..i], &words[i + 1..]),
        None => (&words, &[]),
    };
    let without_rm: Vec<String>;
    let Some((name, mut flags)) = flags.split_first() else {
        return Ok(Command::new(tool, Action::Help));
    };
    // The command's name in any case, as Atlantis reads it (`atlantis Plan`).
    let action = match name.to_ascii_lowercase().as_str() {
        "plan" => Action::Plan,
        "apply" => Action::Apply,
        "unlock" => Action::Unlock,
        "cancel" => Action::Cancel,
        "approve_policies" => Action::ApprovePolicies,
        "import" => Action::Import,
        "state" => match state_subcommand(flags) {
            Ok(Some(at)) => {
                // Flags may stand before `rm` too, as Atlantis' docs write them.
                without_rm = [&flags[..at], &flags[at + 1..]].concat();
                flags = &without_rm;
                Action::StateRm
            }
            Ok(None) => return Ok(Command::new(tool, Action::Help)),
            Err(sub) => return Err(CommandError::UnknownStateCommand(sub)),
        },
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
    // Neither runs Terraform: arguments for it, or a log to link, would be dropped without a word.
    if matches!(action, Action::Cancel | Action::ApprovePolicies) {
        if !extra.is_empty() {
            return Err(CommandError::NoTerraformArgs(action.as_str()));
        }
        if command.verbose {
            return Err(CommandError::UnknownFlag {
                action: action.as_str(),
                flag: "--verbose".to_owned(),
            });
        }
    }
    check_operands(&command)?;
    if command.project.is_some() && (command.dir.is_some() || command.workspace.is_some()) {
        return Err(CommandError::ProjectWithDir);
    }
    if let Some(project) = &command.project
        && (project.is_empty() || project.chars().any(char::is_control))
    {
        return Err(CommandError::BadProject(project.clone()));
    }
    if let Some(dir) = command.dir.take() {
        command.dir = Some(normalize_dir(&dir).ok_or(CommandError::BadDir(dir))?);
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
        } else if matches!(command.action, Action::Import | Action::StateRm) {
            command.operands.push(arg.to_owned());
            continue;
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

/// The longest address or ID taken (AWS ARNs run to about 2 KB).
const MAX_OPERAND: usize = 2048;

/// `import` takes an address and an ID, `state rm` one or more addresses, the others none.
fn check_operands(command: &Command) -> Result<(), CommandError> {
    let count = command.operands.len();
    match command.action {
        Action::Import if count != 2 => {
            return Err(CommandError::Operands(
                "import takes an address and an ID: `import ADDRESS ID`",
            ));
        }
        Action::StateRm if count == 0 => {
            return Err(CommandError::Operands(
                "state rm takes one or more addresses: `state rm ADDRESS...`",
            ));
        }
        _ => {}
    }
    match command
        .operands
        .iter()
        .find(|o| o.is_empty() || o.len() > MAX_OPERAND || o.chars().any(char::is_control))
    {
        Some(bad) => Err(CommandError::BadOperand(bad.chars().take(80).collect())),
        None => Ok(()),
    }
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
            if normalize_dir(arg).is_none() {
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
                Some(v) if normalize_dir(v).is_none() => {
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
