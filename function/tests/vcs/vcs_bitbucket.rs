//! The Bitbucket Cloud and Bitbucket Server adapters against wiremock fakes asserting the
//! documented requests: Cloud's `next`-URL pagination, `content.raw` comments and build
//! statuses; Server's `isLastPage`/`nextPageStart` pagination, versioned comment edits and the
//! build-status API, and the tree from one `archive?format=tgz` with a top-level `prefix` (one
//! that cannot be used read file by file instead). Cloud reads the tree file by file.
//!
//! Who may run commands and what counts: Cloud's effective repository permission
//! (`workspaces/{ws}/permissions/repositories/{slug}?q=user.uuid=`), approvals from
//! `participants` (a `changes_requested` state withdraws one; a moved source commit voids all)
//! and `merge-base` against the destination branch's head; Server's `users?permission.1=REPO_…`
//! filters (project and group grants included), reviewers' `APPROVED` status and
//! `compare/commits`. The permission look-ups' requests are snapshotted.

use std::time::Duration;

use base64::Engine as _;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::bitbucket_cloud::BitbucketCloudClient;
use landfall_function::vcs::bitbucket_server::BitbucketServerClient;
use landfall_function::vcs::{
    Access, Actor, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, VcsClient,
    VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod approvals;
mod delete_branch;
mod drift;
mod merge;
mod server_comments;
mod tree;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const PR: PullRequestNumber = PullRequestNumber(5);

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    }
}

fn cloud(server: &MockServer) -> BitbucketCloudClient {
    BitbucketCloudClient::new(
        Some(&format!("{}/2.0", server.uri())),
        &SecretString::from("bot:app-pass"),
        policy(),
    )
    .unwrap()
}

fn server_client(server: &MockServer) -> BitbucketServerClient {
    BitbucketServerClient::new(
        Some(&server.uri()),
        &SecretString::from("bbs-token"),
        policy(),
    )
    .unwrap()
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bot:app-pass")
    )
}

const CLOUD: &str = "/2.0/repositories/acme/infra";
const SERVER: &str = "/rest/api/1.0/projects/PLAT/repos/infra";

