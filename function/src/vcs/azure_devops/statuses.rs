//! Statuses on Azure DevOps. A branch policy's status check reads pull request statuses, not
//! commit statuses, so a pull request's status is one (`POST pullRequests/{id}/statuses`), on the
//! iteration it was worked out at (`iterationId`), where a policy that resets on new changes lets
//! it expire. It is one only while the pull request is active, at the commit the status is for,
//! on the base branch it was worked out for, and that commit is its newest iteration's: a status
//! that arrives late (the head pushed, the pull request retargeted or completed meanwhile) would
//! otherwise count for what it was not worked out for where the policy does not reset. Those,
//! and a drift check's, are commit statuses (`POST commits/{sha}/statuses`), which no policy
//! reads; so is a status whose pull request or iterations cannot be read.

use http::Method;
use serde_json::{Value, json};

use super::wire::short_ref;
use super::{API_VERSION, AzureDevopsClient, STATUS};
use crate::event::{CommitSha, RepoName};
use crate::vcs::host::{Host as _, PrRef, Put};
use crate::vcs::{CommitStatus, Result};

impl AzureDevopsClient {
    /// Statuses named `name` (`LANDFALL_VCS_STATUS_NAME`); under `atlantis` they are spelled
    /// as Atlantis spells them, so that a status policy made for Atlantis matches them.
    #[must_use]
    pub fn with_status_name(mut self, name: &str) -> Self {
        self.atlantis_statuses = name == "atlantis";
        self
    }

    /// `status` as Azure DevOps takes it: the context's genre is what precedes the name's last
    /// `/`, its name what follows (`landfall/plan`: `plan` in the genre `landfall`), as the
    /// policy editor's one field splits what is typed in; Atlantis' genre starts with `Atlantis
    /// Bot/` (`atlantis/plan`: `plan` in `Atlantis Bot/atlantis`).
    pub(super) fn status_body(&self, status: &CommitStatus) -> Value {
        let mut body = STATUS.json(status);
        let (genre, name) = status
            .context
            .rsplit_once('/')
            .unwrap_or(("landfall", &status.context));
        let genre = if self.atlantis_statuses {
            format!("Atlantis Bot/{genre}")
        } else {
            genre.to_owned()
        };
        body["context"] = json!({ "name": name, "genre": genre });
        body
    }

    /// The write of `status` on `sha`: a pull request status on its newest iteration, when
    /// that is the status's commit and the pull request is active on the status's base branch;
    /// a commit status otherwise.
    pub(super) async fn pull_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<Put> {
        let Some(target) = &status.pull else {
            return self.status(repo, sha, status);
        };
        let pr = PrRef {
            repo,
            number: target.number,
        };
        // A pull request or iterations that cannot be read: a commit status, as before.
        let Ok(now) = self.get_pr(pr).await else {
            return self.status(repo, sha, status);
        };
        let current = now.status == "active"
            && now
                .last_merge_source_commit
                .commit_id
                .eq_ignore_ascii_case(sha.as_str())
            && short_ref(&now.target_ref_name) == target.base;
        if !current {
            return self.status(repo, sha, status);
        }
        let what = format!("find the iteration of {} at {sha}", Self::pr_name(pr));
        let Ok(iterations) = self.iterations(pr, &what).await else {
            return self.status(repo, sha, status);
        };
        let newest = iterations.into_iter().max_by_key(|i| i.id);
        let Some(iteration) = newest.filter(|i| {
            i.source_ref_commit
                .as_ref()
                .is_some_and(|c| c.commit_id.eq_ignore_ascii_case(sha.as_str()))
        }) else {
            return self.status(repo, sha, status);
        };
        let path = format!(
            "{}/pullRequests/{}/statuses?api-version={API_VERSION}",
            Self::repo_path(repo)?,
            target.number
        );
        let mut body = self.status_body(status);
        body["iterationId"] = json!(iteration.id);
        Ok(Put::new(Method::POST, path, body))
    }
}
