//! Azure DevOps Services and Server, REST `api-version=7.1` with `reqwest`. The base URL names
//! the organisation (`https://dev.azure.com/acme`); repositories are `project/repo`. A PAT is
//! sent as Basic auth with an empty user name.
//!
//! Endpoints (under `{project}/_apis/git/repositories/{repo}`): `GET pullrequests/{id}`,
//! `GET pullRequests/{id}/iterations` then `GET .../iterations/{n}/changes` (`$top`/`$skip`,
//! `nextSkip`/`nextTop` pagination), `GET items?path=&versionDescriptor.version=`,
//! `GET items?scopePath=/&recursionLevel=Full`, `POST pullRequests/{id}/threads`,
//! `PATCH pullRequests/{id}/threads/{t}/comments/{c}`, `POST commits/{sha}/statuses`.

use http::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{Auth, Idempotency, Rest, RetryPolicy, check, segment};
use super::paging;
use super::{
    CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, VcsClient, VcsError,
    owner_and_name, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// The API version every request names.
pub const API_VERSION: &str = "7.1";

/// The comment limit Azure DevOps enforces: 150,000 characters.
pub const COMMENT_LIMIT: usize = 150_000;

/// The Azure DevOps adapter.
#[derive(Debug, Clone)]
pub struct AzureDevopsClient {
    rest: Rest,
}

impl AzureDevopsClient {
    /// `url` must name the organisation: `https://dev.azure.com/<organization>` (or a Server
    /// collection URL). A token of the form `user:password` is sent as is; a bare PAT with an
    /// empty user.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        let url = url.ok_or_else(|| VcsError::Config {
            message: "Azure DevOps needs LANDFALL_VCS_URL=https://dev.azure.com/<organization>"
                .to_owned(),
        })?;
        let auth = Auth::basic_or(token, |t| Auth::Basic {
            user: String::new(),
            password: t,
        });
        Ok(AzureDevopsClient {
            rest: Rest::new(url, auth, retry)?,
        })
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        let (project, name) = owner_and_name(repo)?;
        Ok(format!(
            "{}/_apis/git/repositories/{}",
            segment(project),
            segment(name)
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrJson {
    last_merge_source_commit: CommitJson,
    source_ref_name: String,
    target_ref_name: String,
    created_by: Identity,
    status: String,
    merge_status: Option<String>,
    #[serde(default)]
    reviewers: Vec<Reviewer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitJson {
    commit_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    unique_name: String,
}

#[derive(Deserialize)]
struct Reviewer {
    vote: i32,
}

#[derive(Deserialize)]
struct ListJson<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct IterationJson {
    id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangesJson {
    #[serde(default)]
    change_entries: Vec<ChangeEntry>,
    #[serde(default)]
    next_skip: u64,
    #[serde(default)]
    next_top: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeEntry {
    item: ItemJson,
    change_type: String,
    original_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemJson {
    path: String,
    #[serde(default)]
    is_folder: bool,
}

#[derive(Deserialize)]
struct ThreadJson {
    id: u64,
    comments: Vec<IdJson>,
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

fn short_ref(r: &str) -> String {
    r.strip_prefix("refs/heads/").unwrap_or(r).to_owned()
}

fn repo_relative(p: &str) -> String {
    p.trim_start_matches('/').to_owned()
}

impl AzureDevopsClient {
    async fn get_pr(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PrJson> {
        let what = format!("get pull request {repo}!{pr}");
        self.rest
            .get(
                &format!(
                    "{}/pullrequests/{pr}?api-version={API_VERSION}",
                    Self::repo_path(repo)?
                ),
                &what,
            )
            .await
    }
}

impl VcsClient for AzureDevopsClient {
    fn provider(&self) -> Provider {
        Provider::AzureDevops
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let j = self.get_pr(repo, pr).await?;
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.last_merge_source_commit.commit_id),
            head_branch: short_ref(&j.source_ref_name),
            base_branch: short_ref(&j.target_ref_name),
            author: j.created_by.unique_name,
            state: match j.status.as_str() {
                "completed" => PrState::Merged,
                "abandoned" => PrState::Closed,
                _ => PrState::Open,
            },
            mergeable: match j.merge_status.as_deref() {
                Some("succeeded") => Some(true),
                Some("queued" | "notSet") | None => None,
                Some(_) => Some(false),
            },
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let base = Self::repo_path(repo)?;
        let what = format!("list files of {repo}!{pr}");
        let iterations: ListJson<IterationJson> = self
            .rest
            .get(
                &format!("{base}/pullRequests/{pr}/iterations?api-version={API_VERSION}"),
                &what,
            )
            .await?;
        let Some(last) = iterations.value.iter().map(|i| i.id).max() else {
            return Ok(Vec::new());
        };
        let (base, what) = (&base, &what);
        let changes: Vec<ChangeEntry> = paging::collect((0u64, 2000u64), |(skip, top)| async move {
            let page: ChangesJson = self
                .rest
                .get(
                    &format!(
                        "{base}/pullRequests/{pr}/iterations/{last}/changes?$top={top}&$skip={skip}&api-version={API_VERSION}"
                    ),
                    what,
                )
                .await?;
            let next = (page.next_skip != 0 || page.next_top != 0)
                .then(|| (page.next_skip, page.next_top.max(1)));
            Ok((page.change_entries, next))
        })
        .await?;
        Ok(changes
            .into_iter()
            .filter(|c| !c.item.is_folder)
            .map(|c| {
                let path = repo_relative(&c.item.path);
                let kind = c.change_type.to_ascii_lowercase();
                if kind.contains("rename") {
                    match c.original_path {
                        Some(from) => ChangedFile::renamed(&repo_relative(&from), &path),
                        None => ChangedFile::new(&path, FileStatus::Renamed),
                    }
                } else if kind.contains("delete") {
                    ChangedFile::new(&path, FileStatus::Removed)
                } else if kind.contains("add") {
                    ChangedFile::new(&path, FileStatus::Added)
                } else {
                    ChangedFile::modified(&path)
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
            "{}/items?path={}&versionDescriptor.version={}&versionDescriptor.versionType=commit&$format=octetStream&api-version={API_VERSION}",
            Self::repo_path(repo)?,
            segment(&format!("/{file}")),
            segment(sha.as_str()),
        ))?;
        let r = self
            .rest
            .send(
                Method::GET,
                url,
                None,
                "application/octet-stream",
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(r, &what)?.body.to_vec()))
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        let items: ListJson<ItemJson> = self
            .rest
            .get(
                &format!(
                    "{}/items?scopePath=%2F&recursionLevel=Full&versionDescriptor.version={}&versionDescriptor.versionType=commit&api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &what,
            )
            .await?;
        Ok(items
            .value
            .into_iter()
            .filter(|i| !i.is_folder)
            .map(|i| repo_relative(&i.path))
            .collect())
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let what = format!("comment on {repo}!{pr}");
        let thread: ThreadJson = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/pullRequests/{pr}/threads?api-version={API_VERSION}",
                    Self::repo_path(repo)?
                ),
                &json!({
                    "comments": [{ "parentCommentId": 0, "content": body, "commentType": 1 }],
                    "status": 1,
                }),
                Idempotency::NotIdempotent,
                &what,
            )
            .await?;
        let comment = thread.comments.first().map_or(1, |c| c.id);
        Ok(CommentId(format!("{}/{comment}", thread.id)))
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let what = format!("edit comment {id} on {repo}!{pr}");
        let (thread, comment) = id.0.split_once('/').ok_or_else(|| VcsError::Config {
            message: format!("Azure DevOps comment id {id} is not thread/comment"),
        })?;
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::PATCH,
                &format!(
                    "{}/pullRequests/{pr}/threads/{}/comments/{}?api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(thread),
                    segment(comment)
                ),
                &json!({ "content": body }),
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
            StatusState::Pending => "pending",
            StatusState::Success => "succeeded",
            StatusState::Failure => "failed",
            StatusState::Error => "error",
        };
        let mut body = json!({
            "state": state,
            "description": truncate(&status.description, 255),
            "context": { "name": status.context, "genre": "landfall" },
        });
        if let Some(url) = &status.target_url {
            body["targetUrl"] = json!(url);
        }
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/commits/{}/statuses?api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &body,
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        Ok(())
    }

    async fn is_approved(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<bool> {
        let j = self.get_pr(repo, pr).await?;
        // 10 approved, 5 approved with suggestions, -5 waiting for author, -10 rejected.
        Ok(j.reviewers.iter().any(|r| r.vote >= 5) && !j.reviewers.iter().any(|r| r.vote == -10))
    }
}
