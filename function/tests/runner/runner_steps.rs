//! A workflow's steps in the real runner: the shell and arguments of `run` and `env` steps,
//! Atlantis' `env/<workspace>.tfvars` for the built-in `plan`, and a step's background
//! processes, which end with it.

use landfall_e2e::git;
use landfall_function::run::{EnvSource, RunOutput, RunStatus, Step};

use super::runner_e2e::Fixture;

/// A `run` step through `bash` with `args`, its output shown.
fn bash(command: &str, args: &[&str]) -> Step {
    Step::Run {
        command: command.to_owned(),
        shell: Some("bash".to_owned()),
        shell_args: args.iter().map(|a| (*a).to_owned()).collect(),
        output: RunOutput::Show,
    }
}

/// A `run` step whose output stays out of the comment.
fn hidden(command: &str) -> Step {
    Step::Run {
        command: command.to_owned(),
        shell: None,
        shell_args: Vec::new(),
        output: RunOutput::Hide,
    }
}

#[test]
fn a_run_step_uses_its_shell_and_arguments_and_a_hidden_step_stays_out_of_the_comment() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.workflow = Some(vec![
        bash(
            "echo \"shown-by-$0\"; false | true",
            &["-o", "pipefail", "-c"],
        ),
        hidden("echo hidden-output-7f3"),
    ]);
    let report = fx.run(&spec);
    // `false | true` fails only under pipefail: the step ran with the given arguments.
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("shown-by-bash"),
        "{}",
        report.comment
    );

    spec.trigger = "delivery-2".to_owned();
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::Plan {
            extra_args: Vec::new(),
        },
        bash("echo \"shown-by-$0\"", &["-c"]),
        hidden("echo hidden-output-7f3"),
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("shown-by-bash"),
        "{}",
        report.comment
    );
    assert!(
        !report.comment.contains("hidden-output-7f3"),
        "{}",
        report.comment
    );
}

/// An `env` step whose `command` is `false | cat; echo x`, through `shell` with `shell_args`.
fn piped_env(shell: Option<&str>, shell_args: &[&str]) -> Step {
    Step::Env {
        name: "PIPED".to_owned(),
        source: EnvSource::Command("false | cat; echo x".to_owned()),
        shell: shell.map(str::to_owned),
        shell_args: shell_args.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// `shell: bash` and `shellArgs: -eo pipefail -c` make an `env` step's failing pipeline fail
/// the step, as in Atlantis; through the default `sh -c` the same command sets the variable.
#[test]
fn an_env_step_uses_its_shell_and_arguments() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    let workflow = |env: Step| {
        Some(vec![
            env,
            Step::Init {
                extra_args: Vec::new(),
            },
            Step::Plan {
                extra_args: Vec::new(),
            },
            Step::run("echo \"piped-$PIPED\""),
        ])
    };
    spec.project.workflow = workflow(piped_env(Some("bash"), &["-eo", "pipefail", "-c"]));
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(!report.comment.contains("piped-x"), "{}", report.comment);

    spec.trigger = "delivery-2".to_owned();
    spec.project.workflow = workflow(piped_env(None, &[]));
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(report.comment.contains("piped-x"), "{}", report.comment);
}

/// The variable and the output that shows its value, beside the fixture's `main.tf`.
const SIZE_TF: &str = "variable \"size\" {\n  default = \"small\"\n}\n\n\
                       output \"size\" {\n  value = var.size\n}\n";

/// As in Atlantis, the built-in `plan` adds `-var-file=env/<workspace>.tfvars` when the project
/// has that file. One that is a link to a file outside the repository is refused: Terraform
/// does not read it, and nothing of it reaches the plan or the comment.
#[test]
fn a_plan_reads_env_workspace_tfvars_but_not_through_a_link_out_of_the_repository() {
    let fx = Fixture::new();
    let head = fx.commit_files(&[
        ("envs/app/size.tf", SIZE_TF),
        ("envs/app/env/staging.tfvars", "size = \"from-env-file\"\n"),
    ]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.workspace = "staging".to_owned();
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("from-env-file"),
        "{}",
        report.comment
    );

    let outside = fx.path("outside.tfvars");
    std::fs::write(&outside, "size = \"outside-the-repository-3e1\"\n").unwrap();
    let linked = fx.repo().join("envs/app/env/staging.tfvars");
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    git(&fx.repo(), &["add", "-A"]);
    git(&fx.repo(), &["commit", "--quiet", "-m", "link"]);
    spec.head_sha =
        landfall_function::event::CommitSha::new(git(&fx.repo(), &["rev-parse", "HEAD"]));
    spec.trigger = "delivery-2".to_owned();
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("leads outside the repository")
            && !report.comment.contains("outside-the-repository-3e1"),
        "{}",
        report.comment
    );
}

/// What a step starts in the background dies when the step ends: it cannot rewrite a file (the
/// planfile, a later step's input) after the step, while the runner reads it.
#[test]
fn a_run_steps_background_process_does_not_outlive_it() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mark = fx.path("mark");
    std::fs::write(&mark, "reviewed").unwrap();
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::run(format!(
            "sh -c 'sleep 1; echo swapped > \"$1\"' sh '{}' >/dev/null 2>&1 &",
            mark.display()
        )),
        Step::Plan {
            extra_args: Vec::new(),
        },
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "reviewed");
}
