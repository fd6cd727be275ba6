//! `landfall`, the bootstrap CLI: renders the Terraform and Argo CD layout of a Landfall platform
//! from `landfall.toml`, and keeps the app of apps in step as applications come and go.
//!
//! Layers: [`cli`] holds the clap types, [`config`] reads and validates `landfall.toml`,
//! [`render`] turns a configuration into a file tree in memory, [`output`] writes a tree safely,
//! and [`commands`] ties them together, one module per subcommand.

pub mod cli;
pub mod commands;
pub mod config;
pub mod names;
pub mod output;
pub mod package;
pub mod render;
pub mod up;

use std::io::Write;
use std::process::ExitCode;

pub use cli::Cli;

/// Runs one command line, writing its report to `stdout`.
pub fn run(cli: Cli, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    use cli::{AppCommand, Command};
    match cli.command {
        Command::Init(args) => commands::init::run(&args, stdout),
        Command::Render(args) => commands::render::run(&args, stdout),
        Command::App(AppCommand::Add(args)) => commands::app::add(&args, stdout),
        Command::App(AppCommand::Remove(args)) => commands::app::remove(&args, stdout),
        Command::App(AppCommand::List(args)) => commands::app::list(&args, stdout),
        Command::Demo(args) => commands::demo::run(&args, stdout),
        Command::Locks(command) => commands::locks::run(&command, stdout),
        Command::Drift(args) => commands::drift::run(&args, stdout),
        Command::ApplyLock(command) => commands::apply_lock::run(&command, stdout),
        Command::Up(args) => commands::up::run_up(&args, stdout),
        Command::Down(args) => commands::up::run_down(&args, stdout),
    }
}
