//! The PR comment body for runs: per project, one summary line, Terraform's own plan text in a
//! collapsible block, errors shown plainly, and how to apply. Pure: results in, Markdown out.
//!
//! Splitting a long body at the host's comment limit is the comment module's job; this module
//! renders one whole body.

use std::fmt::Write as _;

use crate::run::{Outcome, ProjectResult, RunCommand};

/// How many lines of a failed step's output the comment shows (the full log is stored).
pub const ERROR_TAIL_LINES: usize = 80;

impl ProjectResult {
    /// The comment command that applies this project's plan.
    #[must_use]
    pub fn apply_command(&self) -> String {
        match &self.name {
            Some(name) => format!("landfall apply -p {name}"),
            None if self.workspace == "default" => format!("landfall apply -d {}", self.dir),
            None => format!("landfall apply -d {} -w {}", self.dir, self.workspace),
        }
    }

    /// The project as the comment names it, in backticks: its configured name, else its dir
    /// (with the workspace when it is not `default`).
    #[must_use]
    pub fn label(&self) -> String {
        match (&self.name, self.workspace.as_str()) {
            (Some(name), _) => format!("`{name}`"),
            (None, "default") => format!("`{}`", self.dir),
            (None, workspace) => format!("`{}` workspace `{workspace}`", self.dir),
        }
    }

    fn title(&self) -> String {
        let verb = match self.command {
            RunCommand::Plan => "Plan",
            RunCommand::Apply => "Apply",
        };
        let mut title = match &self.name {
            Some(name) => format!("{verb} for project `{name}` (dir `{}`", self.dir),
            None => format!("{verb} for dir `{}`", self.dir),
        };
        match (&self.name, self.workspace.as_str()) {
            (Some(_), "default") => title.push(')'),
            (Some(_), workspace) => {
                let _ = write!(title, ", workspace `{workspace}`)");
            }
            (None, "default") => {}
            (None, workspace) => {
                let _ = write!(title, " workspace `{workspace}`");
            }
        }
        title
    }
}

/// A fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(longest.max(2) + 1)
}

fn fenced(text: &str, info: &str) -> String {
    let fence = fence_for(text);
    let text = text.trim_end_matches('\n');
    format!("{fence}{info}\n{text}\n{fence}\n")
}

fn collapsed(summary: &str, text: &str) -> String {
    format!(
        "<details><summary>{summary}</summary>\n\n{}\n</details>\n",
        fenced(text, "")
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    if all.len() <= lines {
        return all.join("\n");
    }
    let skipped = all.len() - lines;
    format!(
        "... ({skipped} earlier line{} in the full log)\n{}",
        if skipped == 1 { "" } else { "s" },
        all[skipped..].join("\n")
    )
}

/// One project's section.
#[must_use]
pub fn render_project(result: &ProjectResult) -> String {
    let mut out = format!("### {}\n\n", result.title());
    match &result.outcome {
        Outcome::Planned { summary, plan_text } => {
            let _ = write!(out, "**{summary}**\n\n");
            out.push_str(&collapsed("Show plan", plan_text));
            let _ = write!(
                out,
                "\nTo apply this plan, comment:\n{}",
                fenced(&result.apply_command(), "")
            );
        }
        Outcome::NoChanges { plan_text } => {
            out.push_str("**No changes.** Your infrastructure matches the configuration.\n\n");
            out.push_str(&collapsed("Show output", plan_text));
        }
        Outcome::Applied { output } => {
            out.push_str("**Applied.**\n\n");
            out.push_str(&collapsed("Show output", output));
        }
        Outcome::Failed { step, output } => {
            let _ = write!(
                out,
                "**{} failed** in step `{step}`:\n\n",
                result.command.as_str()
            );
            out.push_str(&fenced(&tail(output, ERROR_TAIL_LINES), ""));
        }
        Outcome::TimedOut {
            step,
            limit_secs,
            output,
        } => {
            let _ = write!(
                out,
                "**Timed out** in step `{step}` after the project's limit of {limit_secs} s; \
                 Terraform was interrupted and stopped. Raise the project's timeout or plan \
                 again.\n\n"
            );
            out.push_str(&fenced(&tail(output, ERROR_TAIL_LINES), ""));
        }
        Outcome::Refused { reason } => {
            let _ = writeln!(out, "**Refused:** {reason}");
        }
    }
    out
}

/// The whole comment for a command's results, projects in the order given.
#[must_use]
pub fn render(results: &[ProjectResult]) -> String {
    let sections: Vec<String> = results.iter().map(render_project).collect();
    let mut body = sections.join("\n---\n\n");
    let planned = results
        .iter()
        .filter(|result| matches!(result.outcome, Outcome::Planned { .. }))
        .count();
    if planned > 1 {
        let _ = write!(
            body,
            "\n---\n\nTo apply all {planned} plans, comment:\n{}",
            fenced("landfall apply", "")
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ProjectSpec;

    fn project() -> ProjectSpec {
        ProjectSpec {
            name: Some("prod".to_owned()),
            ..ProjectSpec::new("envs/prod")
        }
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_inside() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }

    #[test]
    fn an_unnamed_project_is_applied_by_dir_and_workspace() {
        let mut result = ProjectResult::new(
            &ProjectSpec::new("envs/dev"),
            RunCommand::Plan,
            Outcome::NoChanges {
                plan_text: String::new(),
            },
        );
        assert_eq!(result.apply_command(), "landfall apply -d envs/dev");
        result.workspace = "blue".to_owned();
        assert_eq!(result.apply_command(), "landfall apply -d envs/dev -w blue");
    }

    #[test]
    fn errors_are_shown_plainly_with_their_tail() {
        let output: String = (1..=100).fold(String::new(), |mut out, n| {
            let _ = writeln!(out, "line {n}");
            out
        });
        let body = render_project(&ProjectResult::new(
            &project(),
            RunCommand::Plan,
            Outcome::Failed {
                step: "init".to_owned(),
                output,
            },
        ));
        assert!(body.contains("**plan failed** in step `init`"), "{body}");
        assert!(
            body.contains("(20 earlier lines in the full log)"),
            "{body}"
        );
        assert!(body.contains("line 100") && !body.contains("line 20\n"));
        assert!(!body.contains("<details>"));
    }
}
