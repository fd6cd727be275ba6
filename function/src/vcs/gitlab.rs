//! GitLab (gitlab.com and self-managed), REST v4 with `reqwest`. The project id is the
//! URL-encoded full path (`group%2Fsub%2Fproject`); a token goes in `PRIVATE-TOKEN`.
//!
//! Endpoints: `GET /projects/:id/merge_requests/:iid`, `GET .../merge_requests/:iid/diffs`
//! (`X-Next-Page` pagination), `GET /projects/:id/repository/files/:path/raw?ref=`,
//! `GET /projects/:id/repository/tree?recursive=true` (`X-Next-Page`),
//! `GET /projects/:id/repository/archive.tar.gz?sha=` (the tree in one download: entries under
//! one `<project>-<sha>-<sha>/` folder, the shape `git archive --prefix` writes),
//! `POST .../merge_requests/:iid/notes`, `PUT .../notes/:id`, `POST /projects/:id/statuses/:sha`.
//!
//! Who may do what, and what a merge request's state allows:
//!
//! | question | endpoint | answer |
//! |---|---|---|
//! | a user's access ([`VcsClient::permission`]) | `GET /projects/:id/members/all/:user_id` | `access_level` 10 Guest, 15 Planner, 20 Reporter → read; 30 Developer, 40 Maintainer → write; 50 Owner → admin; 404 (not a member, inherited and invited memberships included) → none |
//! | a user's id, when the delivery gave only a username | `GET /users?username=` | the exact username's `id`: **one more request** |
//! | approvals ([`VcsClient::approvals`]) | `GET .../merge_requests/:iid/approvals`, then `GET .../merge_requests/:iid` (`sha`) | `approved_by[].user` (`id`, `username`), only while the merge request's head is the caller's (GitLab ties approvals to no commit: see the method) |
//! | `undiverged` ([`VcsClient::contains_base`]) | `GET .../merge_requests/:iid?include_diverged_commits_count=true` | `diverged_commits_count == 0` |
//! | group membership ([`VcsClient::is_member`]) | `GET /groups/:id/members/all/:user_id` | 200 with `access_level` 10 or more → member; 404 → not |
//! | the head's project ([`PullRequest::head_repo`]) | `source_project_id` / `target_project_id` of the merge request; `GET /projects/:source_project_id` for a fork | the project itself, or the fork's `path_with_namespace` |

use std::collections::BTreeMap;

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{Auth, Idempotency, Rest, RetryPolicy, path, segment};
use super::paging;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, TreeFilter,
    VcsClient, VcsError, truncate,
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

    /// GET JSON; `None` when GitLab answers 404.
    async fn get_optional<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Option<T>> {
        match self.rest.get(path, what).await {
            Ok(value) => Ok(Some(value)),
            Err(VcsError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The numeric id GitLab's member APIs take: the delivery's (`user.id`), or, for an actor
    /// known by username only, the id of the user with exactly that username, from
    /// `GET /users?username=` (this costs one more request). `None` for a username GitLab does
    /// not know.
    async fn user_id(&self, user: &Actor) -> Result<Option<u64>> {
        if let Some(id) = &user.id {
            return match id.trim() {
                digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    digits.parse().map(Some).map_err(|_| not_a_user_id(id))
                }
                _ => Err(not_a_user_id(id)),
            };
        }
        let login = user.login.trim();
        if login.is_empty() {
            return Ok(None);
        }
        let what = format!("look up the GitLab user {login}");
        let mut url = self.rest.url("users")?;
        url.query_pairs_mut().append_pair("username", login);
        let users: Vec<UserJson> = self
            .rest
            .get_raw(url, "application/json", &what)
            .await?
            .json(&what)?;
        // GitLab usernames are unique regardless of case.
        Ok(users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(login))
            .and_then(|u| u.id))
    }

    /// The full path of the project with id `id`; `None` when GitLab answers 404 (a deleted
    /// fork, or one the token cannot see).
    async fn project_path(&self, id: u64) -> Result<Option<RepoName>> {
        let what = format!("get project {id}");
        let project: Option<ProjectJson> =
            self.get_optional(&format!("projects/{id}"), &what).await?;
        Ok(project.map(|p| RepoName::new(p.path_with_namespace)))
    }
}

