//! GitLab (gitlab.com and self-managed), REST v4 with `reqwest`. The project id is the
//! URL-encoded full path (`group%2Fsub%2Fproject`); a token goes in `PRIVATE-TOKEN`.
//!
//! Endpoints: `GET /projects/:id/merge_requests/:iid`, `GET .../merge_requests/:iid/diffs`
//! (`X-Next-Page` pagination), `GET /projects/:id/repository/files/:path/raw?ref=`,
//! `GET /projects/:id/repository/tree?recursive=true` (`X-Next-Page`),
//! `GET /projects/:id/repository/archive.tar.gz?sha=` (the tree in one download: entries under
//! one `<project>-<sha>-<sha>/` folder, the shape `git archive --prefix` writes),
//! `POST .../merge_requests/:iid/notes`, `PUT .../notes/:id`, `POST /projects/:id/statuses/:sha`;
//! deleting a merged merge request's branch: `GET /projects/:id`, then `GET` and `DELETE`
//! `/projects/:id/repository/branches/:branch`.
//!
//! Who may do what, and what a merge request's state allows:
//!
//! | question | endpoint | answer |
//! |---|---|---|
//! | a user's access ([`VcsClient::permission`]) | `GET /projects/:id/members/all/:user_id` | `access_level` 10 Guest, 15 Planner, 20 Reporter → read; 30 Developer, 40 Maintainer → write; 50 Owner → admin; 404 (not a member, inherited and invited memberships included) → none |
//! | a user's id, when the delivery gave only a username | `GET /users?username=` | the exact username's `id`: **one more request** |
//! | approvals ([`VcsClient::approvals`]) | `GET .../merge_requests/:iid/approvals`, then `GET .../merge_requests/:iid` (`sha`) | `approved_by[].user` (`id`, `username`), only while the merge request's head is the caller's (GitLab ties approvals to no commit: see the method) |
//! | `undiverged` ([`VcsClient::contains_base`]) | `GET .../merge_requests/:iid?include_diverged_commits_count=true` | `diverged_commits_count == 0` |
//! | group membership ([`VcsClient::is_member`]) | `GET /groups/:id/members/:user_id` (direct members only) | 200 with `access_level` 10 or more, active → member; 404 → not |
//! | the head's project ([`PullRequest::head_repo`]) | `source_project_id` / `target_project_id` of the merge request; `GET /projects/:source_project_id` for a fork | the project itself, or the fork's `path_with_namespace` |
//!
//! [`VcsClient::permission`]: super::VcsClient::permission
//! [`VcsClient::approvals`]: super::VcsClient::approvals
//! [`VcsClient::contains_base`]: super::VcsClient::contains_base
//! [`VcsClient::is_member`]: super::VcsClient::is_member

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::github::shared::TreeEntry;
use super::host::{Host, PrRef, Put, StatusFields};
use super::http::{Auth, Rest, RetryPolicy, path, segment};
use super::issues::IssueApi;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, TrackingIssue, VcsError,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};
use crate::repo_config::MergeMethod;

/// gitlab.com's API.
pub const DEFAULT_URL: &str = "https://gitlab.com/api/v4";

/// GitLab's note limit: 1,000,000 characters.
pub const COMMENT_LIMIT: usize = 1_000_000;

/// How GitLab spells a commit status (`POST /projects/:id/statuses/:sha`).
const STATUS: StatusFields = StatusFields {
    states: ["running", "success", "failed", "failed"],
    name: "name",
    url: "target_url",
    description_max: 255,
};

/// The GitLab adapter.
#[derive(Debug, Clone)]
pub struct GitlabClient {
    rest: Rest,
    /// The token's own username (`GET /user`), read once: Landfall's statuses are the ones it
    /// wrote itself.
    me: std::sync::Arc<tokio::sync::OnceCell<String>>,
    /// What Landfall's own statuses start with (`landfall/`, or `LANDFALL_VCS_STATUS_NAME`'s).
    own_prefix: String,
}

impl GitlabClient {
    /// `url` is the API base (`https://gitlab.example.com/api/v4`), gitlab.com's when `None`.
    pub fn new(url: Option<&str>, token: &SecretString, retry: RetryPolicy) -> Result<Self> {
        let auth = Auth::PrivateToken(token.clone());
        let rest = Rest::new(url.unwrap_or(DEFAULT_URL), auth, retry)?;
        Ok(GitlabClient {
            rest,
            me: std::sync::Arc::default(),
            own_prefix: format!("{}/", super::DEFAULT_STATUS_NAME),
        })
    }

