//! Gitea and Forgejo, REST v1 on the shared [`Rest`] client; the token is sent as
//! `Authorization: token ...`. Gitea's API follows GitHub's shapes: the pull request, file,
//! review and permission JSON, the status and comment bodies and how reviews make approvals are
//! shared with the GitHub adapter ([`super::github::shared`]).
//!
//! Endpoints (under `repos/{owner}/{repo}`): `GET pulls/{n}`, `GET pulls/{n}/files` (Link
//! pagination), `GET raw/{path}?ref=`, `GET git/trees/{sha}?recursive=true` (paged while
//! `truncated`), `GET archive/{sha}.tar.gz` (the tree in one download, under one `{repo}/`
//! folder; a redirect, where archives are served from storage, is followed without the token),
//! `POST issues/{n}/comments`, `PATCH issues/comments/{id}`, `POST statuses/{sha}`; deleting a
//! merged pull request's branch: `GET repos/{owner}/{repo}`, then `GET` and `DELETE`
//! `branches/{branch}`.
//!
//! Who may do what, and what a pull request's state allows:
//!
//! | question | endpoint | answer |
//! |---|---|---|
//! | a user's access ([`VcsClient::permission`]) | `GET repos/{o}/{r}/collaborators/{collaborator}/permission` | `permission`: `owner`, `admin` → admin; `write` → write; `read` → read; `none` or anything else → none; 404 (no such user) → none; 403 is an error: Gitea answers it unless the token's user is a repository admin or a site admin |
//! | approvals ([`VcsClient::approvals`]) | `GET repos/{o}/{r}/pulls/{n}/reviews?limit=50` (every page) | each reviewer's latest of `APPROVED`/`REQUEST_CHANGES`, counted when `APPROVED`, not `dismissed`, not `stale`, with `commit_id` = the head; `official` is not required |
//! | `undiverged` ([`VcsClient::contains_base`]) | `GET repos/{o}/{r}/pulls/{n}` (`merge_base`, `head.sha`) and `GET repos/{o}/{r}/branches/{branch}` (`commit.id`) | the merge base is the base branch's head, while the PR's head is still the caller's |
//! | team membership ([`VcsClient::is_member`]) | `GET orgs/{org}/teams/search?q={name}&include_desc=false` (every page; the team whose `name` is exactly `name`), then `GET teams/{id}/members/{username}` | 200 → member; 404, or no such team → not |
//! | the head's repository ([`PullRequest::head_repo`]) | `head.repo.full_name` of `GET repos/{o}/{r}/pulls/{n}` | `null` (a deleted fork) → `None` |
//!
//! `mergeable` is Gitea's own `mergeable` (the PR can be merged without conflicts; Gitea
//! has no richer merge state in its API).
//!
//! [`VcsClient::permission`]: super::VcsClient::permission
//! [`VcsClient::approvals`]: super::VcsClient::approvals
//! [`VcsClient::contains_base`]: super::VcsClient::contains_base
//! [`VcsClient::is_member`]: super::VcsClient::is_member

use http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;