fn not_a_user_id(id: &str) -> VcsError {
    VcsError::Config {
        message: format!("{id:?} is not a GitLab user id"),
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
    has_conflicts: Option<bool>,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
}

/// The merge request's head only (`sha` is null while GitLab has not read the source branch).
#[derive(Deserialize)]
struct MrHeadJson {
    sha: Option<String>,
}

/// `?include_diverged_commits_count=true`: how many commits of the target branch the source
/// branch lacks. Required: a response without it fails the call rather than pass `undiverged`.
#[derive(Deserialize)]
struct DivergedJson {
    diverged_commits_count: u64,
}

#[derive(Deserialize)]
struct ProjectJson {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct UserJson {
    id: Option<u64>,
    username: String,
}

/// One row of `members/all/:user_id`.
#[derive(Deserialize)]
struct MemberJson {
    access_level: u64,
    /// The user's state (`active`, `blocked`, `deactivated`, ...).
    state: Option<String>,
    /// `awaiting` while an invitation or a seat approval is pending.
    membership_state: Option<String>,
}

impl MemberJson {
    /// GitLab's role as an [`Access`]: Guest (10), Planner (15) and Reporter (20) read;
    /// Developer (30) and Maintainer (40) write; Owner (50) administers. Minimal access (5), a
    /// membership still awaiting, or a user who is not active, has no access.
    fn access(&self) -> Access {
        let inactive = self.state.as_deref().is_some_and(|s| s != "active")
            || self.membership_state.as_deref() == Some("awaiting");
        match self.access_level {
            _ if inactive => Access::None,
            50.. => Access::Admin,
            30..50 => Access::Write,
            10..30 => Access::Read,
            _ => Access::None,
        }
    }
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
    approved_by: Vec<ApprovalJson>,
}

#[derive(Deserialize)]
struct ApprovalJson {
    user: UserJson,
}

impl VcsClient for GitlabClient {
    fn provider(&self) -> Provider {
        Provider::Gitlab
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    /// The merge request. `mergeable` maps GitLab's `detailed_merge_status`: `mergeable` is
    /// mergeable; `checking`, `unchecked`, `preparing` and `approvals_syncing` are still being
    /// computed (`None`); every other status (`ci_must_pass`, `ci_still_running`,
    /// `not_approved`, `discussions_not_resolved`, `draft_status`, `conflict`, `need_rebase`,
    /// `blocked_status`, `not_open`, `requested_changes`, ...) is not mergeable. GitLab before
    /// 15.6 has no `detailed_merge_status`: then only conflicts (`has_conflicts`) count.
    ///
    /// `head_repo` is the base project itself when `source_project_id` is the
    /// `target_project_id`; for a fork, the source project's `path_with_namespace`, from one
    /// `GET /projects/:source_project_id` (the merge request names the source project by id
    /// only); `None` when the source project is gone or not visible to the token (a fork, then).
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
            // Neither answer: not known to be mergeable.
            None => j.has_conflicts.map(|conflicts| !conflicts),
        };
        let head_repo = match (j.source_project_id, j.target_project_id) {
            (Some(source), Some(target)) if source == target => Some(repo.clone()),
            (Some(source), _) => self.project_path(source).await?,
            (None, _) => None,
        };
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.sha),
            head_branch: j.source_branch,
            base_branch: j.target_branch,
            author: j.author.username,
            author_id: None,
            state: match j.state.as_str() {
                "opened" | "locked" => PrState::Open,
                "merged" => PrState::Merged,
                _ => PrState::Closed,
            },
            mergeable,
            head_repo,
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

    /// `GET /projects/:id/members/all/:user_id`: the user's role in the project, inherited
    /// from its groups and invited groups included; 404 (not a member) is [`Access::None`]. An
    /// actor without an id costs one more request (`GET /users?username=`); a username GitLab
    /// does not know has [`Access::None`]. Instance administrators who are not members have
    /// no access here.
    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        let Some(id) = self.user_id(user).await? else {
            return Ok(Access::None);
        };
        let what = format!("read the membership of {} in {repo}", user.login);
        let member: Option<MemberJson> = self
            .get_optional(&format!("{}/members/all/{id}", Self::project(repo)), &what)
            .await?;
        Ok(member.map_or(Access::None, |m| m.access()))
    }

    /// `approved_by[].user` of `GET .../merge_requests/:iid/approvals`.
    ///
    /// GitLab records no commit with an approval: approvals are tied to the head only when
    /// the project removes them on push (`reset_approvals_on_push`, "Remove all approvals when
    /// commits are added to the source branch"); without it an approval given on an older
    /// commit still counts here. What this checks is that the merge request's head is still
    /// `head`: read after the approvals (`sha` of `GET .../merge_requests/:iid`), so that a
    /// push between the two requests yields no approvals rather than approvals given on a
    /// newer head. A stale `head` yields no approvals.
    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        let what = format!("get approvals of {repo}!{pr}");
        let approvals: ApprovalsJson = self
            .rest
            .get(
                &format!("{}/merge_requests/{pr}/approvals", Self::project(repo)),
                &what,
            )
            .await?;
        let what = format!("get the head of merge request {repo}!{pr}");
        let mr: MrHeadJson = self
            .rest
            .get(
                &format!("{}/merge_requests/{pr}", Self::project(repo)),
                &what,
            )
            .await?;
        if mr.sha.as_deref() != Some(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approvals
            .approved_by
            .into_iter()
            .map(|a| Actor {
                login: a.user.username,
                id: a.user.id.map(|id| id.to_string()),
            })
            .collect())
    }

    /// `diverged_commits_count` of `GET .../merge_requests/:iid?include_diverged_commits_count=true`
    /// is 0: the source branch has every commit of the target branch's current head.
    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        let what = format!(
            "count the commits {repo}!{} lacks from its target branch",
            pr.number
        );
        let j: DivergedJson = self
            .rest
            .get(
                &format!(
                    "{}/merge_requests/{}?include_diverged_commits_count=true",
                    Self::project(repo),
                    pr.number
                ),
                &what,
            )
            .await?;
        Ok(j.diverged_commits_count == 0)
    }

    /// `GET /groups/:id/members/all/:user_id` with the URL-encoded group path (`team`, such as
    /// `acme/platform`): a member with Guest (10) or more, inherited from parent groups
    /// included; 404 is not a member. An actor without an id costs one more request, as in
    /// [`VcsClient::permission`].
    async fn is_member(&self, team: &str, user: &Actor) -> Result<bool> {
        let group = team.trim().trim_matches('/');
        if group.is_empty() {
            return Err(VcsError::Config {
                message: format!("{team:?} is not a GitLab group path"),
            });
        }
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        let what = format!("read the membership of {} in the group {group}", user.login);
        let member: Option<MemberJson> = self
            .get_optional(
                &format!("groups/{}/members/all/{id}", segment(group)),
                &what,
            )
            .await?;
        Ok(member.is_some_and(|m| m.access() >= Access::Read))
    }
}
