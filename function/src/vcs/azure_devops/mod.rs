//! Azure DevOps Services and Server, REST `api-version=7.1` with `reqwest`. The base URL names
//! the organisation (`https://dev.azure.com/acme`); repositories are `project/repo`. A PAT is
//! sent as Basic auth with an empty user name.
//!
//! Endpoints (under `{project}/_apis/git/repositories/{repo}`): `GET pullrequests/{id}`,
//! `GET pullRequests/{id}/iterations` then `GET .../iterations/{n}/changes` (`$top`/`$skip`,
//! `nextSkip`/`nextTop` pagination), `GET items?path=&versionDescriptor.version=`,
//! `GET items?scopePath=/&recursionLevel=full`, `POST pullRequests/{id}/threads`,
//! `PATCH pullRequests/{id}/threads/{t}/comments/{c}`, `POST pullRequests/{id}/statuses` (a
//! pull request's status: [`statuses`]) or `POST commits/{sha}/statuses`,
//! `GET diffs/commits` (`undiverged`) and `GET` of the repository itself (its ids; its default
//! branch), `GET refs?filter=` and `POST refs` (deleting a merged pull request's branch). Who
//! may run commands: `GET _apis/identities?identityIds=` on the identity service
//! (`vssps.dev.azure.com` for Azure DevOps Services, the collection itself on Server) for the
//! user's descriptor, then `GET _apis/accesscontrollists/{Git Repositories
//! namespace}?token=repoV2/{project id}/{repo id}&descriptors=&includeExtendedInfo=true`.
//!
//! PAT scopes: Code (Read) `vso.code` for pull requests, sources and diffs, Code (Status)
//! `vso.code_status` for statuses, Code (Read & write) `vso.code_write` for comments and
//! branch deletion (the account also needs "Force push (rewrite history, delete branches and
//! tags)" on a branch it did not create), and for
//! [`VcsClient::permission`] Identity (Read) `vso.identity` plus Security: the 7.1 spec names no
//! scope for reading access control lists (its only Security scope is `vso.security_manage`),
//! so use a full-scoped PAT or one with Security (Manage) where the organisation restricts
//! scopes; the PAT's account must be allowed to read the repository's permissions.
//!
//! This file holds the client and its [`VcsClient`] calls (as a `Host`); [`wire`] is the JSON
//! they read, [`permissions`] the look-up of who may run commands and [`statuses`] where a
//! status goes.
//!
//! [`VcsClient`]: super::VcsClient
//! [`VcsClient::permission`]: super::VcsClient::permission

mod permissions;
mod statuses;
mod wire;
mod work_items;

pub use self::permissions::GIT_REPOSITORIES_NAMESPACE;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use self::permissions::identity_url;
use self::wire::{
    ChangeEntry, ChangesJson, CommitDiffsJson, ItemJson, IterationJson, ListJson, PrJson,
    RefUpdateJson, RepoRefJson, ThreadJson, approving, repo_relative, short_ref,
};
use super::branch::{BranchApi, HeadAt, Request};
use super::host::{Host, PrRef, Put, StatusFields};
use super::http::{Auth, RawResponse, Rest, RetryPolicy, segment};
use super::paging;
use super::repository::{CloneAt, RepoApi};
use super::{
    Access, Actor, CommentId, CommitStatus, IssueRef, PrState, PullRequest, Result, TrackingIssue,
    VcsError, require_head,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};
use crate::repo_config::MergeMethod;

/// The API version every request names.
pub const API_VERSION: &str = "7.1";

/// The object id a ref update sets to delete the ref.
const NO_OBJECT: &str = "0000000000000000000000000000000000000000";

/// The comment limit Azure DevOps enforces: 150,000 characters.
pub const COMMENT_LIMIT: usize = 150_000;

/// The Azure DevOps adapter.
#[derive(Debug, Clone)]
pub struct AzureDevopsClient {
    rest: Rest,
    /// The identity service: `vssps.dev.azure.com/{org}` (or `{org}.vssps.visualstudio.com`)
    /// for Azure DevOps Services, the collection URL itself for Server.
    identities: Rest,
    /// Identity id (lower case, no dashes) → identity descriptor, for those found.
    descriptors: Arc<Mutex<HashMap<String, String>>>,
    /// Statuses are spelled as Atlantis spells them (`LANDFALL_VCS_STATUS_NAME=atlantis`).
    atlantis_statuses: bool,
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
            rest: Rest::new(url, auth.clone(), retry)?,
            identities: Rest::new(&identity_url(url), auth, retry)?,
            descriptors: Arc::new(Mutex::new(HashMap::new())),
            atlantis_statuses: false,
        })
    }
}

