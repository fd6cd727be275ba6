//! Atlantis' `show` and `multienv` steps in the real runner with the real `terraform`: `show`
//! leaves the plan's JSON at `$SHOWFILE` for the steps after it and none of it in the comment or
//! the log; `multienv` sets what its command prints for the steps after it, names the variables
//! in the comment and withholds their values from every text.

use landfall_e2e::git;
use landfall_function::run::{
    EnvSource, Outcome, RunOutput, RunReport, RunStatus, ShellCommand, Step, default_steps,
};

use super::runner_e2e::Fixture;

/// A value of the plan that Terraform marks sensitive.
const SENSITIVE: &str = "sensitive-pw-91c2e0";

fn init() -> Step {
    Step::Init {
        extra_args: Vec::new(),
    }
}

fn plan() -> Step {
    Step::Plan {
        extra_args: Vec::new(),
    }
}

fn multienv(command: &str, output: RunOutput) -> Step {
    Step::Multienv(ShellCommand {
        command: command.to_owned(),
        shell: None,
        shell_args: Vec::new(),
        output,
    })
}

/// The stored full log of `report`.
fn log_of(fx: &Fixture, report: &RunReport) -> String {
    let log = report.log.as_ref().expect("the run stored its log");
    std::fs::read_to_string(fx.path("data/artifacts").join(&log.key)).unwrap()
}

/// A commit whose plan holds a sensitive value.
fn with_a_sensitive_value(fx: &Fixture) -> String {
    fx.commit_files(&[(
        "envs/app/secret.tf",
        &format!(
            "variable \"pw\" {{\n  default   = \"{SENSITIVE}\"\n  sensitive = true\n}}\n\n\
             resource \"terraform_data\" \"secret\" {{\n  input = var.pw\n}}\n"
        ),
    )])
}

