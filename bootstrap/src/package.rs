//! The function's Lambda package as the platform ships it: the built function, and with it the
//! operator's policy (`[function] policy` in landfall.toml: Atlantis' `repos.yaml`) and the
//! `.rego` files of its local policy sets, under `policy/`. Lambda unpacks the package into
//! `/var/task`, where the function reads the policy at start-up (`LANDFALL_POLICY`).

use std::io::{Cursor, Read as _, Write as _};
use std::path::{Component, Path};

use anyhow::Context as _;
use zip::write::SimpleFileOptions;

/// The folder of the package that holds the policy.
const POLICY_DIR: &str = "policy/";
/// Where the function finds the policy once Lambda unpacked the package.
pub const LAMBDA_POLICY_PATH: &str = "/var/task/policy/repos.yaml";

/// The files the policy at `path` needs beside it in the package, by their path under
/// `policy/`: `repos.yaml` (the policy itself) and each `.rego` file of its local policy sets.
/// The policy is read and checked by the function's own loader, as the function will at
/// start-up. A set outside the policy's folder cannot be shipped, and is an error.
pub fn policy_files(path: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let policy = landfall_function::repo_config::Policy::load(path).map_err(|err| {
        // With its causes: "cannot read the policy file x: No such file or directory".
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(inner) = cause {
            text = format!("{text}: {inner}");
            cause = inner.source();
        }
        text
    })?;
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut files = vec![("repos.yaml".to_owned(), text)];
    for set in policy.policy_checks.iter().flat_map(|checks| &checks.sets) {
        for module in &set.set.modules {
            let inside = Path::new(&module.path)
                .components()
                .all(|part| matches!(part, Component::Normal(_)));
            if !inside {
                return Err(format!(
                    "policy set `{}`: {} is not inside the policy's folder, so it cannot be \
                     shipped with the function: keep the set's files beside {}",
                    set.set.name,
                    module.path,
                    path.display()
                ));
            }
            files.push((module.path.clone(), module.text.clone().into_bytes()));
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    Ok(files)
}

/// `package` (a zip) with `policy` under `policy/` in place of whatever was there: the
/// function's own entries are copied as they are, byte for byte, and the policy's files are
/// stored with fixed times, so that the same inputs give the same package (Terraform compares
/// its hash). A package with no policy to add or remove is returned as it is.
pub fn with_policy(package: &[u8], policy: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let mut archive = match zip::ZipArchive::new(Cursor::new(package)) {
        Ok(archive) => archive,
        // Nothing to add, and no policy in it to take out.
        Err(_) if policy.is_empty() => return Ok(package.to_vec()),
        Err(err) => return Err(err).context("the function package is not a zip"),
    };
    let had_policy = archive
        .file_names()
        .any(|name| name.is_ok_and(|name| name.starts_with(POLICY_DIR)));
    if policy.is_empty() && !had_policy {
        return Ok(package.to_vec());
    }
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index)?;
        if !entry.name()?.starts_with(POLICY_DIR) {
            out.raw_copy_file(entry)?;
        }
    }
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, bytes) in policy {
        out.start_file(format!("{POLICY_DIR}{name}"), options)?;
        out.write_all(bytes)?;
    }
    Ok(out.finish()?.into_inner())
}

/// The policy files a package holds, by their path under `policy/` (for tests and checks).
pub fn policy_in(package: &[u8]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(package))?;
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        if let Some(name) = entry.name()?.strip_prefix(POLICY_DIR).map(str::to_owned) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            files.push((name, bytes));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package as `cargo lambda` builds it: one deflated `bootstrap`.
    fn function_package() -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().unix_permissions(0o755);
        out.start_file("bootstrap", options).unwrap();
        out.write_all(&b"\x7fELF the function ".repeat(200))
            .unwrap();
        out.finish().unwrap().into_inner()
    }

    fn entries(package: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(package)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut entry = archive.by_index(i).unwrap();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                (entry.name().unwrap().into_owned(), bytes)
            })
            .collect()
    }

    #[test]
    fn the_policy_goes_beside_the_function_replaces_an_older_one_and_goes_when_unset() {
        let built = function_package();
        assert_eq!(
            with_policy(&built, &[]).unwrap(),
            built,
            "nothing to add: as it is"
        );
        let first = vec![
            ("repos.yaml".to_owned(), b"repos:\n- id: /.*/\n".to_vec()),
            ("tags/deny.rego".to_owned(), b"package tags\n".to_vec()),
        ];
        let shipped = with_policy(&built, &first).unwrap();
        assert_eq!(
            with_policy(&built, &first).unwrap(),
            shipped,
            "the same inputs, the same bytes"
        );
        let all = entries(&shipped);
        assert_eq!(
            all[0],
            entries(&built)[0],
            "the function is copied as it was"
        );
        assert_eq!(policy_in(&shipped).unwrap(), first);

        let second = vec![("repos.yaml".to_owned(), b"repos: []\n".to_vec())];
        let again = with_policy(&shipped, &second).unwrap();
        assert_eq!(
            policy_in(&again).unwrap(),
            second,
            "the older policy's files are gone"
        );
        assert_eq!(entries(&again)[0], entries(&built)[0]);

        let unset = with_policy(&again, &[]).unwrap();
        assert!(policy_in(&unset).unwrap().is_empty());
        assert_eq!(entries(&unset), entries(&built));
    }

    #[test]
    fn a_policy_is_checked_by_the_functions_loader_and_ships_its_sets_files() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("repos.yaml");
        std::fs::create_dir_all(dir.path().join("policies/tags")).unwrap();
        std::fs::write(
            dir.path().join("policies/tags/deny.rego"),
            "package main\ndeny contains msg if { false; msg := \"x\" }\n",
        )
        .unwrap();
        let text = "repos:\n- id: /.*/\npolicies:\n  owners:\n    users: [lead]\n  policy_sets:\n  - name: tags\n    path: policies/tags\n    source: local\n";
        std::fs::write(&policy, text).unwrap();
        let files = policy_files(&policy).unwrap();
        let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["policies/tags/deny.rego", "repos.yaml"]);

        // A set the function could read here but that would not be in the package.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("deny.rego"), "package main\n").unwrap();
        let elsewhere = outside.path().display().to_string();
        std::fs::write(&policy, text.replace("policies/tags", &elsewhere)).unwrap();
        let err = policy_files(&policy).unwrap_err();
        assert!(err.contains("not inside the policy's folder"), "{err}");

        std::fs::write(
            &policy,
            "repos:\n- id: /.*/\n  apply_requirements: [sometimes]\n",
        )
        .unwrap();
        let err = policy_files(&policy).unwrap_err();
        assert!(err.contains("sometimes"), "{err}");
    }
}
