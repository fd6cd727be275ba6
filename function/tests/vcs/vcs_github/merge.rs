//! `merge` on GitHub (`PUT /repos/{o}/{r}/pulls/{n}/merge`, operation `pulls/merge`): the
//! description's `merge_method` and the head `sha` GitHub checks (409 when it moved); and the
//! merge commit read back as the merged pull request's `merge_commit_sha`.

use landfall_function::event::CommitSha;
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::{PrState, PullRequest, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, SHA, client, github_get, pull_request, repo};

const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

#[tokio::test]
async fn a_merge_puts_the_method_and_the_head_github_must_still_have() {
    let server = MockServer::start().await;
    for name in ["merge", "squash", "rebase"] {
        Mock::given(method("PUT"))
            .and(path("/repos/acme/infra/pulls/7/merge"))
            .and(header("authorization", "Bearer ghp_test"))
            .and(header("x-github-api-version", "2022-11-28"))
            .and(body_json(json!({"merge_method": name, "sha": SHA})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sha": MERGED, "merged": true, "message": "Pull Request successfully merged"
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for m in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        c.merge(&repo(), &pull_request("main"), m).await.unwrap();
    }
}

#[tokio::test]
async fn a_head_that_moved_is_githubs_409_an_error_with_its_reason() {
    let server = MockServer::start().await;
    let reason = "Head branch was modified. Review and try the merge again.";
    Mock::given(method("PUT"))
        .and(path("/repos/acme/infra/pulls/7/merge"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"message": reason})))
        .expect(1)
        .mount(&server)
        .await;
    let merged = client(&server)
        .merge(&repo(), &pull_request("main"), MergeMethod::Merge)
        .await;
    let error = merged.unwrap_err().to_string();
    assert!(error.contains(reason), "{error}");
}

/// The pull request as `GET .../pulls/7` answers `pr`.
async fn read(pr: Value) -> PullRequest {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).pull_request(&repo(), PR).await.unwrap()
}

fn pr_json(state: &str, merged: bool, merge_commit_sha: &str) -> Value {
    json!({
        "number": 7, "state": state, "merged": merged, "mergeable_state": "unknown",
        "merge_commit_sha": merge_commit_sha,
        "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
        "base": {"ref": "main", "sha": "0000000000000000000000000000000000000000",
                 "repo": {"full_name": "acme/infra"}},
        "user": {"login": "octocat"}
    })
}

#[tokio::test]
async fn a_merged_pull_request_names_its_merge_commit_and_an_open_one_none() {
    let merged = read(pr_json("closed", true, MERGED)).await;
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(
        merged.merge_sha.as_ref().map(CommitSha::as_str),
        Some(MERGED)
    );
    // An open pull request's merge_commit_sha is GitHub's test merge: not a merge made.
    let open = read(pr_json("open", false, MERGED)).await;
    assert_eq!((open.state, open.merge_sha), (PrState::Open, None));
}
