//! `landfall locks list|release`: what the Landfall function's locks are, and releasing them by
//! hand. The store is the function's own, chosen by the same environment variables; the logic
//! lives in `landfall_function::store::ops`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use landfall_function::config::FromVariables as _;
use landfall_function::store::StoreConfig;
use landfall_function::store::ops::{self, ReleaseTarget};

pub(crate) const STORE_HELP: &str = "\
The store is chosen like the function's: LANDFALL_STORE=dynamodb with LANDFALL_TABLE (and
AWS_REGION, AWS_ENDPOINT_URL, AWS credentials), or LANDFALL_STORE=embedded with LANDFALL_DATA_DIR
(default .landfall; stop `landfall-function serve` first, it keeps the file open).";

#[derive(Debug, Subcommand)]
pub enum LocksCommand {
    /// List locks: repository, project, directory, workspace, PR, since when, by whom and the
    /// plan status.
    #[command(after_help = STORE_HELP)]
    List(ListArgs),
    /// Release the locks of a PR, or of a project whoever holds them, printing each one.
    #[command(after_help = STORE_HELP)]
    Release(ReleaseArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this repository's locks (owner/name) [default: all, by scanning the table].
    #[arg(long, value_name = "REPO")]
    pub repo: Option<String>,
    /// Print one JSON array of objects (repo, project, dir, workspace, pr, since, ...).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The repository (owner/name).
    #[arg(long, value_name = "REPO")]
    pub repo: String,
    /// Release every lock of this pull request (and discard its plans), except the lock of a
    /// project whose apply (import, state rm) still runs: it is printed as kept, and
    /// `--project` releases it anyway.
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "project",
        conflicts_with = "project"
    )]
    pub pr: Option<u64>,
    /// Release the locks of this project: its name, or its dir (or dir:workspace).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
}

/// Runs `landfall locks ...`.
pub fn run(command: &LocksCommand, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = StoreConfig::from_env().context("cannot read the store configuration")?;
    match command {
        LocksCommand::List(args) => {
            let rows = ops::list_locks_blocking(&config, args.repo.as_deref())?;
            if args.json {
                serde_json::to_writer_pretty(&mut *stdout, &rows)?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{}", ops::render_table(&rows))?;
            }
        }
        LocksCommand::Release(args) => {
            let target = match (&args.pr, &args.project) {
                (Some(pr), _) => ReleaseTarget::Pr(*pr),
                (None, Some(project)) => ReleaseTarget::Project(project.clone()),
                (None, None) => unreachable!("clap requires --pr or --project"),
            };
            let released = ops::release_locks_blocking(&config, &args.repo, &target)?;
            write!(
                stdout,
                "{}",
                ops::render_released(&args.repo, &target, &released)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
