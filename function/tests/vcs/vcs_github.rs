//! The GitHub adapter against a wiremock GitHub that asserts the requests GitHub's REST API
//! documents: method, path, query, headers (auth, media type, API version) and JSON body,
//! including Link pagination, rate-limit replies, GitHub App installation tokens, and the
//! tree read from one tarball download (GitHub's 302 to a pre-signed URL on another host,
//! followed without the token) with planning's selection made from it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::{
    CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, header, header_regex, method, path, path_regex, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod access;
mod app_tokens;
mod checks;
mod delete_branch;
mod drift;
mod merge;
mod mergeable;
mod retries;
mod tree;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    }
}

fn client(server: &MockServer) -> GithubClient {
    GithubClient::personal_token(
        Some(&server.uri()),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("acme/infra")
}

const PR: PullRequestNumber = PullRequestNumber(7);

fn github_get(p: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("x-github-api-version", "2022-11-28"))
}

#[tokio::test]
async fn a_pull_request_is_read_with_head_base_author_state_and_mergeability() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/pulls/7")
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open", "merged": false, "mergeable": true,
            "mergeable_state": "clean",
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": "0000000000000000000000000000000000000000",
                     "repo": {"full_name": "acme/infra"}},
            "user": {"login": "octocat"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let pr = client(&server).pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.head_sha.as_str(), SHA);
    assert_eq!(
        (pr.head_branch.as_str(), pr.base_branch.as_str()),
        ("feature", "main")
    );
    assert_eq!(pr.author, "octocat");
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(pr.mergeable, Some(true));
    assert_eq!(pr.head_repo, Some(repo()));
    assert!(!pr.is_fork(&repo()));
}

#[tokio::test]
async fn a_fork_pull_request_names_the_fork_and_a_deleted_fork_is_a_fork_too() {
    let server = MockServer::start().await;
    let pr = |number: u64, head_repo: serde_json::Value| {
        json!({
            "number": number, "state": "open", "mergeable_state": "clean",
            "head": {"ref": "main", "sha": SHA, "repo": head_repo},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "evil-outsider"}
        })
    };
    github_get("/repos/acme/infra/pulls/8")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr(
            8,
            json!({"full_name": "evil-outsider/infra", "fork": true}),
        )))
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/pulls/9")
        .respond_with(ResponseTemplate::new(200).set_body_json(pr(9, json!(null))))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let fork = c.pull_request(&repo(), PullRequestNumber(8)).await.unwrap();
    assert_eq!(fork.head_repo, Some(RepoName::new("evil-outsider/infra")));
    assert!(fork.is_fork(&repo()));
    let deleted = c.pull_request(&repo(), PullRequestNumber(9)).await.unwrap();
    assert_eq!(deleted.head_repo, None);
    assert!(deleted.is_fork(&repo()));
}

