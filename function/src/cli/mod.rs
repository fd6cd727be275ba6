//! The `landfall-function` command line: clap types here, one module per subcommand with its
//! `Args` and `run`; this module only dispatches.

mod inspect;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use self::inspect::InspectArgs;
pub use self::serve::ServeArgs;

/// Serverless pull-request automation for Terraform: the webhook function.
///
/// Under AWS Lambda (when `AWS_LAMBDA_RUNTIME_API` is set) it runs the Lambda handler with no
/// arguments. Elsewhere, `serve` runs the same handler over plain HTTP.
#[derive(Debug, Parser)]
#[command(name = "landfall-function", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the webhook handler over plain HTTP (configured by the LANDFALL_* environment
    /// variables; see docs/function.md).
    Serve(ServeArgs),
    /// Tools for webhook deliveries.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

/// `landfall-function webhook ...`
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Read one delivery and print the normalised event as JSON.
    Inspect(InspectArgs),
}

/// Runs this process's command line. Lambda starts the function with no arguments: then the
/// parser is not built at all, which keeps it out of the cold start.
pub fn main() -> anyhow::Result<ExitCode> {
    if std::env::args_os().len() <= 1 {
        return no_command();
    }
    run(Cli::parse())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Webhook(WebhookCommand::Inspect(args))) => inspect::run(&args),
        Some(Command::Serve(args)) => serve::run(&args),
        None => no_command(),
    }
}

/// No subcommand: the Lambda handler when the runtime API is present, else an error.
fn no_command() -> anyhow::Result<ExitCode> {
    if crate::config::process::under_lambda() {
        return serve::run_lambda();
    }
    anyhow::bail!(
        "no command given: run `landfall-function serve --listen ADDR`, or run under AWS Lambda"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
