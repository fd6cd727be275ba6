//! The PR comment body for runs: per project, one summary line, what the hooks and the
//! workflow's steps printed in the order they ran with Terraform's own plan text in its place
//! (a collapsible block), errors shown plainly, and how to apply. Pure: results in, Markdown out.
//!
//! Splitting a long body at the host's comment limit is the comment module's job; this module
//! renders one whole body.

use std::fmt::Write as _;

use crate::markdown::{fenced, inline_code, with_fences_closed};
use crate::run::{Outcome, ProjectResult, RunCommand, StepOutput};

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
        // The name and the dir come from the repo config, which the pull request may change: as
        // code spans they cannot close, whatever backticks they hold.
        match (&self.name, self.workspace.as_str()) {
            (Some(name), _) => inline_code(name),
            (None, "default") => inline_code(&self.dir),
            (None, workspace) => format!(
                "{} workspace {}",
                inline_code(&self.dir),
                inline_code(workspace)
            ),
        }
    }

    fn title(&self) -> String {
        let verb = match self.command {
            RunCommand::Plan => "Plan",
            RunCommand::Apply => "Apply",
            RunCommand::Import => "Import",
            RunCommand::StateRm => "State rm",
        };
        let dir = inline_code(&self.dir);
        let mut title = match &self.name {
            Some(name) => format!("{verb} for project {} (dir {dir}", inline_code(name)),
            None => format!("{verb} for dir {dir}"),
        };
        let workspace = inline_code(&self.workspace);
        match (&self.name, self.workspace.as_str()) {
            (Some(_), "default") => title.push(')'),
            (Some(_), _) => {
                let _ = write!(title, ", workspace {workspace})");
            }
            (None, "default") => {}
            (None, _) => {
                let _ = write!(title, " workspace {workspace}");
            }
        }
        title
    }
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

/// The most lines a step's output shows plainly; a longer one is collapsed.
const PLAIN_LINES: usize = 20;

/// The longest command line a step's label quotes.
const LABEL_CHARS: usize = 100;

/// A command as a label quotes it: its first line, cut at [`LABEL_CHARS`].
fn command_label(command: &str) -> String {
    let first = command.trim().lines().next().unwrap_or_default().trim_end();
    let mut label: String = first.chars().take(LABEL_CHARS).collect();
    if label.len() < command.trim().len() {
        label.push('…');
    }
    inline_code(&label)
}

/// One step's or hook's part of a section: what it was, then what it printed.
fn render_step(step: &StepOutput) -> String {
    let StepOutput::Printed {
        step,
        command,
        description,
        text,
        failed,
    } = step
    else {
        return String::new();
    };
    let kind = match step.as_str() {
        "pre_workflow_hook" => "pre-workflow hook",
        "post_workflow_hook" => "post-workflow hook",
        other => other,
    };
    let what = description
        .clone()
        .unwrap_or_else(|| command_label(command));
    if *failed {
        return format!(
            "**{kind} failed:** {what}\n{}",
            fenced(&tail(text, ERROR_TAIL_LINES), "")
        );
    }
    let body = if text.trim_end().lines().count() > PLAIN_LINES {
        format!("\n{}", collapsed("Show output", text))
    } else {
        fenced(text, "")
    };
    format!("**{kind}** {what}\n{body}")
}