use super::github::shared::{
    FileJson, PermissionJson, PrJson, ReviewJson, TreeEntry, TreeJson, counted_approvals,
    org_and_team, status_put,
};
use super::host::{Host, PrRef, Put};
use super::http::{Auth, Rest, RetryPolicy, check, next_link, path, segment};
use super::issues::IssueApi;
use super::paging;
use super::{Access, Actor, CommitStatus, PullRequest, Result, TrackingIssue, VcsError, is_agit};
use crate::event::{CommitSha, Provider, RepoName};
use crate::projects::ChangedFile;
use crate::repo_config::MergeMethod;

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
        let auth = Auth::Token(token.clone());
        let rest = Rest::new(url.unwrap_or(DEFAULT_URL), auth, retry)?;
        Ok(GiteaClient { rest })
    }

    /// The id of the team named exactly `name` in `org`, from every page of
    /// `GET orgs/{org}/teams/search?q=` (a keyword search); `None` when there is none.
    async fn team_id(&self, org: &str, name: &str) -> Result<Option<u64>> {
        let what = format!("find the team {org}/{name}");
        let first = format!(
            "orgs/{}/teams/search?q={}&include_desc=false&limit=50",
            segment(org),
            segment(name)
        );
        let what = &what;
        let found = paging::collect(first, |target| async move {
            let url = self.rest.url(&target)?;
            let r = self.rest.get_raw(url, "application/json", what).await?;
            let found: TeamSearchJson = r.json(what)?;
            if found.ok == Some(false) {
                return Err(VcsError::Status {
                    what: what.clone(),
                    status: r.status.as_u16(),
                    message: "the team search answered ok: false".into(),
                });
            }
            Ok((found.data, next_link(&r.headers)))
        })
        .await;
        let teams: Vec<TeamJson> = match found {
            // No such organisation: no such team either.
            Err(VcsError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        Ok(teams.into_iter().find(|t| t.name == name).map(|t| t.id))
    }
}

#[derive(Deserialize)]
struct BranchJson {
    commit: BranchCommitJson,
}

#[derive(Deserialize)]
struct BranchCommitJson {
    id: String,
}

#[derive(Deserialize)]
struct TeamSearchJson {
    ok: Option<bool>,
    #[serde(default)]
    data: Vec<TeamJson>,
}

#[derive(Deserialize)]
struct TeamJson {
    id: u64,
    name: String,
}

/// Gitea's access mode names (`none`, `read`, `write`, `admin`, `owner`) as [`Access`]; any
/// other value is [`Access::None`]: fail closed.
fn gitea_access(permission: Option<&str>) -> Access {
    match permission {
        Some("owner" | "admin") => Access::Admin,
        Some("write") => Access::Write,
        Some("read") => Access::Read,
        _ => Access::None,
    }
}

/// The review states that make or change a decision on Gitea: `APPROVED`, `REQUEST_CHANGES`;
/// `COMMENT`, `PENDING` and `REQUEST_REVIEW` change none. An approval counts when it is not
/// `dismissed`, not `stale` and its `commit_id` is the head ([`counted_approvals`]).
///
/// `official` is not required: Gitea sets it for reviewers its branch protection counts
/// (its approvals whitelist, or anyone with write access when the branch has no rule) and
/// clears it on a reviewer's older reviews. Who may approve for Landfall is decided by the
/// caller from [`VcsClient::permission`](super::VcsClient::permission), and only the latest
/// review is looked at here.
const DECISIVE: &[&str] = &["APPROVED", "REQUEST_CHANGES"];

impl Host for GiteaClient {
    const PROVIDER: Provider = Provider::Gitea;
    const REPO_PATH: [&'static str; 2] = ["repos/", "/"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;

    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let what = format!("get pull request {}", Self::pr_name(pr));
        let target = format!("{}/pulls/{}", Self::repo_path(pr.repo)?, pr.number);
        let j: PrJson = self.rest.get(&target, &what).await?;
        let mergeable = j.mergeable;
        let agit = is_agit(&j.head.name, j.head.label.as_deref());
        let mut pull = j.into_pull_request(pr.number, mergeable);
        if agit {
            pull.head_repo = None;
        }
        Ok(pull)
    }

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {}", Self::pr_name(pr));
        let base = Self::repo_path(pr.repo)?;
        let files: Vec<FileJson> = self
            .rest
            .pages(&format!("{base}/pulls/{}/files?limit=50", pr.number), &what)
            .await?;
        Ok(files.into_iter().map(ChangedFile::from).collect())
    }

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let trees = format!(
            "{}/git/trees/{}?recursive=true&per_page=1000",
            Self::repo_path(repo)?,
            segment(sha.as_str())
        );
        let trees = &trees;
        let entries: Vec<TreeEntry> = paging::collect(1u32, |page| async move {
            let t: TreeJson = self.rest.get(&format!("{trees}&page={page}"), what).await?;
            // Gitea pages the listing while it says `truncated`; an empty page ends it too.
            let next = (t.truncated && !t.tree.is_empty()).then_some(page + 1);
            Ok((t.tree, next))
        })
        .await?;
        Ok(TreeEntry::paths_of(entries, "blob"))
    }

    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!("{base}/raw/{}?ref={sha}", path(file))
    }

    fn archive_path(base: &str, sha: &str) -> Option<String> {
        Some(format!("{base}/archive/{sha}.tar.gz"))
    }

    /// `POST repos/{o}/{r}/statuses/{sha}`, the description cut to 255 characters.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        let sha = segment(sha.as_str());
        Ok(status_put(&Self::repo_path(repo)?, &sha, 255, status))
    }

    /// `GET repos/{o}/{r}/collaborators/{collaborator}/permission`: see `gitea_access`. A 404
    /// (Gitea does not know the user) is [`Access::None`]; a user who is not a collaborator
    /// gets 200 with the access Gitea gives them (`none`, or `read` on a public repository).
    ///
    /// Gitea answers 403 to anyone but a site admin, a repository admin or the user asking
    /// about themselves: that says nothing about the user, so it is an error naming what the
    /// token needs, and the caller refuses.
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        if user.login.is_empty() {
            return Ok(Access::None);
        }
        let what = format!("read the permission of {} in {repo}", user.login);
        let target = format!(
            "{}/collaborators/{}/permission",
            Self::repo_path(repo)?,
            segment(&user.login)
        );
        let resp = self.rest.get_response(&target, &what).await?;
        match resp.status {
            StatusCode::NOT_FOUND => Ok(Access::None),
            StatusCode::FORBIDDEN => Err(VcsError::Status {
                what,
                status: 403,
                message: format!(
                    "Gitea shows another user's permission only to a repository admin or a \
                     site admin: give Landfall's token admin access to {repo}"
                ),
            }),
            _ => {
                let j: PermissionJson = check(resp, &what)?.json(&what)?;
                Ok(gitea_access(j.permission.as_deref()))
            }
        }
    }

    /// `GET repos/{o}/{r}/pulls/{n}/reviews?limit=50&page=N`, every page (Gitea sends no `Link`
    /// here, only `X-Total-Count`): see [`DECISIVE`].
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let what = format!("list reviews of {}", Self::pr_name(pr));
        let base = Self::repo_path(pr.repo)?;
        let path = format!("{base}/pulls/{}/reviews", pr.number);
        let reviews: Vec<ReviewJson> = self.rest.pages_counted(&path, 50, &what).await?;
        Ok(counted_approvals(reviews, head, DECISIVE))
    }

    /// The PR's `merge_base` (`GET repos/{o}/{r}/pulls/{n}`) is the base branch's current
    /// head (`commit.id` of `GET repos/{o}/{r}/branches/{branch}`): the merge base of a head
    /// that contains the base branch is the base branch's head. Gitea recomputes `merge_base`
    /// after a push to either branch, in the background: until it has, the answer is `false`
    /// (the old merge base is not the new head), never a wrong `true`. A PR whose head is no
    /// longer `pr.head_sha` is `false` too.
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        let base = Self::repo_path(repo)?;
        let what = format!("get the merge base of {repo}#{}", pr.number);
        let now: PrJson = self
            .rest
            .get(&format!("{base}/pulls/{}", pr.number), &what)
            .await?;
        if !now.head.sha.eq_ignore_ascii_case(pr.head_sha.as_str()) {
            return Ok(false);
        }
        let Some(merge_base) = now.merge_base.filter(|m| !m.is_empty()) else {
            return Ok(false);
        };
        let what = format!("get the head of {} in {repo}", pr.base_branch);
        let branch: BranchJson = self
            .rest
            .get(&format!("{base}/branches/{}", path(&pr.base_branch)), &what)
            .await?;
        Ok(!branch.commit.id.is_empty() && merge_base.eq_ignore_ascii_case(&branch.commit.id))
    }

    /// `team` = `org/team-name`: the team's id from `GET orgs/{org}/teams/search` (the exact
    /// name), then `GET teams/{id}/members/{username}`: 200 is a member, 404 is not. A team
    /// Gitea does not find is nobody's (logged). The token must be able to see the
    /// organisation's teams (`read:organization`, and a member of the organisation).
    async fn team_member(&self, team: &str, user: &Actor) -> Result<bool> {
        let (org, name) = org_and_team(team, "Gitea", "team-name")?;
        if user.login.is_empty() {
            return Ok(false);
        }
        let Some(id) = self.team_id(org, name).await? else {
            tracing::warn!(team, "Gitea has no such team: nobody is a member");
            return Ok(false);
        };
        let what = format!("read the membership of {} in the team {team}", user.login);
        let member = format!("teams/{id}/members/{}", segment(&user.login));
        let resp = self.rest.get_response(&member, &what).await?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check(resp, &what).map(|_| true)
    }

    /// The repository's `default_branch` (`GET repos/{o}/{r}`), the branch's `commit.id`
    /// (`GET repos/{o}/{r}/branches/{branch}`) and `DELETE` of the same path (204; 403 when
    /// branch protection or the default branch forbids it, 423 for an archived repository).
    /// `POST /repos/{o}/{r}/issues` (`CreateIssueOption`), `GET` and `PATCH .../issues/{index}`
    /// (`EditIssueOption`): GitHub's shape.
    fn issue_api(repo: &RepoName, issue: &TrackingIssue) -> Result<IssueApi> {
        Ok(IssueApi::github_shaped(&Self::repo_path(repo)?, issue))
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }

    /// `POST /repos/{o}/{r}/pulls/{n}/merge` (`MergePullRequestOption`): `Do` and
    /// `head_commit_id`, which Gitea checks against the head.
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        let path = format!("{}/pulls/{}/merge", Self::repo_path(repo)?, pr.number);
        let body =
            serde_json::json!({"Do": method.as_str(), "head_commit_id": pr.head_sha.as_str()});
        Ok(Put::new(http::Method::POST, path, body))
    }
}
