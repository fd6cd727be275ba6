//! Diagnostics: what is wrong (or unsupported) in a config file, where, and how to fix it. They
//! are collected, never thrown one at a time, so a PR comment lists every problem at once.

use std::fmt;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file cannot be used until this is fixed.
    Error,
    /// The file is used, but a key is ignored; the PR comment says so.
    Warning,
}

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as named in the repository (`atlantis.yaml`) or on disk (the policy).
    pub file: String,
    /// The line, 1-based (0 when the problem is the file as a whole).
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `line` of `file`.
    pub fn error(file: &str, line: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_owned(),
            line,
            severity: Severity::Error,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at `line` of `file`.
    pub fn warning(file: &str, line: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, message)
        }
    }

    /// The same diagnostic with a hint on how to fix it.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this stops the file from being used.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {level}: {}", self.file, self.message)?;
        } else {
            write!(f, "{}:{}: {level}: {}", self.file, self.line, self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A config file that cannot be used, with every problem found in it (errors first, then the
/// warnings that would also have been reported).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_plain(&self.diagnostics))]
pub struct ConfigErrors {
    /// Every diagnostic, errors first, each group in line order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigErrors {
    /// Wraps diagnostics, sorting errors first and by line.
    #[must_use]
    pub fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics
            .sort_by(|a, b| (a.severity, &a.file, a.line).cmp(&(b.severity, &b.file, b.line)));
        ConfigErrors { diagnostics }
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The PR comment that reports these problems.
    #[must_use]
    pub fn to_comment(&self) -> String {
        let file = self
            .diagnostics
            .first()
            .map_or("the config file", |d| d.file.as_str());
        let count = self.errors().count();
        let mut out = format!(
            "**Landfall could not use `{file}`**: {count} problem{} to fix before anything is planned.\n\n",
            if count == 1 { "" } else { "s" }
        );
        out.push_str(&render_list(&self.diagnostics));
        out
    }
}

fn render_plain(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Diagnostics for PR comments: one code block, `file:line: level: message` and its help, as
/// a compiler prints them. The messages quote the pull request's YAML (keys, values), which
/// nothing in them can render as Markdown from inside the block.
#[must_use]
pub fn render_list(diagnostics: &[Diagnostic]) -> String {
    crate::markdown::fenced(&render_plain(diagnostics), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sort_before_warnings_and_by_line() {
        let errs = ConfigErrors::new(vec![
            Diagnostic::warning("a.yaml", 1, "w"),
            Diagnostic::error("a.yaml", 9, "late"),
            Diagnostic::error("a.yaml", 2, "early"),
        ]);
        let lines: Vec<_> = errs.diagnostics.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 9, 1]);
    }

    #[test]
    fn the_comment_names_the_file_the_line_and_the_help() {
        let errs = ConfigErrors::new(vec![
            Diagnostic::error("atlantis.yaml", 4, "unknown key `projets`")
                .with_help("did you mean `projects`?"),
        ]);
        let comment = errs.to_comment();
        assert!(comment.contains("atlantis.yaml:4: error: unknown key `projets`"));
        assert!(comment.contains("\n  help: did you mean `projects`?"));
        assert!(comment.contains("1 problem to fix"));
    }
}
