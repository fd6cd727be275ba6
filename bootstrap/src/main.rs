//! The `landfall` binary: parses the command line and reports errors; `landfall::run` does the rest.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = landfall::Cli::parse();
    match landfall::run(cli, &mut std::io::stdout().lock()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
