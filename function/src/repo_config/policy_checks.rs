//! The policy's `policies` section, Atlantis' server-side format read unchanged: `owners`
//! (`users`, `teams`), `approve_count`, and `policy_sets`, each with `name`, `path` (a `.rego`
//! file or a folder of them, relative to the policy file), `source: local`, and its own
//! `owners`, `approve_count` and `prevent_self_approve`. The runner evaluates the sets
//! ([`crate::run::policy`]); a plan a set fails is applied only after enough owners comment
//! `landfall approve_policies`. `conftest_version` is accepted with a warning (no conftest binary
//! runs); any other `source` is an error.

use std::path::{Path, PathBuf};

use super::read::Reader;
use super::yaml::{Entry, Node};
use crate::run::policy::{Namespaces, PolicyModule, PolicySet};

/// Who may approve failing policies: logins and teams (`org/team`, GitLab group paths).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners {
    /// `users`.
    pub users: Vec<String>,
    /// `teams`.
    pub teams: Vec<String>,
}

/// One `policy_sets` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySetConfig {
    /// The set as runs get it (its modules read by [`PolicyChecks::load_modules`]).
    pub set: PolicySet,
    /// `path`, as written.
    pub path: String,
    /// The set's own `owners` (besides the section's).
    pub owners: Owners,
    /// `approve_count` (default: the section's).
    pub approve_count: Option<u32>,
    /// `prevent_self_approve`: the PR's author may not approve this set's failures.
    pub prevent_self_approve: bool,
}

/// The `policies` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyChecks {
    /// `owners`: may approve every set.
    pub owners: Owners,
    /// `approve_count` (default 1).
    pub approve_count: u32,
    /// `policy_sets`.
    pub sets: Vec<PolicySetConfig>,
}

impl PolicyChecks {
    /// Checks of one set, `name` at the path `name`, approved by one owner of the section: for
    /// tests.
    #[cfg(test)]
    pub(crate) fn of_one_set(name: &str) -> Self {
        PolicyChecks {
            sets: vec![PolicySetConfig {
                set: PolicySet {
                    name: name.to_owned(),
                    modules: Vec::new(),
                    namespaces: Namespaces::default(),
                },
                path: name.to_owned(),
                owners: Owners::default(),
                approve_count: None,
                prevent_self_approve: false,
            }],
            approve_count: 1,
            ..PolicyChecks::default()
        }
    }

    /// The sets as runs get them.
    #[must_use]
    pub fn policy_sets(&self) -> Vec<PolicySet> {
        self.sets.iter().map(|s| s.set.clone()).collect()
    }

    /// The set named `name`.
    #[must_use]
    pub fn set(&self, name: &str) -> Option<&PolicySetConfig> {
        self.sets.iter().find(|s| s.set.name == name)
    }

