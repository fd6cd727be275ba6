//! A repository as the host describes it now ([`VcsClient::repository`]), once for every host:
//! each adapter says where its API names the clone URL and the default branch ([`RepoApi`]);
//! the default branch's head is read where [`VcsClient::delete_branch`] reads a branch's
//! ([`Host::branch_api`]).
//!
//! [`VcsClient::repository`]: super::VcsClient::repository
//! [`VcsClient::delete_branch`]: super::VcsClient::delete_branch

use serde_json::Value;

use super::branch::BranchApi;
use super::branch::{get_json, head_in, string_at};
use super::rest_call::WithRest;
use super::{RepoInfo, Result, VcsError};
use crate::event::{CommitSha, RepoName};

/// Where a repository's JSON holds its HTTPS clone URL.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CloneAt {
    /// At this JSON pointer.
    Field(&'static str),
    /// In the array at `list`, the `href` of the entry whose `name` is `name` (Bitbucket's
    /// `links.clone`).
    Named {
        /// The array of links.
        list: &'static str,
        /// The wanted link's name.
        name: &'static str,
    },
}

/// How one host's API describes a repository.
#[derive(Debug)]
pub(crate) struct RepoApi {
    /// GET: the repository; its clone URL at `clone_at`.
    pub repository: String,
    /// Where the clone URL is.
    pub clone_at: CloneAt,
    /// GET: where the default branch is named when the repository's JSON does not name it
    /// (Bitbucket Data Center); `None`: the repository's JSON.
    pub default_branch: Option<String>,
    /// Where that JSON names the default branch (a `refs/heads/` prefix is dropped).
    pub default_at: &'static str,
}

/// The clone URL in a repository's JSON.
fn clone_in(json: &Value, at: CloneAt) -> Option<&str> {
    match at {
        CloneAt::Field(pointer) => string_at(json, pointer),
        CloneAt::Named { list, name } => json
            .pointer(list)?
            .as_array()?
            .iter()
            .find(|link| string_at(link, "/name") == Some(name))
            .and_then(|link| string_at(link, "/href")),
    }
}

/// The error for an answer without what was read from it.
fn missing(what: String, message: String) -> VcsError {
    VcsError::Status {
        what,
        status: 200,
        message,
    }
}

/// Whether `sha` is a full commit id (SHA-1, or SHA-256 where the host keeps those).
fn is_full_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// [`VcsClient::repository`](super::VcsClient::repository) on `host`, with the adapter's
/// requests (`api`, and `branch_api` for a branch's): the repository, where the host names it
/// elsewhere its default branch, then that branch's head.
pub(crate) async fn read(
    host: &impl WithRest,
    repo: &RepoName,
    api: RepoApi,
    branch_api: impl Fn(&str) -> Result<BranchApi>,
) -> Result<RepoInfo> {
    let what = format!("read the repository {repo}");
    let repository = get_json(host, repo, &api.repository, &what)
        .await?
        .ok_or_else(|| VcsError::NotFound { what: what.clone() })?;
    let clone_url = clone_in(&repository, api.clone_at)
        .ok_or_else(|| missing(what.clone(), format!("no clone URL at {:?}", api.clone_at)))?
        .to_owned();
    let what = format!("read the default branch of {repo}");
    let named = match &api.default_branch {
        Some(path) => get_json(host, repo, path, &what)
            .await?
            .ok_or_else(|| VcsError::NotFound { what: what.clone() })?,
        None => repository,
    };
    let default = string_at(&named, api.default_at)
        .map(|name| name.strip_prefix("refs/heads/").unwrap_or(name).to_owned())
        .ok_or_else(|| missing(what, format!("no default branch at {}", api.default_at)))?;
    // Only the branch's read is used: no head is expected and nothing is deleted.
    let branch = branch_api(&default)?;
    let what = format!("read the head of {default}, the default branch of {repo}");
    let json = get_json(host, repo, &branch.branch, &what)
        .await?
        .ok_or_else(|| VcsError::NotFound { what: what.clone() })?;
    let head = head_in(&json, branch.head_at, &default)
        .map_err(|message| missing(what.clone(), message))?
        .ok_or_else(|| VcsError::NotFound { what: what.clone() })?;
    if !is_full_sha(&head) {
        return Err(missing(what, format!("{head:?} is not a full commit id")));
    }
    Ok(RepoInfo {
        default_branch: default,
        head_sha: CommitSha::new(head),
        clone_url,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_named_clone_link_is_found_by_its_name() {
        let at = CloneAt::Named {
            list: "/links/clone",
            name: "https",
        };
        let repo = json!({"links": {"clone": [
            {"name": "ssh", "href": "git@bitbucket.org:acme/infra.git"},
            {"name": "https", "href": "https://bitbucket.org/acme/infra.git"}
        ]}});
        assert_eq!(
            clone_in(&repo, at),
            Some("https://bitbucket.org/acme/infra.git")
        );
        assert_eq!(clone_in(&json!({"links": {}}), at), None);
        let field = CloneAt::Field("/clone_url");
        assert_eq!(clone_in(&json!({"clone_url": "x"}), field), Some("x"));
    }

    #[test]
    fn only_a_full_hex_commit_is_a_head() {
        assert!(is_full_sha("ec26c3e57ca3a959ca5aad62de7213c562f8c821"));
        assert!(!is_full_sha("ec26c3e57ca3"));
        assert!(!is_full_sha("zc26c3e57ca3a959ca5aad62de7213c562f8c821"));
    }
}
