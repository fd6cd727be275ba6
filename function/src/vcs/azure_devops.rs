//! Azure DevOps Services and Server, REST `api-version=7.1` with `reqwest`. The base URL names
//! the organisation (`https://dev.azure.com/acme`); repositories are `project/repo`. A PAT is
//! sent as Basic auth with an empty user name.
//!
//! Endpoints (under `{project}/_apis/git/repositories/{repo}`): `GET pullrequests/{id}`,
//! `GET pullRequests/{id}/iterations` then `GET .../iterations/{n}/changes` (`$top`/`$skip`,
//! `nextSkip`/`nextTop` pagination), `GET items?path=&versionDescriptor.version=`,
//! `GET items?scopePath=/&recursionLevel=Full`, `POST pullRequests/{id}/threads`,
//! `PATCH pullRequests/{id}/threads/{t}/comments/{c}`, `POST commits/{sha}/statuses`,
//! `GET diffs/commits` (`undiverged`) and `GET` of the repository itself (its ids). Who may run
//! commands: `GET _apis/identities?identityIds=` on the identity service (`vssps.dev.azure.com`
//! for Azure DevOps Services, the collection itself on Server) for the user's descriptor, then
//! `GET _apis/accesscontrollists/{Git Repositories namespace}?token=repoV2/{project id}/{repo
//! id}&descriptors=&includeExtendedInfo=true`.
//!
//! PAT scopes: Code (Read) `vso.code` for pull requests, sources and diffs, Code (Status)
//! `vso.code_status` for statuses, Code (Read & write) `vso.code_write` for comments, and for
//! [`VcsClient::permission`] Identity (Read) `vso.identity` plus Security: the 7.1 spec names no
//! scope for reading access control lists (its only Security scope is `vso.security_manage`),
//! so use a full-scoped PAT or one with Security (Manage) where the organisation restricts
//! scopes; the PAT's account must be allowed to read the repository's permissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::http::{Auth, Idempotency, Rest, RetryPolicy, check, segment};
use super::paging;
use super::{
    Access, Actor, CommentId, CommitStatus, PrState, PullRequest, Result, StatusState, VcsClient,
    VcsError, owner_and_name, require_head, truncate,
};
use crate::event::{CommitSha, Provider, PullRequestNumber, RepoName};
use crate::projects::{ChangedFile, FileStatus};

/// The API version every request names.
pub const API_VERSION: &str = "7.1";

/// The comment limit Azure DevOps enforces: 150,000 characters.
pub const COMMENT_LIMIT: usize = 150_000;

/// The Git Repositories security namespace.
pub const GIT_REPOSITORIES_NAMESPACE: &str = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87";

/// Git Repositories permission bits (the namespace's `actions`).
const GENERIC_READ: u32 = 2;
const GENERIC_CONTRIBUTE: u32 = 4;
const MANAGE_PERMISSIONS: u32 = 8192;

/// How many identity descriptors one client remembers (an identity's descriptor never changes).
const DESCRIPTOR_CACHE: usize = 1024;

/// The Azure DevOps adapter.
#[derive(Debug, Clone)]
pub struct AzureDevopsClient {
    rest: Rest,
    /// The identity service: `vssps.dev.azure.com/{org}` (or `{org}.vssps.visualstudio.com`)
    /// for Azure DevOps Services, the collection URL itself for Server.
    identities: Rest,
    /// Identity id (lower case, no dashes) → identity descriptor, for those found.
    descriptors: Arc<Mutex<HashMap<String, String>>>,
}

