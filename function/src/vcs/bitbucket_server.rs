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
//! `POST rest/api/latest/projects/{KEY}/repos/{slug}/commits/{sha}/builds`; deleting a merged
//! pull request's branch: `GET default-branch`, `GET branches?filterText=&boostMatches=true`,
//! then `DELETE rest/branch-utils/latest/projects/{KEY}/repos/{slug}/branches` (`REPO_WRITE`,
//! and branch permissions that let the account delete the branch); who may run commands comes from
//! `GET rest/api/1.0/users?filter=&permission.1=REPO_…&permission.1.projectKey=&permission.1.repositorySlug=`.
//!
//! The token's account needs `REPO_READ` on the repository for everything read here (including
//! the permission look-up, which any authenticated user may make) and `REPO_WRITE` to comment
//! and set build statuses; an HTTP access token needs the matching repository permission.

use http::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bitbucket::build_status;

/// The longest `name` and `description` the builds resource keeps.
const MAX_BUILD_FIELD: usize = 255;
/// The longest `url` the builds resource keeps.
const MAX_BUILD_URL: usize = 450;
use super::branch::{BranchApi, HeadAt, Request};
use super::host::{Host, PrRef, Put};
use super::http::{Auth, Rest, RetryPolicy, path, segment};
use super::paging::StartPage;
use super::repository::{CloneAt, RepoApi};
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, VcsError, joined_name,
    owner_and_name_segments, require_head, same_spelling,
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
    /// `properties.mergeCommit`, once merged. Not in the published REST description (9.2's
    /// `RestPullRequest` lists no `properties`, and no operation there names the merge commit):
    /// read where Bitbucket Data Center sends it, `None` where it does not.
    #[serde(default)]
    properties: Option<PrProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrProperties {
    merge_commit: Option<MergeCommit>,
}

#[derive(Deserialize)]
struct MergeCommit {
    id: String,
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
        let key = self.project.as_ref().and_then(|p| p.key.as_deref());
        joined_name(key, self.slug.as_deref())
    }
}

/// A pull request participant (reviewer, author or participant).
#[derive(Deserialize)]
struct Participant {
    user: User,
    /// `APPROVED`, `NEEDS_WORK` or `UNAPPROVED`.
    status: Option<String>,
    /// The head the participant last reviewed: set when their status became `APPROVED` or
    /// `NEEDS_WORK`.
    #[serde(rename = "lastReviewedCommit")]
    last_reviewed: Option<String>,
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

/// A comment, for the version an edit replaces.
#[derive(Deserialize)]
struct CommentJson {
    version: u64,
}

/// The reviewers and participants whose status is `APPROVED` (`NEEDS_WORK` is not an approval)
/// and who gave it at `head` (`lastReviewedCommit`: an approval from before a push stays
/// `APPROVED` unless the repository withdraws approvals on new changes), each person once.
fn approving(
    head: &CommitSha,
    reviewers: Vec<Participant>,
    participants: Vec<Participant>,
) -> Vec<Actor> {
    let mut out: Vec<Actor> = Vec::new();
    for p in reviewers.into_iter().chain(participants) {
        let at_head = p
            .last_reviewed
            .as_deref()
            .is_some_and(|sha| sha.eq_ignore_ascii_case(head.as_str()));
        if p.status.as_deref() == Some("APPROVED")
            && at_head
            && !out.iter().any(|a| a.login == p.user.name)
        {
            out.push(Actor::login(p.user.name));
        }
    }
    out
}

impl BitbucketServerClient {
    async fn get_pr(&self, pr: PrRef<'_>) -> Result<PrJson> {
        let what = format!("get pull request {}", Self::pr_name(pr));
        self.rest.get(&Self::pull_request_path(pr)?, &what).await
    }

    /// `rest/api/1.0/projects/{KEY}/repos/{slug}/pull-requests/{id}`.
    fn pull_request_path(pr: PrRef<'_>) -> Result<String> {
        Ok(format!(
            "{}/pull-requests/{}",
            Self::repo_path(pr.repo)?,
            pr.number
        ))
    }

    /// Whether `user` holds `permission` (a `REPO_*` permission) on `repo`, directly or implied.
    async fn holds(&self, repo: &RepoName, user: &Actor, permission: &str) -> Result<bool> {
        let (project, slug) = owner_and_name_segments(repo)?;
        let what = format!("check {} for {permission} on {repo}", user.login);
        let first = format!(
            "rest/api/1.0/users?filter={}&permission.1={permission}&permission.1.projectKey={project}&permission.1.repositorySlug={slug}&limit=100",
            segment(&user.login),
        );
        let users: Vec<User> = self.rest.pages_from_start(&first, &what).await?;
        Ok(users.iter().any(|u| {
            u.name.eq_ignore_ascii_case(&user.login)
                || u.slug
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&user.login))
        }))
    }
}

