//! `landfall-function`: the webhook function (under Lambda) or its standalone server.

use std::process::ExitCode;

fn main() -> ExitCode {
    match landfall_function::cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("landfall-function: {err:#}");
            ExitCode::FAILURE
        }
    }
}
