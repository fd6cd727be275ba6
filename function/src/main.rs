//! `landfall-function`: the webhook function (under Lambda) or its standalone server.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = landfall_function::cli::Cli::parse();
    match landfall_function::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("landfall-function: {err:#}");
            ExitCode::FAILURE
        }
    }
}
