//! A GitHub App's installation tokens: minted with a JWT signed by the App's key, refreshed
//! before they expire, replaced once when GitHub no longer accepts one, the installation found
//! from the repository when not configured, a refused exchange as a clear error, the runner's
//! token scoped to one repository read-only, and the App key's accepted forms.

use std::time::Duration;

use landfall_function::event::RepoName;
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::{VcsClient, VcsError};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::matchers::{header, header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    APP_KEY, JWT, PR, SHA, access_token, app, assert_app_jwts, expires_in, mint, policy, repo,
};

/// Installation `id` answers two exchanges, each once, with these tokens and lifetimes (s).
async fn mint_in_turn(server: &MockServer, id: u64, tokens: [(&str, u64); 2]) {
    for (priority, (token, lifetime)) in (1u8..).zip(tokens) {
        mint(id)
            .respond_with(access_token(token, &expires_in(lifetime)))
            .up_to_n_times(1)
            .expect(1)
            .with_priority(priority)
            .mount(server)
            .await;
    }
}

fn pr_json() -> serde_json::Value {
    json!({"state": "open", "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}})
}

#[tokio::test]
async fn a_github_app_mints_an_installation_token_and_refreshes_it_before_it_expires() {
    let server = MockServer::start().await;
    // The first token expires in two minutes, inside the refresh margin: the next call mints a
    // new one, which then lasts an hour and is reused.
    mint_in_turn(&server, 99, [("ghs_first", 120), ("ghs_second", 3600)]).await;
    for (token, times) in [("ghs_first", 1), ("ghs_second", 2)] {
        Mock::given(method("GET"))
            .and(path("/repos/acme/infra/pulls/7"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
            .expect(times)
            .mount(&server)
            .await;
    }
    let c = app(&server, Some(99));
    for _ in 0..3 {
        c.pull_request(&repo(), PR).await.unwrap();
    }
    assert_app_jwts(&server, 2).await;
}

#[tokio::test]
async fn without_an_installation_id_it_is_found_from_the_repository_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/installation"))
        .and(header_regex("authorization", JWT))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42, "app_id": 12345, "account": {"login": "acme"}, "target_type": "Organization"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mint(42)
        .respond_with(access_token("ghs_acme", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    mint(7)
        .respond_with(access_token("ghs_other", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    for (repo, token) in [("acme/infra", "ghs_acme"), ("other/infra", "ghs_other")] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repo}/pulls/7")))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
            .expect(2)
            .mount(&server)
            .await;
    }
    let c = app(&server, None);
    c.pull_request(&repo(), PR).await.unwrap();
    c.pull_request(&repo(), PR).await.unwrap();
    // A delivery's installation.id saves the lookup.
    let other = RepoName::new("other/infra");
    c.remember_installation(&other, 7);
    c.pull_request(&other, PR).await.unwrap();
    c.pull_request(&other, PR).await.unwrap();
    assert_app_jwts(&server, 3).await;
}

#[tokio::test]
async fn a_token_github_no_longer_accepts_is_replaced_once() {
    let server = MockServer::start().await;
    mint_in_turn(&server, 99, [("ghs_revoked", 3600), ("ghs_new", 3600)]).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghs_revoked"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/infra/pulls/7"))
        .and(header("authorization", "Bearer ghs_new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pr_json()))
        .expect(1)
        .mount(&server)
        .await;
    app(&server, Some(99))
        .pull_request(&repo(), PR)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_token_exchange_is_a_clear_error_and_the_runner_token_is_scoped_to_one_repo_read_only()
 {
    let server = MockServer::start().await;
    mint(99)
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "'Expiration time' claim ('exp') is too far in the future",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = app(&server, Some(99))
        .pull_request(&repo(), PR)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VcsError::Status { status: 401, message, .. } if message.contains("too far")),
        "{err:?}"
    );
    assert!(err.to_string().contains("installation 99"), "{err}");

    let server = MockServer::start().await;
    mint(5)
        .respond_with(access_token("ghs_runner", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    let c = app(&server, Some(5));
    let hour = Duration::from_mins(50);
    let token = c.token_for(&repo(), hour).await.unwrap();
    assert_eq!(token.expose_secret(), "ghs_runner");
    // The runner's token reaches this repository alone, and can only read its contents.
    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let name = repo().as_str().rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"repositories": [name], "permissions": {"contents": "read"}})
    );
}

#[tokio::test]
async fn an_app_key_that_is_not_an_rsa_pem_is_refused_and_one_line_pems_are_accepted() {
    let err = GithubClient::app(None, 1, b"not a key", Some(1), policy()).unwrap_err();
    assert!(
        err.to_string().contains("not an RSA private key in PEM"),
        "{err}"
    );
    let one_line = String::from_utf8(APP_KEY.to_vec())
        .unwrap()
        .trim()
        .replace('\n', "\\n");
    GithubClient::app(None, 1, one_line.as_bytes(), Some(1), policy()).unwrap();
}
