//! Bitbucket Cloud, REST 2.0 with `reqwest`. Repositories are `workspace/slug`. A token of the
//! form `user:app-password` is sent as Basic auth, anything else as a Bearer access token.
//! Bitbucket Cloud gives 12-character commit hashes in PRs (and in webhooks); [`VcsClient::pull_request`]
//! resolves the head to the full 40-character hash with `GET commit/{short}`, so plans are bound
//! to a full SHA ([`CommitSha::is_abbreviated`]).
//!
//! Endpoints (under `repositories/{ws}/{slug}`): `GET pullrequests/{id}`, `GET commit/{hash}`,
//! `GET pullrequests/{id}/diffstat` (`next` URL pagination), `GET src/{commit}/{path}`,
//! `GET src/{commit}/?max_depth=` (`next`), `POST pullrequests/{id}/comments`,
//! `PUT pullrequests/{id}/comments/{cid}`, `POST commit/{sha}/statuses/build`.

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::{Auth, Idempotency, Rest, RetryPolicy, path, segment};
use super::paging;
use super::{
    CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, VcsClient, owner_and_name,
    truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// bitbucket.org's API.
pub const DEFAULT_URL: &str = "https://api.bitbucket.org/2.0";

/// Bitbucket Cloud's comment limit: 32,768 characters.
pub const COMMENT_LIMIT: usize = 32_768;

/// The Bitbucket Cloud adapter.
#[derive(Debug, Clone)]
pub struct BitbucketCloudClient {
    rest: Rest,
}

impl BitbucketCloudClient {
    /// `url` is the API base, bitbucket.org's when `None`.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        Ok(BitbucketCloudClient {
            rest: Rest::new(
                url.unwrap_or(DEFAULT_URL),
                Auth::basic_or(token, Auth::Bearer),
                retry,
            )?,
        })
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        let (ws, slug) = owner_and_name(repo)?;
        Ok(format!("repositories/{}/{}", segment(ws), segment(slug)))
    }

    /// Every page, following the body's `next` URL.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        paging::collect(first.to_owned(), |target| async move {
            let page: Page<T> = self.rest.get(&target, what).await?;
            Ok((page.values, page.next))
        })
        .await
    }
}

