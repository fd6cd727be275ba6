//! `landfall-function`: the webhook function (under Lambda) or its standalone server.

use clap::Parser;

/// Serverless pull-request automation for Terraform.
#[derive(Debug, Parser)]
#[command(name = "landfall-function", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!("landfall-function: nothing to run yet");
    std::process::exit(2);
}
