//! `landfall drift`: what the Landfall function's scheduled drift checks found. The store is
//! the function's own, chosen by the same environment variables as `landfall locks`; the logic
//! lives in `landfall_function::store::drift_ops`.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use landfall_function::store::drift_ops;

use super::locks::STORE_HELP;

#[derive(Debug, Args)]
#[command(after_help = STORE_HELP)]
pub struct DriftArgs {
    /// Only this repository's projects (owner/name) [default: every repository].
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Every checked project, in sync too [default: only drifted and failed checks].
    #[arg(long)]
    pub all: bool,
    /// Print one JSON array of objects (repo, project, dir, workspace, state, since, checked_at,
    /// checked_sha, summary, addresses, skipped, last_remediation).
    #[arg(long)]
    pub json: bool,
}

/// Runs `landfall drift`: exit status 0 when nothing listed drifts, 2 when something does (as
/// `terraform plan -detailed-exitcode`), 1 on errors.
pub fn run(args: &DriftArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match listed(args, stdout) {
        Ok(code) => Ok(code),
        // 2 says "drifted" here, so an error is 1: a CI job must not take one for the other.
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn listed(args: &DriftArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = super::locks::store_config()?;
    let rows = drift_ops::list_drift_blocking(&config, args.repo.as_deref(), args.all)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *stdout, &rows)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", drift_ops::render_drift(&rows))?;
    }
    let drifted = rows.iter().any(|row| row.state == "drifted");
    Ok(if drifted {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
