//! The local dispatcher starts the real `landfall-runner` as a detached child process with the
//! same inputs a Job gets, returns before the run ends, and answers a second dispatch of the
//! same run with "already dispatched". The runner starts from an empty environment plus an
//! allowlist, not from the function's: a `run` step's `env` shows nothing else.

use std::path::Path;
use std::time::{Duration, Instant};

use landfall_e2e::git;
use landfall_function::dispatch::local::{INHERITED_PREFIXES, INHERITED_VARS};
use landfall_function::dispatch::{DispatchOutcome, Dispatcher as _, LocalDispatcher, RunSecrets};
use landfall_function::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::run::{ProjectSpec, RunCommand, RunReport, RunSpec, RunStatus, Step};
use landfall_function::runner::workflow;
use secrecy::SecretString;

/// The token the dispatcher hands over.
const TOKEN: &str = "local-token-2b7e0c";

/// A repository with one project, `app`, and a dispatcher of the real runner with the plain
/// settings a Job gets; returns the dispatcher, a plan spec for the head and the folder.
fn setup() -> (LocalDispatcher, RunSpec, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("origin");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(
        repo.join("app/main.tf"),
        "resource \"terraform_data\" \"app\" {\n  input = \"v1\"\n}\n",
    )
    .unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "app"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let data = dir.path().join("data");
    let dispatcher = LocalDispatcher::new(
        env!("CARGO_BIN_EXE_landfall-runner"),
        data.join("runs"),
        vec![
            ("LANDFALL_STORE".to_owned(), "embedded".to_owned()),
            ("LANDFALL_DATA_DIR".to_owned(), data.display().to_string()),
            ("LANDFALL_ALLOW_FILE_CLONE".to_owned(), "true".to_owned()),
            (
                "LANDFALL_TERRAFORM".to_owned(),
                landfall_e2e::tool("terraform").display().to_string(),
            ),
            (
                "TF_CLI_CONFIG_FILE".to_owned(),
                landfall_e2e::tools_dir()
                    .join("terraformrc-offline")
                    .display()
                    .to_string(),
            ),
        ],
        Some(SecretString::from(TOKEN)),
    );
    let spec = RunSpec {
        provider: Provider::Gitea,
        repo: RepoName::new("acme/infra"),
        head_repo: RepoName::new("acme/infra"),
        pr: PullRequestNumber(3),
        head_sha: CommitSha::new(head),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("file://{}", repo.display()),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec::new("app"),
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: "gitea:1".to_owned(),
        report_back: None,
        apply: None,
    };
    (dispatcher, spec, dir)
}

/// Waits for run `run_id` to end; returns its log.
async fn wait_for_exit(dispatcher: &LocalDispatcher, run_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_mins(3);
    while dispatcher.exit_status(run_id).is_none() {
        assert!(Instant::now() < deadline, "the runner did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::read_to_string(dispatcher.run_dir(run_id).join("runner.log")).unwrap()
}

#[tokio::test]
async fn a_local_dispatch_runs_the_runner_detached_and_only_once() {
    let (dispatcher, spec, _dir) = setup();
    let head = spec.head_sha.clone();
    let outcome = dispatcher
        .dispatch(&spec, &RunSecrets::default())
        .await
        .unwrap();
    let run_id = spec.run_id();
    assert_eq!(
        outcome,
        DispatchOutcome::Dispatched {
            run_id: run_id.clone()
        }
    );
    // The dispatch returned while the run goes on: Terraform takes seconds, and its exit is
    // recorded only when the process ends.
    assert_eq!(dispatcher.exit_status(&run_id), None);
    assert_eq!(
        dispatcher
            .dispatch(&spec, &RunSecrets::default())
            .await
            .unwrap(),
        DispatchOutcome::AlreadyDispatched {
            run_id: run_id.clone()
        }
    );

    let log = wait_for_exit(&dispatcher, &run_id).await;
    assert_eq!(
        dispatcher.exit_status(&run_id).as_deref(),
        Some("exit status: 0"),
        "{log}"
    );
    let report: RunReport =
        serde_json::from_str(&std::fs::read_to_string(dispatcher.report_path(&run_id)).unwrap())
            .unwrap();
    assert_eq!(report.run_id, run_id);
    assert_eq!(report.head_sha, head);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(report.comment.contains("Plan: 1 to add"));
    assert!(!log.contains(TOKEN));
}

#[tokio::test]
async fn the_runner_starts_from_an_allowlisted_environment() {
    // The function's own environment (this test's) has plenty the runner must not get.
    assert!(std::env::vars().any(|(name, _)| name.starts_with("CARGO_")));
    let (dispatcher, mut spec, _dir) = setup();
    spec.project.workflow = Some(vec![
        Step::Init {
            extra_args: Vec::new(),
        },
        Step::Plan {
            extra_args: Vec::new(),
        },
        Step::run("echo runner-env-dump; env"),
    ]);
    let run_id = spec.run_id();
    assert_eq!(
        dispatcher
            .dispatch(&spec, &RunSecrets::default())
            .await
            .unwrap(),
        DispatchOutcome::Dispatched {
            run_id: run_id.clone()
        }
    );
    let log = wait_for_exit(&dispatcher, &run_id).await;
    let report: RunReport =
        serde_json::from_str(&std::fs::read_to_string(dispatcher.report_path(&run_id)).unwrap())
            .unwrap();
    assert_eq!(
        report.status,
        RunStatus::Planned,
        "{}\n{log}",
        report.comment
    );
    let (_, dump) = report
        .comment
        .split_once("runner-env-dump\n")
        .expect("the env step's output is the comment's");
    let names: Vec<&str> = dump
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(
        names.contains(&"PATH") && names.contains(&"LANDFALL_RUN_ID"),
        "{dump}"
    );

    // Every variable is one the runner was given or sets for its steps, or the shell's own.
    let step_vars = workflow::step_env(&spec, Path::new("/"), Path::new("/p"));
    let known = |name: &str| {
        INHERITED_VARS.contains(&name)
            || INHERITED_PREFIXES.iter().any(|p| name.starts_with(p))
            || name.starts_with("LANDFALL_RUN_")
            || name.starts_with("GIT_CONFIG_")
            || step_vars.iter().any(|(var, _)| *var == name)
            || [
                "LANDFALL_VCS",
                "LANDFALL_STORE",
                "LANDFALL_DATA_DIR",
                "LANDFALL_WORK_DIR",
                "TF_IN_AUTOMATION",
                "TF_INPUT",
                "CHECKPOINT_DISABLE",
                "GIT_TERMINAL_PROMPT",
                "PWD",
                "OLDPWD",
                "SHLVL",
                "_",
            ]
            .contains(&name)
    };
    let unknown: Vec<&&str> = names.iter().filter(|name| !known(name)).collect();
    assert!(
        unknown.is_empty(),
        "not on the allowlist: {unknown:?}\n{dump}"
    );
    assert!(!dump.contains(TOKEN) && !log.contains(TOKEN), "{dump}");
    assert!(!names.contains(&"LANDFALL_VCS_TOKEN"), "{dump}");
}
