//! Bitbucket Cloud, REST 2.0 with `reqwest`. Repositories are `workspace/slug`. A token of the
//! form `email:api_token` (an Atlassian API token with Bitbucket scopes: app passwords can no
//! longer be created since 2025-09-09 and stopped working on 2026-07-28) is sent as Basic auth;
//! anything else as a Bearer access token (a workspace, project or repository access token).
//! Bitbucket Cloud gives 12-character commit hashes in PRs (and in webhooks); [`VcsClient::pull_request`]
//! resolves the head to the full 40-character hash with `GET commit/{short}`, so plans are bound
//! to a full SHA ([`CommitSha::is_abbreviated`]).
//!
//! Endpoints (under `repositories/{ws}/{slug}`): `GET pullrequests/{id}`, `GET commit/{hash}`,
//! `GET pullrequests/{id}/diffstat` (`next` URL pagination), `GET src/{commit}/{path}`,
//! `GET src/{commit}/?max_depth=` (`next`), `POST pullrequests/{id}/comments`,
//! `PUT pullrequests/{id}/comments/{cid}`, `POST commit/{sha}/statuses/build`,
//! `GET refs/branches/{name}` and `GET merge-base/{head}..{base}` (`undiverged`),
//! `GET` of the repository (`mainbranch`) then `GET` and `DELETE refs/branches/{name}`
//! (deleting a merged pull request's branch); and
//! `GET workspaces/{ws}/permissions/repositories/{slug}?q=user.uuid="{uuid}"` (who may run
//! commands).
//!
//! Token scopes (an API token's, or an OAuth / workspace, project or repository access token's): `pullrequest` and `pullrequest:write` (`read:pullrequest:bitbucket`,
//! `write:pullrequest:bitbucket`) for pull requests and comments, `repository`
//! (`read:repository:bitbucket`) for sources, branches and merge bases, `repository:write` for
//! build statuses, and for [`VcsClient::permission`] `repository` plus
//! `read:user:bitbucket`, with the token's account an **admin of the repository**: the
//! swagger allows only repository admins to read its permissions.
//!
//! [`VcsClient::pull_request`]: super::VcsClient::pull_request
//! [`VcsClient::permission`]: super::VcsClient::permission

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bitbucket::build_status;
use super::github::shared::TreeEntry;
use super::host::{Host, PrRef, Put};
use super::http::{Auth, Rest, RetryPolicy, path, segment};
use super::issues::IssueApi;
use super::repository::{CloneAt, RepoApi};
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, TrackingIssue, VcsError,
    owner_and_name, owner_and_name_segments, require_head, same_spelling,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};
use crate::repo_config::MergeMethod;

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
        let auth = Auth::basic_or(token, Auth::Bearer);
        let rest = Rest::new(url.unwrap_or(DEFAULT_URL), auth, retry)?;
        Ok(BitbucketCloudClient { rest })
    }
}

#[derive(Deserialize)]
struct PrJson {
    source: Endpoint,
    destination: Endpoint,
    author: Account,
    state: String,
    #[serde(default)]
    participants: Vec<Participant>,
    /// Once merged, the merge commit (abbreviated).
    #[serde(default)]
    merge_commit: Option<Hash>,
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
        let target = format!(
            "{}/commit/{}",
            Self::repo_path(repo)?,
            segment(sha.as_str())
        );
        let commit: Hash = self.rest.get(&target, &what).await?;
        let full = CommitSha::new(commit.hash);
        if full.is_abbreviated() || !full.as_str().starts_with(sha.as_str()) {
            return Err(VcsError::Status {
                what,
                status: 200,
                message: format!("Bitbucket answered commit {full}, which is not {sha} in full"),
            });
        }
        Ok(full)
    }

    async fn get_pr(&self, pr: PrRef<'_>) -> Result<PrJson> {
        let what = format!("get pull request {}", Self::pr_name(pr));
        let target = format!("{}/pullrequests/{}", Self::repo_path(pr.repo)?, pr.number);
        self.rest.get(&target, &what).await
    }
}

