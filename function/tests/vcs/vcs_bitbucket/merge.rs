//! `merge` on Bitbucket Cloud, refused without a request (its merge takes no expected head), and
//! the merge commit read back as a merged pull request's `merge_commit.hash`, resolved in full;
//! on Bitbucket Data Center, not supported (refused without a request) and the merge commit read
//! from `properties.mergeCommit.id`.

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::{PrState, PullRequest, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{CLOUD, PR, SERVER, SHA, cloud, pull_request, server_client};

const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

fn cloud_pr(state: &str, merge_commit: Option<&str>) -> Value {
    json!({
        "type": "pullrequest", "id": 5, "state": state,
        "source": {"branch": {"name": "feature"}, "commit": {"hash": &SHA[..12]},
                   "repository": {"full_name": "acme/infra"}},
        "destination": {"branch": {"name": "main"}, "commit": {"hash": "000000000000"}},
        "author": {"nickname": "dev"}, "participants": [],
        "merge_commit": merge_commit.map(|hash| json!({"hash": hash}))
    })
}

/// Bitbucket Cloud's merge takes no expected head: Landfall never merges there, so a push after
/// the apply is never merged unapplied. Nothing is sent.
#[tokio::test]
async fn cloud_refuses_to_merge_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let c = cloud(&server);
    let pr = pull_request(SHA, "acme/infra");
    for m in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        let merged = c.merge(&RepoName::new("acme/infra"), &pr, m).await;
        let err = merged.unwrap_err().to_string();
        assert!(err.contains("merge the pull request yourself"), "{err}");
    }
}

/// The pull request as Bitbucket Cloud answers `pr`, each short hash resolved in full.
async fn cloud_read(pr: Value) -> PullRequest {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/pullrequests/5")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr))
        .expect(1)
        .mount(&server)
        .await;
    for full in [SHA, MERGED] {
        Mock::given(method("GET"))
            .and(path(format!("{CLOUD}/commit/{}", &full[..12])))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"hash": full})))
            .mount(&server)
            .await;
    }
    let c = cloud(&server);
    c.pull_request(&RepoName::new("acme/infra"), PR)
        .await
        .unwrap()
}

#[tokio::test]
async fn cloud_names_a_merged_pull_requests_merge_commit_in_full_and_an_open_ones_none() {
    let merged = cloud_read(cloud_pr("MERGED", Some(&MERGED[..12]))).await;
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(
        merged.merge_sha.as_ref().map(CommitSha::as_str),
        Some(MERGED)
    );
    let open = cloud_read(cloud_pr("OPEN", None)).await;
    assert_eq!((open.state, open.merge_sha), (PrState::Open, None));
}

#[tokio::test]
async fn server_refuses_to_merge_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let c = server_client(&server);
    let pr = pull_request(SHA, "PLAT/infra");
    for m in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        let merged = c.merge(&RepoName::new("PLAT/infra"), &pr, m).await;
        assert!(merged.is_err(), "{merged:?}");
    }
}

fn server_pr(state: &str, merge_commit: Option<&str>) -> Value {
    let mut pr = json!({
        "id": 5, "state": state,
        "fromRef": {"displayId": "feature", "latestCommit": SHA},
        "toRef": {"displayId": "main", "latestCommit": "0"},
        "author": {"user": {"name": "dev"}}, "reviewers": []
    });
    if let Some(id) = merge_commit {
        pr["properties"] = json!({"mergeCommit": {"displayId": &id[..11], "id": id}});
    }
    pr
}

/// The pull request as Bitbucket Data Center answers `pr` (an open one mergeable).
async fn server_read(pr: Value) -> PullRequest {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/pull-requests/5")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/pull-requests/5/merge")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"canMerge": true})))
        .mount(&server)
        .await;
    let c = server_client(&server);
    c.pull_request(&RepoName::new("PLAT/infra"), PR)
        .await
        .unwrap()
}

#[tokio::test]
async fn server_names_a_merged_pull_requests_merge_commit_and_an_open_ones_none() {
    let merged = server_read(server_pr("MERGED", Some(MERGED))).await;
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(
        merged.merge_sha.as_ref().map(CommitSha::as_str),
        Some(MERGED)
    );
    let open = server_read(server_pr("OPEN", None)).await;
    assert_eq!((open.state, open.merge_sha), (PrState::Open, None));
}