#[tokio::test]
async fn mergeable_is_read_from_the_merge_state_not_from_mergeable() {
    let server = MockServer::start().await;
    let cases: [(Option<&str>, Option<bool>); 10] = [
        (Some("clean"), Some(true)),
        (Some("has_hooks"), Some(true)),
        (Some("unstable"), Some(true)),
        (Some("dirty"), Some(false)),
        (Some("blocked"), Some(false)),
        (Some("behind"), Some(false)),
        (Some("draft"), Some(false)),
        (Some("unknown"), None),
        (Some("something-new"), None),
        (None, None),
    ];
    for (n, (state, _)) in (1u64..).zip(cases) {
        // `mergeable` says "no conflicts" in every case: it must not decide.
        let mut body = json!({
            "number": n, "state": "open", "mergeable": true,
            "head": {"ref": "f", "sha": SHA}, "base": {"ref": "main"}, "user": {"login": "o"}
        });
        if let Some(state) = state {
            body["mergeable_state"] = json!(state);
        }
        github_get(&format!("/repos/acme/infra/pulls/{n}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for (n, (state, expected)) in (1u64..).zip(cases) {
        let pr = c.pull_request(&repo(), PullRequestNumber(n)).await.unwrap();
        assert_eq!(pr.mergeable, expected, "mergeable_state {state:?}");
    }
}

/// A pull request whose files GitHub lists on 30 pages of 100 (its 3,000 at most), and which
/// says it changes `changed` files.
async fn pull_request_of_3000_listed_files(changed: u64) -> MockServer {
    let server = MockServer::start().await;
    let uri = server.uri();
    github_get("/repos/acme/infra/pulls/7/files")
        .respond_with(move |request: &wiremock::Request| {
            let page: usize = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "page")
                .map_or(1, |(_, v)| v.parse().unwrap());
            let files: Vec<_> = (0..100)
                .map(|i| json!({"filename": format!("p{page}/f{i}.tf"), "status": "modified"}))
                .collect();
            let mut response = ResponseTemplate::new(200).set_body_json(files);
            if page < 30 {
                let next = format!(
                    "{uri}/repos/acme/infra/pulls/7/files?per_page=100&page={}",
                    page + 1
                );
                response =
                    response.insert_header("link", format!("<{next}>; rel=\"next\"").as_str());
            }
            response
        })
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/pulls/7")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 7, "state": "open", "changed_files": changed,
            "head": {"ref": "feature", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": "acme/infra"}},
            "user": {"login": "dev"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn changed_files_past_githubs_3000_are_an_error_not_a_shorter_list() {
    let server = pull_request_of_3000_listed_files(3_200).await;
    let err = client(&server)
        .changed_files(&repo(), PR)
        .await
        .expect_err("3,000 of 3,200 files is not the list");
    assert!(
        matches!(&err, VcsError::Incomplete { message, .. } if message.contains("3000 of the 3200")),
        "{err:?}"
    );
    // Exactly 3,000 changed: the list is whole.
    let server = pull_request_of_3000_listed_files(3_000).await;
    let files = client(&server).changed_files(&repo(), PR).await.unwrap();
    assert_eq!(files.len(), 3_000);
}

#[tokio::test]
async fn changed_files_follow_the_link_header_across_pages() {
    let server = MockServer::start().await;
    let next = format!(
        "{}/repositories/1/pulls/7/files?per_page=100&page=2",
        server.uri()
    );
    github_get("/repos/acme/infra/pulls/7/files")
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                )
                .set_body_json(json!([
                    {"filename": "envs/prod/main.tf", "status": "modified"},
                    {"filename": "envs/dev/old.tf", "status": "removed"}
                ])),
        )
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repositories/1/pulls/7/files")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"filename": "envs/stg/main.tf", "status": "renamed", "previous_filename": "envs/staging/main.tf"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server).changed_files(&repo(), PR).await.unwrap();
    assert_eq!(
        files,
        [
            ChangedFile::modified("envs/prod/main.tf"),
            ChangedFile::new("envs/dev/old.tf", FileStatus::Removed),
            ChangedFile::renamed("envs/staging/main.tf", "envs/stg/main.tf"),
        ]
    );
}

#[tokio::test]
async fn a_file_larger_than_a_response_may_be_is_refused_not_read_whole() {
    let server = MockServer::start().await;
    let limit = landfall_function::vcs::http::MAX_RESPONSE_BYTES;
    github_get("/repos/acme/infra/contents/huge.tf")
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; limit + 1]))
        .expect(1) // not downloaded again: a retry would fail the same way
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/contents/limit.tf")
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; limit]))
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    let err = c
        .read_file(&repo(), &sha, "huge.tf")
        .await
        .expect_err("past the limit");
    let VcsError::Transport { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        source.to_string().contains("larger than 64 MiB"),
        "{source}"
    );
    let at_limit = c.read_file(&repo(), &sha, "limit.tf").await.unwrap();
    assert_eq!(at_limit.map(|bytes| bytes.len()), Some(limit));
}

