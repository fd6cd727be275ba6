//! Which approvals count and whether a PR is undiverged on Bitbucket: Cloud's approving
//! `participants` (a `changes_requested` state withdraws one; a moved source commit voids all)
//! and `merge-base` against the destination branch's head; Server's reviewers' and participants'
//! `APPROVED` status (none on a stale head) and `compare/commits`.

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::vcs::{Actor, VcsClient};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{BASE, CLOUD, PR, SERVER, SHA, basic, cloud, pull_request, server_client};

/// A Cloud PR whose source commit is `short` and whose participants are `participants`.
async fn cloud_pr(server: &MockServer, short: &str, full: &str, participants: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/pullrequests/5")))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "state": "OPEN",
            "source": {"branch": {"name": "feature"}, "commit": {"hash": short},
                       "repository": {"full_name": "outsider/infra"}},
            "destination": {"branch": {"name": "main"}, "commit": {"hash": "0123456789ab"},
                            "repository": {"full_name": "acme/infra"}},
            "author": {"display_name": "Dev", "nickname": "dev", "uuid": "{dev}"},
            "participants": participants
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/commit/{short}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"type": "commit", "hash": full})),
        )
        .mount(server)
        .await;
}

fn participant(
    nickname: &str,
    uuid: &str,
    approved: bool,
    state: Option<&str>,
) -> serde_json::Value {
    json!({
        "type": "participant", "role": "REVIEWER", "approved": approved, "state": state,
        "participated_on": "2025-01-01T00:00:00+00:00",
        "user": {"type": "user", "nickname": nickname, "display_name": nickname, "uuid": uuid}
    })
}

#[tokio::test]
async fn cloud_approvals_are_approving_participants_and_requesting_changes_withdraws() {
    let server = MockServer::start().await;
    cloud_pr(
        &server,
        &SHA[..12],
        SHA,
        json!([
            participant("lead", "{lead}", true, Some("approved")),
            participant("ops", "{ops}", true, Some("changes_requested")),
            participant("drive-by", "{drive-by}", false, Some("changes_requested")),
            participant("commenter", "{commenter}", false, None)
        ]),
    )
    .await;
    let c = cloud(&server);
    let repo = RepoName::new("acme/infra");
    assert_eq!(
        c.approvals(&repo, PR, &CommitSha::new(SHA)).await.unwrap(),
        [Actor {
            login: "lead".into(),
            id: Some("{lead}".into())
        }]
    );
    let pr = c.pull_request(&repo, PR).await.unwrap();
    assert_eq!(pr.head_repo, Some(RepoName::new("outsider/infra")));
    assert!(pr.is_fork(&repo));
}

#[tokio::test]
async fn cloud_a_moved_source_commit_voids_every_approval() {
    let server = MockServer::start().await;
    // The approval was given on SHA; the source branch has moved on to BASE's commit since.
    cloud_pr(
        &server,
        &BASE[..12],
        BASE,
        json!([participant("lead", "{lead}", true, Some("approved"))]),
    )
    .await;
    let approvals = cloud(&server)
        .approvals(&RepoName::new("acme/infra"), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
}

/// The destination branch `main` at `BASE`, and the merge base of SHA and BASE as `merge_base`.
async fn cloud_branches(server: &MockServer, merge_base: &str) {
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/refs/branches/main")))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "branch", "name": "main", "target": {"type": "commit", "hash": BASE}
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/merge-base/{SHA}..{BASE}")))
        .and(header("authorization", basic().as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"type": "commit", "hash": merge_base})),
        )
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn cloud_the_head_contains_the_base_when_the_base_head_is_the_merge_base() {
    let server = MockServer::start().await;
    cloud_branches(&server, BASE).await;
    let c = cloud(&server);
    assert!(
        c.contains_base(
            &RepoName::new("acme/infra"),
            &pull_request(SHA, "acme/infra")
        )
        .await
        .unwrap()
    );
}

#[tokio::test]
async fn cloud_a_base_that_moved_past_the_merge_base_is_diverged() {
    let server = MockServer::start().await;
    cloud_branches(&server, "fedcba9876543210fedcba9876543210fedcba98").await;
    let c = cloud(&server);
    assert!(
        !c.contains_base(
            &RepoName::new("acme/infra"),
            &pull_request(SHA, "acme/infra")
        )
        .await
        .unwrap()
    );
}