/// A result's parts: what stands before its steps (the summary line), the outcome's own block
/// (Terraform's text, or the failure), and what stands after (how to apply).
fn outcome_parts(result: &ProjectResult) -> (String, String, String) {
    let mut lead = String::new();
    let mut block = String::new();
    let mut after = String::new();
    match &result.outcome {
        Outcome::Planned { summary, plan_text } => {
            let _ = write!(lead, "**{summary}**\n\n");
            block = collapsed("Show plan", plan_text);
            if result.step_failed() {
                after.push_str(
                    "\n**Not applicable:** a post-workflow hook failed, so this plan is \
                     recorded as failed. Fix the hook, then plan again.\n",
                );
            } else {
                let _ = write!(
                    after,
                    "\nTo apply this plan, comment:\n{}",
                    fenced(&result.apply_command(), "")
                );
            }
        }
        Outcome::NoChanges { plan_text } => {
            lead.push_str("**No changes.** Your infrastructure matches the configuration.\n\n");
            block = collapsed("Show output", plan_text);
        }
        Outcome::Applied { output } => {
            lead.push_str(match result.command {
                RunCommand::Import => {
                    "**Imported.** Comment `landfall plan` before the next apply.\n\n"
                }
                RunCommand::StateRm => {
                    "**Removed from the state.** Comment `landfall plan` before the next apply.\n\n"
                }
                RunCommand::Plan | RunCommand::Apply => "**Applied.**\n\n",
            });
            block = collapsed("Show output", output);
        }
        Outcome::Failed { step, output } => {
            let _ = write!(
                block,
                "**{} failed** in step `{step}`:\n\n",
                result.command.as_str()
            );
            block.push_str(&fenced(&tail(output, ERROR_TAIL_LINES), ""));
        }
        Outcome::TimedOut {
            step,
            limit_secs,
            output,
        } => {
            let _ = write!(
                block,
                "**Timed out** in step `{step}` after the project's limit of {limit_secs} s; \
                 Terraform was interrupted and stopped. Raise the project's timeout or plan \
                 again.\n\n"
            );
            block.push_str(&fenced(&tail(output, ERROR_TAIL_LINES), ""));
        }
        Outcome::Refused { reason } => {
            // A reason may embed a run's output in a fence, which capping can cut open.
            let _ = writeln!(block, "**Refused:** {}", with_fences_closed(reason));
        }
    }
    (lead, block, after)
}

/// One project's section: its title, the summary line, then what its hooks and steps printed in
/// the order they ran, the outcome's own block (Terraform's plan or apply, or the failure) in
/// its place among them, and last how to apply.
#[must_use]
pub fn render_project(result: &ProjectResult) -> String {
    let mut out = format!("### {}\n\n", result.title());
    let (lead, block, after) = outcome_parts(result);
    out.push_str(&lead);
    if result.steps.is_empty() {
        out.push_str(&block);
    } else {
        let parts: Vec<String> = result
            .steps
            .iter()
            .map(|step| match step {
                StepOutput::Outcome => block.clone(),
                StepOutput::Printed { .. } => render_step(step),
            })
            .collect();
        out.push_str(&parts.join("\n"));
    }
    out.push_str(&policies(result));
    out.push_str(&after);
    out
}