/// The identity service's base URL for the organisation at `url`.
fn identity_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let vssps = if host == "dev.azure.com" {
        Some("vssps.dev.azure.com".to_owned())
    } else if let Some(org) = host.strip_suffix(".visualstudio.com")
        && !org.contains('.')
    {
        Some(format!("{org}.vssps.visualstudio.com"))
    } else {
        None
    };
    match vssps {
        Some(vssps) if parsed.set_host(Some(&vssps)).is_ok() => parsed.to_string(),
        _ => url.to_owned(),
    }
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
        })
    }

    fn repo_path(repo: &RepoName) -> Result<String> {
        let (project, name) = owner_and_name(repo)?;
        Ok(format!(
            "{}/_apis/git/repositories/{}",
            segment(project),
            segment(name)
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrJson {
    last_merge_source_commit: CommitJson,
    source_ref_name: String,
    target_ref_name: String,
    created_by: Identity,
    status: String,
    merge_status: Option<String>,
    #[serde(default)]
    reviewers: Vec<Reviewer>,
    /// Present for a pull request from a fork.
    fork_source: Option<ForkRef>,
}

#[derive(Deserialize)]
struct ForkRef {
    repository: Option<RepoRefJson>,
}

#[derive(Deserialize)]
struct RepoRefJson {
    id: Option<String>,
    name: Option<String>,
    project: Option<ProjectJson>,
}

#[derive(Deserialize)]
struct ProjectJson {
    id: Option<String>,
    name: Option<String>,
}

impl RepoRefJson {
    /// `project/repo`, as Landfall names Azure DevOps repositories.
    fn full_name(&self) -> Option<RepoName> {
        let project = self.project.as_ref()?.name.as_deref()?;
        Some(RepoName::new(format!(
            "{project}/{}",
            self.name.as_deref()?
        )))
    }
}

/// One entry of the identities API (`Identity`); the descriptor comes as
/// `type;identifier` text, or as the spec's `IdentityDescriptor` object.
#[derive(Deserialize)]
struct IdentityJson {
    id: Option<String>,
    descriptor: Option<DescriptorJson>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DescriptorJson {
    Text(String),
    #[serde(rename_all = "camelCase")]
    Parts {
        identity_type: String,
        identifier: String,
    },
}

impl DescriptorJson {
    fn text(self) -> String {
        match self {
            DescriptorJson::Text(t) => t,
            DescriptorJson::Parts {
                identity_type,
                identifier,
            } => format!("{identity_type};{identifier}"),
        }
    }
}

/// An `AccessControlList`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AclJson {
    token: Option<String>,
    #[serde(default)]
    aces_dictionary: HashMap<String, AceJson>,
}

/// An `AccessControlEntry` with its `extendedInfo` (`AceExtendedInformation`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AceJson {
    descriptor: Option<DescriptorJson>,
    #[serde(default)]
    allow: i64,
    #[serde(default)]
    deny: i64,
    extended_info: Option<ExtendedInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtendedInfo {
    effective_allow: Option<i64>,
    effective_deny: Option<i64>,
}

impl AceJson {
    /// The permission bits in effect: allowed (directly, by group or inherited) and not denied.
    fn effective(&self) -> u32 {
        let (allow, deny) = match &self.extended_info {
            Some(e) => (
                e.effective_allow.unwrap_or(self.allow),
                e.effective_deny.unwrap_or(self.deny),
            ),
            None => (self.allow, self.deny),
        };
        // The bits fit in 32 (the spec's int32); a negative value is the sign bit set.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bits = |v: i64| v as u32;
        bits(allow) & !bits(deny)
    }
}

/// `GitCommitDiffs`: `behindCount` is the number of the base's commits the target lacks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitDiffsJson {
    behind_count: Option<u64>,
    base_commit: Option<String>,
    common_commit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitJson {
    commit_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    unique_name: String,
}

/// `IdentityRefWithVote`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    #[serde(default)]
    vote: i32,
    id: Option<String>,
    unique_name: Option<String>,
    /// A group or team: it cannot vote itself; a member's vote is rolled up into it.
    #[serde(default)]
    is_container: bool,
}

/// A vote of 10 (approved) or 5 (approved with suggestions) approves; -10 rejects.
const APPROVED: i32 = 10;
const APPROVED_WITH_SUGGESTIONS: i32 = 5;
const REJECTED: i32 = -10;

/// The people (not groups) who approve, or none at all when anyone rejected.
fn approving(reviewers: Vec<Reviewer>) -> Vec<Actor> {
    if reviewers.iter().any(|r| r.vote == REJECTED) {
        return Vec::new();
    }
    reviewers
        .into_iter()
        .filter(|r| !r.is_container && matches!(r.vote, APPROVED | APPROVED_WITH_SUGGESTIONS))
        .filter_map(|r| {
            Some(Actor {
                login: r.unique_name?,
                id: r.id,
            })
        })
        .collect()
}

/// The Git Repositories permission bits as [`Access`].
fn access(bits: u32) -> Access {
    if bits & MANAGE_PERMISSIONS != 0 {
        Access::Admin
    } else if bits & GENERIC_CONTRIBUTE != 0 {
        Access::Write
    } else if bits & GENERIC_READ != 0 {
        Access::Read
    } else {
        Access::None
    }
}

/// An identity id as the cache keys it: lower case, without dashes.
fn identity_key(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Deserialize)]
struct ListJson<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct IterationJson {
    id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangesJson {
    #[serde(default)]
    change_entries: Vec<ChangeEntry>,
    #[serde(default)]
    next_skip: u64,
    #[serde(default)]
    next_top: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeEntry {
    item: ItemJson,
    change_type: String,
    original_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemJson {
    path: String,
    #[serde(default)]
    is_folder: bool,
}

#[derive(Deserialize)]
struct ThreadJson {
    id: u64,
    comments: Vec<IdJson>,
}

#[derive(Deserialize)]
struct IdJson {
    id: u64,
}

fn short_ref(r: &str) -> String {
    r.strip_prefix("refs/heads/").unwrap_or(r).to_owned()
}

fn repo_relative(p: &str) -> String {
    p.trim_start_matches('/').to_owned()
}

impl AzureDevopsClient {
    /// The identity descriptor of the identity `id` (`GET _apis/identities?identityIds=`), which
    /// the security APIs name people by; `None` for an identity the organisation does not know.
    async fn descriptor(&self, id: &str) -> Result<Option<String>> {
        let key = identity_key(id);
        let cached = self
            .descriptors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(descriptor) = cached {
            return Ok(Some(descriptor));
        }
        let what = format!("look up identity {id}");
        let found: Result<ListJson<Option<IdentityJson>>> = self
            .identities
            .get(
                &format!(
                    "_apis/identities?identityIds={}&queryMembership=None&api-version={API_VERSION}",
                    segment(id)
                ),
                &what,
            )
            .await;
        let list = match found {
            Err(VcsError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let descriptor = list
            .value
            .into_iter()
            .flatten()
            .find(|i| i.id.as_deref().map(identity_key).as_ref() == Some(&key))
            .and_then(|i| i.descriptor)
            .map(DescriptorJson::text);
        if let Some(d) = &descriptor {
            let mut cache = self
                .descriptors
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= DESCRIPTOR_CACHE {
                cache.clear();
            }
            cache.insert(key, d.clone());
        }
        Ok(descriptor)
    }

    async fn get_pr(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PrJson> {
        let what = format!("get pull request {repo}!{pr}");
        self.rest
            .get(
                &format!(
                    "{}/pullrequests/{pr}?api-version={API_VERSION}",
                    Self::repo_path(repo)?
                ),
                &what,
            )
            .await
    }
}

impl VcsClient for AzureDevopsClient {
    fn provider(&self) -> Provider {
        Provider::AzureDevops
    }

    fn comment_limit(&self) -> usize {
        COMMENT_LIMIT
    }

    async fn pull_request(&self, repo: &RepoName, pr: PullRequestNumber) -> Result<PullRequest> {
        let j = self.get_pr(repo, pr).await?;
        // `forkSource` is set only for a fork: one that names no repository, or the base
        // repository itself, is an unknown head (treated as a fork).
        let head_repo = match &j.fork_source {
            Some(fork) => fork
                .repository
                .as_ref()
                .and_then(RepoRefJson::full_name)
                .filter(|name| !name.as_str().eq_ignore_ascii_case(repo.as_str())),
            None => Some(repo.clone()),
        };
        Ok(PullRequest {
            number: pr,
            head_sha: CommitSha::new(j.last_merge_source_commit.commit_id),
            head_branch: short_ref(&j.source_ref_name),
            base_branch: short_ref(&j.target_ref_name),
            author: j.created_by.unique_name,
            author_id: None,
            state: match j.status.as_str() {
                "completed" => PrState::Merged,
                "abandoned" => PrState::Closed,
                _ => PrState::Open,
            },
            mergeable: match j.merge_status.as_deref() {
                Some("succeeded") => Some(true),
                Some("queued" | "notSet") | None => None,
                Some(_) => Some(false),
            },
            head_repo,
        })
    }

    async fn changed_files(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
    ) -> Result<Vec<ChangedFile>> {
        let base = Self::repo_path(repo)?;
        let what = format!("list files of {repo}!{pr}");
        let iterations: ListJson<IterationJson> = self
            .rest
            .get(
                &format!("{base}/pullRequests/{pr}/iterations?api-version={API_VERSION}"),
                &what,
            )
            .await?;
        let Some(last) = iterations.value.iter().map(|i| i.id).max() else {
            return Ok(Vec::new());
        };
        let (base, what) = (&base, &what);
        let changes: Vec<ChangeEntry> = paging::collect((0u64, 2000u64), |(skip, top)| async move {
            let page: ChangesJson = self
                .rest
                .get(
                    &format!(
                        "{base}/pullRequests/{pr}/iterations/{last}/changes?$top={top}&$skip={skip}&api-version={API_VERSION}"
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

    async fn read_file(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        file: &str,
    ) -> Result<Option<Vec<u8>>> {
        let what = format!("read {file} at {sha} in {repo}");
        let url = self.rest.url(&format!(
            "{}/items?path={}&versionDescriptor.version={}&versionDescriptor.versionType=commit&$format=octetStream&api-version={API_VERSION}",
            Self::repo_path(repo)?,
            segment(&format!("/{file}")),
            segment(sha.as_str()),
        ))?;
        let r = self
            .rest
            .send(
                Method::GET,
                url,
                None,
                "application/octet-stream",
                Idempotency::Idempotent,
                &what,
            )
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(check(r, &what)?.body.to_vec()))
    }

    async fn list_files(&self, repo: &RepoName, sha: &CommitSha) -> Result<Vec<String>> {
        let what = format!("list the tree of {repo} at {sha}");
        let items: ListJson<ItemJson> = self
            .rest
            .get(
                &format!(
                    "{}/items?scopePath=%2F&recursionLevel=Full&versionDescriptor.version={}&versionDescriptor.versionType=commit&api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(sha.as_str())
                ),
                &what,
            )
            .await?;
        Ok(items
            .value
            .into_iter()
            .filter(|i| !i.is_folder)
            .map(|i| repo_relative(&i.path))
            .collect())
    }

    async fn post_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        body: &str,
    ) -> Result<CommentId> {
        let what = format!("comment on {repo}!{pr}");
        let thread: ThreadJson = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/pullRequests/{pr}/threads?api-version={API_VERSION}",
                    Self::repo_path(repo)?
                ),
                &json!({
                    "comments": [{ "parentCommentId": 0, "content": body, "commentType": 1 }],
                    "status": 1,
                }),
                Idempotency::NotIdempotent,
                &what,
            )
            .await?;
        let comment = thread.comments.first().map_or(1, |c| c.id);
        Ok(CommentId(format!("{}/{comment}", thread.id)))
    }

    async fn edit_comment(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        id: &CommentId,
        body: &str,
    ) -> Result<()> {
        let what = format!("edit comment {id} on {repo}!{pr}");
        let (thread, comment) = id.0.split_once('/').ok_or_else(|| VcsError::Config {
            message: format!("Azure DevOps comment id {id} is not thread/comment"),
        })?;
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::PATCH,
                &format!(
                    "{}/pullRequests/{pr}/threads/{}/comments/{}?api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(thread),
                    segment(comment)
                ),
                &json!({ "content": body }),
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
            StatusState::Success => "succeeded",
            StatusState::Failure => "failed",
            StatusState::Error => "error",
        };
        let mut body = json!({
            "state": state,
            "description": truncate(&status.description, 255),
            "context": { "name": status.context, "genre": "landfall" },
        });
        if let Some(url) = &status.target_url {
            body["targetUrl"] = json!(url);
        }
        let _: serde_json::Value = self
            .rest
            .send_json(
                Method::POST,
                &format!(
                    "{}/commits/{}/statuses?api-version={API_VERSION}",
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
    async fn permission(&self, repo: &RepoName, user: &Actor) -> Result<Access> {
        let id = user.id.as_deref().ok_or_else(|| VcsError::Config {
            message: format!(
                "Azure DevOps looks permissions up by identity id, and none is known for {}",
                user.login
            ),
        })?;
        let Some(descriptor) = self.descriptor(id).await? else {
            return Ok(Access::None);
        };
        let what = format!("read the ids of {repo}");
        let repository: RepoRefJson = self
            .rest
            .get(
                &format!("{}?api-version={API_VERSION}", Self::repo_path(repo)?),
                &what,
            )
            .await?;
        let (Some(project_id), Some(repo_id)) =
            (repository.project.and_then(|p| p.id), repository.id)
        else {
            return Err(VcsError::Status {
                what,
                status: 200,
                message: "the repository's id or its project's id is missing".to_owned(),
            });
        };
        let token = format!("repoV2/{project_id}/{repo_id}");
        let what = format!("read {}'s permissions on {repo}", user.login);
        let acls: ListJson<AclJson> = self
            .rest
            .get(
                &format!(
                    "_apis/accesscontrollists/{GIT_REPOSITORIES_NAMESPACE}?token={}&descriptors={}&includeExtendedInfo=true&api-version={API_VERSION}",
                    segment(&token),
                    segment(&descriptor)
                ),
                &what,
            )
            .await?;
        let bits = acls
            .value
            .iter()
            .filter(|acl| {
                acl.token
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(&token))
            })
            .flat_map(|acl| &acl.aces_dictionary)
            .filter(|(key, ace)| {
                key.eq_ignore_ascii_case(&descriptor)
                    || matches!(&ace.descriptor, Some(DescriptorJson::Text(d)) if d.eq_ignore_ascii_case(&descriptor))
            })
            .fold(0, |bits, (_, ace)| bits | ace.effective());
        Ok(access(bits))
    }

    /// The reviewers (people, not groups) whose vote is 10 (approved) or 5 (approved with
    /// suggestions); none at all while anyone's vote is -10 (rejected). Votes do not record the
    /// commit they were cast at, so when the PR's `lastMergeSourceCommit` is no longer `head`
    /// none counts.
    async fn approvals(
        &self,
        repo: &RepoName,
        pr: PullRequestNumber,
        head: &CommitSha,
    ) -> Result<Vec<Actor>> {
        let j = self.get_pr(repo, pr).await?;
        if !j
            .last_merge_source_commit
            .commit_id
            .eq_ignore_ascii_case(head.as_str())
        {
            return Ok(Vec::new());
        }
        Ok(approving(j.reviewers))
    }

    /// `GET diffs/commits?baseVersion={base branch}&targetVersion={head}`: the head contains the
    /// base branch when the base has no commit the head lacks (`behindCount` 0, the merge base
    /// being the base's head).
    async fn contains_base(&self, repo: &RepoName, pr: &PullRequest) -> Result<bool> {
        require_head(repo, pr)?;
        let what = format!("compare {repo}!{} with {}", pr.number, pr.base_branch);
        let diff: CommitDiffsJson = self
            .rest
            .get(
                &format!(
                    "{}/diffs/commits?baseVersion={}&baseVersionType=branch&targetVersion={}&targetVersionType=commit&$top=1&api-version={API_VERSION}",
                    Self::repo_path(repo)?,
                    segment(&pr.base_branch),
                    segment(pr.head_sha.as_str())
                ),
                &what,
            )
            .await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviewer(vote: i32, name: &str, container: bool) -> Reviewer {
        Reviewer {
            vote,
            id: Some(format!("id-{name}")),
            unique_name: Some(name.to_owned()),
            is_container: container,
        }
    }

    #[test]
    fn approvals_are_people_voting_ten_or_five_and_a_rejection_stops_all() {
        let actors = approving(vec![
            reviewer(10, "a@x", false),
            reviewer(5, "b@x", false),
            reviewer(0, "c@x", false),
            reviewer(-5, "d@x", false),
            reviewer(10, "[Ops]\\Team", true),
        ]);
        let names: Vec<_> = actors.iter().map(|a| a.login.as_str()).collect();
        assert_eq!(names, ["a@x", "b@x"]);
        assert_eq!(actors[0].id.as_deref(), Some("id-a@x"));
        assert!(
            approving(vec![
                reviewer(10, "a@x", false),
                reviewer(-10, "e@x", false)
            ])
            .is_empty()
        );
    }

    #[test]
    fn permission_bits_map_to_access() {
        assert_eq!(
            access(MANAGE_PERMISSIONS | GENERIC_CONTRIBUTE),
            Access::Admin
        );
        assert_eq!(
            access(GENERIC_CONTRIBUTE | GENERIC_READ | 16),
            Access::Write
        );
        assert_eq!(access(GENERIC_READ), Access::Read);
        assert_eq!(access(1 | 16_384), Access::None);
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let ace: AceJson = serde_json::from_value(serde_json::json!({
            "descriptor": "Microsoft.TeamFoundation.Identity;S-1",
            "allow": 0, "deny": 0,
            "extendedInfo": {"effectiveAllow": 16_383, "effectiveDeny": 4}
        }))
        .unwrap();
        assert_eq!(access(ace.effective()), Access::Admin);
        assert_eq!(ace.effective() & GENERIC_CONTRIBUTE, 0);
    }

    #[test]
    fn the_identity_service_is_vssps_on_azure_devops_services_only() {
        assert_eq!(
            identity_url("https://dev.azure.com/acme"),
            "https://vssps.dev.azure.com/acme"
        );
        assert_eq!(
            identity_url("https://acme.visualstudio.com/"),
            "https://acme.vssps.visualstudio.com/"
        );
        assert_eq!(
            identity_url("https://tfs.example.com/DefaultCollection"),
            "https://tfs.example.com/DefaultCollection"
        );
        assert_eq!(
            identity_url("http://127.0.0.1:8080/acme"),
            "http://127.0.0.1:8080/acme"
        );
    }

    #[test]
    fn identity_ids_match_with_or_without_dashes() {
        assert_eq!(
            identity_key("81FA6389-0872-6fdd-a451-7ba7880f566a"),
            identity_key("81fa638908726fdda4517ba7880f566a")
        );
    }
}
