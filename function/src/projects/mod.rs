//! From a PR's changed files to the projects to plan.
//!
//! - With a repo config: a project is selected when a changed file matches its `when_modified`
//!   patterns ([`matcher`]), honouring `autoplan.enabled` for automatic plans and `branch` always;
//!   a comment's `-p`/`-d`/`-w` select explicitly.
//! - Without one: [`discover`] finds the root modules and plans those whose files changed or
//!   whose local modules changed, transitively.
//!
//! Either way, a selected project whose directory no longer holds Terraform files at the head
//! commit is reported as deleted (or renamed), not planned.

pub mod discover;
pub mod matcher;

use std::collections::{BTreeMap, BTreeSet};

use globset::GlobSet;
use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::markdown::inline_code;
use crate::repo_config::{
    AutoDiscover, DEFAULT_WHEN_MODIFIED, EffectivePolicy, ResolvedConfig, ResolvedProject,
    normalize_dir,
};

pub use discover::{Reason, TerraformTree};
#[cfg(any(test, feature = "test-support"))]
pub use matcher::naive_matching;
pub use matcher::{PatternInput, ProjectIndex};

/// How a file changed in the PR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// New in the PR.
    Added,
    /// Edited.
    Modified,
    /// Deleted.
    Removed,
    /// Moved from [`ChangedFile::previous_path`] (maybe edited too).
    Renamed,
}

/// One file the PR changes, as the host lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChangedFile {
    /// The path at the head (for removed files, the path that was removed).
    pub path: String,
    /// How it changed.
    pub status: FileStatus,
    /// For renames, the path before.
    pub previous_path: Option<String>,
}

impl ChangedFile {
    /// A modified file.
    #[must_use]
    pub fn modified(path: &str) -> Self {
        ChangedFile {
            path: path.to_owned(),
            status: FileStatus::Modified,
            previous_path: None,
        }
    }

    /// A file with `status`.
    #[must_use]
    pub fn new(path: &str, status: FileStatus) -> Self {
        ChangedFile {
            path: path.to_owned(),
            status,
            previous_path: None,
        }
    }

    /// A file moved from `from` to `to`.
    #[must_use]
    pub fn renamed(from: &str, to: &str) -> Self {
        ChangedFile {
            path: to.to_owned(),
            status: FileStatus::Renamed,
            previous_path: Some(from.to_owned()),
        }
    }

    /// Every path this change touches: the path, and the previous path of a rename.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str()).chain(self.previous_path.as_deref())
    }
}

/// What asks for projects.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// `-p`.
    pub project: Option<String>,
    /// `-d`, normalised.
    pub dir: Option<String>,
    /// `-w`.
    pub workspace: Option<String>,
    /// An automatic plan (PR opened or pushed), which skips projects with autoplan disabled.
    pub automatic: bool,
    /// `--verbose`: the reply links every project's full log, cut or not.
    pub verbose: bool,
}

impl Request {
    /// An automatic plan.
    #[must_use]
    pub fn autoplan() -> Self {
        Request {
            automatic: true,
            ..Request::default()
        }
    }

    /// The selection a comment command asks for.
    #[must_use]
    pub fn from_command(command: &Command) -> Self {
        Request {
            project: command.project.clone(),
            dir: command.dir.as_deref().and_then(normalize_dir),
            workspace: command.workspace.clone(),
            automatic: false,
            verbose: command.verbose,
        }
    }

    /// Whether it is narrowed to some projects (`-p`, `-d` or `-w`) rather than the whole PR.
    #[must_use]
    pub fn is_explicit(&self) -> bool {
        self.project.is_some() || self.dir.is_some() || self.workspace.is_some()
    }
}

/// A project to plan and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The project with every setting decided.
    pub project: ResolvedProject,
    /// Why it is planned.
    pub reason: Reason,
}

