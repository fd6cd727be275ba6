//! Comment commands: `landfall plan|apply|import|state rm|unlock|cancel|approve_policies|help|version`
//! (and `atlantis ...` as an alias, so
//! teams migrate without retraining). Parsing is pure and never fails: a comment either is not
//! addressed to us (`None`), is a valid [`Command`], or is an [`InvalidCommand`] that carries the
//! reply to post. Extra arguments for Terraform are kept as argv, never joined for a shell, and
//! arguments that would make Terraform leave the project directory are refused.
//!
//! This file holds what a comment means; [`parse`] reads it from the comment's words.

mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use self::parse::parse_words;
pub(crate) use self::parse::split_flag;

/// The word that addresses the bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `landfall ...`
    Landfall,
    /// `atlantis ...`, accepted for migration.
    Atlantis,
    /// `run ...`, Atlantis' other name (`run plan`), when a command follows it.
    Run,
    /// `@login ...`, an @-mention, when a command (or `help`, `version`) follows it: for this
    /// deployment only when the login is its `LANDFALL_BOT_USER` (see [`mentioned`]).
    Mention,
}

impl Tool {
    /// The word as typed in comments.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            // Replies to a mention spell commands with a word that always addresses the bot.
            Tool::Landfall | Tool::Mention => "landfall",
            Tool::Atlantis => "atlantis",
            Tool::Run => "run",
        }
    }

    /// How it was addressed, as `webhook inspect` shows it: `mention` for an @-mention.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Tool::Mention => "mention",
            other => other.as_str(),
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
    /// Stop the pull request's running plans and applies (the locks stay).
    Cancel,
    /// Approve the failing policy checks of the selected plans (a policy owner).
    ApprovePolicies,
    /// `import ADDRESS ID`: bring an existing object under the project's state.
    Import,
    /// `state rm ADDRESS...`: remove objects from the project's state (they stay in the cloud).
    StateRm,
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
            Action::Cancel => "cancel",
            Action::ApprovePolicies => "approve_policies",
            Action::Import => "import",
            Action::StateRm => "state rm",
            Action::Help => "help",
            Action::Version => "version",
        }
    }

    /// Its name in `LANDFALL_ALLOW_COMMANDS` (Atlantis' `--allow-commands`): `state` for
    /// `state rm`, the command word otherwise.
    #[must_use]
    pub fn allow_name(self) -> &'static str {
        match self {
            Action::StateRm => "state",
            other => other.as_str(),
        }
    }

    /// Whether it runs only on an open pull request: on a merged or closed one, `unlock` and
    /// `cancel` deal with what it holds (a merged PR's `apply` and `approve_policies` are apply
    /// on merge's: the orchestrator lets those through there).
    #[must_use]
    pub fn needs_an_open_pr(self) -> bool {
        !matches!(
            self,
            Action::Unlock | Action::Cancel | Action::Help | Action::Version
        )
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
    /// `-d/--dir`: a directory relative to the repository root, normalised by
    /// [`normalize_dir`](crate::dir::normalize_dir) (`a/./b/` and `a/x/../b` are `a/b`).
    pub dir: Option<String>,
    /// `-w/--workspace`: a Terraform workspace.
    pub workspace: Option<String>,
    /// `--verbose`: the reply links each project's full log, cut or not (plan, apply, import,
    /// state rm).
    pub verbose: bool,
    /// Everything after `--`, passed to Terraform as separate argv entries.
    pub extra_args: Vec<String>,
    /// `import`: the address and the ID; `state rm`: the addresses. Empty for the others.
    pub operands: Vec<String>,
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
            operands: Vec::new(),
        }
    }

    /// The reply text for commands answered directly (`help`, `version`), `None` for the others.
    #[must_use]
    pub fn reply(&self) -> Option<String> {
        match self.action {
            Action::Help => Some(usage(self.tool)),
            // Not `landfall <version>`: a reply must never read as a command when the host
            // sends it back.
            Action::Version => Some(format!("Running Landfall `{}`.", env!("CARGO_PKG_VERSION"))),
            Action::Plan
            | Action::Apply
            | Action::Unlock
            | Action::Cancel
            | Action::ApprovePolicies
            | Action::Import
            | Action::StateRm => None,
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
    /// How it was addressed.
    #[must_use]
    pub fn tool(&self) -> Tool {
        match self {
            ParsedComment::Command(c) => c.tool,
            ParsedComment::Invalid(i) => i.tool,
        }
    }

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
        let mut map = serializer.serialize_map(Some(10))?;
        match self {
            ParsedComment::Command(c) => {
                map.serialize_entry("tool", c.tool.kind())?;
                map.serialize_entry("name", c.action.as_str())?;
                map.serialize_entry("project", &c.project)?;
                map.serialize_entry("dir", &c.dir)?;
                map.serialize_entry("workspace", &c.workspace)?;
                map.serialize_entry("verbose", &c.verbose)?;
                map.serialize_entry("extra_args", &c.extra_args)?;
                map.serialize_entry("operands", &c.operands)?;
                map.serialize_entry("error", &None::<String>)?;
                map.serialize_entry("reply", &c.reply())?;
            }
            ParsedComment::Invalid(i) => {
                map.serialize_entry("tool", i.tool.kind())?;
                map.serialize_entry("name", &None::<String>)?;
                map.serialize_entry("project", &None::<String>)?;
                map.serialize_entry("dir", &None::<String>)?;
                map.serialize_entry("workspace", &None::<String>)?;
                map.serialize_entry("verbose", &false)?;
                map.serialize_entry("extra_args", &Vec::<String>::new())?;
                map.serialize_entry("operands", &Vec::<String>::new())?;
                map.serialize_entry("error", &i.error)?;
                map.serialize_entry("reply", &i.reply())?;
            }
        }
        map.end()
    }
}

