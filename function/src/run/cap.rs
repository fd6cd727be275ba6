//! How much of a run's output a stored result keeps: the start of a plan or an apply's output,
//! the end of a failure's; the full log is stored apart.

use crate::run::{Outcome, ProjectResult};

/// The most bytes of Terraform output a stored result keeps: a plan record stays far below
/// DynamoDB's 400 KB item limit, and the comment shows less than this anyway. The full log is
/// stored as an artifact.
pub const RESULT_TEXT_LIMIT: usize = 60 * 1024;

/// `result` with its texts cut to [`RESULT_TEXT_LIMIT`]: the start of a plan or an apply's
/// output (what a reviewer reads first), the end of a failure's (where the error is).
#[must_use]
pub fn capped(result: &ProjectResult) -> ProjectResult {
    let mut result = result.clone();
    match &mut result.outcome {
        Outcome::Planned {
            plan_text: text, ..
        }
        | Outcome::NoChanges { plan_text: text }
        | Outcome::Applied { output: text } => keep_head(text),
        Outcome::Failed { output: text, .. } | Outcome::TimedOut { output: text, .. } => {
            keep_tail(text);
        }
        Outcome::Refused { reason } => keep_head(reason),
    }
    result
}

const CUT_NOTE: &str = "… (cut here: the full output is in the run's log)";

fn keep_head(text: &mut String) {
    if text.len() > RESULT_TEXT_LIMIT {
        let mut end = RESULT_TEXT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('\n');
        text.push_str(CUT_NOTE);
    }
}

fn keep_tail(text: &mut String) {
    if text.len() > RESULT_TEXT_LIMIT {
        let mut start = text.len() - RESULT_TEXT_LIMIT;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        *text = format!("{CUT_NOTE}\n{}", &text[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{ProjectSpec, RunCommand};

    fn result(outcome: Outcome) -> ProjectResult {
        ProjectResult::new(&ProjectSpec::new("envs/app"), RunCommand::Plan, outcome)
    }

    #[test]
    fn a_long_plan_keeps_its_start_and_a_long_failure_its_end_on_char_boundaries() {
        let long = format!("{}é{}", "a".repeat(RESULT_TEXT_LIMIT - 1), "z".repeat(5000));
        let planned = capped(&result(Outcome::Planned {
            summary: "1 to add".to_owned(),
            plan_text: long.clone(),
        }));
        let Outcome::Planned { plan_text, .. } = planned.outcome else {
            panic!()
        };
        assert!(plan_text.starts_with("aaa") && plan_text.ends_with(CUT_NOTE));
        assert!(plan_text.len() <= RESULT_TEXT_LIMIT + CUT_NOTE.len() + 1);
        let failed = capped(&result(Outcome::Failed {
            step: "plan".to_owned(),
            output: format!("{long}Error: the end"),
        }));
        let Outcome::Failed { output, .. } = failed.outcome else {
            panic!()
        };
        assert!(output.starts_with(CUT_NOTE) && output.ends_with("Error: the end"));
        let short = result(Outcome::NoChanges {
            plan_text: "No changes.".to_owned(),
        });
        assert_eq!(capped(&short), short, "short texts are kept whole");
    }
}
