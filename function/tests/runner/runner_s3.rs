//! The runner against a real local S3 (moto): the planfile goes to the artifact bucket with its
//! SHA-256 (`LANDFALL_STORE=dynamodb`, `LANDFALL_BUCKET`, `AWS_ENDPOINT_URL`), and the apply of
//! that plan puts Terraform's state in the S3 backend, locked through DynamoDB. The project's
//! workflow passes the backend settings to `init` as `extra_args`, as a custom workflow would.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use landfall_e2e::{MotoServer, git};
use landfall_function::event::Provider;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::run::Step;
use landfall_function::run::{PlanToApply, ProjectSpec, RunCommand, RunSpec};
use landfall_function::run::{RunReport, RunStatus};
use landfall_function::store::artifacts::sha256_hex;

fn run(moto: &MotoServer, dir: &Path, spec: &RunSpec) -> RunReport {
    let run_id = spec.run_id();
    let report_file = dir.join(format!("{run_id}.json"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landfall-runner"));
    moto.aws_env(&mut cmd);
    let output = cmd
        .envs(spec.to_env())
        .env("LANDFALL_STORE", "dynamodb")
        .env("LANDFALL_TABLE", "landfall")
        .env("LANDFALL_BUCKET", "plans")
        .env("LANDFALL_WORK_DIR", dir.join(format!("work/{run_id}")))
        .env("LANDFALL_PLUGIN_CACHE_DIR", dir.join("plugin-cache"))
        .env("LANDFALL_RUN_REPORT", &report_file)
        .env("LANDFALL_TERRAFORM", landfall_e2e::tool("terraform"))
        .env("LANDFALL_ALLOW_FILE_CLONE", "true")
        .env(
            "TF_CLI_CONFIG_FILE",
            landfall_e2e::tools_dir().join("terraformrc-offline"),
        )
        .output()
        .unwrap();
    let json = std::fs::read_to_string(&report_file).unwrap_or_else(|err| {
        panic!(
            "no report ({err}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_plan_stored_in_s3_applies_into_an_s3_backend() {
    let moto = MotoServer::start().unwrap();
    moto.create_bucket("plans").unwrap();
    moto.create_bucket("state").unwrap();
    moto.create_lock_table("app-tflock").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let backend = dir.path().join("backend.tfbackend");
    std::fs::write(
        &backend,
        moto.backend_config("state", "app/terraform.tfstate", "app-tflock"),
    )
    .unwrap();
    let repo = dir.path().join("origin");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(
        repo.join("app/main.tf"),
        "terraform {\n  backend \"s3\" {}\n}\n\nresource \"terraform_data\" \"app\" {\n  input = \"v1\"\n}\n",
    )
    .unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "app"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let init = Step::Init {
        extra_args: vec![format!("-backend-config={}", backend.display())],
    };
    let mut plan = RunSpec {
        provider: Provider::Gitlab,
        repo: RepoName::new("group/sub/infra"),
        head_repo: RepoName::new("group/sub/infra"),
        pr: PullRequestNumber(12),
        head_sha: CommitSha::new(head.clone()),
        head_branch: "change".to_owned(),
        base_branch: "main".to_owned(),
        clone_url: format!("file://{}", repo.display()),
        user: "dev".to_owned(),
        pull_author: "dev".to_owned(),
        command: RunCommand::Plan,
        project: ProjectSpec {
            timeout: Duration::from_mins(5),
            workflow: Some(vec![
                init.clone(),
                Step::Plan {
                    extra_args: Vec::new(),
                },
            ]),
            ..ProjectSpec::new("app")
        },
        extra_args: Vec::new(),
        operands: Vec::new(),
        trigger: "gitlab:1".to_owned(),
        report_back: None,
        apply: None,
    };
    let report = run(&moto, dir.path(), &plan);
    assert_eq!(report.status, RunStatus::Planned, "{}", report.comment);
    assert!(
        report.comment.contains("Plan: 1 to add"),
        "{}",
        report.comment
    );
    let planfile = report.planfile.clone().unwrap();
    // The helper puts the key into the URL as it is; the key's own `%` must be escaped there.
    let stored = moto
        .get_object("plans", &planfile.key.replace('%', "%25"))
        .unwrap()
        .expect("the planfile is in the bucket");
    assert_eq!(sha256_hex(&stored), planfile.sha256);
    assert!(
        moto.get_object("state", "app/terraform.tfstate")
            .unwrap()
            .is_none(),
        "a plan writes no state"
    );

    plan.project.workflow = Some(vec![
        init,
        Step::Apply {
            extra_args: Vec::new(),
        },
    ]);
    let apply = RunSpec {
        command: RunCommand::Apply,
        trigger: "gitlab:2".to_owned(),
        report_back: None,
        apply: Some(PlanToApply {
            planfile,
            planned_sha: CommitSha::new(head),
        }),
        ..plan
    };
    let applied = run(&moto, dir.path(), &apply);
    assert_eq!(applied.status, RunStatus::Applied, "{}", applied.comment);
    let state = moto
        .get_object("state", "app/terraform.tfstate")
        .unwrap()
        .expect("the apply wrote the state to S3");
    let state = String::from_utf8(state).unwrap();
    assert!(state.contains("\"terraform_data\""), "{state}");
}