impl Host for BitbucketCloudClient {
    const PROVIDER: Provider = Provider::BitbucketCloud;
    const REPO_PATH: [&'static str; 2] = ["repositories/", "/"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;
    const DEFAULT_BRANCH_AT: &'static str = "/mainbranch/name";
    const BRANCH_HEAD_AT: &'static str = "/target/hash";

    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let j = self.get_pr(pr).await?;
        // A PR whose source branch is gone (declined, merged and deleted) may have no commit.
        let head_sha = match j.source.commit {
            Some(c) => self.full_sha(pr.repo, &CommitSha::new(c.hash)).await?,
            None => CommitSha::new(String::new()),
        };
        let head_repo = j
            .source
            .repository
            .and_then(|r| r.full_name)
            .map(|name| same_spelling(pr.repo, name));
        let merge_sha = match j.merge_commit {
            Some(c) if j.state == "MERGED" => {
                Some(self.full_sha(pr.repo, &CommitSha::new(c.hash)).await?)
            }
            _ => None,
        };
        Ok(PullRequest {
            merge_sha,
            number: pr.number,
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

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {}", Self::pr_name(pr));
        let base = Self::repo_path(pr.repo)?;
        // No `pagelen`: the endpoint takes no query parameter (it redirects to the repository's
        // diffstat, which pages by 500).
        let first = format!("{base}/pullrequests/{}/diffstat", pr.number);
        let stats: Vec<DiffStat> = self.rest.pages_linked(&first, &what).await?;
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

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let base = Self::repo_path(repo)?;
        let first = format!(
            "{base}/src/{}/?max_depth=100&pagelen=100",
            segment(sha.as_str())
        );
        let entries: Vec<TreeEntry> = self.rest.pages_linked(&first, what).await?;
        Ok(TreeEntry::paths_of(entries, "commit_file"))
    }

    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!("{base}/src/{sha}/{}", path(file))
    }

    fn comment_path(base: &str, number: PullRequestNumber) -> String {
        format!("{base}/pullrequests/{number}/comments")
    }

    /// `{"content": {"raw": ...}}`.
    fn comment_json(body: &str) -> Value {
        json!({ "content": { "raw": body } })
    }

    fn edit_put(base: &str, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<Put> {
        let path = format!("{}/{}", Self::comment_path(base, pr), segment(&id.0));
        Ok(Put::new(Method::PUT, path, Self::comment_json(body)))
    }

    /// `POST commit/{sha}/statuses/build`, linking to the repository when the status has no
    /// link of its own.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        let (ws, slug) = owner_and_name(repo)?;
        let path = format!(
            "{}/commit/{}/statuses/build",
            Self::repo_path(repo)?,
            segment(sha.as_str())
        );
        let mut body = build_status(status, || format!("https://bitbucket.org/{ws}/{slug}"));
        // The endpoint associates a status with a pull request only when `refname` is its
        // source branch.
        if let Some(branch) = &status.branch {
            body["refname"] = serde_json::json!(branch);
        }
        Ok(Put::new(Method::POST, path, body))
    }

    /// The user's effective permission on the repository from
    /// `GET workspaces/{ws}/permissions/repositories/{slug}?q=user.uuid="{uuid}"`, which the
    /// swagger documents as "effective permissions: the highest level of permission the user
    /// has", direct or through a group, project or workspace grant. `admin` is
    /// [`Access::Admin`], `write` [`Access::Write`], `read` [`Access::Read`]; a user with no
    /// entry (not a member, or unknown) [`Access::None`]. The user is named by account UUID
    /// (the webhook's `actor.uuid`), so an actor without one is an error. Needs the `repository`
    /// and `read:user:bitbucket` scopes and a token whose account administers the repository.
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        let uuid = user.id.as_deref().ok_or_else(|| VcsError::Config {
            message: format!(
                "Bitbucket Cloud looks permissions up by account UUID, and none is known for {}",
                user.login
            ),
        })?;
        let (ws, slug) = owner_and_name_segments(repo)?;
        let what = format!("read {}'s permission on {repo}", user.login);
        let query = segment(&format!("user.uuid=\"{uuid}\""));
        let first = format!("workspaces/{ws}/permissions/repositories/{slug}?q={query}");
        let entries: Vec<RepositoryPermission> = self.rest.pages_linked(&first, &what).await?;
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
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let j = self.get_pr(pr).await?;
        let Some(source) = j.source.commit else {
            return Ok(Vec::new());
        };
        let current = self.full_sha(pr.repo, &CommitSha::new(source.hash)).await?;
        if !current.as_str().eq_ignore_ascii_case(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approving(j.participants))
    }

