//! `landfall apply-lock set|clear|show`: the global apply lock of the Landfall function, Atlantis'
//! "disable apply" switch. While it is set, every `apply` comment is refused with a reply naming
//! who set it, when and why, and nothing else applies either: apply on merge keeps the PR's
//! locks, an apply's later stages and drift remediations are refused. Plans, unlocks and
//! autoplan go on. The store is the function's own,
//! chosen by the same environment variables as `landfall locks`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use landfall_function::store::ops::{self, ApplyLockRequest, describe_apply_lock};
use landfall_function::store::{ApplyLock, now_secs};

use super::locks::STORE_HELP;

#[derive(Debug, Subcommand)]
pub enum ApplyLockCommand {
    /// Refuse every apply (comments, merges, remediations) until the lock is cleared (exit 1 if
    /// someone else's lock is set).
    #[command(after_help = STORE_HELP)]
    Set(SetArgs),
    /// Let applies run again, printing the lock that was cleared.
    #[command(after_help = STORE_HELP)]
    Clear,
    /// Print the lock in force, if any.
    #[command(after_help = STORE_HELP)]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Why applies are stopped (shown in every refusal), e.g. "change freeze until Monday".
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Who sets it, as the refusals name them.
    #[arg(long, value_name = "NAME", env = "USER", default_value = "an operator")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print one JSON object ({"by", "since", "reason"}), or `null` when no lock is set.
    #[arg(long)]
    pub json: bool,
}

/// Runs `landfall apply-lock ...`.
pub fn run(command: &ApplyLockCommand, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = super::locks::store_config()?;
    match command {
        ApplyLockCommand::Set(args) => {
            let lock = ApplyLock {
                by: args.by.clone(),
                since: now_secs(),
                reason: args.reason.clone().filter(|r| !r.trim().is_empty()),
            };
            let request = ApplyLockRequest::Set(lock.clone());
            if let Some(held) = ops::apply_lock_blocking(&config, &request)? {
                writeln!(
                    stdout,
                    "the apply lock is already {}; it was not changed",
                    describe_apply_lock(&held)
                )?;
                return Ok(ExitCode::FAILURE);
            }
            writeln!(
                stdout,
                "apply lock {}: every apply is refused until `landfall apply-lock clear`",
                describe_apply_lock(&lock)
            )?;
        }
        ApplyLockCommand::Clear => {
            match ops::apply_lock_blocking(&config, &ApplyLockRequest::Clear)? {
                Some(lock) => writeln!(
                    stdout,
                    "cleared the apply lock {}",
                    describe_apply_lock(&lock)
                )?,
                None => writeln!(stdout, "no apply lock was set; nothing cleared")?,
            }
        }
        ApplyLockCommand::Show(args) => {
            let lock = ops::apply_lock_blocking(&config, &ApplyLockRequest::Show)?;
            if args.json {
                serde_json::to_writer_pretty(&mut *stdout, &lock)?;
                writeln!(stdout)?;
            } else {
                match lock {
                    Some(lock) => writeln!(stdout, "apply lock {}", describe_apply_lock(&lock))?,
                    None => writeln!(stdout, "no apply lock is set: applies run")?,
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
