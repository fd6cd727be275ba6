//! What a merge changed of a project's inputs: its directory, the local modules it calls, and
//! the repo config, compared between the commit its plan was made at and the merge commit.

use std::collections::{BTreeMap, BTreeSet};

use crate::event::{CommitSha, RepoName};
use crate::orchestrate::Context;
use crate::projects::discover::{TerraformTree, is_project_file};
use crate::vcs::tree::{HeadFiles, TreeFilter, read_files};

impl Context {
    /// For each project (the commit it was planned or applied at, its directory), whether its
    /// inputs differ between that commit and `merge_sha`: any file under its directory or the
    /// directories of the local modules it calls (transitively, at either commit), or the repo
    /// config.
    pub(crate) async fn inputs_changed(
        &self,
        repo: &RepoName,
        items: &[(&str, &str)],
        merge_sha: &CommitSha,
        config_files: &[String],
    ) -> anyhow::Result<Vec<bool>> {
        let merged = HeadFiles::read(&self.vcs, repo, merge_sha, config_files).await?;
        let mut planned: BTreeMap<String, HeadFiles> = BTreeMap::new();
        for (sha, _) in items {
            if !planned.contains_key(*sha) {
                let files =
                    HeadFiles::read(&self.vcs, repo, &CommitSha::new(*sha), config_files).await?;
                planned.insert((*sha).to_owned(), files);
            }
        }
        let merged_tree = merged.tree();
        let mut inputs: Vec<BTreeSet<String>> = Vec::new();
        for (sha, dir) in items {
            let at_plan = &planned[*sha];
            let mut dirs = module_closure(&merged_tree, dir);
            dirs.extend(module_closure(&at_plan.tree(), dir));
            inputs.push(dirs);
        }
        // Every other file under those directories (variables files, templates), both sides.
        let all: BTreeSet<String> = inputs.iter().flatten().cloned().collect();
        let others = move |p: &str| !is_project_file(p) && under_any(p, &all);
        let wanted = TreeFilter::new(others);
        let merged_other = read_files(&self.vcs, repo, merge_sha, &wanted).await?;
        let mut changed = Vec::new();
        for ((sha, _), dirs) in items.iter().zip(&inputs) {
            let at_plan = &planned[*sha];
            let sha = CommitSha::new(*sha);
            let planned_other = read_files(&self.vcs, repo, &sha, &wanted).await?;
            let pick = |tf: &[(String, String)], other: &[(String, Vec<u8>)]| {
                let mut files: BTreeMap<String, Vec<u8>> = tf
                    .iter()
                    .filter(|(p, _)| under_any(p, dirs))
                    .map(|(p, t)| (p.clone(), t.clone().into_bytes()))
                    .collect();
                files.extend(other.iter().filter(|(p, _)| under_any(p, dirs)).cloned());
                files
            };
            changed.push(
                at_plan.config != merged.config
                    || pick(&at_plan.terraform, &planned_other)
                        != pick(&merged.terraform, &merged_other),
            );
        }
        Ok(changed)
    }
}

/// `dir` and the local modules it calls, transitively, in `tree`.
pub(in crate::orchestrate) fn module_closure(tree: &TerraformTree, dir: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([dir.to_owned()]);
    let mut queue = vec![dir.to_owned()];
    while let Some(next) = queue.pop() {
        for module in tree.dirs.get(&next).into_iter().flat_map(|d| &d.modules) {
            if seen.insert(module.clone()) {
                queue.push(module.clone());
            }
        }
    }
    seen
}

/// Whether `path` lies under one of `dirs` (`.` holds everything).
fn under_any(path: &str, dirs: &BTreeSet<String>) -> bool {
    dirs.iter().any(|d| {
        d == "."
            || path
                .strip_prefix(d.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projects_inputs_are_its_directory_and_its_modules_transitively() {
        let tree = TerraformTree::from_files([
            (
                "envs/prod/main.tf",
                "module \"net\" { source = \"../../modules/net\" }",
            ),
            (
                "modules/net/main.tf",
                "module \"sub\" { source = \"../sub\" }",
            ),
            ("modules/sub/main.tf", ""),
            ("modules/other/main.tf", ""),
        ]);
        let dirs = module_closure(&tree, "envs/prod");
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            ["envs/prod", "modules/net", "modules/sub"]
        );
        let set = BTreeSet::from(["envs/prod".to_owned()]);
        assert!(under_any("envs/prod/vars.tfvars", &set));
        assert!(under_any("envs/prod/sub/x.json", &set));
        assert!(!under_any("envs/production/main.tf", &set));
        assert!(under_any("anything", &BTreeSet::from([".".to_owned()])));
    }
}
