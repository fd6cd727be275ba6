//! The tracking issue's round trip every host's drift tests make.

use landfall_function::event::RepoName;
use landfall_function::vcs::{IssueRef, RepoInfo, TrackingIssue, VcsClient};

/// `first` creates the issue (none named yet), then `then` keeps it in place: both answer the
/// issue `number` at `url`.
pub async fn created_then_kept(
    c: &impl VcsClient,
    repo: &RepoName,
    (first, then): (&TrackingIssue, &TrackingIssue),
    (number, url): (u64, &str),
) {
    let expected = IssueRef {
        number,
        url: url.to_owned(),
    };
    let created = c.tracking_issue(repo, None, first).await.unwrap();
    assert_eq!(created.as_ref(), Some(&expected));
    let kept = c.tracking_issue(repo, Some(&expected), then).await;
    assert_eq!(kept.unwrap(), Some(expected));
}

/// What `repository` answered is the default branch `branch` at `sha`, cloned from `clone_url`.
pub fn assert_repository(info: &RepoInfo, (branch, sha): (&str, &str), clone_url: &str) {
    let got = (info.default_branch.as_str(), info.head_sha.as_str());
    assert_eq!(got, (branch, sha));
    assert_eq!(info.clone_url, clone_url);
}
