//! What happens when a pull request merges, and how Landfall merges one: the policy's
//! `apply_on_merge` (Atlantis' most-voted missing feature: apply the PR's plans once it merges),
//! `apply_on_merge_replan` (whether a plan made again at the merge commit, because the merge
//! changed the project, may be applied) and `automerge_method` (how `automerge` merges).

use super::read::Reader;
use super::yaml::Entry;

/// How a pull request is merged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeMethod {
    /// A merge commit.
    #[default]
    Merge,
    /// One squashed commit.
    Squash,
    /// The commits rebased onto the base branch.
    Rebase,
}

impl MergeMethod {
    /// As written in YAML (and in GitHub's and Gitea's APIs).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

/// The merge settings in force for a repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeSettings {
    /// `apply_on_merge`: a merged PR's plans are applied (default off).
    pub apply_on_merge: bool,
    /// `apply_on_merge_replan`: when the merge changed a project since its plan, the plan made
    /// again at the merge commit is applied too (default off: it is reported, not applied).
    pub replan: bool,
    /// `automerge_method`.
    pub automerge_method: MergeMethod,
}

/// A `repos` entry's merge keys; each, when set, overrides earlier matches.
#[derive(Clone, Debug, Default)]
pub struct MergeRules {
    apply_on_merge: Option<bool>,
    replan: Option<bool>,
    method: Option<MergeMethod>,
}

/// The keys [`MergeRules::read`] takes.
pub const MERGE_KEYS: [&str; 3] = [
    "apply_on_merge",
    "apply_on_merge_replan",
    "automerge_method",
];

impl MergeRules {
    /// Reads `entry` when it is one of [`MERGE_KEYS`]; returns whether it was.
    pub(crate) fn read(&mut self, r: &mut Reader, entry: &Entry) -> bool {
        let v = &entry.value;
        match entry.key.as_str() {
            "apply_on_merge" => self.apply_on_merge = r.bool(v, "`apply_on_merge`"),
            "apply_on_merge_replan" => self.replan = r.bool(v, "`apply_on_merge_replan`"),
            "automerge_method" => {
                let text = r.string(v, "`automerge_method`");
                self.method = match text.as_deref() {
                    Some("merge") => Some(MergeMethod::Merge),
                    Some("squash") => Some(MergeMethod::Squash),
                    Some("rebase") => Some(MergeMethod::Rebase),
                    Some(other) => {
                        r.error(
                            entry.line,
                            format!("`automerge_method: {other}` is not a merge method"),
                        )
                        .help = Some("the methods are merge, squash and rebase".to_owned());
                        None
                    }
                    None => None,
                };
            }
            _ => return false,
        }
        true
    }

    /// Sets on `settings` what this entry sets.
    pub(crate) fn apply_to(&self, settings: &mut MergeSettings) {
        if let Some(v) = self.apply_on_merge {
            settings.apply_on_merge = v;
        }
        if let Some(v) = self.replan {
            settings.replan = v;
        }
        if let Some(v) = self.method {
            settings.automerge_method = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::{OverrideKey, Policy, load};

    fn policy(text: &str) -> crate::repo_config::EffectivePolicy {
        Policy::parse("repos.yaml", text)
            .unwrap()
            .resolve("github.com", "acme/infra", "main")
    }

    #[test]
    fn the_policy_sets_what_a_merge_does_and_refuses_a_method_it_does_not_know() {
        let on = policy(
            "repos:\n- id: /.*/\n  apply_on_merge: true\n  apply_on_merge_replan: true\n  automerge_method: rebase\n",
        );
        assert_eq!(
            on.merge,
            MergeSettings {
                apply_on_merge: true,
                replan: true,
                automerge_method: MergeMethod::Rebase,
            }
        );
        assert_eq!(
            policy("repos:\n- id: /.*/\n").merge,
            MergeSettings::default()
        );
        let err = Policy::parse("repos.yaml", "repos:\n- id: /.*/\n  automerge_method: ff\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`automerge_method: ff` is not a merge method"),
            "{err}"
        );
    }

    #[test]
    fn a_repo_file_turns_apply_on_merge_on_only_with_the_policys_leave() {
        let file = "version: 3\napply_on_merge: true\nprojects:\n- dir: a\n- dir: b\n  apply_on_merge: false\n";
        let refused = load(
            &policy("repos:\n- id: /.*/\n"),
            Some(("landfall.yaml", file)),
        );
        let err = refused.unwrap_err().to_comment();
        assert!(err.contains("may not override"), "{err}");
        let mut allowed = policy("repos:\n- id: /.*/\n  allowed_overrides: [apply_on_merge]\n");
        assert!(
            allowed
                .allowed_overrides
                .contains(&OverrideKey::ApplyOnMerge)
        );
        let config = load(&allowed, Some(("landfall.yaml", file))).unwrap();
        let on: Vec<bool> = config.projects.iter().map(|p| p.apply_on_merge).collect();
        assert_eq!(
            on,
            [true, false],
            "the file's default, then the project's own"
        );
        allowed.merge.apply_on_merge = true;
        let config = load(&allowed, Some(("landfall.yaml", "version: 3\n"))).unwrap();
        assert!(
            config.apply_on_merge,
            "the policy's value for discovered projects"
        );
    }
}