/// A project (configured or discovered) whose directory no longer holds Terraform files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The directory that was a project.
    pub dir: String,
    /// The project's name when the config names one.
    pub name: Option<String>,
    /// Where its files went, when the PR renamed them all into one directory.
    pub renamed_to: Option<String>,
}

/// The answer: what to plan, what was deleted, what to mention.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Projects to plan, ordered by `execution_order_group`, then as configured or by directory.
    pub projects: Vec<Selected>,
    /// Projects reported as deleted or renamed, not planned.
    pub deleted: Vec<Deleted>,
    /// Notes for the PR comment (files that could not be parsed, ...).
    pub notes: Vec<String>,
    /// Changed projects an automatic plan left out: their `autoplan` is disabled.
    pub autoplan_disabled: Vec<ResolvedProject>,
}

/// Why a comment's explicit selection cannot be served; the text is the reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// `-p` names no project.
    #[error("no project is named {}{}", inline_code(.name), known_list(.known))]
    UnknownProject {
        /// The name given.
        name: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// `-d` names a directory without Terraform files at the head commit.
    #[error("directory {} holds no Terraform files at the head commit", inline_code(.dir))]
    NotATerraformDir {
        /// The directory given.
        dir: String,
    },
    /// `-d`/`-w` name no configured project.
    #[error(
        "no configured project has dir {} and workspace {}{}",
        inline_code(.dir),
        inline_code(.workspace),
        known_list(.known)
    )]
    NotConfigured {
        /// The directory asked for.
        dir: String,
        /// The workspace asked for (`default` when not given).
        workspace: String,
        /// The projects there are.
        known: Vec<String>,
    },
    /// `-d` names a directory that `autodiscover.ignore_paths` leaves out and no project
    /// configures.
    #[error(
        "directory {} is left out by `autodiscover.ignore_paths` and no project configures it",
        inline_code(.dir)
    )]
    Ignored {
        /// The directory given.
        dir: String,
    },
    /// A `when_modified` pattern does not compile (the config parser checks them, so this is a bug
    /// or a pattern built elsewhere).
    #[error("invalid when_modified pattern: {0}")]
    Pattern(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        // The names come from the repo config, which the pull request may change.
        let known: Vec<String> = known.iter().map(|name| inline_code(name)).collect();
        format!(": the projects are {}", known.join(", "))
    }
}

/// Selects the projects for one PR.
///
/// `tree` is the Terraform tree at the head commit; `changed` the PR's files; `base_branch` the
/// branch the PR targets.
pub fn select(
    config: &ResolvedConfig,
    policy: &EffectivePolicy,
    tree: &TerraformTree,
    changed: &[ChangedFile],
    base_branch: &str,
    request: &Request,
) -> Result<Selection, SelectionError> {
    let configured = |request: &Request| {
        select_configured(&config.projects, tree, changed, base_branch, request)
    };
    let discovered =
        |request: &Request| select_discovered(policy, &config.autodiscover, tree, changed, request);
    let mut selection = if !config.autodiscover() {
        configured(request)?
    } else if config.projects.is_empty() {
        discovered(request)?
    } else if request.is_explicit() {
        // A configured project answers first; a directory nobody configured is discovered.
        match configured(request) {
            Ok(selection) => selection,
            Err(err) => discovered(request).map_err(|_| err)?,
        }
    } else {
        let mut both = configured(request)?;
        let extra = discovered(request)?;
        let is_configured = |dir: &str| config.projects.iter().any(|p| p.dir == dir);
        both.projects.extend(
            extra
                .projects
                .into_iter()
                .filter(|s| !is_configured(&s.project.dir)),
        );
        for gone in extra.deleted {
            if !both.deleted.iter().any(|d| d.dir == gone.dir) {
                both.deleted.push(gone);
            }
        }
        both.projects
            .sort_by_key(|s| s.project.execution_order_group);
        both
    };
    selection.notes.extend(tree.warnings.iter().cloned());
    Ok(selection)
}

