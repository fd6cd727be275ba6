//! The JSON Azure DevOps answers with for pull requests, their changes, comment threads and
//! reviewers' votes, and what Landfall reads from it.

use serde::Deserialize;

use crate::event::RepoName;
use crate::vcs::{Actor, joined_name};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrJson {
    pub(super) last_merge_source_commit: CommitJson,
    pub(super) source_ref_name: String,
    pub(super) target_ref_name: String,
    pub(super) created_by: Identity,
    pub(super) status: String,
    pub(super) merge_status: Option<String>,
    #[serde(default)]
    pub(super) reviewers: Vec<Reviewer>,
    /// Present for a pull request from a fork.
    pub(super) fork_source: Option<ForkRef>,
    /// Once completed, the merge commit on the target branch.
    #[serde(default)]
    pub(super) last_merge_commit: Option<CommitJson>,
}

#[derive(Deserialize)]
pub(super) struct ForkRef {
    pub(super) repository: Option<RepoRefJson>,
}

#[derive(Deserialize)]
pub(super) struct RepoRefJson {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) project: Option<ProjectJson>,
}

#[derive(Deserialize)]
pub(super) struct ProjectJson {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
}

impl RepoRefJson {
    /// `project/repo`, as Landfall names Azure DevOps repositories.
    pub(super) fn full_name(&self) -> Option<RepoName> {
        let project = self.project.as_ref().and_then(|p| p.name.as_deref());
        joined_name(project, self.name.as_deref())
    }
}

/// `GitCommitDiffs`: `behindCount` is the number of the base's commits the target lacks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommitDiffsJson {
    pub(super) behind_count: Option<u64>,
    pub(super) base_commit: Option<String>,
    pub(super) common_commit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommitJson {
    pub(super) commit_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Identity {
    pub(super) unique_name: String,
}

/// `IdentityRefWithVote`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Reviewer {
    #[serde(default)]
    pub(super) vote: i32,
    pub(super) id: Option<String>,
    pub(super) unique_name: Option<String>,
    /// A group or team: it cannot vote itself; a member's vote is rolled up into it.
    #[serde(default)]
    pub(super) is_container: bool,
}

/// A vote of 10 (approved) or 5 (approved with suggestions) approves; -10 rejects.
pub(super) const APPROVED: i32 = 10;
pub(super) const APPROVED_WITH_SUGGESTIONS: i32 = 5;
pub(super) const REJECTED: i32 = -10;

/// The people (not groups) who approve, or none at all when anyone rejected.
pub(super) fn approving(reviewers: Vec<Reviewer>) -> Vec<Actor> {
    if reviewers.iter().any(|r| r.vote == REJECTED) {
        return Vec::new();
    }
    reviewers
        .into_iter()
        .filter(|r| !r.is_container && matches!(r.vote, APPROVED | APPROVED_WITH_SUGGESTIONS))
        .filter_map(|r| {
            Some(Actor {
                login: r.unique_name?,
                id: r.id,
            })
        })
        .collect()
}

/// One `GitRefUpdateResult` of `POST refs`: Azure DevOps answers 200 whether or not the update
/// was made, and says which here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefUpdateJson {
    #[serde(default)]
    pub(super) success: bool,
    pub(super) update_status: Option<String>,
    pub(super) custom_message: Option<String>,
}

impl RefUpdateJson {
    /// Why the update was not made; `None` when it was. `succeededNonExistentRef` (a deletion
    /// of a ref that does not exist: nothing was changed) is not a deletion either.
    pub(super) fn refusal(&self) -> Option<String> {
        let status = self.update_status.as_deref().unwrap_or("no updateStatus");
        if self.success && status != "succeededNonExistentRef" {
            return None;
        }
        Some(
            match self.custom_message.as_deref().filter(|m| !m.is_empty()) {
                Some(message) => format!("{status}: {message}"),
                None => status.to_owned(),
            },
        )
    }
}

#[derive(Deserialize)]
pub(super) struct ListJson<T> {
    pub(super) value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IterationJson {
    pub(super) id: u64,
    /// The source branch's commit the iteration was made of.
    #[serde(default)]
    pub(super) source_ref_commit: Option<CommitJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangesJson {
    #[serde(default)]
    pub(super) change_entries: Vec<ChangeEntry>,
    #[serde(default)]
    pub(super) next_skip: u64,
    #[serde(default)]
    pub(super) next_top: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangeEntry {
    pub(super) item: ItemJson,
    pub(super) change_type: String,
    pub(super) original_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemJson {
    pub(super) path: String,
    #[serde(default)]
    pub(super) is_folder: bool,
}

#[derive(Deserialize)]
pub(super) struct ThreadJson {
    pub(super) id: u64,
    pub(super) comments: Vec<IdJson>,
}

#[derive(Deserialize)]
pub(super) struct IdJson {
    pub(super) id: u64,
}

pub(super) fn short_ref(r: &str) -> String {
    r.strip_prefix("refs/heads/").unwrap_or(r).to_owned()
}

pub(super) fn repo_relative(p: &str) -> String {
    p.trim_start_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviewer(vote: i32, name: &str, container: bool) -> Reviewer {
        Reviewer {
            vote,
            id: Some(format!("id-{name}")),
            unique_name: Some(name.to_owned()),
            is_container: container,
        }
    }

    #[test]
    fn a_ref_update_is_a_deletion_only_when_it_succeeded_on_an_existing_ref() {
        let update = |success, status: &str, message: Option<&str>| RefUpdateJson {
            success,
            update_status: Some(status.to_owned()),
            custom_message: message.map(str::to_owned),
        };
        assert_eq!(update(true, "succeeded", None).refusal(), None);
        assert_eq!(
            update(true, "succeededNonExistentRef", None)
                .refusal()
                .as_deref(),
            Some("succeededNonExistentRef")
        );
        assert_eq!(
            update(false, "rejectedByPolicy", Some("needs a review"))
                .refusal()
                .as_deref(),
            Some("rejectedByPolicy: needs a review")
        );
    }

    #[test]
    fn approvals_are_people_voting_ten_or_five_and_a_rejection_stops_all() {
        let actors = approving(vec![
            reviewer(10, "a@x", false),
            reviewer(5, "b@x", false),
            reviewer(0, "c@x", false),
            reviewer(-5, "d@x", false),
            reviewer(10, "[Ops]\\Team", true),
        ]);
        let names: Vec<_> = actors.iter().map(|a| a.login.as_str()).collect();
        assert_eq!(names, ["a@x", "b@x"]);
        assert_eq!(actors[0].id.as_deref(), Some("id-a@x"));
        assert!(
            approving(vec![
                reviewer(10, "a@x", false),
                reviewer(-10, "e@x", false)
            ])
            .is_empty()
        );
    }
}
