//! A workflow's steps in the real runner: the shell and arguments of `run` and `env` steps,
//! Atlantis' `env/<workspace>.tfvars` for the built-in `plan`, and a step's background
//! processes, which end with it.

use landfall_e2e::git;
use landfall_function::run::{
    EnvSource, RunCommand, RunOutput, RunStatus, ShellCommand, Step, default_steps,
};

use super::runner_e2e::Fixture;

/// A `run` step through `bash` with `args`, its output shown.
fn bash(command: &str, args: &[&str]) -> Step {
    Step::Run(ShellCommand {
        command: command.to_owned(),
        shell: Some("bash".to_owned()),
        shell_args: args.iter().map(|a| (*a).to_owned()).collect(),
        output: RunOutput::Show,
    })
}

/// A `run` step whose output stays out of the comment.
fn hidden(command: &str) -> Step {
    Step::Run(ShellCommand {
        command: command.to_owned(),
        shell: None,
        shell_args: Vec::new(),
        output: RunOutput::Hide,
    })
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

/// A folder of the fixture holding an executable `name` with `script`, and the `env` step that
/// puts it first on the `PATH` the workflow's steps get (before the tools' `path`).
fn forged_on_path(fx: &Fixture, name: &str, script: &str, path: &std::ffi::OsStr) -> Step {
    use std::os::unix::fs::PermissionsExt as _;
    let forged = fx.path(&format!("forged-{name}"));
    std::fs::create_dir_all(&forged).unwrap();
    std::fs::write(forged.join(name), script).unwrap();
    std::fs::set_permissions(forged.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    Step::env(
        "PATH",
        EnvSource::Value(format!("{}:{}", forged.display(), path.to_string_lossy())),
    )
}

/// A workflow's `env` step that puts a folder of the repository first on `PATH` does not choose
/// the `terraform` the runner plans and shows the plan with (the summary, the policies): the
/// runner found its own at start-up. The one in the folder would forge both.
#[test]
fn an_env_step_that_sets_path_does_not_choose_the_runners_terraform() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let path = landfall_e2e::path_with_tools();
    // What a repository could carry: a `terraform` that says no change, whatever it is asked.
    let forged = forged_on_path(
        &fx,
        "terraform",
        "#!/bin/sh\necho FORGED-BY-PATH\n[ \"$1\" = show ] && \
         echo '{\"format_version\":\"1.2\",\"resource_changes\":[]}'\nexit 0\n",
        &path,
    );
    let mut spec = fx.spec(&head, "delivery-path");
    let mut workflow = vec![forged, Step::run("terraform version")];
    workflow.extend(default_steps(RunCommand::Plan));
    spec.project.workflow = Some(workflow);
    let report = fx.run_with_env(
        &spec,
        &[
            ("LANDFALL_TERRAFORM", "terraform".to_owned()),
            ("PATH", path.to_string_lossy().into_owned()),
        ],
    );
    // The `run` step's `terraform` is the folder's, as the workflow asked; no other is.
    assert_eq!(
        report.comment.matches("FORGED-BY-PATH").count(),
        1,
        "{}",
        report.comment
    );
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let summary = report.summary.expect("a plan summary");
    assert_eq!(summary.counts.add, 1, "{}", report.comment);
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

/// What an `env` step reads (a credential, most often) and what an `output: hide` step prints
/// stay in the runner: not in the stored log (which comments and drift issues link), not in
/// the report, even when a later step prints the value or a hidden step fails.
#[test]
fn env_values_and_hidden_output_are_in_no_text_the_run_keeps() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mut spec = fx.spec(&head, "delivery-1");
    let token = Step::Env {
        name: "VAULT_TOKEN".to_owned(),
        source: EnvSource::Command("printf 's3cr3t-%s' env-4a1b".to_owned()),
        shell: None,
        shell_args: Vec::new(),
    };
    let head_again = Step::Env {
        name: "HEAD_AGAIN".to_owned(),
        source: EnvSource::Command("git rev-parse HEAD".to_owned()),
        shell: None,
        shell_args: Vec::new(),
    };
    spec.project.workflow = Some(vec![
        token.clone(),
        head_again,
        hidden("printf 'hidden-%s' s3cret-9c2"),
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::Plan {
            extra_args: Vec::new(),
        },
        Step::run("echo \"token is $VAULT_TOKEN\""),
    ]);
    let kept = |report: &landfall_function::run::RunReport| {
        let log = report.log.as_ref().expect("the run's log is stored");
        let log = std::fs::read_to_string(fx.path("data/artifacts").join(&log.key)).unwrap();
        format!("{log}\n{}", serde_json::to_string(report).unwrap())
    };
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    let text = kept(&report);
    assert!(text.contains("token is "), "the step ran: {text}");
    for secret in ["s3cr3t-env-4a1b", "hidden-s3cret-9c2"] {
        assert!(!text.contains(secret), "{secret} in: {text}");
    }
    // A value the run's spec holds (its commit) is no secret: the report still names its run.
    assert_eq!(report.head_sha.as_str(), head);
    assert!(
        report.planfile.is_some_and(|p| p.key.contains(&head)),
        "{text}"
    );

    // A hidden step that fails says so, without its output.
    spec.trigger = "delivery-2".to_owned();
    spec.project.workflow = Some(vec![token, hidden("printf 'hidden-%s' s3cret-9c2; exit 3")]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    let text = kept(&report);
    assert!(text.contains("`output: hide`"), "{text}");
    assert!(!text.contains("hidden-s3cret-9c2"), "{text}");
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

/// As in Atlantis, a workflow's `extra_args` name variables (`${WORKSPACE}`, a value an `env`
/// step set) that reach Terraform expanded, while the run's log shows them as written (a
/// variable may hold a credential). A variable the step does not have fails the step.
#[test]
fn workflow_arguments_reach_terraform_with_their_variables_expanded() {
    let fx = Fixture::new();
    let head = fx.commit_files(&[("envs/app/size.tf", SIZE_TF)]);
    let mut spec = fx.spec(&head, "delivery-1");
    spec.project.workspace = "staging".to_owned();
    let suffix = Step::Env {
        name: "SIZE_SUFFIX".to_owned(),
        source: EnvSource::Value("from-env-step-7d2".to_owned()),
        shell: None,
        shell_args: Vec::new(),
    };
    let plan = |arg: &str| Step::Plan {
        extra_args: vec![arg.to_owned()],
    };
    spec.project.workflow = Some(vec![
        suffix.clone(),
        Step::Init {
            extra_args: Vec::new(),
        },
        plan("-var=size=${WORKSPACE}-$SIZE_SUFFIX"),
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("staging-from-env-step-7d2"),
        "{}",
        report.comment
    );
    let log = report.log.as_ref().expect("the run's log is stored");
    let log = std::fs::read_to_string(fx.path("data/artifacts").join(&log.key)).unwrap();
    assert!(
        log.contains("-var=size=${WORKSPACE}-$SIZE_SUFFIX"),
        "shown as written: {log}"
    );

    spec.trigger = "delivery-2".to_owned();
    spec.project.workflow = Some(vec![suffix, plan("-var=size=${NOT_SET_9f1}")]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(report.comment.contains("NOT_SET_9f1"), "{}", report.comment);

    // A commenter's arguments reach Terraform as typed: never expanded.
    spec.trigger = "delivery-3".to_owned();
    spec.project.workflow = None;
    spec.extra_args = vec!["-var=size=$WORKSPACE".to_owned()];
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("\"$WORKSPACE\""),
        "{}",
        report.comment
    );
}

/// What a step starts in the background dies when the step ends, even when it leaves the step's
/// process group (`setsid`): it cannot rewrite a file (the planfile, a later step's input) that
/// the runner or a later step reads. Both ways the runner contains leftovers: as a subreaper
/// (local dispatch) and as process 1 of its PID namespace (a Job).
#[test]
fn a_run_steps_background_processes_do_not_outlive_it_even_in_a_session_of_their_own() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    // Says it runs (once out of the group, if it leaves it), then rewrites the file a second on.
    let rewrite = fx.path("rewrite.sh");
    std::fs::write(
        &rewrite,
        "echo started > \"$2\"; sleep 1; echo swapped > \"$1\"\n",
    )
    .unwrap();
    for (how, as_process_1) in [("subreaper", false), ("process 1", true)] {
        let mark = fx.path(&format!("mark-{}", u8::from(as_process_1)));
        std::fs::write(&mark, "reviewed").unwrap();
        // Each step waits until its leftover runs, so it cannot be killed with the step's group
        // before it has left it.
        let started = |n: u8| {
            let started = format!("{}.started-{n}", mark.display());
            (
                format!("sh {} {} {started}", rewrite.display(), mark.display()),
                format!("while [ ! -e {started} ]; do sleep 0.05; done"),
            )
        };
        let ((in_group, wait_1), (setsid, wait_2), (double_fork, wait_3)) =
            (started(1), started(2), started(3));
        let mut spec = fx.spec(&head, &format!("delivery-{how}"));
        spec.project.workflow = Some(vec![
            Step::Init {
                extra_args: Vec::new(),
            },
            // In the group; out of it (`setsid`); out of it with a parent that exits at once (a
            // daemon's double fork); each leftover rewrites the file a second on.
            Step::run(format!("{in_group} >/dev/null 2>&1 & {wait_1}")),
            Step::run(format!("setsid {setsid} >/dev/null 2>&1 & {wait_2}")),
            Step::run(format!(
                "setsid sh -c '({double_fork} &); exit 0' >/dev/null 2>&1 & {wait_3}"
            )),
            // Out of it as a chain: each process starts the next and exits, so that a killer of
            // children alone is always one step behind. It rewrites the file from 2 s on, and
            // ends by itself 6 s on.
            Step::run(format!(
                "setsid sh -c 'swap=$(($(date +%s) + 2)); end=$((swap + 4)); c() {{ \
                 now=$(date +%s); [ $now -lt $end ] || exit 0; \
                 [ $now -lt $swap ] || echo swapped > {mark}; sleep 0.02; c & exit 0; }}; \
                 echo started > {chain}; c' >/dev/null 2>&1 & \
                 while [ ! -e {chain} ]; do sleep 0.05; done",
                mark = mark.display(),
                chain = format!("{}.started-5", mark.display()),
            )),
            // Out of the group with the step's output still open: the runner reads the output
            // to its end, which would come only when this one ends.
            Step::run(format!(
                "setsid sh -c 'echo started > {holds}; exec sleep 60' & while [ ! -e {holds} ]; \
                 do sleep 0.05; done",
                holds = format!("{}.started-4", mark.display())
            )),
            bash(
                &format!("sleep 3; echo \"mark=$(cat {})\"", mark.display()),
                &["-c"],
            ),
            Step::Plan {
                extra_args: Vec::new(),
            },
        ]);
        let began = std::time::Instant::now();
        let report = if as_process_1 {
            fx.run_as_process_1(&spec)
        } else {
            fx.run(&spec)
        };
        assert_eq!(
            report.status,
            RunStatus::Planned,
            "{how}: {}",
            report.comment
        );
        assert!(
            report.comment.contains("mark=reviewed") && !report.comment.contains("swapped"),
            "{how}: a leftover rewrote the file:\n{}",
            report.comment
        );
        assert!(
            began.elapsed() < std::time::Duration::from_secs(45),
            "{how}: the run waited for a leftover holding its output"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "reviewed", "{how}");
    }
}

/// A project's binary the runner did not find on its own `PATH` at start-up is not looked up
/// later on the `PATH` a workflow's `env` step set: the project fails, naming what is missing,
/// and the repository's `tofu` never runs.
#[test]
fn a_binary_missing_from_the_runners_path_is_refused_not_taken_from_the_workflows() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let path = landfall_e2e::path_with_tools();
    let mark = fx.path("forged-tofu-ran");
    // A name no machine has, so that the runner's own `PATH` (the host's, here) cannot find it.
    let forged = forged_on_path(
        &fx,
        "tofu-missing-7f3c",
        &format!("#!/bin/sh\ntouch {}\nexit 0\n", mark.display()),
        &path,
    );
    let mut spec = fx.spec(&head, "delivery-tofu");
    spec.project.distribution = landfall_function::run::Distribution::OpenTofu;
    let mut workflow = vec![forged];
    workflow.extend(default_steps(RunCommand::Plan));
    spec.project.workflow = Some(workflow);
    let report = fx.run_with_env(
        &spec,
        &[
            ("LANDFALL_TOFU", "tofu-missing-7f3c".to_owned()),
            ("PATH", path.to_string_lossy().into_owned()),
        ],
    );
    assert_eq!(report.status, RunStatus::Failed, "{}", report.comment);
    assert!(
        report.comment.contains("is not on this runner's PATH"),
        "{}",
        report.comment
    );
    assert!(!mark.exists(), "the repository's tofu ran");
}

/// A leftover whose main thread ended while another thread runs shows `Z` in `/proc`, as a
/// zombie does: it is stopped all the same, and cannot rewrite a file after its step.
#[test]
fn a_leftover_whose_main_thread_ended_does_not_outlive_its_step() {
    let fx = Fixture::new();
    let head = git(&fx.repo(), &["rev-parse", "HEAD"]);
    let mark = fx.path("mark-threads");
    std::fs::write(&mark, "reviewed").unwrap();
    let started = fx.path("mark-threads.started");
    let script = fx.path("threads.py");
    std::fs::write(
        &script,
        format!(
            "import ctypes, threading, time\n\
             def later():\n    time.sleep(2)\n    open({mark:?}, 'w').write('swapped')\n\
             threading.Thread(target=later).start()\n\
             open({started:?}, 'w').write('started')\n\
             ctypes.CDLL(None).pthread_exit(None)\n"
        ),
    )
    .unwrap();
    let mut spec = fx.spec(&head, "delivery-threads");
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::run(format!(
            "setsid python3 {} >/dev/null 2>&1 & while [ ! -e {} ]; do sleep 0.05; done; sleep 0.3",
            script.display(),
            started.display()
        )),
        Step::run(format!("sleep 3; echo \"mark=$(cat {})\"", mark.display())),
        Step::Plan {
            extra_args: Vec::new(),
        },
    ]);
    let report = fx.run(&spec);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("mark=reviewed"),
        "{}",
        report.comment
    );
}
