//! Which binary runs a project: Terraform or OpenTofu (`terraform_distribution`), the newest
//! this runner carries that its `terraform_version` (a version or a constraint) allows, never
//! another version.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::RunnerOptions;
use crate::config::env_vars::TERRAFORM_VERSIONS_DIR;
use crate::run::version::{Constraint, Version};
use crate::run::{Distribution, RunSpec};

/// The binary for the project: `terraform`, or `tofu` for OpenTofu. Without
/// `terraform_version`, as Atlantis does, the project's own `required_version` (its
/// `terraform` blocks in `project_dir`) chooses; without either, the default binary of the
/// distribution. A version or a constraint (such as `~> 1.9`) picks the newest version this
/// runner carries that matches: `<versions dir>/<version>/terraform` (`.../tofu`) for each
/// version there, and the default binary at its own version. None matching fails the project,
/// naming what there is; nothing is downloaded. Also returns the version the default binary
/// printed when choosing it asked it, so that it is not asked again.
pub(super) fn pick_terraform(
    spec: &RunSpec,
    opts: &RunnerOptions,
    project_dir: &Path,
) -> Result<(PathBuf, Option<String>), String> {
    let distribution = spec.project.distribution;
    let default_binary = match distribution {
        Distribution::Terraform => &opts.terraform,
        Distribution::OpenTofu => &opts.tofu,
    };
    let program = distribution.program();
    if !default_binary.is_absolute() {
        // Found on no folder of the runner's own `PATH` at start-up: looked up by name now, it
        // would be whatever a workflow's `env` step put first on the `PATH` it gives its steps.
        let var = match distribution {
            Distribution::Terraform => crate::config::env_vars::TERRAFORM,
            Distribution::OpenTofu => crate::config::env_vars::TOFU,
        };
        return Err(format!(
            "{} (`{}`) is not on this runner's PATH, so the project cannot run: install it in \
             the runner image, or set {var} to its absolute path",
            distribution.title(),
            default_binary.display()
        ));
    }
    let (pinned, source) = match spec.project.terraform_version.clone() {
        Some(pinned) => (pinned, "terraform_version"),
        None => match required_version(project_dir) {
            Some(required) => (required, "required_version"),
            None => return Ok((default_binary.clone(), None)),
        },
    };
    let pinned = pinned.as_str();
    let constraint = match Constraint::parse(pinned) {
        Ok(constraint) => constraint,
        Err(err) if source == "terraform_version" => {
            return Err(format!("terraform_version `{pinned}`: {err}"));
        }
        // A `required_version` this reader does not follow: Terraform checks its own.
        Err(_) => return Ok((default_binary.clone(), None)),
    };
    let mut carried: Vec<(Version, PathBuf)> = Vec::new();
    if let Some(dir) = &opts.versions_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let binary = entry.path().join(program);
            if let Some(version) = entry.file_name().to_str().and_then(Version::parse)
                && binary.is_file()
            {
                carried.push((version, binary));
            }
        }
    }
    let title = distribution.title();
    let default = installed_version(default_binary)?;
    if let Some(version) = Version::parse(&default) {
        carried.push((version, default_binary.clone()));
    }
    let newest = constraint.newest(carried.iter().map(|(v, _)| v)).cloned();
    if let Some(newest) = newest
        && let Some((_, binary)) = carried.iter().find(|(v, _)| *v == newest)
    {
        // The default binary's version as it printed it; a carried one is asked when needed.
        let version = (binary == default_binary).then_some(default);
        return Ok((binary.clone(), version));
    }
    let mut have: Vec<String> = carried.iter().map(|(v, _)| v.to_string()).collect();
    have.sort();
    have.dedup();
    Err(format!(
        "the project asks for {title} `{pinned}` ({source}), and this runner carries none that \
         matches: it has {} ({} is the default{}). Add a matching {title} to the runner \
         image{}, or change the project's {source}.",
        have.join(", "),
        default_binary.display(),
        opts.versions_dir
            .as_ref()
            .map_or_else(String::new, |dir| format!(
                ", the others are in {}",
                dir.display()
            )),
        opts.versions_dir.as_ref().map_or_else(
            || format!(" (as <dir>/<version>/{program} with {TERRAFORM_VERSIONS_DIR}=<dir>)"),
            |dir| format!(" as {}", dir.join("<version>").join(program).display())
        ),
    ))
}

/// What `terraform version -json` says `terraform` is.
pub(super) fn installed_version(terraform: &Path) -> Result<String, String> {
    let out = Command::new(terraform)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .map_err(|err| format!("cannot run {}: {err}", terraform.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|err| {
        format!(
            "{} version -json printed no JSON ({err})",
            terraform.display()
        )
    })?;
    json.get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{} version -json names no version", terraform.display()))
}

/// The project's `required_version`: those of the `terraform` blocks of its `.tf` and `.tofu`
/// files, all of which must hold; `None` when none says one (or a file does not parse:
/// Terraform reports that itself).
fn required_version(project_dir: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project_dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "tf" || ext == "tofu")
                && path.is_file()
        })
        .collect();
    files.sort();
    let mut constraints = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).ok()?;
        let body = hcl::parse(&text).ok()?;
        for block in body.blocks().filter(|b| b.identifier() == "terraform") {
            for attr in block.body().attributes() {
                if attr.key() == "required_version"
                    && let hcl::Expression::String(constraint) = attr.expr()
                {
                    constraints.push(constraint.clone());
                }
            }
        }
    }
    (!constraints.is_empty()).then(|| constraints.join(", "))
}
