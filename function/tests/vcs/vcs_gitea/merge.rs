//! `merge` on Gitea (`POST /repos/{o}/{r}/pulls/{n}/merge`, operation `repoMergePullRequest`,
//! `MergePullRequestOption`): `Do` (the description's `merge`, `squash`, `rebase`) and the
//! `head_commit_id` Gitea checks, answered 200 with no body; and the merge commit read back as the
//! merged pull request's `merge_commit_sha`.

use landfall_function::event::CommitSha;
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::{PrState, PullRequest, VcsClient};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, SHA, client, get, pull_request, repo};

const MERGED: &str = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e";

#[tokio::test]
async fn a_merge_posts_do_and_the_head_gitea_must_still_have() {
    let server = MockServer::start().await;
    for name in ["merge", "squash", "rebase"] {
        Mock::given(method("POST"))
            .and(path("/api/v1/repos/acme/infra/pulls/3/merge"))
            .and(header("authorization", "token gt0k"))
            .and(body_json(json!({"Do": name, "head_commit_id": SHA})))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for m in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
        c.merge(&repo(), &pull_request("main"), m).await.unwrap();
    }
}

/// The pull request as `GET .../pulls/3` answers `pr`.
async fn read(pr: Value) -> PullRequest {
    let server = MockServer::start().await;
    get("/api/v1/repos/acme/infra/pulls/3")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).pull_request(&repo(), PR).await.unwrap()
}

fn pr_json(state: &str, merged: bool, merge_commit_sha: Option<&str>) -> Value {
    json!({
        "state": state, "merged": merged, "mergeable": !merged,
        "merge_commit_sha": merge_commit_sha,
        "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
        "base": {"ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567",
                 "repo": {"full_name": "acme/infra"}},
        "user": {"login": "dev"}
    })
}

#[tokio::test]
async fn a_merged_pull_request_names_its_merge_commit_and_an_open_one_none() {
    let merged = read(pr_json("closed", true, Some(MERGED))).await;
    assert_eq!(merged.state, PrState::Merged);
    assert_eq!(
        merged.merge_sha.as_ref().map(CommitSha::as_str),
        Some(MERGED)
    );
    let open = read(pr_json("open", false, None)).await;
    assert_eq!((open.state, open.merge_sha), (PrState::Open, None));
}
