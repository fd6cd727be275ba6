//! A project's identity: the [`LockKey`] the store locks and records under, and the one label
//! every message, comment and `-p` flag uses for it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::RepoName;

/// A project as people name it: its configured name, else its directory, with `:workspace` when
/// the workspace is not `default` (`envs/prod`, `envs/prod:staging`). `landfall apply -p` accepts
/// exactly this.
#[must_use]
pub fn project_label(name: Option<&str>, dir: &str, workspace: &str) -> String {
    match name {
        Some(name) => name.to_owned(),
        None if workspace == "default" => dir.to_owned(),
        None => format!("{dir}:{workspace}"),
    }
}

/// What a lock covers: one Terraform project of one repository, identified by its directory,
/// its workspace and, when the repository config names it, its project name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockKey {
    /// The repository, `owner/name` (GitLab subgroups keep their full path).
    pub repo: String,
    /// The project directory relative to the repository root, `.` for the root.
    pub dir: String,
    /// The Terraform workspace, usually `default`.
    pub workspace: String,
    /// The project name from `landfall.yaml` / `atlantis.yaml`, when the config names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl LockKey {
    /// A key for `dir` in `workspace` of `repo`, without a project name.
    #[must_use]
    pub fn new(
        repo: impl Into<String>,
        dir: impl Into<String>,
        workspace: impl Into<String>,
    ) -> Self {
        Self {
            repo: repo.into(),
            dir: dir.into(),
            workspace: workspace.into(),
            project: None,
        }
    }

    /// The key of a project of `repo`: its name when the repo config names it, its directory
    /// and workspace. Runs and the loop both build keys with this.
    #[must_use]
    pub fn of(repo: &RepoName, name: Option<&str>, dir: &str, workspace: &str) -> Self {
        Self {
            repo: repo.to_string(),
            dir: dir.to_owned(),
            workspace: workspace.to_owned(),
            project: name.map(str::to_owned),
        }
    }

    /// The same key with a project name.
    #[must_use]
    pub fn named(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The project's display name: its configured name, else `dir` (with `:workspace` when the
    /// workspace is not `default`).
    #[must_use]
    pub fn project_label(&self) -> String {
        project_label(self.project.as_deref(), &self.dir, &self.workspace)
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (workspace {}",
            self.repo, self.dir, self.workspace
        )?;
        if let Some(project) = &self.project {
            write!(f, ", project {project}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_the_name_else_the_dir_with_a_workspace_other_than_default() {
        assert_eq!(project_label(Some("prod"), "envs/prod", "blue"), "prod");
        assert_eq!(project_label(None, "envs/prod", "default"), "envs/prod");
        assert_eq!(project_label(None, "envs/prod", "blue"), "envs/prod:blue");
        let key = LockKey::new("acme/infra", "envs/prod", "blue");
        assert_eq!(key.project_label(), "envs/prod:blue");
    }
}
