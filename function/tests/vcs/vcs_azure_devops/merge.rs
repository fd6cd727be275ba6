//! `merge` on Azure DevOps (Pull Requests - Update, `PATCH .../pullrequests/{pullRequestId}`):
//! `status: completed`, the source commit it must still be at (`lastMergeSourceCommit`) and
//! `completionOptions.mergeStrategy` (the description's `noFastForward`, `squash`, `rebase`);
//! and the merge commit read back as a completed pull request's `lastMergeCommit`.

use landfall_function::event::CommitSha;
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::{PrState, PullRequest, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, REPO, SHA, basic, client, get, pull_request, repo};

const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

/// The pull request as Azure DevOps answers it, in `status`, its last merge `merge_commit`.
fn pr_json(status: &str, merge_commit: &str) -> Value {
    json!({
        "pullRequestId": 42, "status": status, "mergeStatus": "succeeded",
        "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main",
        "lastMergeSourceCommit": {"commitId": SHA},
        "lastMergeCommit": {"commitId": merge_commit},
        "createdBy": {"uniqueName": "dev@acme.com"}, "reviewers": []
    })
}

#[tokio::test]
async fn a_merge_completes_the_pull_request_at_its_source_commit_with_the_strategy() {
    let server = MockServer::start().await;
    for strategy in ["noFastForward", "squash", "rebase"] {
        Mock::given(method("PATCH"))
            .and(path(format!("{REPO}/pullrequests/42")))
            .and(query_param("api-version", "7.1"))
            .and(header("authorization", basic().as_str()))
            .and(body_json(json!({
                "status": "completed",
                "lastMergeSourceCommit": {"commitId": SHA},
                "completionOptions": {"mergeStrategy": strategy}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json("completed", MERGED)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for m in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        c.merge(&repo(), &pull_request(), m).await.unwrap();
    }
}

/// The pull request as `GET .../pullrequests/42` answers `pr`.
async fn read(pr: Value) -> PullRequest {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullrequests/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).pull_request(&repo(), PR).await.unwrap()
}

#[tokio::test]
async fn a_completed_pull_request_names_its_merge_commit_and_an_active_one_none() {
    let completed = read(pr_json("completed", MERGED)).await;
    assert_eq!(completed.state, PrState::Merged);
    let sha = completed.merge_sha.as_ref().map(CommitSha::as_str);
    assert_eq!(sha, Some(MERGED));
    // An active pull request's lastMergeCommit is the trial merge, not a merge made.
    let active = read(pr_json("active", MERGED)).await;
    assert_eq!((active.state, active.merge_sha), (PrState::Open, None));
}
