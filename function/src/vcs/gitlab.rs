//! GitLab (gitlab.com and self-managed), REST v4 with `reqwest`. The project id is the
//! URL-encoded full path (`group%2Fsub%2Fproject`); a token goes in `PRIVATE-TOKEN`.
//!
//! Endpoints: `GET /projects/:id/merge_requests/:iid`, `GET .../merge_requests/:iid/diffs`
//! (`X-Next-Page` pagination), `GET /projects/:id/repository/files/:path/raw?ref=`,
//! `GET /projects/:id/repository/tree?recursive=true` (`X-Next-Page`),
//! `GET /projects/:id/repository/archive.tar.gz?sha=` (the tree in one download: entries under
//! one `<project>-<sha>-<sha>/` folder, the shape `git archive --prefix` writes),
//! `POST .../merge_requests/:iid/notes`, `PUT .../notes/:id`, `POST /projects/:id/statuses/:sha`,
//! `GET .../merge_requests/:iid/approvals`.

use std::collections::BTreeMap;

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{Auth, Idempotency, Rest, RetryPolicy, path, segment};
use super::paging;
use super::{
    CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, TreeFilter, VcsClient,
    truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// gitlab.com's API.
pub const DEFAULT_URL: &str = "https://gitlab.com/api/v4";

/// GitLab's note limit: 1,000,000 characters.
pub const COMMENT_LIMIT: usize = 1_000_000;

/// The GitLab adapter.
#[derive(Debug, Clone)]
pub struct GitlabClient {
    rest: Rest,
}

impl GitlabClient {
    /// `url` is the API base (`https://gitlab.example.com/api/v4`), gitlab.com's when `None`.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        Ok(GitlabClient {
            rest: Rest::new(
                url.unwrap_or(DEFAULT_URL),
                Auth::PrivateToken(token.clone()),
                retry,
            )?,
        })
    }

    fn project(repo: &RepoName) -> String {
        format!("projects/{}", segment(repo.as_str()))
    }

    /// Every page, following `X-Next-Page`.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        paging::collect(self.rest.url(first)?, |mut url| async move {
            let r = self
                .rest
                .get_raw(url.clone(), "application/json", what)
                .await?;
            let next = r
                .header("x-next-page")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|next| {
                    let query: Vec<(String, String)> = url
                        .query_pairs()
                        .filter(|(k, _)| k != "page")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    url.query_pairs_mut()
                        .clear()
                        .extend_pairs(query)
                        .append_pair("page", next);
                    url
                });
            Ok((r.json(what)?, next))
        })
        .await
    }
}

#[derive(Deserialize)]
struct MrJson {
    sha: String,
    source_branch: String,
    target_branch: String,
    author: Author,
    state: String,
    detailed_merge_status: Option<String>,
    #[serde(default)]
    has_conflicts: bool,
}

#[derive(Deserialize)]
struct Author {
    username: String,
}

#[derive(Deserialize)]
struct DiffJson {
    old_path: String,
    new_path: String,
    #[serde(default)]
    new_file: bool,
    #[serde(default)]
    renamed_file: bool,
    #[serde(default)]
    deleted_file: bool,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

#[derive(Deserialize)]
struct ApprovalsJson {
    #[serde(default)]
    approved: bool,
    #[serde(default)]
    approved_by: Vec<serde_json::Value>,
}

impl VcsClient for GitlabClient {
    fn provider(&self) -> Provider {
        Provider::Gitlab
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let what = format!("get merge request {repo}!{pr}");
        let j: MrJson = self
            .rest
            .get(
                &format!("{}/merge_requests/{pr}", Self::project(repo)),
                &what,
            )
            .await?;
        let mergeable = match j.detailed_merge_status.as_deref() {
            Some("mergeable") => Some(true),
            Some("checking" | "unchecked" | "preparing" | "approvals_syncing") => None,
            Some(_) => Some(false),
            None => Some(!j.has_conflicts),
        };
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.sha),
            head_branch: j.source_branch,
            base_branch: j.target_branch,
            author: j.author.username,
            state: match j.state.as_str() {
                "opened" | "locked" => PrState::Open,
                "merged" => PrState::Merged,
                _ => PrState::Closed,
            },
            mergeable,
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let what = format!("list diffs of {repo}!{pr}");
        let diffs: Vec<DiffJson> = self
            .pages(
                &format!(
                    "{}/merge_requests/{pr}/diffs?per_page=100",
                    Self::project(repo)
                ),
                &what,
            )
            .await?;
        Ok(diffs
            .into_iter()
            .map(|d| {
                if d.renamed_file {
                    ChangedFile::renamed(&d.old_path, &d.new_path)
                } else if d.deleted_file {
                    ChangedFile::new(&d.old_path, FileStatus::Removed)
                } else if d.new_file {
                    ChangedFile::new(&d.new_path, FileStatus::Added)
                } else {
                    ChangedFile::modified(&d.new_path)
                }
            })
            .collect())
    }

    async fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        file: &str,
    ) -> Result<Option<Vec<u8>>> {
        let what = format!("read {file} at {sha} in {repo}");
        let url = self.rest.url(&format!(
            "{}/repository/files/{}/raw?ref={}",
            Self::project(repo),
            segment(file),
            segment(sha.as_str())
        ))?;
        self.rest.get_file(url, &what).await
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        let entries: Vec<TreeEntry> = self
            .pages(
                &format!(
                    "{}/repository/tree?ref={}&recursive=true&per_page=100",
                    Self::project(repo),
                    segment(sha.as_str())
                ),
                &what,
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.kind == "blob")
            .map(|e| e.path)
            .collect())
    }

    async fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let what = format!("download the archive of {repo} at {sha}");
        let path = format!(
            "{}/repository/archive.tar.gz?sha={}",
            Self::project(repo),
            segment(sha.as_str())
        );
        self.rest.get_archive(&path, &what, wanted).await.map(Some)
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let what = format!("comment on {repo}!{pr}");
        let id: IdJson = self
            .rest
            .send_json(
                Method::POST,
                &format!("{}/merge_requests/{pr}/notes", Self::project(repo)),
                &json!({ "body": body }),
                Idempotency::NotIdempotent,
                &what,
            )
            .await?;
        Ok(CommentId(id.id.to_string()))
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let what = format!("edit note {id} on {repo}!{pr}");
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::PUT,
                &format!(
                    "{}/merge_requests/{pr}/notes/{}",
                    Self::project(repo),
                    path(&id.0)
                ),
                &json!({ "body": body }),
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        Ok(())
    }

    async fn set_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<()> {
        let what = format!("set status {} on {sha}", status.context);
        let state = match status.state {
            StatusState::Pending => "running",
            StatusState::Success => "success",
            StatusState::Failure | StatusState::Error => "failed",
        };
        let mut body = json!({
            "state": state,
            "name": status.context,
            "description": truncate(&status.description, 255),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::POST,
                &format!("{}/statuses/{}", Self::project(repo), segment(sha.as_str())),
                &body,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        Ok(())
    }

    async fn is_approved(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<bool> {
        let what = format!("get approvals of {repo}!{pr}");
        let a: ApprovalsJson = self
            .rest
            .get(
                &format!("{}/merge_requests/{pr}/approvals", Self::project(repo)),
                &what,
            )
            .await?;
        Ok(a.approved && !a.approved_by.is_empty())
    }
}
