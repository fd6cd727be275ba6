//! Bitbucket Cloud, REST 2.0 with `reqwest`. Repositories are `workspace/slug`. A token of the
//! form `user:app-password` is sent as Basic auth, anything else as a Bearer access token.
//! Bitbucket Cloud gives 12-character commit hashes in PRs (and in webhooks); [`VcsClient::pull_request`]
//! resolves the head to the full 40-character hash with `GET commit/{short}`, so plans are bound
//! to a full SHA ([`CommitSha::is_abbreviated`]).
//!
//! Endpoints (under `repositories/{ws}/{slug}`): `GET pullrequests/{id}`, `GET commit/{hash}`,
//! `GET pullrequests/{id}/diffstat` (`next` URL pagination), `GET src/{commit}/{path}`,
//! `GET src/{commit}/?max_depth=` (`next`), `POST pullrequests/{id}/comments`,
//! `PUT pullrequests/{id}/comments/{cid}`, `POST commit/{sha}/statuses/build`,
//! `GET refs/branches/{name}` and `GET merge-base/{head}..{base}` (`undiverged`); and
//! `GET workspaces/{ws}/permissions/repositories/{slug}?q=user.uuid="{uuid}"` (who may run
//! commands).
//!
//! Token scopes (OAuth / workspace, project or repository access token; an app password's
//! permissions likewise): `pullrequest` and `pullrequest:write` (`read:pullrequest:bitbucket`,
//! `write:pullrequest:bitbucket`) for pull requests and comments, `repository`
//! (`read:repository:bitbucket`) for sources, branches and merge bases, `repository:write` for
//! build statuses, and for [`VcsClient::permission`] `repository` plus
//! `read:user:bitbucket`, with the token's account an **admin of the repository**: the
//! swagger allows only repository admins to read its permissions.

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::{Auth, Idempotency, Rest, RetryPolicy, path, segment};
use super::paging;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, VcsClient,
    VcsError, owner_and_name, require_head, same_spelling, truncate,
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
    /// Absent (or without a name) when the source repository, a fork, was deleted.
    repository: Option<RepoJson>,
}

#[derive(Deserialize)]
struct RepoJson {
    full_name: Option<String>,
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
    uuid: Option<String>,
}

impl Account {
    /// The name the webhook parser gives the same person (nickname, else display name).
    fn login(&self) -> String {
        self.nickname
            .clone()
            .or_else(|| self.display_name.clone())
            .unwrap_or_default()
    }
}

/// A pull request participant (swagger `participant`): reviewers and everyone who commented or
/// approved.
#[derive(Deserialize)]
struct Participant {
    user: Option<Account>,
    #[serde(default)]
    approved: bool,
    /// `approved`, `changes_requested` or null.
    state: Option<String>,
}

/// One entry of `paginated_repository_permissions`.
#[derive(Deserialize)]
struct RepositoryPermission {
    permission: Option<String>,
}

/// A branch (`refs/branches/{name}`): its `target` is the head commit.
#[derive(Deserialize)]
struct Branch {
    target: Hash,
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

/// Bitbucket Cloud's repository permission (`admin`, `write`, `read`, `none`) as [`Access`].
fn access(permission: &str) -> Access {
    match permission {
        "admin" => Access::Admin,
        "write" => Access::Write,
        "read" => Access::Read,
        _ => Access::None,
    }
}

/// The approvals among `participants`: approved, and not since withdrawn by requesting changes.
fn approving(participants: Vec<Participant>) -> Vec<Actor> {
    participants
        .into_iter()
        .filter(|p| p.approved && p.state.as_deref() != Some("changes_requested"))
        .filter_map(|p| p.user)
        .map(|u| Actor {
            login: u.login(),
            id: u.uuid,
        })
        .collect()
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
        let head_repo = j
            .source
            .repository
            .and_then(|r| r.full_name)
            .map(|name| same_spelling(repo, name));
        Ok(PullRequest {
            number: pr,
            head_sha,
            head_branch: j.source.branch.name,
            base_branch: j.destination.branch.name,
            author: j.author.login(),
            author_id: j.author.uuid.clone(),
            state: match j.state.as_str() {
                "OPEN" => PrState::Open,
                "MERGED" => PrState::Merged,
                _ => PrState::Closed,
            },
            // Bitbucket Cloud does not report mergeability.
            mergeable: None,
            head_repo,
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

    /// The user's effective permission on the repository from
    /// `GET workspaces/{ws}/permissions/repositories/{slug}?q=user.uuid="{uuid}"`, which the
    /// swagger documents as "effective permissions: the highest level of permission the user
    /// has", direct or through a group, project or workspace grant. `admin` is
    /// [`Access::Admin`], `write` [`Access::Write`], `read` [`Access::Read`]; a user with no
    /// entry (not a member, or unknown) [`Access::None`]. The user is named by account UUID
    /// (the webhook's `actor.uuid`), so an actor without one is an error. Needs the `repository`
    /// and `read:user:bitbucket` scopes and a token whose account administers the repository.
    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        let uuid = user.id.as_deref().ok_or_else(|| VcsError::Config {
            message: format!(
                "Bitbucket Cloud looks permissions up by account UUID, and none is known for {}",
                user.login
            ),
        })?;
        let (ws, slug) = owner_and_name(repo)?;
        let what = format!("read {}'s permission on {repo}", user.login);
        let query = format!("user.uuid=\"{uuid}\"");
        let entries: Vec<RepositoryPermission> = self
            .pages(
                &format!(
                    "workspaces/{}/permissions/repositories/{}?q={}",
                    segment(ws),
                    segment(slug),
                    segment(&query)
                ),
                &what,
            )
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| e.permission.as_deref())
            .map(access)
            .max()
            .unwrap_or(Access::None))
    }