impl Host for BitbucketServerClient {
    const PROVIDER: Provider = Provider::BitbucketServer;
    const REPO_PATH: [&'static str; 2] = ["rest/api/1.0/projects/", "/repos/"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;

    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let j = self.get_pr(pr).await?;
        let state = match j.state.as_str() {
            "OPEN" => PrState::Open,
            "MERGED" => PrState::Merged,
            _ => PrState::Closed,
        };
        let mergeable = if state == PrState::Open {
            let what = format!("check whether {} can merge", Self::pr_name(pr));
            let target = format!("{}/merge", Self::pull_request_path(pr)?);
            let m: MergeJson = self.rest.get(&target, &what).await?;
            Some(m.can_merge)
        } else {
            Some(false)
        };
        let head_repo = j.from_ref.repository.as_ref().and_then(RepoJson::full_name);
        let merge_sha = j
            .properties
            .and_then(|p| p.merge_commit)
            .filter(|_| state == PrState::Merged)
            .map(|c| CommitSha::new(c.id));
        Ok(PullRequest {
            merge_sha,
            number: pr.number,
            head_sha: CommitSha::new(j.from_ref.latest_commit.unwrap_or_default()),
            head_branch: j.from_ref.display_id,
            base_branch: j.to_ref.display_id,
            author: j.author.user.name,
            author_id: None,
            state,
            mergeable,
            head_repo: head_repo.map(|name| same_spelling(pr.repo, name)),
        })
    }

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let what = format!("list files of {}", Self::pr_name(pr));
        let first = format!("{}/changes?limit=1000", Self::pull_request_path(pr)?);
        let changes: Vec<Change> = self.rest.pages_from_start(&first, &what).await?;
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

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let base = Self::repo_path(repo)?;
        let first = format!("{base}/files?at={}&limit=1000", segment(sha.as_str()));
        self.rest.pages_from_start(&first, what).await
    }

    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!("{base}/raw/{}?at={sha}", path(file))
    }

    fn archive_path(base: &str, sha: &str) -> Option<String> {
        let prefix = segment(ARCHIVE_PREFIX);
        Some(format!(
            "{base}/archive?at={sha}&format=tgz&prefix={prefix}"
        ))
    }

    fn comment_path(base: &str, number: PullRequestNumber) -> String {
        format!("{base}/pull-requests/{number}/comments")
    }

    /// `{"text": ...}`.
    fn comment_json(body: &str) -> Value {
        json!({ "text": body })
    }

    /// `PUT pull-requests/{id}/comments/{cid}`; [`Self::edit`] adds the `version` replaced.
    fn edit_put(base: &str, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<Put> {
        let path = format!("{}/{}", Self::comment_path(base, pr), segment(&id.0));
        Ok(Put::new(Method::PUT, path, Self::comment_json(body)))
    }

    /// An edit must name the version it replaces; read it, then write. Someone editing in
    /// between makes the version stale (409): read it again and write once more (the edit
    /// sets the whole text, so repeating it is harmless).
    async fn edit(&self, pr: PrRef<'_>, id: &CommentId, body: &str, what: &str) -> Result<()> {
        let mut put = Self::edit_put(&Self::repo_path(pr.repo)?, pr.number, id, body)?;
        let mut stale_retries = 1;
        loop {
            let current: CommentJson = self.rest.get(&put.path, what).await?;
            put.body["version"] = json!(current.version);
            match self.send_put(pr.repo, &put, what).await {
                Err(VcsError::Status { status: 409, .. }) if stale_retries > 0 => {
                    stale_retries -= 1;
                    tracing::info!(what, "comment version was stale; re-reading it");
                }
                other => return other,
            }
        }
    }

    /// `POST rest/api/latest/projects/{KEY}/repos/{slug}/commits/{sha}/builds` (the repository
    /// builds resource; `rest/build-status/1.0` is deprecated since 7.14), with the PR's branch as
    /// `ref`. The resource keeps 255 characters of `name` and `description` and 450 of `url`: a
    /// longer link is replaced by the server's, never cut into a broken one.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        let (project, slug) = owner_and_name_segments(repo)?;
        let path = format!(
            "rest/api/latest/projects/{project}/repos/{slug}/commits/{}/builds",
            segment(sha.as_str())
        );
        let server = || self.rest.url("").map(|u| u.to_string()).unwrap_or_default();
        let mut status = status.clone();
        status.context = status.context.chars().take(MAX_BUILD_FIELD).collect();
        if status
            .target_url
            .as_ref()
            .is_some_and(|u| u.len() > MAX_BUILD_URL)
        {
            status.target_url = None;
        }
        let mut body = build_status(&status, server);
        if let Some(branch) = &status.branch {
            body["ref"] = json!(format!("refs/heads/{branch}"));
        }
        Ok(Put::new(Method::POST, path, body))
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
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
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
    /// `UNAPPROVED` are not approvals) and whose `lastReviewedCommit` is `head`; when the PR's
    /// `fromRef.latestCommit` is no longer `head` none counts.
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let j = self.get_pr(pr).await?;
        let current = j.from_ref.latest_commit.unwrap_or_default();
        if current.is_empty() || !current.eq_ignore_ascii_case(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approving(head, j.reviewers, j.participants))
    }

    /// Whether no commit of the base branch is missing from the head:
    /// `GET compare/commits?from=refs/heads/{base}&to={head}&limit=1` lists "the commits
    /// accessible from the `from` commit but not in the `to` commit", so an empty page means
    /// the head contains the base branch's current head.
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let what = format!("compare {repo}#{} with {}", pr.number, pr.base_branch);
        let target = format!(
            "{}/compare/commits?from={}&to={}&limit=1",
            Self::repo_path(repo)?,
            segment(&format!("refs/heads/{}", pr.base_branch)),
            segment(pr.head_sha.as_str())
        );
        let page: StartPage<serde_json::Value> = self.rest.get(&target, &what).await?;
        Ok(page.values.is_empty())
    }

    /// The repository's configured default branch (`GET .../default-branch`, `displayId`), the
    /// branch's `latestCommit` from `GET .../branches?filterText={branch}&boostMatches=true`
    /// (the entry whose `id` is `refs/heads/{branch}`: the filter matches any part of a name,
    /// and boosting puts the exact match first), and
    /// `DELETE rest/branch-utils/latest/projects/{KEY}/repos/{slug}/branches` with
    /// `{"name": "refs/heads/{branch}", "endPoint": head}`: Bitbucket deletes only while the
    /// branch points at `endPoint` (400 otherwise), and answers 204 for a branch that does not
    /// exist, which is why the branch is read first.
    fn branch_api(repo: &RepoName, branch: &str, head: &CommitSha) -> Result<BranchApi> {
        let (project, slug) = owner_and_name_segments(repo)?;
        let base = Self::repo_path(repo)?;
        let body = json!({ "name": format!("refs/heads/{branch}"), "endPoint": head.as_str() });
        Ok(BranchApi {
            repository: format!("{base}/default-branch"),
            default_at: "/displayId",
            branch: format!(
                "{base}/branches?filterText={}&boostMatches=true",
                segment(branch)
            ),
            head_at: HeadAt::Listed {
                list: "/values",
                name: "/id",
                head: "/latestCommit",
            },
            delete: Request::new(
                Method::DELETE,
                format!("rest/branch-utils/latest/projects/{project}/repos/{slug}/branches"),
                Some(body),
            ),
        })
    }

    /// The repository's `links.clone` entry named `http` (the HTTP(S) clone URL), its
    /// `default-branch` (`displayId`). Issues are not Bitbucket Data Center's: refused.
    fn repo_api(repo: &RepoName) -> Result<RepoApi> {
        let base = Self::repo_path(repo)?;
        Ok(RepoApi {
            default_branch: Some(format!("{base}/default-branch")),
            repository: base,
            clone_at: CloneAt::Named {
                list: "/links/clone",
                name: "http",
            },
            default_at: "/displayId",
        })
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "900993bdbafec71c42f7ebb0a1213d070f057344";

    fn participant(name: &str, status: &str, reviewed: Option<&str>) -> Participant {
        Participant {
            user: User {
                name: name.to_owned(),
                slug: None,
            },
            status: Some(status.to_owned()),
            last_reviewed: reviewed.map(str::to_owned),
        }
    }

    #[test]
    fn only_approved_at_the_head_counts_and_each_person_once() {
        let head = Some(HEAD);
        let actors = approving(
            &CommitSha::new(HEAD),
            vec![
                participant("lead", "APPROVED", head),
                participant("ops", "NEEDS_WORK", head),
                participant("dev", "UNAPPROVED", None),
                // Approved before the last push: still APPROVED, but of another commit.
                participant(
                    "old",
                    "APPROVED",
                    Some("0123456789abcdef0123456789abcdef01234567"),
                ),
                // No commit named: not known to be the head.
                participant("anon", "APPROVED", None),
            ],
            vec![
                participant("lead", "APPROVED", head),
                participant("sre", "APPROVED", Some(&HEAD.to_uppercase())),
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