/// The plan's policy checks: each set passed, warned or failed with its messages (each shown
/// as code: they quote resource addresses the pull request chose), and the approvals.
fn policies(result: &ProjectResult) -> String {
    if result.policies.is_empty() {
        return String::new();
    }
    let one_line = |text: &str| inline_code(&text.replace(['\n', '\r'], " "));
    let mut out = String::from("\n**Policy checks**\n\n");
    for set in &result.policies {
        let name = inline_code(&set.name);
        let (mark, what) = match (&set.error, set.failures.is_empty()) {
            (Some(error), _) => ("❌", format!("could not be evaluated: {}", one_line(error))),
            (None, false) => ("❌", format!("{} failure(s)", set.failures.len())),
            (None, true) if !set.warnings.is_empty() => {
                ("⚠️", format!("passed, {} warning(s)", set.warnings.len()))
            }
            (None, true) => ("✅", "passed".to_owned()),
        };
        let _ = writeln!(out, "- {mark} {name}: {what}");
        for message in &set.failures {
            let _ = writeln!(out, "  - ❌ {}", one_line(message));
        }
        for message in &set.warnings {
            let _ = writeln!(out, "  - ⚠️ {}", one_line(message));
        }
    }
    if !result.policies_passed() {
        if result.policy_approvals.is_empty() {
            out.push_str(
                "\nApplying needs a policy owner's approval: comment `landfall approve_policies`.\n",
            );
        } else {
            let _ = writeln!(
                out,
                "\nApproved by {}.",
                result
                    .policy_approvals
                    .iter()
                    // Bitbucket Cloud counts approvals by account UUID, which is no mention.
                    .map(|who| if who.starts_with('{') {
                        inline_code(who)
                    } else {
                        format!("@{who}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    out
}

/// The whole comment for a command's results, projects in the order given.
#[must_use]
pub fn render(results: &[ProjectResult]) -> String {
    let sections: Vec<String> = results.iter().map(render_project).collect();
    let mut body = sections.join("\n---\n\n");
    if let Some(table) = super::table::summary_table(results) {
        body = format!("{table}\n{body}");
    }
    let planned = results
        .iter()
        .filter(|result| matches!(result.outcome, Outcome::Planned { .. }) && !result.step_failed())
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
pub(crate) mod tests {
    use super::*;
    use crate::markdown::tests::{lines_outside_code, outside_inline_code};
    use crate::run::ProjectSpec;

    fn project() -> ProjectSpec {
        ProjectSpec {
            name: Some("prod".to_owned()),
            ..ProjectSpec::new("envs/prod")
        }
    }

    #[test]
    fn a_command_is_quoted_whole_whatever_backticks_it_holds() {
        assert_eq!(command_label("./gen.sh\n./more.sh"), "`./gen.sh…`");
        assert_eq!(
            command_label(&"x".repeat(150)),
            format!("`{}…`", "x".repeat(LABEL_CHARS))
        );
    }

    #[test]
    fn approvals_are_mentions_and_bitbucket_cloud_uuids_are_code() {
        let mut result = ProjectResult::new(
            &ProjectSpec::new("envs/dev"),
            RunCommand::Plan,
            Outcome::NoChanges {
                plan_text: String::new(),
            },
        );
        result.policies = vec![crate::run::policy::PolicySetResult {
            name: "tags".to_owned(),
            failures: vec!["no owner tag".to_owned()],
            warnings: Vec::new(),
            error: None,
            namespaces: crate::run::policy::Namespaces::default(),
            digest: String::new(),
        }];
        result.policy_approvals = vec!["alice".to_owned(), "{1d6a-77}".to_owned()];
        assert!(
            policies(&result).contains("Approved by @alice, `{1d6a-77}`."),
            "{}",
            policies(&result)
        );
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
    fn a_projects_name_and_dir_stay_inside_their_code_spans() {
        let name = "x` @acme/everyone **Applied.** `";
        let mut results = Vec::new();
        for (name, workspace) in [(Some(name), "default"), (None, "blue"), (None, "default")] {
            let mut result = ProjectResult::new(
                &ProjectSpec {
                    name: name.map(str::to_owned),
                    ..ProjectSpec::new("envs/`@acme/everyone`")
                },
                RunCommand::Plan,
                Outcome::Planned {
                    summary: "Plan: 1 to add, 0 to change, 0 to destroy.".to_owned(),
                    plan_text: "+".to_owned(),
                },
            );
            result.workspace = workspace.to_owned();
            results.push(result);
        }
        let body = render(&results);
        let shown: Vec<String> = lines_outside_code(&body)
            .into_iter()
            .map(outside_inline_code)
            .filter(|text| text.contains("@acme") || text.contains("Applied"))
            .collect();
        assert!(shown.is_empty(), "rendered as Markdown: {shown:?}\n{body}");
    }

    /// A refusal that embeds a run's output in a fence (Terraform's stale-plan error), cut by
    /// the stored result's cap before its fence closed: the next project's output is not turned
    /// into Markdown by it.
    #[test]
    fn a_refusal_cut_inside_its_fence_leaves_nothing_after_it_as_markdown() {
        let printed = format!(
            "Saved plan is stale\n{}\n[pwned](https://evil.test) @acme/everyone",
            "x".repeat(crate::run::cap::RESULT_TEXT_LIMIT)
        );
        let reason = format!(
            "Terraform refused the saved plan.\n\n{}",
            fenced(&printed, "")
        );
        let refused = ProjectResult::new(
            &ProjectSpec::new("a"),
            RunCommand::Apply,
            Outcome::Refused { reason },
        );
        let next = ProjectResult::new(
            &ProjectSpec::new("b"),
            RunCommand::Apply,
            Outcome::Applied {
                output: "[pwned](https://evil.test) @acme/everyone\n".to_owned(),
            },
        );
        let body = render(&[crate::run::cap::capped(&refused), next]);
        let shown: Vec<&str> = lines_outside_code(&body)
            .into_iter()
            .filter(|line| line.contains("pwned"))
            .collect();
        assert!(shown.is_empty(), "rendered as Markdown: {shown:?}");
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