#[tokio::test]
async fn cloud_reads_a_pull_request_and_its_diffstat_across_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/pullrequests/5")))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "state": "OPEN",
            "source": {"branch": {"name": "feature"}, "commit": {"hash": "ec26c3e57ca3"}},
            "destination": {"branch": {"name": "main"}, "commit": {"hash": "000000000000"}},
            "author": {"display_name": "Dev", "nickname": "dev"},
            "participants": [{"approved": false}, {"approved": true}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    // The PR gives the 12-character hash; the commit endpoint gives it in full.
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/commit/ec26c3e57ca3")))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "commit", "hash": SHA, "date": "2025-01-01T00:00:00+00:00",
            "message": "change", "parents": [{"hash": "000000000000", "type": "commit"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let next = format!(
        "{}{CLOUD}/pullrequests/5/diffstat?pagelen=500&page=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/pullrequests/5/diffstat")))
        .and(wiremock::matchers::query_param_is_missing("pagelen"))
        .and(wiremock::matchers::query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "values": [
                {"status": "modified", "old": {"path": "a/main.tf"}, "new": {"path": "a/main.tf"}},
                {"status": "removed", "old": {"path": "b/x.tf"}, "new": null}
            ],
            "next": next
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/pullrequests/5/diffstat")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "values": [{"status": "renamed", "old": {"path": "c/old.tf"}, "new": {"path": "c/new.tf"}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = cloud(&server);
    let pr = c
        .pull_request(&RepoName::new("acme/infra"), PR)
        .await
        .unwrap();
    assert_eq!(pr.head_sha.as_str(), SHA);
    assert_eq!((pr.author.as_str(), pr.state), ("dev", PrState::Open));
    assert_eq!(
        pr.head_repo, None,
        "no source repository: unknown, so a fork"
    );
    assert_eq!(
        c.changed_files(&RepoName::new("acme/infra"), PR)
            .await
            .unwrap(),
        [
            ChangedFile::modified("a/main.tf"),
            ChangedFile::new("b/x.tf", FileStatus::Removed),
            ChangedFile::renamed("c/old.tf", "c/new.tf"),
        ]
    );
}

#[tokio::test]
async fn cloud_refuses_a_resolved_hash_that_is_not_the_short_one_in_full() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/commit/ec26c3e57ca3")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "type": "commit", "hash": "ffffffffffffa959ca5aad62de7213c562f8c821"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = cloud(&server);
    let repo = RepoName::new("acme/infra");
    let err = c
        .full_sha(&repo, &CommitSha::new("ec26c3e57ca3"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not ec26c3e57ca3 in full"),
        "{err}"
    );
    // A full hash needs no request.
    let full = c.full_sha(&repo, &CommitSha::new(SHA)).await.unwrap();
    assert_eq!(full.as_str(), SHA);
}

#[tokio::test]
async fn cloud_comments_sources_and_build_statuses_use_the_documented_bodies() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{CLOUD}/src/{SHA}/atlantis.yaml")))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{CLOUD}/pullrequests/5/comments")))
        .and(body_json(json!({"content": {"raw": "Planning..."}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 88})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{CLOUD}/pullrequests/5/comments/88")))
        .and(body_json(json!({"content": {"raw": "Planned"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 88})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{CLOUD}/commit/{SHA}/statuses/build")))
        .and(body_partial_json(json!({
            "state": "INPROGRESS", "name": "landfall/plan: a", "url": "https://logs/1", "description": "Planning",
            "refname": "feature", "key": "landfall/plan: a"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"key": "k"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = cloud(&server);
    let repo = RepoName::new("acme/infra");
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo, &sha, "atlantis.yaml")
            .await
            .unwrap()
            .unwrap(),
        b"version: 3\n"
    );
    let id = c.post_comment(&repo, PR, "Planning...").await.unwrap();
    c.edit_comment(&repo, PR, &id, "Planned").await.unwrap();
    let status = CommitStatus {
        context: "landfall/plan: a".into(),
        state: StatusState::Pending,
        description: "Planning".into(),
        target_url: Some("https://logs/1".into()),
        branch: Some("feature".into()),
        pull: None,
    };
    c.set_status(&repo, &sha, &status).await.unwrap();
}

#[tokio::test]
async fn server_reads_a_pull_request_its_mergeability_and_paged_changes() {
    let server = MockServer::start().await;
    let get = |p: String| {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", "Bearer bbs-token"))
    };
    get(format!("{SERVER}/pull-requests/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "state": "OPEN",
            "fromRef": {"displayId": "feature", "latestCommit": SHA},
            "toRef": {"displayId": "main", "latestCommit": "0"},
            "author": {"user": {"name": "dev"}, "approved": false},
            "reviewers": [{"user": {"name": "lead"}, "approved": true, "status": "APPROVED",
                           "lastReviewedCommit": SHA}]
        })))
        .mount(&server)
        .await;
    get(format!("{SERVER}/pull-requests/5/merge"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"canMerge": false, "conflicted": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{SERVER}/pull-requests/5/changes"))
        .and(query_param("start", "0"))
        .and(query_param("limit", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "values": [{"path": {"toString": "a/main.tf"}, "type": "MODIFY"}],
            "isLastPage": false, "nextPageStart": 1
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{SERVER}/pull-requests/5/changes"))
        .and(query_param("start", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "values": [
                {"path": {"toString": "b/new.tf"}, "srcPath": {"toString": "b/old.tf"}, "type": "MOVE"},
                {"path": {"toString": "c/x.tf"}, "type": "DELETE"}
            ],
            "isLastPage": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = server_client(&server);
    let repo = RepoName::new("PLAT/infra");
    let pr = c.pull_request(&repo, PR).await.unwrap();
    assert_eq!((pr.head_sha.as_str(), pr.mergeable), (SHA, Some(false)));
    assert_eq!(
        c.approvals(&repo, PR, &CommitSha::new(SHA)).await.unwrap(),
        [Actor::login("lead")]
    );
    assert_eq!(
        c.changed_files(&repo, PR).await.unwrap(),
        [
            ChangedFile::modified("a/main.tf"),
            ChangedFile::renamed("b/old.tf", "b/new.tf"),
            ChangedFile::new("c/x.tf", FileStatus::Removed),
        ]
    );
}

#[test]
fn bitbucket_server_needs_a_base_url() {
    let err = BitbucketServerClient::new(None, &SecretString::from("t"), policy()).unwrap_err();
    assert!(matches!(err, VcsError::Config { .. }));
}

// --- who may run commands, approvals that count, undiverged ---------------------------------

const BASE: &str = "0123456789abcdef0123456789abcdef01234567";
const UUID: &str = "{bf34a99b-8a11-452c-8fbc-bdffc340e584}";

/// Every request the fake received, as `METHOD path?query` with the query as sent, and the
/// authorization scheme: what the snapshots record.
async fn request_log(server: &MockServer) -> String {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let auth = r
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(' ').next())
                .unwrap_or("none");
            let query = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{} {}{query} (auth: {auth})", r.method, r.url.path())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cloud_actor(uuid: &str) -> Actor {
    Actor {
        login: "dev".into(),
        id: Some(uuid.into()),
    }
}

/// Cloud's effective-permission endpoint answering `permission` (or no entry) for `uuid`.
async fn cloud_permission(server: &MockServer, uuid: &str, permission: Option<&str>) {
    let values: Vec<_> = permission
        .into_iter()
        .map(|p| {
            json!({
                "type": "repository_permission", "permission": p,
                "user": {"type": "user", "display_name": "Dev", "uuid": uuid},
                "repository": {"type": "repository", "full_name": "acme/infra", "name": "infra"}
            })
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/2.0/workspaces/acme/permissions/repositories/infra"))
        .and(query_param("q", format!("user.uuid=\"{uuid}\"")))
        .and(header("authorization", basic().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"pagelen": 10, "page": 1, "size": values.len(), "values": values}),
        ))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn cloud_reads_the_effective_permission_by_account_uuid() {
    let server = MockServer::start().await;
    // The permission is effective: a write grant through a project or group reads as write.
    cloud_permission(&server, UUID, Some("write")).await;
    let c = cloud(&server);
    let repo = RepoName::new("acme/infra");
    assert_eq!(
        c.permission(&repo, &cloud_actor(UUID)).await.unwrap(),
        Access::Write
    );
    insta::assert_snapshot!("cloud_permission_requests", request_log(&server).await);
}

#[tokio::test]
async fn cloud_maps_admin_and_read_and_a_user_without_an_entry_is_none() {
    let server = MockServer::start().await;
    cloud_permission(&server, "{a}", Some("admin")).await;
    cloud_permission(&server, "{r}", Some("read")).await;
    cloud_permission(&server, "{stranger}", None).await;
    let c = cloud(&server);
    let repo = RepoName::new("acme/infra");
    for (uuid, access) in [
        ("{a}", Access::Admin),
        ("{r}", Access::Read),
        ("{stranger}", Access::None),
    ] {
        assert_eq!(
            c.permission(&repo, &cloud_actor(uuid)).await.unwrap(),
            access,
            "{uuid}"
        );
    }
}

#[tokio::test]
async fn cloud_refuses_to_guess_a_user_without_an_account_uuid() {
    let server = MockServer::start().await;
    let err = cloud(&server)
        .permission(&RepoName::new("acme/infra"), &Actor::login("dev"))
        .await
        .unwrap_err();
    assert!(matches!(err, VcsError::Config { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn cloud_a_host_refusal_of_the_permission_look_up_is_an_error() {
    // The swagger lets only repository admins read permissions: a 403 is not "no access".
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2.0/workspaces/acme/permissions/repositories/infra"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes."}}),
        ))
        .mount(&server)
        .await;
    let err = cloud(&server)
        .permission(&RepoName::new("acme/infra"), &cloud_actor(UUID))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 403, .. }),
        "{err:?}"
    );
}

fn pull_request(head: &str, head_repo: &str) -> PullRequest {
    PullRequest {
        number: PR,
        head_sha: CommitSha::new(head),
        head_branch: "feature".into(),
        base_branch: "main".into(),
        author: "dev".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(RepoName::new(head_repo)),
        merge_sha: None,
    }
}

/// Server's user search with one repository permission filter, answering `users`.
async fn server_users(server: &MockServer, filter: &str, permission: &str, users: &[&str]) {
    let values: Vec<_> = users
        .iter()
        .map(|u| json!({"name": u, "slug": u, "displayName": u, "active": true, "type": "NORMAL"}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/rest/api/1.0/users"))
        .and(query_param("filter", filter))
        .and(query_param("permission.1", permission))
        .and(query_param("permission.1.projectKey", "PLAT"))
        .and(query_param("permission.1.repositorySlug", "infra"))
        .and(header("authorization", "Bearer bbs-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": values.len(), "limit": 100, "start": 0, "isLastPage": true, "values": values
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn server_a_project_or_group_write_grant_is_write_access() {
    // `dev` holds PROJECT_WRITE on PLAT (or REPO_WRITE through a group): the REPO_WRITE filter
    // finds them, the REPO_ADMIN one does not.
    let server = MockServer::start().await;
    server_users(&server, "dev", "REPO_WRITE", &["dev"]).await;
    server_users(&server, "dev", "REPO_ADMIN", &[]).await;
    let c = server_client(&server);
    assert_eq!(
        c.permission(&RepoName::new("PLAT/infra"), &Actor::login("dev"))
            .await
            .unwrap(),
        Access::Write
    );
    insta::assert_snapshot!("server_permission_requests", request_log(&server).await);
}

#[tokio::test]
async fn server_admins_readers_and_strangers() {
    let server = MockServer::start().await;
    server_users(&server, "lead", "REPO_WRITE", &["lead"]).await;
    server_users(&server, "lead", "REPO_ADMIN", &["lead"]).await;
    server_users(&server, "guest", "REPO_WRITE", &[]).await;
    server_users(&server, "guest", "REPO_READ", &["guest"]).await;
    // The filter matches names containing the text: `devops` is not `dev`.
    server_users(&server, "dev", "REPO_WRITE", &["devops"]).await;
    server_users(&server, "dev", "REPO_READ", &["devops", "dev-bot"]).await;
    let c = server_client(&server);
    let repo = RepoName::new("PLAT/infra");
    for (login, access) in [
        ("lead", Access::Admin),
        ("guest", Access::Read),
        ("dev", Access::None),
    ] {
        assert_eq!(
            c.permission(&repo, &Actor::login(login)).await.unwrap(),
            access,
            "{login}"
        );
    }
}

/// An Atlassian API token is used as `email:api_token` in Basic auth (app passwords are gone).
#[tokio::test]
async fn bitbucket_cloud_takes_an_api_token_as_email_and_token_in_basic_auth() {
    use base64::Engine as _;
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("ops@example.com:ATATT3xFf");
    Mock::given(method("POST"))
        .and(path("/2.0/repositories/acme/infra/pullrequests/5/comments"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .expect(1)
        .mount(&server)
        .await;
    let client = BitbucketCloudClient::new(
        Some(&format!("{}/2.0", server.uri())),
        &SecretString::from("ops@example.com:ATATT3xFf"),
        policy(),
    )
    .unwrap();
    client
        .post_comment(&RepoName::new("acme/infra"), PR, "Planning...")
        .await
        .unwrap();
}
