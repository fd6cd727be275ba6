//! The comment of a custom workflow, as snapshots: what the hooks and every step printed, in
//! the order they ran, with Terraform's plan (or apply, or the failure) in its place among them,
//! the summary line on top and how to apply at the end, the order Atlantis' comments use. A
//! result without steps (the default workflow, an older runner's report) renders as before.

use std::fmt::Write as _;

use landfall_function::comment::render;
use landfall_function::run::{Outcome, ProjectResult, ProjectSpec, RunCommand, StepOutput};

/// Terraform's plan text as the runner keeps it: a resource and an output to add.
const PLAN_TEXT: &str = "Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  + create

Terraform will perform the following actions:

  # terraform_data.app will be created
  + resource \"terraform_data\" \"app\" {
      + id     = (known after apply)
      + input  = \"v2\"
      + output = (known after apply)
    }

Plan: 1 to add, 0 to change, 0 to destroy.

Changes to Outputs:
  + greeting = \"hello v2\"";

fn project() -> ProjectSpec {
    ProjectSpec {
        name: Some("app".to_owned()),
        ..ProjectSpec::new("envs/app")
    }
}

fn planned() -> ProjectResult {
    ProjectResult::new(
        &project(),
        RunCommand::Plan,
        Outcome::Planned {
            summary: "Plan: 1 to add, 0 to change, 0 to destroy.".to_owned(),
            plan_text: PLAN_TEXT.to_owned(),
        },
    )
}

/// What `step` printed: `text`, for `command`.
fn printed(step: &str, command: &str, text: &str) -> StepOutput {
    StepOutput::Printed {
        step: step.to_owned(),
        command: command.to_owned(),
        description: None,
        text: text.to_owned(),
        failed: false,
    }
}

/// What a hook with a `description` printed; `failed` after the outcome.
fn hook(step: &str, (description, command): (&str, &str), text: &str, failed: bool) -> StepOutput {
    StepOutput::Printed {
        step: step.to_owned(),
        command: command.to_owned(),
        description: Some(description.to_owned()),
        text: text.to_owned(),
        failed,
    }
}

#[test]
fn a_multi_step_plan_shows_hooks_steps_and_the_plan_in_the_order_they_ran() {
    let mut result = planned();
    result.steps = vec![
        hook(
            "pre_workflow_hook",
            ("Generating configs", "./generate.sh"),
            "generated 2 files\n",
            false,
        ),
        printed("run", "echo preinit", "preinit\n"),
        StepOutput::Outcome,
        printed("run", "echo postplan", "postplan\n"),
        printed(
            "post_workflow_hook",
            "infracost breakdown --path $PLANFILE --format table",
            "Monthly cost change: +$0.00\n",
        ),
    ];
    let body = render(&[result]);
    let order = [
        "**Plan: 1 to add",
        "Generating configs",
        "preinit",
        "Show plan",
        "+ greeting",
        "postplan",
        "Monthly cost change",
        "landfall apply -p app",
    ];
    let at: Vec<usize> = order.iter().map(|n| body.find(n).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{body}");
    insta::assert_snapshot!("custom_workflow_plan", body);
}

#[test]
fn an_apply_shows_each_steps_output_in_order_and_collapses_a_long_one() {
    let mut result = ProjectResult::new(
        &ProjectSpec {
            workspace: "staging".to_owned(),
            ..ProjectSpec::new("envs/staging")
        },
        RunCommand::Apply,
        Outcome::Applied {
            output: "terraform_data.staging: Creating...\nterraform_data.staging: Creation \
                     complete after 0s\n\nApply complete! Resources: 1 added, 0 changed, 0 \
                     destroyed.\n"
                .to_owned(),
        },
    );
    let long = (1..=25).fold(String::new(), |mut out, n| {
        let _ = writeln!(out, "check {n} passed");
        out
    });
    result.steps = vec![
        printed("run", "echo preapply", "preapply\n"),
        StepOutput::Outcome,
        printed("run", "./smoke-tests.sh", &long),
        printed("run", "echo postapply", "postapply\n"),
    ];
    insta::assert_snapshot!("custom_workflow_apply", render(&[result]));
}

#[test]
fn a_failure_stands_where_the_workflow_stopped_and_the_post_hooks_follow() {
    let mut result = ProjectResult::new(
        &project(),
        RunCommand::Plan,
        Outcome::Failed {
            step: "plan".to_owned(),
            output: "Error: Invalid reference\n\n  on main.tf line 3".to_owned(),
        },
    );
    result.steps = vec![
        printed("run", "echo preinit", "preinit\n"),
        StepOutput::Outcome,
        printed("post_workflow_hook", "./notify.sh", "notified\n"),
    ];
    insta::assert_snapshot!("custom_workflow_failed_plan", render(&[result]));
}

#[test]
fn a_failed_pre_hook_is_the_runs_failure_and_nothing_after_it_ran() {
    let mut result = ProjectResult::new(
        &project(),
        RunCommand::Plan,
        Outcome::Failed {
            step: "pre_workflow_hook (Checking the branch)".to_owned(),
            output: "branch names must start with feature/\n".to_owned(),
        },
    );
    result.steps = vec![
        hook(
            "pre_workflow_hook",
            ("Generating configs", "./generate.sh"),
            "generated\n",
            false,
        ),
        StepOutput::Outcome,
    ];
    insta::assert_snapshot!("custom_workflow_failed_pre_hook", render(&[result]));
}

#[test]
fn a_failed_post_hook_keeps_the_plan_but_offers_no_apply() {
    let mut result = planned();
    result.steps = vec![
        StepOutput::Outcome,
        hook(
            "post_workflow_hook",
            ("Policy check", "./policy.sh"),
            "1 policy violated: buckets must be private\n",
            true,
        ),
    ];
    let other = planned();
    let body = render(&[result, other]);
    assert!(
        !body.contains("To apply all"),
        "one plan only can be applied: {body}"
    );
    insta::assert_snapshot!("custom_workflow_failed_post_hook", body);
}

#[test]
fn a_result_without_steps_renders_as_it_always_did() {
    // A result an older runner stored: no `steps` key.
    let json = serde_json::json!({
        "name": "app", "dir": "envs/app", "workspace": "default", "command": "plan",
        "outcome": {
            "outcome": "planned",
            "summary": "Plan: 1 to add, 0 to change, 0 to destroy.",
            "plan_text": PLAN_TEXT,
        },
    });
    let old: ProjectResult = serde_json::from_value(json).unwrap();
    assert!(old.steps.is_empty());
    assert_eq!(old, planned());
    let mut only_outcome = planned();
    only_outcome.steps = vec![StepOutput::Outcome];
    assert_eq!(render(&[only_outcome]), render(&[old]));
    assert!(
        !serde_json::to_string(&planned()).unwrap().contains("steps"),
        "a result without steps is written as before"
    );
}