fn select_configured(
    projects: &[ResolvedProject],
    tree: &TerraformTree,
    changed: &[ChangedFile],
    base_branch: &str,
    request: &Request,
) -> Result<Selection, SelectionError> {
    let on_branch: Vec<&ResolvedProject> = projects
        .iter()
        .filter(|p| p.branch.as_ref().is_none_or(|b| b.matches(base_branch)))
        .collect();
    let mut chosen: Vec<(ResolvedProject, Reason)> = Vec::new();
    let mut autoplan_disabled = Vec::new();
    if let Some(name) = &request.project {
        // A configured name first; an unnamed project's label only when no project has it.
        let named = |p: &&&ResolvedProject| p.name.as_deref() == Some(name);
        let found: Vec<&&ResolvedProject> = if on_branch.iter().any(|p| named(&p)) {
            on_branch.iter().filter(named).collect()
        } else {
            (on_branch.iter())
                .filter(|p| p.name.is_none() && p.display_name() == *name)
                .collect()
        };
        if found.is_empty() {
            return Err(SelectionError::UnknownProject {
                name: name.clone(),
                known: on_branch.iter().map(|p| p.display_name()).collect(),
            });
        }
        chosen.extend(found.into_iter().map(|p| ((*p).clone(), Reason::Requested)));
    } else if request.is_explicit() {
        let dir = request.dir.clone().unwrap_or_else(|| ".".to_owned());
        let workspace = request
            .workspace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let found: Vec<&&ResolvedProject> = on_branch
            .iter()
            .filter(|p| p.dir == dir && p.workspace == workspace)
            .collect();
        if found.is_empty() {
            return Err(SelectionError::NotConfigured {
                dir,
                workspace,
                known: on_branch.iter().map(|p| p.display_name()).collect(),
            });
        }
        chosen.extend(found.into_iter().map(|p| ((*p).clone(), Reason::Requested)));
    } else {
        let inputs = on_branch.iter().map(|p| PatternInput {
            dir: &p.dir,
            patterns: &p.autoplan.when_modified,
        });
        let index =
            ProjectIndex::new(inputs).map_err(|e| SelectionError::Pattern(e.to_string()))?;
        let mut files: Vec<&str> = changed.iter().flat_map(ChangedFile::paths).collect();
        files.sort_unstable();
        files.dedup();
        for i in index.matching(&files) {
            let p = on_branch[i];
            if request.automatic && !p.autoplan.enabled {
                autoplan_disabled.push(p.clone());
                continue;
            }
            chosen.push((p.clone(), Reason::Changed));
        }
    }
    // A deleted project is named as deleted when selected, never waited for.
    autoplan_disabled.retain(|p| tree.is_terraform_dir(&p.dir) || !tree_is_known(tree));
    let mut selection = Selection {
        autoplan_disabled,
        ..Selection::default()
    };
    let renames = rename_targets(changed);
    for (project, reason) in chosen {
        if tree.is_terraform_dir(&project.dir) || !tree_is_known(tree) {
            selection.projects.push(Selected { project, reason });
        } else if !selection.deleted.iter().any(|d| d.dir == project.dir) {
            selection.deleted.push(Deleted {
                renamed_to: renames.get(project.dir.as_str()).cloned(),
                dir: project.dir.clone(),
                name: project.name.clone(),
            });
        }
    }
    selection
        .projects
        .sort_by_key(|s| s.project.execution_order_group);
    Ok(selection)
}

/// An empty tree means the caller did not fetch one: deletion cannot be judged.
fn tree_is_known(tree: &TerraformTree) -> bool {
    !tree.dirs.is_empty()
}

