//! The local dispatcher starts the real `landfall-runner` as a detached child process with the
//! same inputs a Job gets, returns before the run ends, and answers a second dispatch of the
//! same run with "already dispatched".

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use landfall_function::dispatch::{
    DispatchOutcome, Dispatcher as _, LocalDispatcher, ProjectSpec, RunCommand, RunSpec,
};
use landfall_function::event::Provider;
use landfall_function::runner::{RunReport, RunStatus};
use secrecy::SecretString;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_local_dispatch_runs_the_runner_detached_and_only_once() {
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
        Some(SecretString::from("local-token")),
    );
    let spec = RunSpec {
        provider: Provider::Gitea,
        repo: "acme/infra".to_owned(),
        head_repo: "acme/infra".to_owned(),
        pr: 3,
        head_sha: head.clone(),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("file://{}", repo.display()),
        user: "octocat".to_owned(),
        pull_author: "octocat".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec::new("app"),
        extra_args: Vec::new(),
        trigger: "gitea:1".to_owned(),
        report_back: None,
        apply: None,
    };

    let outcome = dispatcher.dispatch(&spec).await.unwrap();
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
        dispatcher.dispatch(&spec).await.unwrap(),
        DispatchOutcome::AlreadyDispatched {
            run_id: run_id.clone()
        }
    );

    let deadline = Instant::now() + Duration::from_mins(3);
    while dispatcher.exit_status(&run_id).is_none() {
        assert!(Instant::now() < deadline, "the runner did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dispatcher.run_dir(&run_id).join("runner.log")).unwrap();
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
    assert!(!log.contains("local-token"));
}
