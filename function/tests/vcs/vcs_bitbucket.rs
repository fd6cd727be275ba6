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
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::bitbucket_cloud::BitbucketCloudClient;
use landfall_function::vcs::bitbucket_server::BitbucketServerClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    Access, Actor, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, TreeFilter,
    VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, body_partial_json, header, method, path, path_regex, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common;
use crate::archive_common::{TREE, gzip, tarball, tree_archived, tree_head, tree_wanted};

mod delete_branch;
mod drift;
mod merge;

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
            "refname": "feature"
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
            "reviewers": [{"user": {"name": "lead"}, "approved": true, "status": "APPROVED"}]
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

#[test]
fn bitbucket_server_needs_a_base_url() {
    let err = BitbucketServerClient::new(None, &SecretString::from("t"), policy()).unwrap_err();
    assert!(matches!(err, VcsError::Config { .. }));
}

/// The archive endpoint as Bitbucket Server documents it, asked for a `.tar.gz` under one
/// `landfall/` folder, answering `archive` once.
async fn serve_archive(server: &MockServer, archive: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/archive")))
        .and(query_param("at", SHA))
        .and(query_param("format", "tgz"))
        .and(query_param("prefix", "landfall/"))
        .and(header("authorization", "Bearer bbs-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-tar")
                .set_body_bytes(archive),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// The paged listing of [`TREE`], and each of its wanted files readable on its own, `reads`
/// times each.
async fn serve_listing_and_files(server: &MockServer, reads: u64) {
    let listing: Vec<&str> = TREE.iter().map(|(p, _)| *p).collect();
    Mock::given(method("GET"))
        .and(path(format!("{SERVER}/files")))
        .and(query_param("at", SHA))
        .and(query_param("start", "0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"values": listing, "isLastPage": true, "start": 0})),
        )
        .expect(1)
        .mount(server)
        .await;
    for (file, bytes) in tree_wanted() {
        Mock::given(method("GET"))
            .and(path(format!("{SERVER}/raw/{file}")))
            .and(query_param("at", SHA))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(*bytes))
            .expect(reads)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("/raw/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

async fn assert_head_read(server: &MockServer) {
    let head = HeadFiles::read(
        &server_client(server),
        &RepoName::new("PLAT/infra"),
        &CommitSha::new(SHA),
        &["atlantis.yaml".into()],
    )
    .await
    .unwrap();
    assert_eq!(head, tree_head());
}

#[tokio::test]
async fn server_reads_the_tree_from_one_archive_under_the_prefix_it_asks_for() {
    let server = MockServer::start().await;
    serve_archive(&server, tarball("landfall", SHA, TREE)).await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = server_client(&server)
        .read_tree(&RepoName::new("PLAT/infra"), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), tree_archived());
}

#[tokio::test]
async fn server_plans_from_the_archive_with_no_file_read_on_its_own() {
    let server = MockServer::start().await;
    serve_archive(&server, tarball("landfall", SHA, TREE)).await;
    serve_listing_and_files(&server, 0).await;
    assert_head_read(&server).await;
}

#[tokio::test]
async fn server_falls_back_to_one_read_per_file_for_a_malformed_archive() {
    let server = MockServer::start().await;
    serve_archive(&server, gzip(b"not a tar, but gzipped")).await;
    serve_listing_and_files(&server, 1).await;
    assert_head_read(&server).await;
}

#[tokio::test]
async fn server_does_not_use_an_archive_whose_files_sit_at_the_root() {
    // What the endpoint serves without `prefix`: several top-level entries, refused whole.
    let server = MockServer::start().await;
    let entries: Vec<(&str, archive_common::Entry<'_>)> = TREE
        .iter()
        .map(|(p, b)| (*p, archive_common::Entry::File(b)))
        .collect();
    serve_archive(&server, gzip(&archive_common::tar(SHA, &entries))).await;
    serve_listing_and_files(&server, 1).await;
    assert_head_read(&server).await;
}

#[tokio::test]
async fn cloud_reads_the_tree_file_by_file_without_an_archive_request() {
    let server = MockServer::start().await;
    let files = cloud(&server)
        .read_tree(
            &RepoName::new("acme/infra"),
            &CommitSha::new(SHA),
            &TreeFilter::new(|_| true),
        )
        .await
        .unwrap();
    assert_eq!(files, None);
    assert!(server.received_requests().await.unwrap().is_empty());
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

fn bbs_participant(name: &str, role: &str, status: &str) -> serde_json::Value {
    json!({"user": {"name": name, "slug": name}, "role": role, "approved": status == "APPROVED", "status": status})
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