/// Parses a comment. It must start (after whitespace) with `landfall` or `atlantis`, or with
/// `run` followed by a command's name (`run plan`, as Atlantis accepts; "run the tests again" is
/// not for us), or with an @-mention followed by one (whose login the orchestrator checks);
/// otherwise the comment is not for us and this returns `None`. The command must be
/// the whole comment,
/// as in Atlantis (which ignores a comment of several lines): `landfall apply` followed by "once
/// the migration has landed" runs nothing.
#[must_use]
pub fn parse_comment(body: &str) -> Option<ParsedComment> {
    // As Atlantis: a command in backticks (`` `atlantis plan` ``, or a fenced block) counts.
    let body = body.trim().trim_matches('`').trim();
    let (line, more) = match body.split_once('\n') {
        Some((line, more)) => (line.trim_end(), !more.trim().is_empty()),
        None => (body, false),
    };
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let tool = if word.eq_ignore_ascii_case("landfall") {
        Tool::Landfall
    } else if word.eq_ignore_ascii_case("atlantis") {
        Tool::Atlantis
    } else if word == "run" && parse::names_a_command(next_word(rest)) {
        Tool::Run
    } else if mentioned(word).is_some()
        && (parse::names_a_command(next_word(rest))
            || matches!(next_word(rest), "help" | "version"))
    {
        Tool::Mention
    } else {
        return None;
    };
    if more {
        return Some(ParsedComment::Invalid(InvalidCommand {
            tool,
            error: "a command must be the whole comment, on one line: this one has more lines \
                    after it, so nothing was run (as Atlantis ignores such a comment)"
                .to_owned(),
        }));
    }
    Some(match parse_words(tool, rest) {
        Ok(command) => ParsedComment::Command(command),
        Err(error) => ParsedComment::Invalid(InvalidCommand {
            tool,
            error: error.to_string(),
        }),
    })
}

fn next_word(rest: &str) -> &str {
    rest.split_whitespace().next().unwrap_or("")
}

/// The login a comment starts by mentioning (`@landfall-bot plan` gives `landfall-bot`), if it
/// starts with an @-mention.
#[must_use]
pub fn mentioned(body: &str) -> Option<&str> {
    let word = body.split_whitespace().next()?;
    word.strip_prefix('@').filter(|login| !login.is_empty())
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
         - `{t} cancel`: stop this pull request's running plans and applies (locks stay)\n\
         - `{t} approve_policies`: approve failing policy checks (policy owners)\n\
         - `{t} import ADDRESS ID`: import an existing object into one project's state \
         (then plan again)\n\
         - `{t} state rm ADDRESS...`: remove objects from one project's state (then plan again)\n\
         - `{t} help`: show this text\n\
         - `{t} version`: show the Landfall version\n\n\
         Flags for plan, apply, import, state rm, cancel and approve_policies:\n\
         - `-p, --project NAME`: only this project\n\
         - `-d, --dir DIR`: only the project in this directory\n\
         - `-w, --workspace NAME`: only this Terraform workspace\n\
         - `--verbose` (plan, apply, import, state rm): link each project's full log (init, \
         hooks, every step) in the reply, even when the reply is not cut\n\n\
         Arguments after `--` go to Terraform as they are, e.g. `{t} plan -d infra -- -var-file=prod.tfvars`; \
         `-chdir`, `-out` and paths outside the project are refused."
    )
}

impl fmt::Display for Command {
    /// The canonical spelling, e.g. `landfall plan -d infra -- -var x=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tool.as_str(), self.action.as_str())?;
        for operand in &self.operands {
            write!(f, " {}", shell_words::quote(operand))?;
        }
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