    /// The participants whose `approved` is true and whose `state` is not `changes_requested`
    /// (requesting changes withdraws an approval). Bitbucket does not record the commit an
    /// approval was given at, so when the PR's source commit is no longer `head` no approval
    /// counts.
    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        let j = self.get_pr(repo, pr).await?;
        let Some(source) = j.source.commit else {
            return Ok(Vec::new());
        };
        let current = self.full_sha(repo, &CommitSha::new(source.hash)).await?;
        if !current.as_str().eq_ignore_ascii_case(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approving(j.participants))
    }

    /// Whether the destination branch's head (`GET refs/branches/{base}`, `target.hash`) is the
    /// merge base of the PR's head and itself (`GET merge-base/{head}..{base}`): then the head
    /// contains it.
    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let base_path = Self::repo_path(repo)?;
        let what = format!("read the head of {} in {repo}", pr.base_branch);
        let branch: Branch = self
            .rest
            .get(
                &format!("{base_path}/refs/branches/{}", path(&pr.base_branch)),
                &what,
            )
            .await?;
        let base = branch.target.hash;
        let what = format!("compare {repo}#{} with {}", pr.number, pr.base_branch);
        let merge_base: Hash = self
            .rest
            .get(
                &format!(
                    "{base_path}/merge-base/{}",
                    segment(&format!("{}..{base}", pr.head_sha))
                ),
                &what,
            )
            .await?;
        Ok(merge_base.hash.eq_ignore_ascii_case(&base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(approved: bool, state: Option<&str>, uuid: &str) -> Participant {
        Participant {
            user: Some(Account {
                nickname: Some(format!("user-{uuid}")),
                display_name: None,
                uuid: Some(uuid.to_owned()),
            }),
            approved,
            state: state.map(str::to_owned),
        }
    }

    #[test]
    fn requesting_changes_withdraws_an_approval() {
        let actors = approving(vec![
            participant(true, Some("approved"), "{a}"),
            participant(true, Some("changes_requested"), "{b}"),
            participant(false, Some("changes_requested"), "{c}"),
            participant(false, None, "{d}"),
            participant(true, None, "{e}"),
        ]);
        let ids: Vec<_> = actors.iter().filter_map(|a| a.id.as_deref()).collect();
        assert_eq!(ids, ["{a}", "{e}"]);
        assert_eq!(actors[0].login, "user-{a}");
    }

    #[test]
    fn permissions_map_to_access_and_anything_else_is_none() {
        assert_eq!(access("admin"), Access::Admin);
        assert_eq!(access("write"), Access::Write);
        assert_eq!(access("read"), Access::Read);
        assert_eq!(access("none"), Access::None);
        assert_eq!(access("owner"), Access::None);
    }

    #[test]
    fn a_head_repository_named_in_another_case_is_the_same_repository() {
        let repo = RepoName::new("acme/infra");
        assert_eq!(same_spelling(&repo, "ACME/Infra"), repo);
        assert_eq!(
            same_spelling(&repo, "fork/infra"),
            RepoName::new("fork/infra")
        );
    }

    #[test]
    fn status_keys_are_stable_and_short() {
        let k = status_key("landfall/plan: envs/prod");
        assert_eq!(k, status_key("landfall/plan: envs/prod"));
        assert!(k.len() <= 40);
        assert_ne!(k, status_key("landfall/apply: envs/prod"));
    }
}