#[tokio::test]
async fn files_are_read_raw_at_the_sha_and_a_missing_file_is_none() {
    let server = MockServer::start().await;
    github_get("/repos/acme/infra/contents/atlantis.yaml")
        .and(query_param("ref", SHA))
        .and(header("accept", "application/vnd.github.raw+json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .expect(1)
        .mount(&server)
        .await;
    github_get("/repos/acme/infra/contents/landfall.yaml")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo(), &sha, "atlantis.yaml")
            .await
            .unwrap()
            .unwrap(),
        b"version: 3\n"
    );
    assert_eq!(
        c.read_file(&repo(), &sha, "landfall.yaml").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_tree_is_listed_recursively_and_only_blobs_are_files() {
    let server = MockServer::start().await;
    github_get(&format!("/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sha": SHA, "truncated": false,
            "tree": [
                {"path": "envs", "type": "tree"},
                {"path": "envs/main.tf", "type": "blob"},
                {"path": "vendor/mod", "type": "commit"}
            ]
        })))
        .mount(&server)
        .await;
    let files = client(&server)
        .list_files(&repo(), &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(files, ["envs/main.tf"]);
}

#[tokio::test]
async fn a_comment_is_posted_then_edited_in_place() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/infra/issues/7/comments"))
        .and(header("authorization", "Bearer ghp_test"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"body": "Planning 2 projects..."})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 1001, "body": "Planning 2 projects..."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/infra/issues/comments/1001"))
        .and(body_json(json!({"body": "Plan: 1 to add"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1001})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let id = c
        .post_comment(&repo(), PR, "Planning 2 projects...")
        .await
        .unwrap();
    assert_eq!(id.0, "1001");
    c.edit_comment(&repo(), PR, &id, "Plan: 1 to add")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_commit_status_names_the_project_and_command() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/infra/statuses/{SHA}")))
        .and(body_json(json!({
            "state": "success",
            "context": "landfall/plan: envs/prod",
            "description": "Plan: 1 to add, 0 to change, 0 to destroy",
            "target_url": "https://github.com/acme/infra/pull/7#issuecomment-1001"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let status = CommitStatus {
        context: landfall_function::vcs::status_context("landfall", "plan", "envs/prod"),
        state: StatusState::Success,
        description: "Plan: 1 to add, 0 to change, 0 to destroy".into(),
        target_url: Some("https://github.com/acme/infra/pull/7#issuecomment-1001".into()),
        branch: Some("feature".into()),
        pull: None,
    };
    client(&server)
        .set_status(&repo(), &CommitSha::new(SHA), &status)
        .await
        .unwrap();
}

/// Anything the adapter asks for that no test mock names fails loudly (wiremock's own
/// default, 404, would read as "no access" or "not a member").
async fn refuse_unexpected(server: &MockServer) {
    Mock::given(path_regex(".*"))
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected request"))
        .with_priority(200)
        .expect(0)
        .mount(server)
        .await;
}

fn pull_request(base: &str) -> PullRequest {
    PullRequest {
        number: PR,
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".into(),
        base_branch: base.into(),
        author: "octocat".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(repo()),
        merge_sha: None,
    }
}

#[tokio::test]
async fn undiverged_compares_the_base_branch_with_the_head_commit() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let compare = |base: &str, behind_by: u64, status: &str| {
        github_get(&format!("/repos/acme/infra/compare/{base}...{SHA}"))
            .and(header("accept", "application/vnd.github+json"))
            .and(query_param("per_page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": status, "ahead_by": 2, "behind_by": behind_by, "total_commits": 2,
                "commits": [], "files": []
            })))
            .expect(1)
    };
    // The branch is one URL-escaped path segment.
    compare("release%2F2024", 0, "ahead").mount(&server).await;
    compare("main", 3, "diverged").mount(&server).await;
    let c = client(&server);
    assert!(
        c.contains_base(&repo(), &pull_request("release/2024"))
            .await
            .unwrap()
    );
    assert!(
        !c.contains_base(&repo(), &pull_request("main"))
            .await
            .unwrap()
    );
}

const APP_KEY: &[u8] = include_bytes!("../vcs_fixtures/github-app-test-key.pem");
const APP_PUBLIC_KEY: &[u8] = include_bytes!("../vcs_fixtures/github-app-test-key.pub.pem");
const JWT: &str = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$";

fn app(server: &MockServer, installation: Option<u64>) -> GithubClient {
    GithubClient::app(Some(&server.uri()), 12345, APP_KEY, installation, policy()).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `expires_at` as GitHub writes it (RFC 3339, UTC), `secs` from now.
fn expires_in(secs: u64) -> String {
    aws_smithy_types::DateTime::from_secs(i64::try_from(now() + secs).unwrap())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// GitHub's documented reply to `POST /app/installations/{id}/access_tokens`.
fn access_token(token: &str, expires_at: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "token": token,
        "expires_at": expires_at,
        "permissions": {"pull_requests": "write", "contents": "read", "statuses": "write"},
        "repository_selection": "selected"
    }))
}

fn mint(installation: u64) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{installation}/access_tokens"
        )))
        .and(header_regex("authorization", JWT))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}

/// The DER prefix of an RSA-2048 `SubjectPublicKeyInfo` (rsaEncryption, NULL parameters, a bit
/// string of 270 bytes): what is left is the PKCS#1 `RSAPublicKey` that ring verifies with.
const RSA_2048_SPKI_PREFIX: [u8; 24] = [
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
];

/// Verifies an RS256 JWT against the App's public key (ring, independent of the function's
/// signing code) and returns its claims.
fn verified_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let pem = std::str::from_utf8(APP_PUBLIC_KEY).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = STANDARD.decode(body).unwrap();
    let pkcs1 = spki
        .strip_prefix(&RSA_2048_SPKI_PREFIX[..])
        .expect("the fixture is an RSA-2048 public key");
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let (header, claims) = signed.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256", "{header}");
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, pkcs1)
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("signed by the App's key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}

/// Checks every JWT the App sent: RS256 signed by the App's key, `iss` the App id, `iat`
/// backdated for clock drift, `exp` at most 10 minutes after `iat` (GitHub's limit).
async fn assert_app_jwts(server: &MockServer, expected: usize) {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: u64,
        iat: u64,
        exp: u64,
    }
    let requests = server.received_requests().await.unwrap();
    let jwts: Vec<String> = requests
        .iter()
        .filter_map(|r| r.headers.get("authorization")?.to_str().ok())
        .filter_map(|h| h.strip_prefix("Bearer "))
        .filter(|t| t.matches('.').count() == 2)
        .map(str::to_owned)
        .collect();
    assert_eq!(jwts.len(), expected, "JWT-authenticated requests");
    for jwt in jwts {
        let claims: Claims = serde_json::from_value(verified_claims(&jwt)).unwrap();
        let now = now();
        assert_eq!(claims.iss, 12345);
        assert!(
            claims.iat + 30 <= now,
            "iat is backdated: {} vs {now}",
            claims.iat
        );
        assert!(claims.exp > now && claims.exp - claims.iat <= 600);
    }
}