    /// Whether the destination branch's head (`GET refs/branches/{base}`, `target.hash`) is the
    /// merge base of the PR's head and itself (`GET merge-base/{head}..{base}`): then the head
    /// contains it.
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let base_path = Self::repo_path(repo)?;
        let what = format!("read the head of {} in {repo}", pr.base_branch);
        let target = format!("{base_path}/refs/branches/{}", path(&pr.base_branch));
        let branch: Branch = self.rest.get(&target, &what).await?;
        let base = branch.target.hash;
        let what = format!("compare {repo}#{} with {}", pr.number, pr.base_branch);
        let range = segment(&format!("{}..{base}", pr.head_sha));
        let merge_base: Hash = self
            .rest
            .get(&format!("{base_path}/merge-base/{range}"), &what)
            .await?;
        Ok(merge_base.hash.eq_ignore_ascii_case(&base))
    }

    /// The repository's `mainbranch.name` (`GET repositories/{ws}/{slug}`), the branch's
    /// `target.hash` (`GET .../refs/branches/{name}`, the name without `refs/heads/`) and
    /// `DELETE` of the same path (204; the main branch is refused with 400).
    fn branch_path(base: &str, branch: &str) -> String {
        format!("{base}/refs/branches/{}", path(branch))
    }

    /// The repository's `mainbranch.name` and the `links.clone` entry named `https`.
    fn repo_api(repo: &RepoName) -> Result<RepoApi> {
        Ok(RepoApi {
            repository: Self::repo_path(repo)?,
            clone_at: CloneAt::Named {
                list: "/links/clone",
                name: "https",
            },
            default_branch: None,
            default_at: Self::DEFAULT_BRANCH_AT,
        })
    }

    /// The issue tracker, which Atlassian's description marks deprecated: `POST .../issues` with
    /// `title` and `content.raw` (Markdown, the tracker's default); `GET .../issues/{id}`, and
    /// `POST .../issues/{id}/changes` (`changes.{title,content,state}.new`: the update the
    /// description documents; its `PUT` takes no body there). Reopened as `open`, closed as
    /// `resolved`; `invalid`, `duplicate`, `wontfix` and `closed` count as closed too.
    fn issue_api(repo: &RepoName, issue: &TrackingIssue) -> Result<IssueApi> {
        let change = |new: &str| json!({"new": new});
        Ok(IssueApi {
            issues: format!("{}/issues", Self::repo_path(repo)?),
            create: json!({"title": issue.title, "content": {"raw": issue.body}}),
            edit_method: Method::POST,
            edit_suffix: "/changes",
            edit: json!({"changes": {
                "title": change(&issue.title), "content": change(&issue.body)
            }}),
            reopen: json!({"changes": {"state": change("open")}}),
            close: json!({"changes": {"state": change("resolved")}}),
            number_at: "/id",
            url_at: "/links/html/href",
            title_at: "/title",
            text_at: "/content/raw",
            state_at: "/state",
            closed: &["resolved", "invalid", "duplicate", "wontfix", "closed"],
        })
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }

    /// Refused: Bitbucket Cloud's merge (`POST .../pullrequests/{id}/merge`,
    /// `pullrequest_merge_parameters`) takes no expected head, so a push after the apply would
    /// be merged unapplied (it refuses, 409, only a ref that changed while it merged).
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        let _ = (repo, pr, method);
        Err(VcsError::Config {
            message: "Bitbucket Cloud's merge cannot require the head that was applied (a push \
                      after the apply would be merged unapplied): merge the pull request yourself"
                .to_owned(),
        })
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
}