    /// Landfall's own statuses start with `name` (`LANDFALL_VCS_STATUS_NAME`).
    #[must_use]
    pub fn with_status_name(mut self, name: &str) -> Self {
        self.own_prefix = format!("{name}/");
        self
    }

    fn project(repo: &RepoName) -> String {
        format!("projects/{}", segment(repo.as_str()))
    }

    /// `projects/:id/merge_requests/:iid`.
    fn merge_request(pr: PrRef<'_>) -> String {
        format!("{}/merge_requests/{}", Self::project(pr.repo), pr.number)
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

    /// Whether every status of `sha` that has not succeeded (the newest of each name) is
    /// Landfall's own (`GET /projects/:id/repository/commits/:sha/statuses?all=true`, every
    /// page): named `landfall/...` (or under `LANDFALL_VCS_STATUS_NAME`) **and** written by the
    /// token's own account (`GET /user`, once). A name alone is not enough: a merge request's
    /// author can name their own CI jobs `landfall/...`.
    async fn only_own_checks_pending(&self, repo: &RepoName, sha: &str) -> Result<bool> {
        let me = self
            .me
            .get_or_try_init(|| async {
                let user: Author = self.rest.get("user", "read the token's own user").await?;
                Ok::<_, VcsError>(user.username)
            })
            .await?;
        let what = format!("list the statuses of {sha} in {repo}");
        let first = format!(
            "{}/repository/commits/{}/statuses?all=true&per_page=100",
            Self::project(repo),
            segment(sha)
        );
        let statuses: Vec<StatusJson> = self.rest.pages_numbered(&first, &what).await?;
        // `all=true` lists the statuses a later one of the same name replaced (a retried job):
        // only the newest of each name counts, as GitLab counts it.
        let mut newest = std::collections::HashMap::<&str, &StatusJson>::new();
        for status in &statuses {
            let kept = newest.entry(status.name.as_str()).or_insert(status);
            if kept.id < status.id {
                *kept = status;
            }
        }
        Ok(newest
            .values()
            .filter(|s| !matches!(s.status.as_str(), "success" | "skipped"))
            .all(|s| {
                s.name.starts_with(&self.own_prefix)
                    && s.author.as_ref().is_some_and(|a| a.username == *me)
            }))
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
    /// Once merged with a merge commit.
    #[serde(default)]
    merge_commit_sha: Option<String>,
    /// Once merged with squashing.
    #[serde(default)]
    squash_commit_sha: Option<String>,
}

/// `GET merge_requests/:iid`'s count of changed files: a string, with a `+` (`"1000+"`) when
/// the diff is past the diff limits and lists of its files are cut; `null` until computed.
#[derive(Deserialize)]
struct ChangesCountJson {
    changes_count: Option<String>,
}

/// One commit status: its name and state.
#[derive(Deserialize)]
struct StatusJson {
    /// Newer statuses of one name have higher ids.
    #[serde(default)]
    id: u64,
    name: String,
    status: String,
    author: Option<Author>,
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

/// One member, as `members/all/:user_id` and `members/:user_id` answer.
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
struct ApprovalsJson {
    #[serde(default)]
    approved_by: Vec<ApprovalJson>,
}

#[derive(Deserialize)]
struct ApprovalJson {
    user: UserJson,
}

impl Host for GitlabClient {
    const PROVIDER: Provider = Provider::Gitlab;
    // `projects/owner%2Fname`; `repo_path` takes nested groups' longer paths too.
    const REPO_PATH: [&'static str; 2] = ["projects/", "%2F"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;
    const PR_MARK: char = '!';
    const NOTE: &'static str = "note";

    /// The merge request. `mergeable` maps GitLab's `detailed_merge_status`: `mergeable` is
    /// mergeable; `checking`, `unchecked`, `preparing` and `approvals_syncing` are still being
    /// computed (`None`); `ci_must_pass` and `ci_still_running` are mergeable only when every
    /// status of the head commit that has not succeeded is Landfall's own (`landfall/...` or
    /// under the deployment's status name, written by the token's account:
    /// its pending plan or apply must not block its own apply, as Atlantis leaves out its own),
    /// read with one more request ([`GitlabClient::only_own_checks_pending`]); every other status
    /// (`not_approved`, `discussions_not_resolved`, `draft_status`, `conflict`, `need_rebase`,
    /// `blocked_status`, `not_open`, `requested_changes`, ...) is not mergeable. GitLab before
    /// 15.6 has no `detailed_merge_status`: then only conflicts (`has_conflicts`) count.
    ///
    /// `head_repo` is the base project itself when `source_project_id` is the
    /// `target_project_id`; for a fork, the source project's `path_with_namespace`, from one
    /// `GET /projects/:source_project_id` (the merge request names the source project by id
    /// only); `None` when the source project is gone or not visible to the token (a fork, then).
    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let what = format!("get merge request {}", Self::pr_name(pr));
        let j: MrJson = self.rest.get(&Self::merge_request(pr), &what).await?;
        let mergeable = match j.detailed_merge_status.as_deref() {
            Some("mergeable") => Some(true),
            Some("checking" | "unchecked" | "preparing" | "approvals_syncing") => None,
            // A status list that cannot be read: not known to be mergeable.
            Some("ci_must_pass" | "ci_still_running") => Some(
                self.only_own_checks_pending(pr.repo, &j.sha)
                    .await
                    .unwrap_or(false),
            ),
            Some(_) => Some(false),
            // Neither answer: not known to be mergeable.
            None => j.has_conflicts.map(|conflicts| !conflicts),
        };
        let head_repo = match (j.source_project_id, j.target_project_id) {
            (Some(source), Some(target)) if source == target => Some(pr.repo.clone()),
            (Some(source), _) => self.project_path(source).await?,
            (None, _) => None,
        };
        // A fast-forward merge leaves no commit of its own: the head is then on the target.
        let merge_sha = (j.state == "merged").then(|| {
            CommitSha::new(
                j.merge_commit_sha
                    .or(j.squash_commit_sha)
                    .unwrap_or_else(|| j.sha.clone()),
            )
        });
        Ok(PullRequest {
            merge_sha,
            number: pr.number,
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

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let what = format!("list diffs of {}", Self::pr_name(pr));
        let first = format!("{}/diffs?per_page=100", Self::merge_request(pr));
        let diffs: Vec<DiffJson> = self.rest.pages_numbered(&first, &what).await?;
        // The list stops at the instance's diff limits; the merge request's count says so.
        let counted: ChangesCountJson = self.rest.get(&Self::merge_request(pr), &what).await?;
        if let Some(count) = counted.changes_count
            && (count.ends_with('+') || count.parse::<usize>().is_ok_and(|n| n > diffs.len()))
        {
            let why = " (its diff is past the instance's diff limits)";
            let (listed, change) = (diffs.len(), "merge request");
            return Err(VcsError::files_cut(
                what, "GitLab", change, listed, &count, why,
            ));
        }
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

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let first = format!(
            "{}/repository/tree?ref={}&recursive=true&per_page=100",
            Self::project(repo),
            segment(sha.as_str())
        );
        let entries: Vec<TreeEntry> = self.rest.pages_numbered(&first, what).await?;
        Ok(TreeEntry::paths_of(entries, "blob"))
    }

    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!("{base}/repository/files/{}/raw?ref={sha}", segment(file))
    }

    fn archive_path(base: &str, sha: &str) -> Option<String> {
        Some(format!("{base}/repository/archive.tar.gz?sha={sha}"))
    }

    fn comment_path(base: &str, number: PullRequestNumber) -> String {
        format!("{base}/merge_requests/{number}/notes")
    }

    fn edit_put(base: &str, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<Put> {
        let path = format!("{}/{}", Self::comment_path(base, pr), path(&id.0));
        Ok(Put::new(Method::PUT, path, Self::comment_json(body)))
    }

    /// With `ref`, the merge request's source branch: without it GitLab attaches the status to
    /// the newest pipeline of the commit or the first branch holding it, not the merge request.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        let path = format!("{}/statuses/{}", Self::project(repo), segment(sha.as_str()));
        let mut body = STATUS.json(status);
        if let Some(branch) = &status.branch {
            body["ref"] = serde_json::json!(branch);
        }
        Ok(Put::new(Method::POST, path, body))
    }

    /// `GET /projects/:id/members/all/:user_id`: the user's role in the project, inherited
    /// from its groups and invited groups included; 404 (not a member) is [`Access::None`]. An
    /// actor without an id costs one more request (`GET /users?username=`); a username GitLab
    /// does not know has [`Access::None`]. Instance administrators who are not members have
    /// no access here.
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
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
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let mr = Self::merge_request(pr);
        let what = format!("get approvals of {}", Self::pr_name(pr));
        let approvals: ApprovalsJson = self.rest.get(&format!("{mr}/approvals"), &what).await?;
        let what = format!("get the head of merge request {}", Self::pr_name(pr));
        let now: MrHeadJson = self.rest.get(&mr, &what).await?;
        if now.sha.as_deref() != Some(head.as_str()) {
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
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        let what = format!(
            "count the commits {repo}!{} lacks from its target branch",
            pr.number
        );
        let mr = Self::merge_request(PrRef {
            repo,
            number: pr.number,
        });
        let target = format!("{mr}?include_diverged_commits_count=true");
        let j: DivergedJson = self.rest.get(&target, &what).await?;
        Ok(j.diverged_commits_count == 0)
    }

    /// `GET /groups/:id/members/:user_id` with the URL-encoded group path (`team`, such as
    /// `acme/platform`): a direct member of that group with Guest (10) or more; 404 is not a
    /// member. As Atlantis reads a group (`GetGroupMember`), a member of a parent group only is
    /// not one of `acme/platform`: `members/all` would let every member of `acme`, a Guest
    /// included, stand for the platform team. An actor without an id costs one more request,
    /// as in [`VcsClient::permission`](super::VcsClient::permission).
    async fn team_member(&self, team: &str, user: &Actor) -> Result<bool> {
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
        let target = format!("groups/{}/members/{id}", segment(group));
        let member: Option<MemberJson> = self.get_optional(&target, &what).await?;
        Ok(member.is_some_and(|m| m.access() >= Access::Read))
    }

    /// The project's `default_branch` (`GET /projects/:id`), the branch's `commit.id`
    /// (`GET /projects/:id/repository/branches/:branch`) and `DELETE` of the same path, the
    /// branch URL-encoded as one segment (`feature%2Fx`), as GitLab's API wants a path
    /// parameter.
    fn branch_path(base: &str, branch: &str) -> String {
        format!("{base}/repository/branches/{}", segment(branch))
    }

    const CLONE_URL_AT: &'static str = "/http_url_to_repo";

    /// `POST /projects/:id/issues` with `title` and `description`; `GET` and `PUT
    /// .../issues/:iid`, closed and reopened with `state_event`; an issue's `iid`, `web_url` and
    /// `state` (`opened`, `closed`).
    fn issue_api(repo: &RepoName, issue: &TrackingIssue) -> Result<IssueApi> {
        let text = serde_json::json!({"title": issue.title, "description": issue.body});
        Ok(IssueApi {
            issues: format!("{}/issues", Self::project(repo)),
            create: text.clone(),
            edit_method: Method::PUT,
            edit_suffix: "",
            edit: text,
            reopen: serde_json::json!({"state_event": "reopen"}),
            close: serde_json::json!({"state_event": "close"}),
            number_at: "/iid",
            url_at: "/web_url",
            title_at: "/title",
            text_at: "/description",
            state_at: "/state",
            closed: &["closed"],
        })
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        Ok(Self::project(repo))
    }

    /// `PUT /projects/:id/merge_requests/:iid/merge` with `sha` (GitLab refuses, 409, when the
    /// head moved) and `squash`; GitLab merges with the project's merge method, so `rebase`
    /// is refused rather than silently merged another way.
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        if method == MergeMethod::Rebase {
            return Err(VcsError::Config {
                message: format!(
                    "GitLab does not merge with `automerge_method: {}` through Landfall: use merge or squash",
                    method.as_str()
                ),
            });
        }
        let path = format!(
            "{}/merge",
            Self::merge_request(PrRef {
                repo,
                number: pr.number
            })
        );
        let body = serde_json::json!({
            "sha": pr.head_sha.as_str(),
            "squash": method == MergeMethod::Squash,
        });
        Ok(Put::new(Method::PUT, path, body))
    }
}