#[test]
fn a_show_step_leaves_the_plans_json_for_the_steps_after_it_and_none_of_it_in_any_text() {
    let fx = Fixture::new();
    let head = with_a_sensitive_value(&fx);
    let mut spec = fx.spec(&head, "delivery-show");
    spec.project.workflow = Some(vec![
        init(),
        plan(),
        Step::Show,
        // What an infracost or a custom check reads.
        Step::run(
            "grep -q '\"terraform_data.secret\"' \"$SHOWFILE\" && echo showfile-names-the-resource; \
             grep -q '\"resource_changes\"' \"$SHOWFILE\" && echo showfile-is-the-plans-json",
        ),
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    for said in ["showfile-names-the-resource", "showfile-is-the-plans-json"] {
        assert!(report.comment.contains(said), "{said}: {}", report.comment);
    }
    assert!(
        report.comment.contains("Plan: 2 to add"),
        "{}",
        report.comment
    );
    let log = log_of(&fx, &report);
    for text in [&report.comment, &log] {
        assert!(!text.contains(SENSITIVE), "{text}");
        assert!(!text.contains("\"resource_changes\":"), "{text}");
    }
}

#[test]
fn a_show_step_before_any_plan_fails_the_run_saying_so() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-show-first");
    spec.project.workflow = Some(vec![init(), Step::Show, plan()]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(report.planfile.is_none());
    assert!(
        report.comment.contains("there is no plan at $PLANFILE"),
        "{}",
        report.comment
    );
}

/// A planfile a step moved behind a symbolic link is not shown, and the failure names `show`.
#[test]
fn a_show_step_refuses_a_planfile_behind_a_link_naming_itself() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-show-link");
    spec.project.workflow = Some(vec![
        init(),
        plan(),
        Step::run("mv \"$PLANFILE\" \"$PLANFILE.real\" && ln -s \"$PLANFILE.real\" \"$PLANFILE\""),
        Step::Show,
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    match &report.result.outcome {
        Outcome::Failed { step, output } => {
            assert_eq!(step, "show");
            assert!(output.contains("the planfile is not shown"), "{output}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_multienv_step_sets_its_variables_for_the_steps_after_it_and_withholds_their_values() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let secret = "multienv-secret-5a1f07";
    let mut spec = fx.spec(&head, "delivery-multienv");
    let mut workflow = vec![
        // The value is made by the command, as a credential helper's is: the command line,
        // which the comment shows, does not hold it.
        multienv(
            "printf 'GREETING=hello,TOKEN_X=\"%s-%s, with a comma\"' multienv-secret 5a1f07",
            RunOutput::Show,
        ),
        multienv("echo QUIET=1", RunOutput::Hide),
    ];
    workflow.extend(default_steps(spec.command));
    workflow.push(Step::run(
        "echo \"greeting-$GREETING quiet-$QUIET\"; echo \"token-$TOKEN_X\"",
    ));
    spec.project.workflow = Some(workflow);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report
            .comment
            .contains("Dynamic environment variables added:\nGREETING\nTOKEN_X"),
        "{}",
        report.comment
    );
    // The hidden step's names are not shown; its variable is set all the same.
    assert!(!report.comment.contains("\nQUIET"), "{}", report.comment);
    assert!(
        report.comment.contains("greeting-hello quiet-1"),
        "{}",
        report.comment
    );
    let log = log_of(&fx, &report);
    for text in [&report.comment, &log, &fx.job_log()] {
        assert!(text.contains("token-(sensitive value)"), "{text}");
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn a_multienv_step_whose_output_is_not_pairs_fails_the_run_without_quoting_it() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-multienv-bad");
    let mut workflow = vec![multienv(
        "echo \"GOOD=1,raw-credential-$(echo d41c88)\"",
        RunOutput::Show,
    )];
    workflow.extend(default_steps(spec.command));
    spec.project.workflow = Some(workflow);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(report.planfile.is_none());
    assert!(
        report
            .comment
            .contains("did not print `NAME=value,NAME2=value2`"),
        "{}",
        report.comment
    );
    let log = log_of(&fx, &report);
    for text in [&report.comment, &log] {
        assert!(!text.contains("raw-credential-d41c88"), "{text}");
    }
}

/// The plan's sensitive values are cut from what a step after `show` printed, even when that
/// step fails the plan before its end (where a plan learns them otherwise) and in an apply,
/// which has no end of a plan at all.
#[test]
fn a_step_that_prints_the_show_file_shows_no_sensitive_value_in_a_failed_plan_or_an_apply() {
    let fx = Fixture::new();
    let head = with_a_sensitive_value(&fx);
    let mut failing = fx.spec(&head, "delivery-show-fails");
    failing.project.workflow = Some(vec![
        init(),
        plan(),
        Step::Show,
        // Its output is the failure's text.
        Step::run("grep -o 'sensitive-pw-[0-9a-f]*' \"$SHOWFILE\" | head -n 1; exit 3"),
    ]);
    let report = fx.run(&failing);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("(sensitive value)"),
        "{}",
        report.comment
    );
    for text in [&report.comment, &log_of(&fx, &report), &fx.job_log()] {
        assert!(!text.contains(SENSITIVE), "{text}");
    }

    let planned = fx.spec(&head, "delivery-plan");
    let report = fx.run(&planned);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let mut apply = fx.apply_spec(&planned, &report, &head);
    apply.project.workflow = Some(vec![
        Step::Show,
        Step::run("cat \"$SHOWFILE\""),
        Step::Apply {
            extra_args: Vec::new(),
        },
    ]);
    let report = fx.run(&apply);
    assert_eq!(report.status, RunStatus::Applied, "{}", report.comment);
    assert!(
        report.comment.contains("resource_changes"),
        "{}",
        report.comment
    );
    let job_log = fx.job_log();
    assert!(job_log.contains("resource_changes"), "{job_log}");
    for text in [&report.comment, &log_of(&fx, &report), &job_log] {
        assert!(!text.contains(SENSITIVE), "{text}");
    }
}

/// An apply stage without `init` initialises as the plan stage did: its `env` and `multienv`
/// steps before `init` run again, in their order (the later `env` wins over the earlier
/// `multienv`, as in the plan), for the variables `init`'s and the apply's arguments name; a
/// variable the apply stage's own steps set before keeps their value.
#[test]
fn an_apply_without_init_sets_the_plan_stages_multienv_variables_again_in_order() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let planned = fx.spec(&head, "delivery-plan");
    let report = fx.run(&planned);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let mut apply = fx.apply_spec(&planned, &report, &head);
    apply.project.init_env = vec![
        multienv(
            "echo LOCK=not-a-boolean,WAIT=not-a-duration,PARALLEL=3",
            RunOutput::Show,
        ),
        Step::env("LOCK", EnvSource::Value("true".to_owned())),
    ];
    apply.project.init_args = vec!["-lock-timeout=${WAIT}".to_owned()];
    // Terraform refuses `-lock=not-a-boolean` and `-lock-timeout=not-a-duration`: the `env`
    // after the replayed `multienv` must win, and so must the apply stage's own `multienv`,
    // which runs before the directory is initialised. `PARALLEL` only the replayed `multienv`
    // sets: without it, `-parallelism=` is refused.
    apply.project.workflow = Some(vec![
        multienv("echo WAIT=2s", RunOutput::Hide),
        Step::Apply {
            extra_args: vec![
                "-lock=${LOCK}".to_owned(),
                "-lock-timeout=${WAIT}".to_owned(),
                "-parallelism=${PARALLEL}".to_owned(),
            ],
        },
    ]);
    let report = fx.run(&apply);
    assert_eq!(report.status, RunStatus::Applied, "{}", report.comment);
    let state = std::fs::read_to_string(fx.state_file()).unwrap();
    assert!(state.contains("terraform_data"), "{state}");
}

/// A value of several lines (a key) is withheld as a shell prints it unquoted too, its lines
/// joined with spaces; a line of it alone is not (a JSON value's lines stand in plans for
/// other things).
#[test]
fn a_multienv_value_of_several_lines_is_withheld_as_echo_prints_it() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-multienv-lines");
    let mut workflow = vec![multienv(
        r#"printf 'KEY="%s-%s\n%s-%s"' first-line aa11bb22 second-line cc33dd44"#,
        RunOutput::Show,
    )];
    workflow.extend(default_steps(spec.command));
    workflow.push(Step::run("echo key-$KEY"));
    // Printed as it is, a line at a time: the Job's log gets its lines in two reads.
    workflow.push(Step::run(
        "printf '%s\\n' \"$KEY\" | while read -r line; do echo \"$line\"; sleep 0.3; done",
    ));
    spec.project.workflow = Some(workflow);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(report.comment.contains("key-"), "{}", report.comment);
    for text in [&report.comment, &log_of(&fx, &report), &fx.job_log()] {
        for line in ["first-line-aa11bb22", "second-line-cc33dd44"] {
            assert!(!text.contains(line), "{text}");
        }
    }
}
