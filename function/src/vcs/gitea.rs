//! Gitea and Forgejo, REST v1 with `reqwest`; the token is sent as `Authorization: token ...`.
//!
//! Endpoints (under `repos/{owner}/{repo}`): `GET pulls/{n}`, `GET pulls/{n}/files` (Link
//! pagination), `GET raw/{path}?ref=`, `GET git/trees/{sha}?recursive=true` (paged while
//! `truncated`), `GET archive/{sha}.tar.gz` (the tree in one download, under one `{repo}/`
//! folder; a redirect, where archives are served from storage, is followed without the token),
//! `POST issues/{n}/comments`, `PATCH issues/comments/{id}`, `POST statuses/{sha}`,
//! `GET pulls/{n}/reviews`.

use std::collections::BTreeMap;

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{Auth, Idempotency, Rest, RetryPolicy, next_link, path, segment};
use super::paging;
use super::{
    CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, TreeFilter, VcsClient,
    owner_and_name, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// gitea.com's API.
pub const DEFAULT_URL: &str = "https://gitea.com/api/v1";

/// The comment size Landfall keeps to on Gitea (a MySQL `TEXT` column holds 65,535 bytes).
pub const COMMENT_LIMIT: usize = 65_535;

/// The Gitea adapter.
#[derive(Debug, Clone)]
pub struct GiteaClient {
    rest: Rest,
}

impl GiteaClient {
    /// `url` is the API base (`https://gitea.example.com/api/v1`), gitea.com's when `None`.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        Ok(GiteaClient {
            rest: Rest::new(
                url.unwrap_or(DEFAULT_URL),
                Auth::Token(token.clone()),
                retry,
            )?,
        })
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        let (o, r) = owner_and_name(repo)?;
        Ok(format!("repos/{}/{}", segment(o), segment(r)))
    }

    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        paging::collect(first.to_owned(), |target| async move {
            let url = self.rest.url(&target)?;
            let r = self.rest.get_raw(url, "application/json", what).await?;
            Ok((r.json(what)?, next_link(&r.headers)))
        })
        .await
    }
}

#[derive(Deserialize)]
struct PrJson {
    head: RefJson,
    base: RefJson,
    user: UserJson,
    state: String,
    #[serde(default)]
    merged: bool,
    mergeable: Option<bool>,
}

#[derive(Deserialize)]
struct RefJson {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
struct UserJson {
    login: String,
}

#[derive(Deserialize)]
struct FileJson {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

#[derive(Deserialize)]
struct TreeJson {
    #[serde(default)]
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
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
struct ReviewJson {
    user: Option<UserJson>,
    state: String,
}

impl VcsClient for GiteaClient {
    fn provider(&self) -> Provider {
        Provider::Gitea
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let what = format!("get pull request {repo}#{pr}");
        let j: PrJson = self
            .rest
            .get(&format!("{}/pulls/{pr}", Self::repo_path(repo)?), &what)
            .await?;
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.head.sha),
            head_branch: j.head.name,
            base_branch: j.base.name,
            author: j.user.login,
            state: match (j.state.as_str(), j.merged) {
                (_, true) => PrState::Merged,
                ("open", _) => PrState::Open,
                _ => PrState::Closed,
            },
            mergeable: j.mergeable,
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {repo}#{pr}");
        let files: Vec<FileJson> = self
            .pages(
                &format!("{}/pulls/{pr}/files?limit=50", Self::repo_path(repo)?),
                &what,
            )
            .await?;
        Ok(files
            .into_iter()
            .map(|f| match (f.status.as_str(), f.previous_filename) {
                ("renamed", Some(prev)) => ChangedFile::renamed(&prev, &f.filename),
                ("deleted" | "removed", _) => ChangedFile::new(&f.filename, FileStatus::Removed),
                ("added", _) => ChangedFile::new(&f.filename, FileStatus::Added),
                _ => ChangedFile::modified(&f.filename),
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
            "{}/raw/{}?ref={}",
            Self::repo_path(repo)?,
            path(file),
            segment(sha.as_str())
        ))?;
        self.rest.get_file(url, &what).await
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        let trees = format!(
            "{}/git/trees/{}?recursive=true&per_page=1000",
            Self::repo_path(repo)?,
            segment(sha.as_str())
        );
        let (what, trees) = (&what, &trees);
        let entries: Vec<TreeEntry> = paging::collect(1u32, |page| async move {
            let t: TreeJson = self.rest.get(&format!("{trees}&page={page}"), what).await?;
            // Gitea pages the listing while it says `truncated`; an empty page ends it too.
            let next = (t.truncated && !t.tree.is_empty()).then_some(page + 1);
            Ok((t.tree, next))
        })
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
            "{}/archive/{}.tar.gz",
            Self::repo_path(repo)?,
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
        let what = format!("comment on {repo}#{pr}");
        let id: IdJson = self
            .rest
            .send_json(
                Method::POST,
                &format!("{}/issues/{pr}/comments", Self::repo_path(repo)?),
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
        _pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let what = format!("edit comment {id} in {repo}");
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::PATCH,
                &format!(
                    "{}/issues/comments/{}",
                    Self::repo_path(repo)?,
                    segment(&id.0)
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
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        };
        let mut body = json!({
            "state": state,
            "context": status.context,
            "description": truncate(&status.description, 255),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/statuses/{}",
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
        let what = format!("list reviews of {repo}#{pr}");
        let reviews: Vec<ReviewJson> = self
            .pages(
                &format!("{}/pulls/{pr}/reviews?limit=50", Self::repo_path(repo)?),
                &what,
            )
            .await?;
        let mut latest: BTreeMap<String, String> = BTreeMap::new();
        for r in reviews {
            if matches!(r.state.as_str(), "COMMENT" | "PENDING") {
                continue;
            }
            latest.insert(r.user.map(|u| u.login).unwrap_or_default(), r.state);
        }
        Ok(latest.values().any(|s| s == "APPROVED"))
    }
}
