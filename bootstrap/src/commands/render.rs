//! `landfall render`: writes terraform/ and manifests/, or with `--check` shows what would change.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::RenderArgs;
use crate::config::Config;
use crate::output;

pub fn run(args: &RenderArgs, stdout: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = Config::load_to_render(&args.target.config)?;
    let out = super::output_dir(&args.target.config, args.target.out.as_deref());
    let changes = super::plan_render(&config, &out)?;
    if args.check {
        if changes.is_empty() {
            writeln!(stdout, "{} is up to date", out.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        stdout.write_all(output::unified_diff(&changes).as_bytes())?;
        eprintln!(
            "{} file(s) in {} differ from {}; run `landfall render` to update them",
            changes.len(),
            out.display(),
            args.target.config.display()
        );
        return Ok(ExitCode::from(1));
    }
    super::write_changes(&out, &changes, stdout)?;
    Ok(ExitCode::SUCCESS)
}
