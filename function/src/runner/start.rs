//! `landfall-runner`'s start-up: the `git-credential` subcommand, or the run from its
//! `LANDFALL_RUN_*` variables with a token (given, read from its ARN, or a GitHub App's), then
//! the report: written to `LANDFALL_RUN_REPORT` when set, and printed as the last line of stdout.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use super::execute::run;
use super::report_back;
use super::{RunnerOptions, git};
#[cfg(feature = "function")]
use crate::config::FromVariables as _;
use crate::config::{env_vars as function_env, process as settings};
use crate::run::RunSpec;
use crate::store::AnyArtifacts;
#[cfg(feature = "function")]
use crate::store::StoreConfig;
#[cfg(feature = "function")]
use crate::store::artifacts::{LocalArtifacts, S3Artifacts};
use crate::store::presigned::PresignedArtifacts;

#[cfg(feature = "function")]
/// The artifact store the runner writes to, from the function's own store settings. The
/// embedded store's database is not opened: the runner only writes artifacts, and the function
/// that owns the database records the report.
pub async fn artifacts_from_env() -> Result<AnyArtifacts, String> {
    Ok(match StoreConfig::from_env().map_err(|e| e.to_string())? {
        StoreConfig::DynamoDb {
            bucket, path_style, ..
        } => {
            let sdk = crate::aws::sdk_config().await;
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(path_style)
                    .build(),
            );
            AnyArtifacts::S3(S3Artifacts::new(s3, bucket))
        }
        StoreConfig::Embedded { data_dir } => {
            AnyArtifacts::Local(LocalArtifacts::new(data_dir.join("artifacts")))
        }
    })
}

/// The runner's own build (the image's, without the `function` feature) has no store settings:
/// a Job writes its artifacts only through the links its run was handed.
#[cfg(not(feature = "function"))]
#[allow(
    clippy::unused_async,
    reason = "the same signature as the function's build"
)]
pub async fn artifacts_from_env() -> Result<AnyArtifacts, String> {
    Err(format!(
        "no artifact links were handed over ({}): this runner build writes artifacts only through \
         the links its run is given",
        function_env::RUN_ARTIFACTS
    ))
}

/// The VCS token from Secrets Manager (a local run configured with `LANDFALL_VCS_TOKEN_ARN`).
#[cfg(feature = "function")]
async fn token_from_arn(arn: &str) -> Result<secrecy::SecretString, String> {
    crate::config::read_secret_arn(function_env::VCS_TOKEN_ARN, arn)
        .await
        .map_err(|e| e.to_string())
}

/// The image's runner reads no secret from AWS: the function hands each run its token.
#[cfg(not(feature = "function"))]
#[allow(
    clippy::unused_async,
    reason = "the same signature as the function's build"
)]
async fn token_from_arn(_arn: &str) -> Result<secrecy::SecretString, String> {
    Err(format!(
        "{} is set, but this runner build reads no secret from AWS: the function hands each run \
         its token",
        function_env::VCS_TOKEN_ARN
    ))
}

/// SIGINT (a local `landfall cancel`) and SIGTERM (the Job deleted) cancel the run: the step
/// running is stopped as at the deadline, its process group first asked with SIGINT, and the
/// run reports. Watched on a thread of its own, since steps block the run's own thread.
fn cancel_on_signals() {
    let watch = || -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("landfall-runner: cancelled: stopping the step that runs");
            super::process::request_cancel();
            Ok(())
        })
    };
    let spawned = std::thread::Builder::new()
        .name("cancel".into())
        .spawn(move || {
            if let Err(err) = watch() {
                eprintln!("landfall-runner: cannot watch for cancel signals: {err}");
            }
        });
    if let Err(err) = spawned {
        eprintln!("landfall-runner: cannot watch for cancel signals: {err}");
    }
}

/// `landfall-runner`'s whole program; `main` only calls this.
#[must_use]
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("git-credential") {
        let operation = args.get(1).map_or("get", String::as_str);
        return match git::credential_helper_main(
            operation,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("landfall-runner git-credential: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if !args.is_empty() {
        eprintln!(
            "landfall-runner takes its inputs from LANDFALL_RUN_* variables (see docs/runs.md); \
             the only subcommand is `git-credential`"
        );
        return ExitCode::from(2);
    }
    if let Err(err) = git::move_token_off_environment() {
        eprintln!("landfall-runner: taking the token out of the environment failed: {err}");
        return ExitCode::from(2);
    }
    let spec = match RunSpec::from_lookup(settings::var) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("landfall-runner: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = super::leftovers::contain() {
        eprintln!("landfall-runner: cannot become the subreaper of the steps' processes: {err}");
        return ExitCode::from(2);
    }
    cancel_on_signals();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("landfall-runner: starting the async runtime failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(async {
        let mut opts = RunnerOptions::from_env().map_err(|e| (2, e))?;
        if opts.token.is_none()
            && let Some(arn) = settings::var(function_env::VCS_TOKEN_ARN)
        {
            opts.token = Some(token_from_arn(&arn).await.map_err(|e| (2, e))?);
        }
        let artifacts = match git::handed_over(function_env::RUN_ARTIFACTS) {
            Some(json) => {
                let links = serde_json::from_str(&json).map_err(|e| {
                    (
                        2,
                        format!("{} is not readable: {e}", function_env::RUN_ARTIFACTS),
                    )
                })?;
                AnyArtifacts::Presigned(
                    PresignedArtifacts::new(links).map_err(|e| (2, e.to_string()))?,
                )
            }
            None => artifacts_from_env().await.map_err(|e| (2, e))?,
        };
        let report = run(&spec, &opts, &artifacts).await;
        if spec.report_back.is_some() {
            report_back::post(&spec, &report)
                .await
                .map_err(|e| (1, format!("reporting the result failed: {e:#}")))?;
        }
        Ok(report)
    });
    let report = match report {
        Ok(report) => report,
        Err((code, err)) => {
            eprintln!("landfall-runner: {err}");
            return ExitCode::from(code);
        }
    };
    let json = serde_json::to_string(&report).expect("a report serialises");
    if let Some(path) = settings::var_os(function_env::RUN_REPORT)
        && let Err(err) = fs::write(&path, &json)
    {
        eprintln!(
            "landfall-runner: writing the report to {} failed: {err}",
            Path::new(&path).display()
        );
    }
    println!("{json}");
    if report.status.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