impl AzureDevopsClient {
    async fn get_pr(&self, pr: PrRef<'_>) -> Result<PrJson> {
        let what = format!("get pull request {}", Self::pr_name(pr));
        let base = Self::repo_path(pr.repo)?;
        let target = format!(
            "{base}/pullrequests/{}?api-version={API_VERSION}",
            pr.number
        );
        self.rest.get(&target, &what).await
    }

    /// `GET pullRequests/{id}/iterations`: one per push of the source branch or retarget.
    async fn iterations(&self, pr: PrRef<'_>, what: &str) -> Result<Vec<IterationJson>> {
        let base = Self::repo_path(pr.repo)?;
        let target = format!(
            "{base}/pullRequests/{}/iterations?api-version={API_VERSION}",
            pr.number
        );
        let list: ListJson<IterationJson> = self.rest.get(&target, what).await?;
        Ok(list.value)
    }
}

/// How Azure DevOps spells a commit status (`context` is then an object: see `status`).
const STATUS: StatusFields = StatusFields {
    states: ["pending", "succeeded", "failed", "error"],
    name: "context",
    url: "targetUrl",
    description_max: 255,
};

impl Host for AzureDevopsClient {
    const PROVIDER: Provider = Provider::AzureDevops;
    const REPO_PATH: [&'static str; 2] = ["", "/_apis/git/repositories/"];
    const COMMENT_LIMIT: usize = COMMENT_LIMIT;
    const PR_MARK: char = '!';
    const FILE_ACCEPT: &'static str = "application/octet-stream";

    async fn read_pull_request(&self, pr: PrRef<'_>) -> Result<PullRequest> {
        let j = self.get_pr(pr).await?;
        // `forkSource` is set only for a fork: one that names no repository, or the base
        // repository itself, is an unknown head (treated as a fork).
        let head_repo = match &j.fork_source {
            Some(fork) => fork
                .repository
                .as_ref()
                .and_then(RepoRefJson::full_name)
                .filter(|name| !name.as_str().eq_ignore_ascii_case(pr.repo.as_str())),
            None => Some(pr.repo.clone()),
        };
        let merge_sha = (j.status == "completed")
            .then_some(j.last_merge_commit)
            .flatten()
            .map(|c| CommitSha::new(c.commit_id));
        Ok(PullRequest {
            merge_sha,
            number: pr.number,
            head_sha: CommitSha::new(j.last_merge_source_commit.commit_id),
            head_branch: short_ref(&j.source_ref_name),
            base_branch: short_ref(&j.target_ref_name),
            author: j.created_by.unique_name,
            author_id: None,
            // `notSet` or a status this code does not know counts as closed: nothing runs.
            state: match j.status.as_str() {
                "active" => PrState::Open,
                "completed" => PrState::Merged,
                _ => PrState::Closed,
            },
            mergeable: match j.merge_status.as_deref() {
                Some("succeeded") => Some(true),
                Some("queued" | "notSet") | None => None,
                Some(_) => Some(false),
            },
            head_repo,
        })
    }

    async fn list_changed_files(&self, pr: PrRef<'_>) -> Result<Vec<ChangedFile>> {
        let base = format!("{}/pullRequests/{}", Self::repo_path(pr.repo)?, pr.number);
        let what = format!("list files of {}", Self::pr_name(pr));
        let iterations = self.iterations(pr, &what).await?;
        let Some(last) = iterations.iter().map(|i| i.id).max() else {
            return Ok(Vec::new());
        };
        let (base, what) = (&base, &what);
        let changes: Vec<ChangeEntry> = paging::collect((0u64, 2000u64), |(skip, top)| async move {
            let page: ChangesJson = self
                .rest
                .get(
                    &format!(
                        "{base}/iterations/{last}/changes?$top={top}&$skip={skip}&api-version={API_VERSION}"
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

    async fn list_tree(&self, repo: &RepoName, sha: &CommitSha, what: &str) -> Result<Vec<String>> {
        let target = format!(
            "{}/items?scopePath=%2F&recursionLevel=full&versionDescriptor.version={}&versionDescriptor.versionType=commit&api-version={API_VERSION}",
            Self::repo_path(repo)?,
            segment(sha.as_str())
        );
        let items: ListJson<ItemJson> = self.rest.get(&target, what).await?;
        Ok(items
            .value
            .into_iter()
            .filter(|i| !i.is_folder)
            .map(|i| repo_relative(&i.path))
            .collect())
    }

    fn file_path(base: &str, sha: &str, file: &str) -> String {
        format!(
            "{base}/items?path={}&versionDescriptor.version={sha}&versionDescriptor.versionType=commit&$format=octetStream&api-version={API_VERSION}",
            segment(&format!("/{file}")),
        )
    }

    /// `POST pullRequests/{id}/threads`: a new active thread of one comment.
    fn comment_path(base: &str, number: PullRequestNumber) -> String {
        format!("{base}/pullRequests/{number}/threads?api-version={API_VERSION}")
    }

    fn comment_json(body: &str) -> Value {
        json!({
            "comments": [{ "parentCommentId": 0, "content": body, "commentType": "text" }],
            "status": "active",
        })
    }

    /// `thread/comment`: the new thread's id and its first comment's (1 when not given).
    fn comment_id(reply: Value) -> serde_json::Result<CommentId> {
        let thread: ThreadJson = serde_json::from_value(reply)?;
        let comment = thread.comments.first().map_or(1, |c| c.id);
        Ok(CommentId(format!("{}/{comment}", thread.id)))
    }

    /// `PATCH pullRequests/{id}/threads/{t}/comments/{c}`, `id` being `thread/comment`.
    fn edit_put(base: &str, pr: PullRequestNumber, id: &CommentId, body: &str) -> Result<Put> {
        let (thread, comment) = id.0.split_once('/').ok_or_else(|| VcsError::Config {
            message: format!("Azure DevOps comment id {id} is not thread/comment"),
        })?;
        let (thread, comment) = (segment(thread), segment(comment));
        let path = format!(
            "{base}/pullRequests/{pr}/threads/{thread}/comments/{comment}?api-version={API_VERSION}"
        );
        Ok(Put::new(Method::PATCH, path, json!({ "content": body })))
    }

    /// `POST commits/{sha}/statuses`, named by `context.name` in the genre `landfall`.
    fn status(&self, repo: &RepoName, sha: &CommitSha, status: &CommitStatus) -> Result<Put> {
        let (base, sha) = (Self::repo_path(repo)?, segment(sha.as_str()));
        let path = format!("{base}/commits/{sha}/statuses?api-version={API_VERSION}");
        Ok(Put::new(Method::POST, path, self.status_body(status)))
    }

    /// A pull request's status goes on its iteration at `sha` (see `pull_status`).
    async fn status_write(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<Put> {
        self.pull_status(repo, sha, status).await
    }

    /// The user's effective permission on the repository from the Git Repositories security
    /// namespace (`2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87`): the access control list of token
    /// `repoV2/{project id}/{repository id}`, asked for the user's identity descriptor with
    /// `includeExtendedInfo=true`, whose `effectiveAllow` less `effectiveDeny` is what Azure
    /// DevOps enforces (direct, group and inherited project/organisation grants). Bit 8192
    /// ManagePermissions is [`Access::Admin`], bit 4 GenericContribute [`Access::Write`], bit 2
    /// GenericRead [`Access::Read`]; an identity the organisation does not know, or one without
    /// an entry, [`Access::None`]. The user is named by identity id (the webhook's `id`), so an
    /// actor without one is an error. Up to three requests: the identity's descriptor (cached),
    /// the repository's ids and the list.
    async fn read_access(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        self.acl_access(repo, user).await
    }

    /// The reviewers (people, not groups) whose vote is 10 (approved) or 5 (approved with
    /// suggestions); none at all while anyone's vote is -10 (rejected). Votes do not record the
    /// commit they were cast at, so when the PR's `lastMergeSourceCommit` is no longer `head`
    /// none counts.
    async fn list_approvals(&self, pr: PrRef<'_>, head: &CommitSha) -> Result<Vec<Actor>> {
        let j = self.get_pr(pr).await?;
        let current = &j.last_merge_source_commit.commit_id;
        if !current.eq_ignore_ascii_case(head.as_str()) {
            return Ok(Vec::new());
        }
        Ok(approving(j.reviewers))
    }

    /// `GET diffs/commits?baseVersion={base branch}&targetVersion={head}`: the head contains the
    /// base branch when the base has no commit the head lacks (`behindCount` 0, the merge base
    /// being the base's head).
    async fn head_contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let what = format!("compare {repo}!{} with {}", pr.number, pr.base_branch);
        let target = format!(
            "{}/diffs/commits?baseVersion={}&baseVersionType=branch&targetVersion={}&targetVersionType=commit&$top=1&api-version={API_VERSION}",
            Self::repo_path(repo)?,
            segment(&pr.base_branch),
            segment(pr.head_sha.as_str())
        );
        let diff: CommitDiffsJson = self.rest.get(&target, &what).await?;
        let Some(behind) = diff.behind_count else {
            return Err(VcsError::Status {
                what,
                status: 200,
                message: "the comparison has no behindCount".to_owned(),
            });
        };
        let merge_base_is_base = match (&diff.common_commit, &diff.base_commit) {
            (Some(common), Some(base)) => common.eq_ignore_ascii_case(base),
            _ => true,
        };
        Ok(behind == 0 && merge_base_is_base)
    }

    /// The repository's `defaultBranch` (`GET repositories/{repo}`), the branch's `objectId`
    /// from `GET refs?filter=heads/{branch}` (a prefix filter: the entry named
    /// `refs/heads/{branch}`), and Refs - Update Refs, `POST refs` with
    /// `[{name, oldObjectId: head, newObjectId: 0000000000000000000000000000000000000000}]`:
    /// Azure DevOps deletes the ref only while it still points at `oldObjectId`.
    fn branch_api(repo: &RepoName, branch: &str, head: &CommitSha) -> Result<BranchApi> {
        let base = Self::repo_path(repo)?;
        let update = json!([{
            "name": format!("refs/heads/{branch}"),
            "oldObjectId": head.as_str(),
            "newObjectId": NO_OBJECT,
        }]);
        Ok(BranchApi {
            repository: format!("{base}?api-version={API_VERSION}"),
            default_at: "/defaultBranch",
            branch: format!(
                "{base}/refs?filter={}&api-version={API_VERSION}",
                segment(&format!("heads/{branch}"))
            ),
            head_at: HeadAt::Listed {
                list: "/value",
                name: "/name",
                head: "/objectId",
            },
            delete: Request::new(
                Method::POST,
                format!("{base}/refs?api-version={API_VERSION}"),
                Some(update),
            ),
        })
    }

    /// Azure DevOps answers `POST refs` with 200 and a `GitRefUpdateResult` per ref, whose
    /// `success` and `updateStatus` say whether the ref was deleted (`staleOldObjectId`,
    /// `rejectedByPolicy`, `locked`, `forcePushRequired`, ... when not). A reply that cannot be
    /// read is not taken for a deletion.
    fn deletion_refused(reply: &RawResponse) -> Option<String> {
        match serde_json::from_slice::<ListJson<RefUpdateJson>>(&reply.body) {
            Ok(results) => match results.value.first() {
                Some(result) => result.refusal(),
                None => Some("no ref update result".to_owned()),
            },
            Err(e) => Some(format!("unreadable ref update result: {e}")),
        }
    }

    /// The repository's `defaultBranch` and `remoteUrl`.
    fn repo_api(repo: &RepoName) -> Result<RepoApi> {
        Ok(RepoApi {
            repository: format!("{}?api-version={API_VERSION}", Self::repo_path(repo)?),
            clone_at: CloneAt::Field("/remoteUrl"),
            default_branch: None,
            default_at: "/defaultBranch",
        })
    }

    /// Work items of type `Issue`: see [`work_items`].
    fn track_issue(
        &self,
        repo: &RepoName,
        existing: Option<&IssueRef>,
        issue: &TrackingIssue,
    ) -> impl Future<Output = Result<Option<IssueRef>>> + Send {
        work_items::track(self, repo, existing, issue)
    }

    fn rest(&self) -> &Rest {
        &self.rest
    }

    /// `PATCH .../pullrequests/{id}` (Pull Requests - Update): `status: completed` with the
    /// head it must still have (`lastMergeSourceCommit`) and the merge strategy.
    fn merge_put(repo: &RepoName, pr: &PullRequest, method: MergeMethod) -> Result<Put> {
        let path = format!(
            "{}/pullrequests/{}?api-version={API_VERSION}",
            Self::repo_path(repo)?,
            pr.number
        );
        let strategy = match method {
            MergeMethod::Merge => "noFastForward",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let body = serde_json::json!({
            "status": "completed",
            "lastMergeSourceCommit": {"commitId": pr.head_sha.as_str()},
            "completionOptions": {"mergeStrategy": strategy},
        });
        Ok(Put::new(Method::PATCH, path, body))
    }
}