/// A Server PR at `latest` with these reviewers and participants, from `~ALICE/infra`.
async fn server_pr(
    server: &MockServer,
    latest: &str,
    reviewers: serde_json::Value,
    participants: serde_json::Value,
) {
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/pull-requests/5")))
        .and(header("authorization", "Bearer bbs-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "state": "OPEN",
            "fromRef": {"displayId": "feature", "latestCommit": latest,
                        "repository": {"slug": "infra", "project": {"key": "~ALICE"}}},
            "toRef": {"displayId": "main", "latestCommit": BASE,
                      "repository": {"slug": "infra", "project": {"key": "PLAT"}}},
            "author": {"user": {"name": "alice"}, "role": "AUTHOR", "approved": false, "status": "UNAPPROVED"},
            "reviewers": reviewers,
            "participants": participants
        })))
        .mount(server)
        .await;
}

/// A participant whose status was last set at `SHA`, the PR's head.
fn bbs_participant(name: &str, role: &str, status: &str) -> serde_json::Value {
    json!({"user": {"name": name, "slug": name}, "role": role, "approved": status == "APPROVED",
        "status": status, "lastReviewedCommit": SHA})
}

#[tokio::test]
async fn server_approvals_are_approved_statuses_and_needs_work_is_not_one() {
    let server = MockServer::start().await;
    server_pr(
        &server,
        SHA,
        json!([
            bbs_participant("lead", "REVIEWER", "APPROVED"),
            bbs_participant("ops", "REVIEWER", "NEEDS_WORK"),
            bbs_participant("dev", "REVIEWER", "UNAPPROVED")
        ]),
        json!([bbs_participant("sre", "PARTICIPANT", "APPROVED")]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/pull-requests/5/merge")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"canMerge": true})))
        .mount(&server)
        .await;
    let c = server_client(&server);
    let repo = RepoName::new("PLAT/infra");
    assert_eq!(
        c.approvals(&repo, PR, &CommitSha::new(SHA)).await.unwrap(),
        [Actor::login("lead"), Actor::login("sre")]
    );
    let pr = c.pull_request(&repo, PR).await.unwrap();
    assert_eq!(pr.head_repo, Some(RepoName::new("~ALICE/infra")));
    assert!(pr.is_fork(&repo));
}

#[tokio::test]
async fn server_an_approval_given_before_the_last_push_does_not_count() {
    let server = MockServer::start().await;
    let mut before_push = bbs_participant("lead", "REVIEWER", "APPROVED");
    before_push["lastReviewedCommit"] = json!(BASE);
    let mut unknown = bbs_participant("ops", "REVIEWER", "APPROVED");
    unknown
        .as_object_mut()
        .unwrap()
        .remove("lastReviewedCommit");
    server_pr(
        &server,
        SHA,
        json!([before_push, unknown]),
        json!([bbs_participant("sre", "PARTICIPANT", "APPROVED")]),
    )
    .await;
    let approvals = server_client(&server)
        .approvals(&RepoName::new("PLAT/infra"), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(approvals, [Actor::login("sre")]);
}

#[tokio::test]
async fn server_a_stale_head_gives_no_approvals() {
    let server = MockServer::start().await;
    server_pr(
        &server,
        BASE,
        json!([bbs_participant("lead", "REVIEWER", "APPROVED")]),
        json!([]),
    )
    .await;
    let approvals = server_client(&server)
        .approvals(&RepoName::new("PLAT/infra"), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
}

/// `compare/commits` from the base branch to the head, answering `missing` commits.
async fn server_compare(server: &MockServer, missing: &[&str]) {
    let values: Vec<_> = missing
        .iter()
        .map(|id| json!({"id": id, "displayId": &id[..11]}))
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/compare/commits")))
        .and(query_param("from", "refs/heads/main"))
        .and(query_param("to", SHA))
        .and(query_param("limit", "1"))
        .and(header("authorization", "Bearer bbs-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": values.len(), "limit": 1, "start": 0, "isLastPage": values.is_empty(), "values": values
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn server_the_head_contains_the_base_when_no_base_commit_is_missing() {
    let server = MockServer::start().await;
    server_compare(&server, &[]).await;
    assert!(
        server_client(&server)
            .contains_base(
                &RepoName::new("PLAT/infra"),
                &pull_request(SHA, "PLAT/infra")
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn server_a_base_commit_the_head_lacks_is_diverged() {
    let server = MockServer::start().await;
    server_compare(&server, &[BASE]).await;
    assert!(
        !server_client(&server)
            .contains_base(
                &RepoName::new("PLAT/infra"),
                &pull_request(SHA, "PLAT/infra")
            )
            .await
            .unwrap()
    );
}
