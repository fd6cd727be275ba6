//! Deleting a merged pull request's head branch ([`VcsClient::delete_branch`]), once for every
//! host: each adapter says where its API reads the default branch and the branch's head and how
//! it deletes a branch ([`BranchApi`]); the checks, the reads and what a reply means are here.
//!
//! It fails safe: nothing is deleted unless the pull request is merged, its head lives in the
//! base repository, the branch is neither the base nor the default branch, and the branch still
//! points at the pull request's head commit, read just before the deletion (and, where the host
//! takes it, sent with the deletion: Azure DevOps' `oldObjectId`, Bitbucket Data Center's
//! `endPoint`). A branch already gone is [`BranchDeletion::AlreadyGone`]. When the host refuses,
//! the branch is read again: gone or moved says so; still there at the head, the refusal is the
//! error, with the host's reason.
//!
//! [`VcsClient::delete_branch`]: super::VcsClient::delete_branch

use http::{Method, StatusCode};
use serde_json::Value;

use super::http::{Idempotency, RawResponse, Rest, check};
use super::rest_call::WithRest;
use super::{BranchDeletion, PrState, PullRequest, Result, SkipReason, VcsError};
use crate::event::{CommitSha, RepoName};

/// Where a host's answer about a branch holds the branch's head commit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HeadAt {
    /// The answer is the branch; its head is at this JSON pointer.
    Field(&'static str),
    /// The answer lists refs under `list`; the entry whose `name` is `refs/heads/{branch}` has
    /// its head at `head` (each a JSON pointer). A branch not listed is gone.
    Listed {
        /// The array of refs.
        list: &'static str,
        /// A ref's full name, in an entry.
        name: &'static str,
        /// A ref's commit, in an entry.
        head: &'static str,
    },
}

/// A request: method, path (relative to the API base) and JSON body.
#[derive(Debug)]
pub(crate) struct Request {
    /// The method.
    pub method: Method,
    /// Relative to the API base.
    pub path: String,
    /// The JSON sent, if any.
    pub body: Option<Value>,
}

impl Request {
    /// `body` (if any) sent to `path` with `method`.
    #[must_use]
    pub fn new(method: Method, path: String, body: Option<Value>) -> Self {
        Request { method, path, body }
    }
}

/// How one host's API reads what the deletion checks and deletes a branch.
#[derive(Debug)]
pub(crate) struct BranchApi {
    /// GET: the repository; its default branch's name is at the JSON pointer `default_at` (a
    /// `refs/heads/` prefix is dropped).
    pub repository: String,
    /// Where the repository names its default branch.
    pub default_at: &'static str,
    /// GET: the branch, or a list of refs holding it; a 404 says it is gone.
    pub branch: String,
    /// Where that answer holds the branch's head.
    pub head_at: HeadAt,
    /// The deletion.
    pub delete: Request,
}

impl BranchApi {
    /// The shape most hosts' APIs have: the repository at `repository`, naming its default
    /// branch at `default_at`; the branch a resource at `branch`, its head at the JSON pointer
    /// `head`, deleted with a `DELETE` of the same path.
    #[must_use]
    pub fn resource(
        repository: String,
        default_at: &'static str,
        branch: String,
        head: &'static str,
    ) -> Self {
        let delete = Request::new(Method::DELETE, branch.clone(), None);
        BranchApi {
            repository,
            default_at,
            branch,
            head_at: HeadAt::Field(head),
            delete,
        }
    }
}

/// Why `pr`'s head branch is not to be touched, from what the pull request itself says.
fn refusal(repo: &RepoName, pr: &PullRequest) -> Option<SkipReason> {
    if pr.state != PrState::Merged {
        Some(SkipReason::NotMerged)
    } else if pr.is_fork(repo) {
        Some(SkipReason::Fork)
    } else if pr.head_branch.trim().is_empty() || pr.head_sha.as_str().trim().is_empty() {
        Some(SkipReason::NoHead)
    } else if same_branch(&pr.head_branch, &pr.base_branch) {
        Some(SkipReason::BaseBranch)
    } else {
        None
    }
}

