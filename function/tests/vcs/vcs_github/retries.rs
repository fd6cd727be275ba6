//! GitHub's failures and limits: a secondary rate limit waited out and the refused post sent
//! again, a failed post never repeated, a failed read retried, an exhausted primary rate limit
//! failing at once, and an Enterprise base URL keeping its `/api/v3` path.

use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::{PrState, VcsClient, VcsError};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{PR, SHA, client, github_get, policy, repo};

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_and_the_refused_post_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&server)
        .await;
    let id = client(&server)
        .post_comment(&repo(), PR, "hi")
        .await
        .unwrap();
    assert_eq!(id.0, "5");
}

#[tokio::test]
async fn a_comment_post_that_failed_with_a_5xx_is_not_repeated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .post_comment(&repo(), PR, "hi")
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 502, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_get_that_failed_with_a_5xx_is_retried() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "closed", "merged": true, "mergeable": null,
            "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.state, PrState::Merged);
    assert_eq!(pr.mergeable, None);
}

#[tokio::test]
async fn an_exhausted_primary_rate_limit_that_resets_later_fails_without_retrying() {
    let server = MockServer::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).pull_request(&repo(), PR).await.unwrap_err();
    assert!(
        matches!(err, VcsError::RateLimited { retry_after: Some(d), .. } if d.as_secs() > 3500),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_enterprise_base_url_keeps_its_api_v3_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghp_test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "state": "open", "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = GithubClient::personal_token(
        Some(&format!("{}/api/v3", server.uri())),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap();
    c.pull_request(&repo(), PR).await.unwrap();
}
