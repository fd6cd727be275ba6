//! One module per subcommand, plus the regeneration step they share.

pub mod app;
pub mod apply_lock;
pub mod demo;
pub mod drift;
pub mod init;
pub mod locks;
pub mod render;
pub mod up;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::output::{self, Change};
use crate::render::Renderer;

/// The folder output goes to: `--out`, else the configuration file's folder.
pub(crate) fn output_dir(config_path: &Path, out: Option<&Path>) -> PathBuf {
    match out {
        Some(out) => out.to_owned(),
        None => match config_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        },
    }
}

/// Renders `config` and plans writing it into `out`, without writing anything.
pub(crate) fn plan_render(config: &Config, out: &Path) -> anyhow::Result<Vec<Change>> {
    let tree = Renderer::new().render(config)?;
    output::plan(out, &tree).with_context(|| format!("cannot render into {}", out.display()))
}

/// Carries out planned changes and says what was done, one line per file.
pub(crate) fn write_changes(
    out: &Path,
    changes: &[Change],
    stdout: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    output::apply(out, changes).with_context(|| format!("cannot render into {}", out.display()))?;
    if changes.is_empty() {
        writeln!(stdout, "{} is up to date", out.display())?;
        return Ok(());
    }
    for change in changes {
        let verb = match change {
            Change::Create { .. } => "created",
            Change::Update { .. } => "updated",
            Change::Delete { .. } => "removed",
        };
        writeln!(stdout, "  {verb:<8}{}", out.join(change.path()).display())?;
    }
    Ok(())
}
