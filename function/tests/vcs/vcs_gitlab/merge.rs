//! `merge` on GitLab (`PUT :id/merge_requests/:merge_request_iid/merge`, `lib/api/merge_requests.rb`):
//! the head `sha` GitLab checks (409 when it moved) and `squash`; the project's merge method does
//! the rest, so `rebase`, which the endpoint has no parameter for, is refused without a request.
//! The merge commit is read back from the merged merge request: `merge_commit_sha`, else
//! `squash_commit_sha`, else (a fast-forward) the head.

use landfall_function::event::CommitSha;
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::{PrState, PullRequest, VcsClient, VcsError};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{MR, PROJECT, SHA, client, get, pull_request, repo};

const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";
const SQUASHED: &str = "5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";

#[tokio::test]
async fn a_merge_puts_the_head_gitlab_must_still_have_and_whether_to_squash() {
    let server = MockServer::start().await;
    for squash in [false, true] {
        Mock::given(method("PUT"))
            .and(path(format!("{PROJECT}/merge_requests/12/merge")))
            .and(header("private-token", "glpat-test"))
            .and(body_json(json!({"sha": SHA, "squash": squash})))
            .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
                "merged",
                Some(MERGED),
                None,
            )))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for m in [MergeMethod::Merge, MergeMethod::Squash] {
        c.merge(&repo(), &pull_request(), m).await.unwrap();
    }
    let rebase = c.merge(&repo(), &pull_request(), MergeMethod::Rebase).await;
    assert!(
        matches!(&rebase, Err(VcsError::Config { message }) if message.contains("rebase")),
        "{rebase:?}"
    );
}

/// A merge request 12 of the project itself in `state`, with the merge and squash commits given.
fn mr_json(state: &str, merge_commit: Option<&str>, squash_commit: Option<&str>) -> Value {
    json!({
        "iid": 12, "sha": SHA, "source_branch": "feature", "target_branch": "main",
        "author": {"username": "dev"}, "state": state,
        "detailed_merge_status": if state == "opened" { "mergeable" } else { "not_open" },
        "has_conflicts": false, "source_project_id": 1, "target_project_id": 1,
        "merge_commit_sha": merge_commit, "squash_commit_sha": squash_commit
    })
}

/// The merge request as `GET .../merge_requests/12` answers `mr`.
async fn read(mr: Value) -> PullRequest {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).pull_request(&repo(), MR).await.unwrap()
}

#[tokio::test]
async fn a_merged_merge_request_names_its_merge_squash_or_fast_forwarded_commit_and_an_open_one_none()
 {
    let sha = |pr: &PullRequest| pr.merge_sha.clone();
    let merged = read(mr_json("merged", Some(MERGED), Some(SQUASHED))).await;
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(sha(&merged), Some(CommitSha::new(MERGED)));
    let squashed = read(mr_json("merged", None, Some(SQUASHED))).await;
    assert_eq!(sha(&squashed), Some(CommitSha::new(SQUASHED)));
    let fast_forward = read(mr_json("merged", None, None)).await;
    assert_eq!(sha(&fast_forward), Some(CommitSha::new(SHA)));
    let open = read(mr_json("opened", None, None)).await;
    assert_eq!((open.state, open.merge_sha), (PrState::Open, None));
}