/// Whether two branch names may name one branch. Azure DevOps and Bitbucket compare ref names
/// without regard to case, so any spelling of the same name counts (leaving a branch alone is
/// the safe side).
fn same_branch(a: &str, b: &str) -> bool {
    let short = |s: &str| s.strip_prefix("refs/heads/").unwrap_or(s).to_owned();
    short(a).eq_ignore_ascii_case(&short(b))
}

/// The string at `pointer` in `json`, if there is a non-empty one.
pub(super) fn string_at<'a>(json: &'a Value, pointer: &str) -> Option<&'a str> {
    json.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The branch's head in a host's answer about it (`head_at`); `None` when the answer does not
/// list the branch.
pub(super) fn head_in(
    json: &Value,
    head_at: HeadAt,
    branch: &str,
) -> Result<Option<String>, String> {
    match head_at {
        HeadAt::Field(pointer) => string_at(json, pointer)
            .map(|sha| Some(sha.to_owned()))
            .ok_or_else(|| format!("no commit at {pointer}")),
        HeadAt::Listed { list, name, head } => {
            let entries = json
                .pointer(list)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("no list at {list}"))?;
            let full = format!("refs/heads/{branch}");
            let Some(entry) = entries.iter().find(|e| string_at(e, name) == Some(&full)) else {
                return Ok(None);
            };
            string_at(entry, head)
                .map(|sha| Some(sha.to_owned()))
                .ok_or_else(|| format!("{full} lists no commit at {head}"))
        }
    }
}

/// Sends `request` with the credentials for `repo`, whatever the host answers. Repeating any of
/// these requests is harmless: a deletion that already happened finds the branch gone.
pub(super) async fn send(
    host: &impl WithRest,
    repo: &RepoName,
    request: &Request,
    what: &str,
) -> Result<RawResponse> {
    send_as(host, repo, request, (None, Idempotency::Idempotent), what).await
}

/// [`send`] with the JSON body sent as `media_type` (when given), retried as `idempotency`
/// allows.
pub(super) async fn send_as(
    host: &impl WithRest,
    repo: &RepoName,
    request: &Request,
    (media_type, idempotency): (Option<&'static str>, Idempotency),
    what: &str,
) -> Result<RawResponse> {
    host.rest_for(repo, |rest: Rest| {
        let (method, path) = (request.method.clone(), request.path.clone());
        let (body, what) = (request.body.clone(), what.to_owned());
        async move {
            let rest = match media_type {
                Some(media_type) => rest.with_content_type(media_type),
                None => rest,
            };
            let (url, accept) = (rest.url(&path)?, rest.accept_json());
            rest.send(method, url, body.as_ref(), accept, idempotency, &what)
                .await
        }
    })
    .await
}

/// GET JSON at `path` with the credentials for `repo`; `None` when the host answers 404 (or
/// 410: gone).
pub(super) async fn get_json(
    host: &impl WithRest,
    repo: &RepoName,
    path: &str,
    what: &str,
) -> Result<Option<Value>> {
    let get = Request::new(Method::GET, path.to_owned(), None);
    let reply = send(host, repo, &get, what).await?;
    if matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Ok(None);
    }
    check(reply, what)?.json(what).map(Some)
}

/// Where the branch is now, against the pull request's head: gone, moved on, or still there.
enum Now {
    Gone,
    Moved(CommitSha),
    AtHead,
}

/// Reads the branch ([`BranchApi::branch`]) and says where it is now.
async fn now(
    host: &impl WithRest,
    repo: &RepoName,
    api: &BranchApi,
    pr: &PullRequest,
) -> Result<Now> {
    let branch = pr.head_branch.as_str();
    let what = format!("read the head of branch {branch} in {repo}");
    let Some(json) = get_json(host, repo, &api.branch, &what).await? else {
        return Ok(Now::Gone);
    };
    let head = head_in(&json, api.head_at, branch).map_err(|message| VcsError::Status {
        what,
        status: 200,
        message,
    })?;
    Ok(match head {
        None => Now::Gone,
        Some(sha) if sha.eq_ignore_ascii_case(pr.head_sha.as_str()) => Now::AtHead,
        Some(sha) => Now::Moved(CommitSha::new(sha)),
    })
}

