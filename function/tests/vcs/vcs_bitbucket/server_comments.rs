//! Bitbucket Server's comments and build statuses: a comment edited with its current version (a
//! stale version read again once, then given up), build statuses through the builds API, and a
//! status cut to the builds resource's limits.

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::vcs::{CommitStatus, StatusState, VcsClient, VcsError};
use serde_json::json;
use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, SERVER, SHA, server_client};

#[tokio::test]
async fn server_rereads_a_stale_comment_version_and_edits_once_more() {
    let server = MockServer::start().await;
    let comment = format!("{SERVER}/pull-requests/5/comments/17");
    // Someone edits between our read and our write: version 3 is stale by then.
    for (version, times) in [(3, 1), (4, 1)] {
        Mock::given(method("GET"))
            .and(path(&comment))
            .and(header("authorization", "Bearer bbs-token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 17, "version": version, "text": "old"})),
            )
            .up_to_n_times(times)
            .with_priority(u8::try_from(version).unwrap())
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("PUT"))
        .and(path(&comment))
        .and(body_json(json!({"text": "Planned", "version": 3})))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"errors": [{
            "context": null,
            "message": "You are attempting to modify a comment based on out-of-date information.",
            "exceptionName": "com.atlassian.bitbucket.comment.CommentOutOfDateException"
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(&comment))
        .and(body_json(json!({"text": "Planned", "version": 4})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 17, "version": 5})))
        .expect(1)
        .mount(&server)
        .await;
    let c = server_client(&server);
    let repo = RepoName::new("PLAT/infra");
    let id = landfall_function::vcs::CommentId("17".into());
    c.edit_comment(&repo, PR, &id, "Planned").await.unwrap();
}

#[tokio::test]
async fn server_gives_up_after_a_second_stale_version() {
    let server = MockServer::start().await;
    let comment = format!("{SERVER}/pull-requests/5/comments/17");
    Mock::given(method("GET"))
        .and(path(&comment))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 17, "version": 3})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(&comment))
        .respond_with(ResponseTemplate::new(409).set_body_string("out-of-date"))
        .expect(2)
        .mount(&server)
        .await;
    let err = server_client(&server)
        .edit_comment(
            &RepoName::new("PLAT/infra"),
            PR,
            &landfall_function::vcs::CommentId("17".into()),
            "Planned",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 409, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_edits_a_comment_with_its_current_version_and_posts_build_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{SERVER}/pull-requests/5/comments")))
        .and(body_json(json!({"text": "Planning..."})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 17, "version": 0})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/pull-requests/5/comments/17")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 17, "version": 3})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{SERVER}/pull-requests/5/comments/17")))
        .and(body_json(json!({"text": "Planned", "version": 3})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 17, "version": 4})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/rest/api/latest/projects/PLAT/repos/infra/commits/{SHA}/builds"
        )))
        .and(header("authorization", "Bearer bbs-token"))
        .and(body_partial_json(json!({
            "state": "SUCCESSFUL", "name": "landfall/plan: a", "url": "https://logs/2",
            "ref": "refs/heads/feature"
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/raw/envs/main.tf")))
        .and(query_param("at", SHA))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/raw/envs/main.tf")))
        .respond_with(ResponseTemplate::new(200).set_body_string("x"))
        .mount(&server)
        .await;
    let c = server_client(&server);
    let repo = RepoName::new("PLAT/infra");
    let id = c.post_comment(&repo, PR, "Planning...").await.unwrap();
    c.edit_comment(&repo, PR, &id, "Planned").await.unwrap();
    let status = CommitStatus {
        context: "landfall/plan: a".into(),
        state: StatusState::Success,
        description: "ok".into(),
        target_url: Some("https://logs/2".into()),
        branch: Some("feature".into()),
        pull: None,
    };
    c.set_status(&repo, &CommitSha::new(SHA), &status)
        .await
        .unwrap();
    assert_eq!(
        c.read_file(&repo, &CommitSha::new(SHA), "envs/main.tf")
            .await
            .unwrap()
            .unwrap(),
        b"x"
    );
}

/// The builds resource keeps 255 characters of a name and 450 of a link: a longer name is cut,
/// a longer link is replaced by the server's rather than cut into a broken one.
#[tokio::test]
async fn bitbucket_server_build_statuses_keep_within_the_resource_limits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/rest/api/latest/projects/PLAT/repos/infra/commits/{SHA}/builds"
        )))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let status = CommitStatus {
        context: format!("landfall/plan: {}", "p".repeat(400)),
        state: StatusState::Failure,
        description: "d".repeat(300),
        target_url: Some(format!("https://logs.example/{}", "x".repeat(500))),
        branch: None,
        pull: None,
    };
    server_client(&server)
        .set_status(&RepoName::new("PLAT/infra"), &CommitSha::new(SHA), &status)
        .await
        .unwrap();
    let sent = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["name"].as_str().unwrap().chars().count(), 255);
    assert_eq!(body["description"].as_str().unwrap().chars().count(), 255);
    let url = body["url"].as_str().unwrap();
    assert!(url.len() <= 450 && url.starts_with(&server.uri()), "{url}");
    assert!(body.get("ref").is_none(), "no branch, no ref: {body}");
}