#[derive(Deserialize)]
struct Page<T> {
    values: Vec<T>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct PrJson {
    source: Endpoint,
    destination: Endpoint,
    author: Account,
    state: String,
    #[serde(default)]
    participants: Vec<Participant>,
}

#[derive(Deserialize)]
struct Endpoint {
    branch: Name,
    commit: Option<Hash>,
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
struct Hash {
    hash: String,
}

#[derive(Deserialize)]
struct Account {
    nickname: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct Participant {
    #[serde(default)]
    approved: bool,
}

#[derive(Deserialize)]
struct DiffStat {
    status: String,
    old: Option<PathJson>,
    new: Option<PathJson>,
}

#[derive(Deserialize)]
struct PathJson {
    path: String,
}

#[derive(Deserialize)]
struct SrcEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

/// Bitbucket keys a build status by `key` (at most 40 characters): a digest of the context.
fn status_key(context: &str) -> String {
    let digest = Sha256::digest(context.as_bytes());
    format!("landfall-{}", hex::encode(&digest[..12]))
}

impl BitbucketCloudClient {
    /// The full 40-character hash of `sha` (a full one is returned as it is).
    ///
    /// # Errors
    ///
    /// When the commit cannot be read, or Bitbucket answers with a hash that does not extend
    /// `sha`.
    pub async fn full_sha(&self, repo: &RepoName, sha: &CommitSha) -> Result<CommitSha> {
        if !sha.is_abbreviated() {
            return Ok(sha.clone());
        }
        let what = format!("resolve commit {sha} in {repo}");
        let commit: Hash = self
            .rest
            .get(
                &format!(
                    "{}/commit/{}",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &what,
            )
            .await?;
        let full = CommitSha::new(commit.hash);
        if full.is_abbreviated() || !full.as_str().starts_with(sha.as_str()) {
            return Err(super::VcsError::Status {
                what,
                status: 200,
                message: format!("Bitbucket answered commit {full}, which is not {sha} in full"),
            });
        }
        Ok(full)
    }

    async fn get_pr(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PrJson> {
        let what = format!("get pull request {repo}#{pr}");
        self.rest
            .get(
                &format!("{}/pullrequests/{pr}", Self::repo_path(repo)?),
                &what,
            )
            .await
    }
}

impl VcsClient for BitbucketCloudClient {
    fn provider(&self) -> Provider {
        Provider::BitbucketCloud
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let j = self.get_pr(repo, pr).await?;
        // A PR whose source branch is gone (declined, merged and deleted) may have no commit.
        let head_sha = match j.source.commit {
            Some(c) => self.full_sha(repo, &CommitSha::new(c.hash)).await?,
            None => CommitSha::new(String::new()),
        };
        Ok(PullRequest {
            number: pr,
            head_sha,
            head_branch: j.source.branch.name,
            base_branch: j.destination.branch.name,
            author: j
                .author
                .nickname
                .or(j.author.display_name)
                .unwrap_or_default(),
            state: match j.state.as_str() {
                "OPEN" => PrState::Open,
                "MERGED" => PrState::Merged,
                _ => PrState::Closed,
            },
            // Bitbucket Cloud does not report mergeability.
            mergeable: None,
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {repo}#{pr}");
        let stats: Vec<DiffStat> = self
            .pages(
                &format!(
                    "{}/pullrequests/{pr}/diffstat?pagelen=500",
                    Self::repo_path(repo)?
                ),
                &what,
            )
            .await?;
        Ok(stats
            .into_iter()
            .filter_map(|d| match (d.status.as_str(), d.old, d.new) {
                ("renamed", Some(old), Some(new)) => {
                    Some(ChangedFile::renamed(&old.path, &new.path))
                }
                ("removed", Some(old), _) | (_, Some(old), None) => {
                    Some(ChangedFile::new(&old.path, FileStatus::Removed))
                }
                ("added", _, Some(new)) => Some(ChangedFile::new(&new.path, FileStatus::Added)),
                (_, _, Some(new)) => Some(ChangedFile::modified(&new.path)),
                _ => None,
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
            "{}/src/{}/{}",
            Self::repo_path(repo)?,
            segment(sha.as_str()),
            path(file)
        ))?;
        self.rest.get_file(url, &what).await
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        let entries: Vec<SrcEntry> = self
            .pages(
                &format!(
                    "{}/src/{}/?max_depth=100&pagelen=100",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &what,
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.kind == "commit_file")
            .map(|e| e.path)
            .collect())
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
                &format!("{}/pullrequests/{pr}/comments", Self::repo_path(repo)?),
                &json!({ "content": { "raw": body } }),
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
        let what = format!("edit comment {id} on {repo}#{pr}");
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::PUT,
                &format!(
                    "{}/pullrequests/{pr}/comments/{}",
                    Self::repo_path(repo)?,
                    segment(&id.0)
                ),
                &json!({ "content": { "raw": body } }),
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
            StatusState::Pending => "INPROGRESS",
            StatusState::Success => "SUCCESSFUL",
            StatusState::Failure | StatusState::Error => "FAILED",
        };
        let (ws, slug) = owner_and_name(repo)?;
        let url = status
            .target_url
            .clone()
            .unwrap_or_else(|| format!("https://bitbucket.org/{ws}/{slug}"));
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/commit/{}/statuses/build",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &json!({
                    "key": status_key(&status.context),
                    "state": state,
                    "name": status.context,
                    "url": url,
                    "description": truncate(&status.description, 255),
                }),
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        Ok(())
    }

    async fn is_approved(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<bool> {
        let j = self.get_pr(repo, pr).await?;
        Ok(j.participants.iter().any(|p| p.approved))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys_are_stable_and_short() {
        let k = status_key("landfall/plan: envs/prod");
        assert_eq!(k, status_key("landfall/plan: envs/prod"));
        assert!(k.len() <= 40);
        assert_ne!(k, status_key("landfall/apply: envs/prod"));
    }
}
