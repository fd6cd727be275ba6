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
The store is named by the function's variables, and LANDFALL_STORE must be set:
LANDFALL_STORE=dynamodb with LANDFALL_TABLE=<name>-landfall and LANDFALL_BUCKET (the platform's:
see the function's environment), AWS_REGION and AWS credentials; or LANDFALL_STORE=embedded with
LANDFALL_DATA_DIR (a local `landfall-function serve`'s, default .landfall; stop it first, it
keeps the file open).";

/// The function's store, named by the function's variables. `LANDFALL_STORE` must be set: the
/// function's own default outside Lambda, an embedded store in this folder, is not the deployed
/// platform's, and a change freeze or a release there would silently do nothing.
pub(crate) fn store_config() -> anyhow::Result<StoreConfig> {
    use landfall_function::config::env_vars;
    if std::env::var_os(env_vars::STORE).is_none_or(|v| v.is_empty()) {
        anyhow::bail!(
            "{} is not set: name the store to use. The platform's: {}=dynamodb {}=<name>-landfall \
             {}=<the function's bucket> AWS_REGION=<region>; a local `landfall-function \
             serve`'s: {}=embedded ({}, default .landfall)",
            env_vars::STORE,
            env_vars::STORE,
            env_vars::TABLE,
            env_vars::BUCKET,
            env_vars::STORE,
            env_vars::DATA_DIR,
        );
    }
    StoreConfig::from_env().context("cannot read the store configuration")
}

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
    let config = store_config()?;
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
