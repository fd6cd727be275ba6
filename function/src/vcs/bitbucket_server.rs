//! Bitbucket Server and Data Center, REST 1.0 with `reqwest`. Repositories are `PROJECT/slug`.
//! A token of the form `user:password` is sent as Basic auth, anything else as a Bearer HTTP
//! access token.
//!
//! Endpoints (under `rest/api/1.0/projects/{KEY}/repos/{slug}`): `GET pull-requests/{id}` and
//! `GET pull-requests/{id}/merge`, `GET pull-requests/{id}/changes` (`isLastPage` +
//! `nextPageStart` pagination), `GET raw/{path}?at=`, `GET files?at=` (paged),
//! `GET archive?at=&format=tgz&prefix=` (the tree in one download; without a prefix its entries
//! sit at the root, so one top-level folder is asked for, the shape every other host serves),
//! `POST pull-requests/{id}/comments`, `GET`+`PUT pull-requests/{id}/comments/{cid}` (edits carry
//! the comment's `version`), `GET compare/commits?from=&to=&limit=1` (`undiverged`), and
//! `POST rest/build-status/1.0/commits/{sha}`; who may run commands comes from
//! `GET rest/api/1.0/users?filter=&permission.1=REPO_…&permission.1.projectKey=&permission.1.repositorySlug=`.
//!
//! The token's account needs `REPO_READ` on the repository for everything read here (including
//! the permission look-up, which any authenticated user may make) and `REPO_WRITE` to comment
//! and set build statuses; an HTTP access token needs the matching repository permission.

use std::collections::BTreeMap;

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::{Auth, Idempotency, Rest, RetryPolicy, check, path, segment};
use super::paging;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, TreeFilter,
    VcsClient, VcsError, owner_and_name, require_head, same_spelling, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// Bitbucket Server's comment limit: 32,768 characters.
pub const COMMENT_LIMIT: usize = 32_768;

/// The top-level folder asked of Bitbucket's archives (`prefix=`): the archive reader takes its
/// files from under one such folder, as `git archive --prefix` writes them.
pub const ARCHIVE_PREFIX: &str = "landfall/";

/// The Bitbucket Server adapter.
#[derive(Debug, Clone)]
pub struct BitbucketServerClient {
    rest: Rest,
}