/// What in a deletion's answer says the host refused it, though its status is a success.
pub(crate) type Refused = fn(&RawResponse) -> Option<String>;

/// [`VcsClient::delete_branch`](super::VcsClient::delete_branch) on `host`: see the module.
/// The adapter gives the branch's requests (`api`, asked once the pull request itself does
/// not refuse), the merged pull request's name for messages, and what in a deletion's answer
/// says it was refused.
pub(crate) async fn delete(
    host: &impl WithRest,
    repo: &RepoName,
    pr: &PullRequest,
    (api, pr_name, deletion_refused): (impl FnOnce() -> Result<BranchApi>, &str, Refused),
) -> Result<BranchDeletion> {
    if let Some(reason) = refusal(repo, pr) {
        return Ok(BranchDeletion::Skipped(reason));
    }
    let branch = pr.head_branch.as_str();
    let api = api()?;
    let what = format!("read the default branch of {repo}");
    let repository = get_json(host, repo, &api.repository, &what)
        .await?
        .ok_or_else(|| VcsError::NotFound { what: what.clone() })?;
    let default = string_at(&repository, api.default_at).ok_or_else(|| VcsError::Status {
        what,
        status: 200,
        message: format!("no default branch at {}", api.default_at),
    })?;
    if same_branch(default, branch) {
        return Ok(BranchDeletion::Skipped(SkipReason::DefaultBranch));
    }
    match now(host, repo, &api, pr).await? {
        Now::Gone => return Ok(BranchDeletion::AlreadyGone),
        Now::Moved(now) => return Ok(BranchDeletion::Skipped(SkipReason::Moved { now })),
        Now::AtHead => {}
    }
    let what = format!("delete branch {branch} of {pr_name}");
    let reply = send(host, repo, &api.delete, &what).await?;
    let refused = match check(reply, &what) {
        Ok(reply) => match deletion_refused(&reply) {
            None => return Ok(BranchDeletion::Deleted),
            Some(message) => VcsError::Status {
                what,
                status: reply.status.as_u16(),
                message,
            },
        },
        Err(refused) => refused,
    };
    // The host refused: because the branch went or moved meanwhile, or for a reason of its own.
    match now(host, repo, &api, pr).await? {
        Now::Gone => Ok(BranchDeletion::AlreadyGone),
        Now::Moved(now) => Ok(BranchDeletion::Skipped(SkipReason::Moved { now })),
        Now::AtHead => Err(refused),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_listed_branch_is_found_by_its_full_name_only() {
        let at = HeadAt::Listed {
            list: "/value",
            name: "/name",
            head: "/objectId",
        };
        let refs = json!({"value": [
            {"name": "refs/heads/feature/x2", "objectId": "bbb"},
            {"name": "refs/heads/feature/x", "objectId": "aaa"}
        ]});
        assert_eq!(head_in(&refs, at, "feature/x"), Ok(Some("aaa".into())));
        assert_eq!(head_in(&refs, at, "feature"), Ok(None));
        assert!(head_in(&json!({}), at, "feature/x").is_err());
        let field = HeadAt::Field("/object/sha");
        assert_eq!(
            head_in(&json!({"object": {"sha": "ccc"}}), field, "x"),
            Ok(Some("ccc".into()))
        );
        assert!(head_in(&json!({"object": {}}), field, "x").is_err());
    }

    #[test]
    fn branch_names_compare_without_case_and_without_refs_heads() {
        assert!(same_branch("Main", "refs/heads/main"));
        assert!(!same_branch("main", "main2"));
    }
}