    /// Reads every set's `.rego` files, `path` relative to `base` (the policy file's folder).
    ///
    /// # Errors
    ///
    /// A path that cannot be read, or holds no `.rego` file: a set that would check nothing.
    pub fn load_modules(&mut self, base: &Path) -> Result<(), String> {
        for set in &mut self.sets {
            let path = base.join(&set.path);
            let mut files = Vec::new();
            if path.is_dir() {
                rego_files(&path, &mut files).map_err(|(dir, e)| {
                    format!("policy set `{}`: {}: {e}", set.set.name, dir.display())
                })?;
            } else {
                files.push(path.clone());
            }
            files.sort();
            if files.is_empty() {
                return Err(format!(
                    "policy set `{}`: {} holds no .rego file",
                    set.set.name,
                    path.display()
                ));
            }
            set.set.modules = files
                .iter()
                .map(|file| {
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        format!("policy set `{}`: {}: {e}", set.set.name, file.display())
                    })?;
                    let name = file.strip_prefix(base).unwrap_or(file);
                    Ok(PolicyModule {
                        path: name.display().to_string(),
                        text,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        Ok(())
    }
}

/// The `.rego` files under `dir` and its folders, as conftest loads a policy folder, but for
/// tests (`_test.rego`); the folder that could not be read on error.
fn rego_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_path_buf(), e))?;
        let path = entry.path();
        // As Go's walk that conftest uses: a linked folder is not entered (a loop, or a
        // ConfigMap mount's `..data` beside its links, would read files again or forever).
        let linked_dir = entry.file_type().is_ok_and(|t| t.is_symlink()) && path.is_dir();
        if linked_dir || entry.file_name().to_string_lossy().starts_with("..") {
            continue;
        }
        if path.is_dir() {
            rego_files(&path, files)?;
        } else if path.extension().is_some_and(|x| x == "rego")
            && !path.to_string_lossy().ends_with("_test.rego")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads the `policies` section.
pub(super) fn read_policy_checks(r: &mut Reader, e: &Entry) -> Option<PolicyChecks> {
    let entries = r.map(&e.value, "`policies`")?;
    let mut out = PolicyChecks {
        approve_count: 1,
        ..PolicyChecks::default()
    };
    for entry in entries {
        let v = &entry.value;
        match entry.key.as_str() {
            "owners" => out.owners = read_owners(r, v)?,
            "approve_count" => out.approve_count = read_count(r, v)?,
            "conftest_version" => {
                r.warning(entry.line, "`policies.conftest_version` is not used: Landfall evaluates the policies itself, no conftest binary runs")
                    .help = Some("remove it to silence this warning".to_owned());
            }
            "policy_sets" => out.sets = r.list(v, "`policies.policy_sets`", read_set),
            _ => r.unknown_key(
                entry,
                "`policies`",
                &["owners", "approve_count", "conftest_version", "policy_sets"],
            ),
        }
    }
    Some(out)
}

fn read_count(r: &mut Reader, node: &Node) -> Option<u32> {
    match r.int(node, "`approve_count`") {
        Some(n @ 1..=100) => u32::try_from(n).ok(),
        Some(n) => {
            r.error(node.line, format!("`approve_count: {n}` must be 1 to 100"));
            None
        }
        None => None,
    }
}

fn read_owners(r: &mut Reader, node: &Node) -> Option<Owners> {
    let mut owners = Owners::default();
    for e in r.map(node, "`owners`")? {
        match e.key.as_str() {
            "users" => owners.users = r.strings(&e.value, "`owners.users`")?,
            "teams" => owners.teams = r.strings(&e.value, "`owners.teams`")?,
            _ => r.unknown_key(e, "`owners`", &["users", "teams"]),
        }
    }
    Some(owners)
}

fn read_set(r: &mut Reader, node: &Node) -> Option<PolicySetConfig> {
    let mut name = None;
    let mut path = None;
    let mut set = PolicySetConfig {
        set: PolicySet {
            name: String::new(),
            modules: Vec::new(),
            namespaces: Namespaces::default(),
        },
        path: String::new(),
        owners: Owners::default(),
        approve_count: None,
        prevent_self_approve: false,
    };
    for e in r.map(node, "each policy set")? {
        let v = &e.value;
        match e.key.as_str() {
            "name" => name = r.non_empty(v, "`name`"),
            "path" => path = r.non_empty(v, "`path`"),
            "source" => match r.string(v, "`source`").as_deref() {
                Some("local") | None => {}
                Some(other) => {
                    r.error(e.line, format!("`source: {other}` is not supported: Landfall reads policy sets from local files"))
                        .help = Some("use `source: local` with a `path` beside the policy file".to_owned());
                }
            },
            "owners" => set.owners = read_owners(r, v)?,
            "approve_count" => set.approve_count = Some(read_count(r, v)?),
            "prevent_self_approve" => {
                set.prevent_self_approve = r.bool(v, "`prevent_self_approve`")?;
            }
            _ => r.unknown_key(
                e,
                "a policy set",
                &[
                    "name",
                    "path",
                    "source",
                    "owners",
                    "approve_count",
                    "prevent_self_approve",
                ],
            ),
        }
    }
    let (Some(name), Some(path)) = (name, path) else {
        r.error(node.line, "each policy set needs `name` and `path`");
        return None;
    };
    set.set.name = name;
    set.path = path;
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set's folder is read as conftest reads it: every `.rego` file below it, in its folders
    /// too (a `deny` rule there counts), but for tests.
    #[test]
    fn a_set_folder_is_read_with_its_subfolders_but_not_its_tests() {
        let base = tempfile::tempdir().unwrap();
        let set = base.path().join("tags");
        std::fs::create_dir_all(set.join("aws/s3")).unwrap();
        for file in [
            "main.rego",
            "aws/s3/buckets.rego",
            "aws/s3/buckets_test.rego",
        ] {
            std::fs::write(set.join(file), "package main\n").unwrap();
        }
        std::fs::write(set.join("README.md"), "not policy").unwrap();
        // A link back up (a loop) and a ConfigMap-style `..data` folder are not read.
        std::os::unix::fs::symlink(&set, set.join("aws/loop")).unwrap();
        std::fs::create_dir(set.join("..2026_12_06")).unwrap();
        std::fs::write(set.join("..2026_12_06/main.rego"), "package main\n").unwrap();
        let mut checks = PolicyChecks::of_one_set("tags");
        checks.load_modules(base.path()).unwrap();
        let read: Vec<&str> = checks.sets[0]
            .set
            .modules
            .iter()
            .map(|m| m.path.as_str())
            .collect();
        assert_eq!(read, ["tags/aws/s3/buckets.rego", "tags/main.rego"]);
    }
}