impl BitbucketServerClient {
    /// `url` is the server's base URL (`https://bitbucket.example.com`); there is no default.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        let url = url.ok_or_else(|| VcsError::Config {
            message: "Bitbucket Server needs LANDFALL_VCS_URL=https://<your Bitbucket server>"
                .to_owned(),
        })?;
        Ok(BitbucketServerClient {
            rest: Rest::new(url, Auth::basic_or(token, Auth::Bearer), retry)?,
        })
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        let (project, slug) = owner_and_name(repo)?;
        Ok(format!(
            "rest/api/1.0/projects/{}/repos/{}",
            segment(project),
            segment(slug)
        ))
    }

    /// Every page, following `isLastPage` and `nextPageStart`.
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        let sep = if first.contains('?') { '&' } else { '?' };
        paging::collect(0u64, |start| async move {
            let page: Paged<T> = self
                .rest
                .get(&format!("{first}{sep}start={start}"), what)
                .await?;
            let next = match (page.is_last_page, page.next_page_start) {
                (false, Some(next)) => Some(next),
                _ => None,
            };
            Ok((page.values, next))
        })
        .await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paged<T> {
    values: Vec<T>,
    #[serde(default = "yes")]
    is_last_page: bool,
    next_page_start: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrJson {
    from_ref: RefJson,
    to_ref: RefJson,
    author: Participant,
    state: String,
    #[serde(default)]
    reviewers: Vec<Participant>,
    #[serde(default)]
    participants: Vec<Participant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefJson {
    display_id: String,
    latest_commit: Option<String>,
    /// Absent when the source repository (a fork) is gone.
    repository: Option<RepoJson>,
}

#[derive(Deserialize)]
struct RepoJson {
    slug: Option<String>,
    project: Option<ProjectJson>,
}

#[derive(Deserialize)]
struct ProjectJson {
    key: Option<String>,
}

impl RepoJson {
    /// `PROJECT/slug`, the spelling of repository names everywhere in Landfall.
    fn full_name(&self) -> Option<RepoName> {
        let key = self.project.as_ref()?.key.as_deref()?;
        Some(RepoName::new(format!("{key}/{}", self.slug.as_deref()?)))
    }
}

/// A pull request participant (reviewer, author or participant).
#[derive(Deserialize)]
struct Participant {
    user: User,
    /// `APPROVED`, `NEEDS_WORK` or `UNAPPROVED`.
    status: Option<String>,
}

#[derive(Deserialize)]
struct User {
    name: String,
    slug: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeJson {
    can_merge: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    path: PathJson,
    src_path: Option<PathJson>,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PathJson {
    to_string: String,
}

#[derive(Deserialize)]
struct CommentJson {
    id: u64,
    version: u64,
}

fn status_key(context: &str) -> String {
    let digest = Sha256::digest(context.as_bytes());
    format!("landfall-{}", hex::encode(&digest[..12]))
}

/// The reviewers and participants whose status is `APPROVED` (`NEEDS_WORK` is not an approval),
/// each person once.
fn approving(reviewers: Vec<Participant>, participants: Vec<Participant>) -> Vec<Actor> {
    let mut out: Vec<Actor> = Vec::new();
    for p in reviewers.into_iter().chain(participants) {
        if p.status.as_deref() == Some("APPROVED") && !out.iter().any(|a| a.login == p.user.name) {
            out.push(Actor::login(p.user.name));
        }
    }
    out
}

impl BitbucketServerClient {
    async fn get_pr(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PrJson> {
        let what = format!("get pull request {repo}#{pr}");
        self.rest
            .get(
                &format!("{}/pull-requests/{pr}", Self::repo_path(repo)?),
                &what,
            )
            .await
    }
}

impl VcsClient for BitbucketServerClient {
    fn provider(&self) -> Provider {
        Provider::BitbucketServer
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let j = self.get_pr(repo, pr).await?;
        let state = match j.state.as_str() {
            "OPEN" => PrState::Open,
            "MERGED" => PrState::Merged,
            _ => PrState::Closed,
        };
        let mergeable = if state == PrState::Open {
            let what = format!("check whether {repo}#{pr} can merge");
            let m: MergeJson = self
                .rest
                .get(
                    &format!("{}/pull-requests/{pr}/merge", Self::repo_path(repo)?),
                    &what,
                )
                .await?;
            Some(m.can_merge)
        } else {
            Some(false)
        };
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.from_ref.latest_commit.unwrap_or_default()),
            head_branch: j.from_ref.display_id,
            base_branch: j.to_ref.display_id,
            author: j.author.user.name,
            author_id: None,
            state,
            mergeable,
            head_repo: j
                .from_ref
                .repository
                .as_ref()
                .and_then(RepoJson::full_name)
                .map(|name| same_spelling(repo, name)),
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {repo}#{pr}");
        let changes: Vec<Change> = self
            .pages(
                &format!(
                    "{}/pull-requests/{pr}/changes?limit=1000",
                    Self::repo_path(repo)?
                ),
                &what,
            )
            .await?;
        Ok(changes
            .into_iter()
            .map(|c| match (c.kind.as_str(), c.src_path) {
                ("MOVE", Some(src)) => ChangedFile::renamed(&src.to_string, &c.path.to_string),
                ("DELETE", _) => ChangedFile::new(&c.path.to_string, FileStatus::Removed),
                ("ADD" | "COPY", _) => ChangedFile::new(&c.path.to_string, FileStatus::Added),
                _ => ChangedFile::modified(&c.path.to_string),
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
            "{}/raw/{}?at={}",
            Self::repo_path(repo)?,
            path(file),
            segment(sha.as_str())
        ))?;
        self.rest.get_file(url, &what).await
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        self.pages(
            &format!(
                "{}/files?at={}&limit=1000",
                Self::repo_path(repo)?,
                segment(sha.as_str())
            ),
            &what,
        )
        .await
    }

    async fn read_tree(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        wanted: &TreeFilter,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        let what = format!("download the archive of {repo} at {sha}");
        let path = format!(
            "{}/archive?at={}&format=tgz&prefix={}",
            Self::repo_path(repo)?,
            segment(sha.as_str()),
            segment(ARCHIVE_PREFIX)
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
        let c: CommentJson = self
            .rest
            .send_json(
                Method::POST,
                &format!("{}/pull-requests/{pr}/comments", Self::repo_path(repo)?),
                &json!({ "text": body }),
                Idempotency::NotIdempotent,
                &what,
            )
            .await?;
        Ok(CommentId(c.id.to_string()))
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let what = format!("edit comment {id} on {repo}#{pr}");
        let target = format!(
            "{}/pull-requests/{pr}/comments/{}",
            Self::repo_path(repo)?,
            segment(&id.0)
        );
        // An edit must name the version it replaces; read it, then write. Someone editing in
        // between makes the version stale (409): read it again and write once more (the edit
        // sets the whole text, so repeating it is harmless).
        let mut stale_retries = 1;
        loop {
            let current: CommentJson = self.rest.get(&target, &what).await?;
            let sent: Result<serde_json::Value> = self
                .rest
                .send_json(
                    Method::PUT,
                    &target,
                    &json!({ "text": body, "version": current.version }),
                    Idempotency::Idempotent,
                    &what,
                )
                .await;
            match sent {
                Err(VcsError::Status { status: 409, .. }) if stale_retries > 0 => {
                    stale_retries -= 1;
                    tracing::info!(what, "comment version was stale; re-reading it");
                }
                other => return other.map(drop),
            }
        }
    }

    async fn set_status(
        &self,
        _repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<()> {
        let what = format!("set status {} on {sha}", status.context);
        let state = match status.state {
            StatusState::Pending => "INPROGRESS",
            StatusState::Success => "SUCCESSFUL",
            StatusState::Failure | StatusState::Error => "FAILED",
        };
        let url = self.rest.url(&format!(
            "rest/build-status/1.0/commits/{}",
            segment(sha.as_str())
        ))?;
        let mut body = json!({
            "state": state,
            "key": status_key(&status.context),
            "name": status.context,
            "description": truncate(&status.description, 255),
        });
        body["url"] = json!(
            status.target_url.clone().unwrap_or_else(|| self
                .rest
                .url("")
                .map(|u| u.to_string())
                .unwrap_or_default())
        );
        let r = self
            .rest
            .send(
                Method::POST,
                url,
                Some(&body),
                "application/json",
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        check(r, &what).map(drop)
    }

    /// The user's effective permission on the repository: the highest of `REPO_ADMIN`
    /// ([`Access::Admin`]), `REPO_WRITE` ([`Access::Write`]) and `REPO_READ` ([`Access::Read`])
    /// that `GET rest/api/1.0/users?filter={name}&permission.1={P}&permission.1.projectKey=
    /// &permission.1.repositorySlug=` finds the user holding. Bitbucket answers such a filter
    /// with everyone the permission applies to, so a repository grant, a project grant
    /// (`PROJECT_ADMIN` implies `REPO_ADMIN`, `PROJECT_WRITE` `REPO_WRITE`, `PROJECT_READ`
    /// `REPO_READ`), either one given to a group, and the global `ADMIN` and `SYS_ADMIN` (full
    /// access to every project) all count; the per-resource `permissions/users` listings hold
    /// only direct grants and miss groups. The filter matches names, display names and e-mail
    /// addresses containing the text, so only a user whose `name` (or `slug`) is the login
    /// counts. Two requests: `REPO_WRITE`, then `REPO_ADMIN` for a writer or `REPO_READ` for
    /// anyone else. Someone unknown, or holding none of them, has [`Access::None`].
    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        Ok(if self.holds(repo, user, "REPO_WRITE").await? {
            if self.holds(repo, user, "REPO_ADMIN").await? {
                Access::Admin
            } else {
                Access::Write
            }
        } else if self.holds(repo, user, "REPO_READ").await? {
            Access::Read
        } else {
            Access::None
        })
    }

    /// The reviewers and participants whose `status` is `APPROVED` (`NEEDS_WORK` and
    /// `UNAPPROVED` are not approvals). Bitbucket does not record the commit an approval was
    /// given at, so when the PR's `fromRef.latestCommit` is no longer `head` none counts.
    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        let j = self.get_pr(repo, pr).await?;
        let current = j.from_ref.latest_commit.unwrap_or_default();
        if current.is_empty() || !current.eq_ignore_ascii_case(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approving(j.reviewers, j.participants))
    }

    /// Whether no commit of the base branch is missing from the head:
    /// `GET compare/commits?from=refs/heads/{base}&to={head}&limit=1` lists "the commits
    /// accessible from the `from` commit but not in the `to` commit", so an empty page means
    /// the head contains the base branch's current head.
    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let what = format!("compare {repo}#{} with {}", pr.number, pr.base_branch);
        let page: Paged<serde_json::Value> = self
            .rest
            .get(
                &format!(
                    "{}/compare/commits?from={}&to={}&limit=1",
                    Self::repo_path(repo)?,
                    segment(&format!("refs/heads/{}", pr.base_branch)),
                    segment(pr.head_sha.as_str())
                ),
                &what,
            )
            .await?;
        Ok(page.values.is_empty())
    }
}

impl BitbucketServerClient {
    /// Whether `user` holds `permission` (a `REPO_*` permission) on `repo`, directly or implied.
    async fn holds(&self, repo: &RepoName, user: &Actor, permission: &str) -> Result<bool> {
        let (project, slug) = owner_and_name(repo)?;
        let what = format!("check {} for {permission} on {repo}", user.login);
        let users: Vec<User> = self
            .pages(
                &format!(
                    "rest/api/1.0/users?filter={}&permission.1={permission}&permission.1.projectKey={}&permission.1.repositorySlug={}&limit=100",
                    segment(&user.login),
                    segment(project),
                    segment(slug)
                ),
                &what,
            )
            .await?;
        Ok(users.iter().any(|u| {
            u.name.eq_ignore_ascii_case(&user.login)
                || u.slug
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&user.login))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(name: &str, status: &str) -> Participant {
        Participant {
            user: User {
                name: name.to_owned(),
                slug: None,
            },
            status: Some(status.to_owned()),
        }
    }

    #[test]
    fn only_approved_counts_and_each_person_once() {
        let actors = approving(
            vec![
                participant("lead", "APPROVED"),
                participant("ops", "NEEDS_WORK"),
                participant("dev", "UNAPPROVED"),
            ],
            vec![
                participant("lead", "APPROVED"),
                participant("sre", "APPROVED"),
            ],
        );
        assert_eq!(actors, [Actor::login("lead"), Actor::login("sre")]);
    }

    #[test]
    fn a_fork_keeps_its_own_project_key() {
        let repo = RepoName::new("PLAT/infra");
        assert_eq!(same_spelling(&repo, RepoName::new("plat/INFRA")), repo);
        assert_eq!(
            same_spelling(&repo, RepoName::new("~ALICE/infra")),
            RepoName::new("~ALICE/infra")
        );
    }
}
