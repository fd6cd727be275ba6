//! The summary table at the top of a comment with several projects: one row per project with
//! what its plan adds, changes, destroys, imports and moves, destroys and replacements called
//! out, and the command that applies it; the full plans follow in their collapsible blocks.

use std::fmt::Write as _;

use crate::markdown::table_cell as cell;
use crate::run::{Outcome, PlanCounts, ProjectResult, RunCommand};

/// A count, blank when zero so that what changes stands out.
fn count(n: usize) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

fn what(result: &ProjectResult) -> String {
    match (&result.outcome, result.counts) {
        _ if result.step_failed() => "❌ failed (a hook)".to_owned(),
        (
            Outcome::Planned { .. },
            Some(PlanCounts {
                destroy, replace, ..
            }),
        ) if destroy > 0 => {
            let mut said = format!("⚠️ **destroys {destroy}**");
            if replace > 0 {
                let _ = write!(said, " (replaces {replace})");
            }
            said
        }
        (Outcome::Planned { .. }, _) => "✅ changes".to_owned(),
        (Outcome::NoChanges { .. }, _) => "no changes".to_owned(),
        (Outcome::Applied { .. }, _) => match result.command {
            RunCommand::Import => "✅ imported".to_owned(),
            RunCommand::StateRm => "✅ removed from the state".to_owned(),
            RunCommand::Plan | RunCommand::Apply => "✅ applied".to_owned(),
        },
        (Outcome::Failed { step, .. }, _) => format!("❌ failed in `{}`", cell(step)),
        (Outcome::TimedOut { .. }, _) => "❌ timed out".to_owned(),
        (Outcome::Refused { .. }, _) => "🚫 refused".to_owned(),
    }
}

/// A project's policy checks in a cell: failed sets (and whether approved), else warnings.
fn policy_cell(result: &ProjectResult) -> String {
    let failed = result.policies.iter().filter(|s| !s.passed()).count();
    let warned: usize = result.policies.iter().map(|s| s.warnings.len()).sum();
    match (failed, warned) {
        _ if result.policies.is_empty() => String::new(),
        (0, 0) => "✅ passed".to_owned(),
        (0, n) => format!("⚠️ {n} warning(s)"),
        (n, _) if result.policy_approvals.is_empty() => format!("❌ {n} set(s) failed"),
        (n, _) => format!("❌ {n} set(s) failed, approved"),
    }
}

/// The table for `results`, or `None` for fewer than two projects (the project's own summary
/// line says it all).
#[must_use]
pub fn summary_table(results: &[ProjectResult]) -> Option<String> {
    if results.len() < 2 {
        return None;
    }
    // The policy column only where policy checks ran.
    let with_policies = results.iter().any(|r| !r.policies.is_empty());
    let mut table = if with_policies {
        String::from(
            "| Project | Result | Add | Change | Destroy | Import | Move | Policies | Apply with |\n\
             |---|---|--:|--:|--:|--:|--:|---|---|\n",
        )
    } else {
        String::from(
            "| Project | Result | Add | Change | Destroy | Import | Move | Apply with |\n\
             |---|---|--:|--:|--:|--:|--:|---|\n",
        )
    };
    for result in results {
        let counts = result.counts.unwrap_or_default();
        let apply = if matches!(result.outcome, Outcome::Planned { .. }) && !result.step_failed() {
            format!("`{}`", cell(&result.apply_command()).replace('`', "'"))
        } else {
            String::new()
        };
        let policies = if with_policies {
            format!("{} | ", policy_cell(result))
        } else {
            String::new()
        };
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {policies}{apply} |",
            cell(&result.label()),
            what(result),
            count(counts.add),
            count(counts.change),
            count(counts.destroy),
            count(counts.import),
            count(counts.moved),
        );
    }
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ProjectSpec;

    /// How many `|` GFM splits a table row at: those not escaped by a backslash, where a
    /// backslash escapes whatever character follows it.
    fn delimiters(row: &str) -> usize {
        let mut chars = row.chars();
        let mut count = 0;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '|' => count += 1,
                _ => {}
            }
        }
        count
    }

    fn planned(dir: &str, counts: PlanCounts) -> ProjectResult {
        let mut result = ProjectResult::new(
            &ProjectSpec::new(dir),
            RunCommand::Plan,
            Outcome::Planned {
                summary: "Plan".into(),
                plan_text: "+".into(),
            },
        );
        result.counts = Some(counts);
        result
    }

    #[test]
    fn destroys_are_called_out_and_a_hostile_name_cannot_break_the_table() {
        let mut hostile = planned(
            "b",
            PlanCounts {
                add: 1,
                ..PlanCounts::default()
            },
        );
        hostile.name = Some("x | y`\n| injected \\| \\\\|".into());
        let results = [
            planned(
                "a",
                PlanCounts {
                    add: 2,
                    destroy: 1,
                    replace: 1,
                    ..PlanCounts::default()
                },
            ),
            hostile,
            ProjectResult::new(
                &ProjectSpec::new("c"),
                RunCommand::Plan,
                Outcome::NoChanges {
                    plan_text: String::new(),
                },
            ),
        ];
        let table = summary_table(&results).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines.len(),
            5,
            "a header, a rule and one row per project:\n{table}"
        );
        for line in &lines {
            // Every row has the header's 8 cells: no `|` of a name opened another.
            assert_eq!(delimiters(line), 9, "{line}");
        }
        assert!(
            lines[2].contains("**destroys 1** (replaces 1)"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("`landfall apply -d a`"));
        assert!(lines[4].contains("no changes") && lines[4].ends_with("|  |"));
        assert!(summary_table(&results[..1]).is_none());
    }
}
