//! Which Terraform binary runs a project: the one its exact pinned version names, never
//! another version.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::RunnerOptions;
use crate::config::env_vars::TERRAFORM_VERSIONS_DIR;
use crate::run::RunSpec;

/// The Terraform binary for the project: for a pinned exact version, `<versions dir>/<version>/
/// terraform` or the default binary when it is that version; never another version. A version
/// constraint (`>= 1.5`, `~> 1.9`) is left to Terraform's own `required_version` check.
pub(super) fn pick_terraform(spec: &RunSpec, opts: &RunnerOptions) -> Result<PathBuf, String> {
    let Some(pinned) = spec.project.terraform_version.as_deref() else {
        return Ok(opts.terraform.clone());
    };
    let wanted = pinned.trim().trim_start_matches(['v', '=']).trim();
    let exact = wanted.starts_with(|c: char| c.is_ascii_digit())
        && wanted
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !exact {
        return Ok(opts.terraform.clone());
    }
    if let Some(dir) = &opts.versions_dir {
        let candidate = dir.join(wanted).join("terraform");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let found = installed_version(&opts.terraform)?;
    if found == wanted {
        return Ok(opts.terraform.clone());
    }
    Err(format!(
        "the project pins Terraform {wanted} (terraform_version), but this runner's terraform \
         ({}) is {found}{}. Add Terraform {wanted} to the runner image{}, or change the \
         project's terraform_version.",
        opts.terraform.display(),
        opts.versions_dir
            .as_ref()
            .map_or_else(String::new, |dir| format!(
                " and {} has no {wanted}/terraform",
                dir.display()
            )),
        opts.versions_dir.as_ref().map_or_else(
            || format!(" (as <dir>/{wanted}/terraform with {TERRAFORM_VERSIONS_DIR}=<dir>)"),
            |dir| format!(" as {}", dir.join(wanted).join("terraform").display())
        ),
    ))
}

/// What `terraform version -json` says `terraform` is.
fn installed_version(terraform: &Path) -> Result<String, String> {
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