fn select_discovered(
    policy: &EffectivePolicy,
    autodiscover: &AutoDiscover,
    tree: &TerraformTree,
    changed: &[ChangedFile],
    request: &Request,
) -> Result<Selection, SelectionError> {
    let mut selection = Selection::default();
    let workspace = request
        .workspace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let make = |dir: &str| {
        let mut p = ResolvedProject::with_defaults(policy, dir);
        p.workspace.clone_from(&workspace);
        p
    };
    if let Some(name) = &request.project {
        // Without a config, a project's name is its directory.
        let dir = normalize_dir(name).unwrap_or_else(|| name.clone());
        if !tree.roots().contains(&dir.as_str()) || autodiscover.ignores(&dir) {
            return Err(SelectionError::UnknownProject {
                name: name.clone(),
                known: tree
                    .roots()
                    .iter()
                    .filter(|d| !autodiscover.ignores(d))
                    .map(|s| (*s).to_owned())
                    .collect(),
            });
        }
        selection.projects.push(Selected {
            project: make(&dir),
            reason: Reason::Requested,
        });
        return Ok(selection);
    }
    // `-w` alone names the root directory in that workspace, as in Atlantis (and as it does
    // with a repo config): not every changed directory.
    let dir = (request.dir.clone()).or_else(|| request.workspace.as_ref().map(|_| ".".to_owned()));
    if let Some(dir) = &dir {
        if !tree.is_terraform_dir(dir) {
            return Err(SelectionError::NotATerraformDir { dir: dir.clone() });
        }
        if autodiscover.ignores(dir) {
            return Err(SelectionError::Ignored { dir: dir.clone() });
        }
        selection.projects.push(Selected {
            project: make(dir),
            reason: Reason::Requested,
        });
        return Ok(selection);
    }

    let defaults = default_patterns();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for file in changed {
        for path in file.paths() {
            if !defaults.is_match(path) {
                continue;
            }
            let dir = discover::parent_dir(path);
            match tree.owning_dir(dir) {
                Some(owner) => {
                    touched.insert(owner.to_owned());
                }
                None => {
                    if discover::is_project_file(path) {
                        gone.insert(dir.to_owned());
                    }
                }
            }
            // A directory that lost its last Terraform file is gone even if a parent directory
            // holds Terraform files.
            if discover::is_project_file(path) && !tree.is_terraform_dir(dir) {
                let removed_here = file.status == FileStatus::Removed
                    || (file.status == FileStatus::Renamed
                        && file.previous_path.as_deref() == Some(path));
                if removed_here {
                    gone.insert(dir.to_owned());
                }
            }
        }
    }
    for (dir, reason) in discover::reached_roots(tree, &touched) {
        if autodiscover.ignores(dir) {
            continue;
        }
        selection.projects.push(Selected {
            project: make(dir),
            reason,
        });
    }
    let renames = rename_targets(changed);
    for dir in gone {
        // Directories that were only modules (under modules/) are not projects.
        if dir.split('/').any(|p| p == "modules") || autodiscover.ignores(&dir) {
            continue;
        }
        selection.deleted.push(Deleted {
            renamed_to: renames.get(dir.as_str()).cloned(),
            dir,
            name: None,
        });
    }
    Ok(selection)
}

/// For directories whose Terraform files were all renamed into one other directory: old to new.
fn rename_targets(changed: &[ChangedFile]) -> BTreeMap<&str, String> {
    let mut targets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in changed {
        if let (FileStatus::Renamed, Some(prev)) = (f.status, f.previous_path.as_deref())
            && discover::is_project_file(prev)
        {
            targets
                .entry(discover::parent_dir(prev))
                .or_default()
                .insert(discover::parent_dir(&f.path));
        }
    }
    targets
        .into_iter()
        .filter(|(_, to)| to.len() == 1)
        .filter_map(|(from, to)| to.into_iter().next().map(|t| (from, t.to_owned())))
        .collect()
}

/// Atlantis' default `when_modified` patterns, anywhere in the repository.
fn default_patterns() -> GlobSet {
    let mut b = globset::GlobSetBuilder::new();
    for p in DEFAULT_WHEN_MODIFIED {
        b.add(
            globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .expect("the default patterns are valid"),
        );
    }
    b.build().expect("the default patterns are valid")
}
