//! The Landfall source tree `landfall up` runs in, if any: where it builds the function
//! package and the runner image from.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The Landfall source tree the command runs in, if any (a workspace with `function/`).
pub fn landfall_source() -> anyhow::Result<Option<PathBuf>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    source_above(&cwd, env!("CARGO_PKG_VERSION"))
}

/// The Landfall source tree at or above `dir` (the workspace that holds `function/` and
/// `bootstrap/`), if its version is `version`. A tree of another version is an error: `up` would
/// build that version's function and runner and push the image under this version's tag, which
/// ECR then keeps for good.
fn source_above(dir: &Path, version: &str) -> anyhow::Result<Option<PathBuf>> {
    let Some(root) = dir.ancestors().find(|d| {
        d.join("function/Cargo.toml").is_file() && d.join("bootstrap/Cargo.toml").is_file()
    }) else {
        return Ok(None);
    };
    let manifest = root.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let found = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("workspace")?
                .get("package")?
                .get("version")?
                .as_str()
                .map(str::to_owned)
        })
        .with_context(|| format!("{} names no workspace version", manifest.display()))?;
    if found != version {
        bail!(
            "{} is the Landfall source of version {found}, and this landfall is {version}: `up` \
             builds the function and the runner image from the source it runs in, and pushes the \
             image tagged {version}. Run the landfall built from that source, or run this one \
             outside it with --function-package and --runner-image",
            root.display()
        );
    }
    Ok(Some(root.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Landfall workspace of `version` in a temporary folder, with a folder inside it.
    fn workspace(version: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for member in ["function", "bootstrap"] {
            fs::create_dir_all(dir.path().join(member)).unwrap();
            fs::write(dir.path().join(member).join("Cargo.toml"), "[package]\n").unwrap();
        }
        fs::write(
            dir.path().join("Cargo.toml"),
            format!("[workspace]\n\n[workspace.package]\nversion = \"{version}\"\n"),
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("docs/deep")).unwrap();
        dir
    }

    #[test]
    fn the_source_of_this_version_is_found_from_inside_it() {
        let dir = workspace("1.4.0");
        let found = source_above(&dir.path().join("docs/deep"), "1.4.0").unwrap();
        assert_eq!(found.as_deref(), Some(dir.path()));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(source_above(elsewhere.path(), "1.4.0").unwrap(), None);
    }

    #[test]
    fn the_source_of_another_version_is_refused_with_what_to_do() {
        let dir = workspace("1.3.2");
        let err = source_above(&dir.path().join("docs"), "1.4.0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("version 1.3.2, and this landfall is 1.4.0"),
            "{err}"
        );
        assert!(
            err.contains("--function-package and --runner-image"),
            "{err}"
        );
    }
}
