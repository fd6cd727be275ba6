//! Runner overhead: everything `landfall-runner` does besides Terraform (process start, reading
//! its inputs, the clone at the head commit, the summary, storing the planfile and log, the
//! comment, the report), measured beside a bare `terraform init && terraform plan -out` of the
//! same project in the same run. Target: at most 1 second of overhead per run.
//!
//! Overhead per run = the runner's wall time minus the time it spent inside Terraform (its
//! report's `terraform_ms`, which covers `init`, `plan` and `show -json`).
//!
//! `cargo bench -p landfall-function --bench runner` (set `RUNNER_BENCH_RUNS` to change the
//! number of runs, default 10).
#![allow(
    clippy::disallowed_methods,
    reason = "a bench's knobs are its own process's variables, not Landfall's settings"
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use landfall_function::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use landfall_function::run::{ProjectSpec, RunCommand, RunSpec};
use landfall_function::run::{RunReport, RunStatus};

const MAIN_TF: &str = "resource \"terraform_data\" \"app\" {\n  input = \"v1\"\n}\n";

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // An index into a short list.
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// A bare `terraform init && terraform plan -out` of a fresh copy of the project.
fn bare_plan(dir: &Path, run: usize) -> Duration {
    let bare_dir = dir.join(format!("bare-{run}"));
    std::fs::create_dir_all(&bare_dir).unwrap();
    std::fs::write(bare_dir.join("main.tf"), MAIN_TF).unwrap();
    let started = Instant::now();
    for args in [
        vec!["init", "-input=false", "-no-color"],
        vec!["plan", "-input=false", "-no-color", "-out=plan.tfplan"],
    ] {
        let status = landfall_e2e::terraform(&bare_dir)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "bare terraform {args:?}");
    }
    started.elapsed()
}

fn main() {
    let runs: usize = std::env::var("RUNNER_BENCH_RUNS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("origin");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(repo.join("app/main.tf"), MAIN_TF).unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "app"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let terraform = landfall_e2e::tool("terraform");
    let cli_config = landfall_e2e::tools_dir().join("terraformrc-offline");

    let mut bare = Vec::new();
    let mut runner_wall = Vec::new();
    let mut overhead = Vec::new();
    let mut clone = Vec::new();
    for run in 0..runs {
        bare.push(bare_plan(dir.path(), run));

        // The runner, on the same project.
        let spec = RunSpec {
            provider: Provider::Github,
            repo: RepoName::new("acme/infra"),
            head_repo: RepoName::new("acme/infra"),
            pr: PullRequestNumber(1),
            head_sha: CommitSha::new(head.clone()),
            head_branch: "change".to_owned(),
            base_branch: "main".to_owned(),
            clone_url: format!("file://{}", repo.display()),
            user: "bench".to_owned(),
            pull_author: "bench".to_owned(),
            command: RunCommand::Plan,
            project: ProjectSpec::new("app"),
            extra_args: Vec::new(),
            operands: Vec::new(),
            trigger: format!("bench-{run}"),
            report_back: None,
            apply: None,
        };
        let report_file = dir.path().join(format!("report-{run}.json"));
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_landfall-runner"))
            .envs(spec.to_env())
            .env("LANDFALL_STORE", "embedded")
            .env("LANDFALL_DATA_DIR", dir.path().join("data"))
            .env("LANDFALL_WORK_DIR", dir.path().join(format!("work-{run}")))
            .env("LANDFALL_PLUGIN_CACHE_DIR", dir.path().join("plugin-cache"))
            .env("LANDFALL_RUN_REPORT", &report_file)
            .env("LANDFALL_TERRAFORM", &terraform)
            .env("LANDFALL_ALLOW_FILE_CLONE", "true")
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("TF_CLI_ARGS", "-no-color")
            .output()
            .unwrap();
        let wall = started.elapsed();
        let report: RunReport =
            serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
        assert_eq!(
            report.status,
            RunStatus::Planned,
            "{}\n{}",
            report.comment,
            String::from_utf8_lossy(&output.stderr)
        );
        runner_wall.push(wall);
        overhead.push(wall.saturating_sub(Duration::from_millis(report.timings.terraform_ms)));
        clone.push(Duration::from_millis(report.timings.clone_ms));
    }
    for list in [&mut bare, &mut runner_wall, &mut overhead, &mut clone] {
        list.sort();
    }
    println!("runner overhead vs bare terraform ({runs} runs, same project)");
    println!("{:<44} {:>10} {:>10} {:>10}", "", "p50", "p90", "max");
    for (name, list) in [
        ("bare terraform init + plan -out", &bare),
        ("landfall-runner plan (wall)", &runner_wall),
        ("  of which clone at head SHA", &clone),
        ("  runner overhead (wall - terraform time)", &overhead),
    ] {
        println!(
            "{name:<44} {:>10} {:>10} {:>10}",
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.9)),
            ms(*list.last().unwrap())
        );
    }
    let worst = *overhead.last().unwrap();
    println!(
        "target: overhead <= 1000 ms per run: {}",
        if worst <= Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}
