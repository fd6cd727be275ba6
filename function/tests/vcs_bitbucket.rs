//! The Bitbucket Cloud and Bitbucket Server adapters against wiremock fakes asserting the
//! documented requests: Cloud's `next`-URL pagination, `content.raw` comments and build
//! statuses; Server's `isLastPage`/`nextPageStart` pagination, versioned comment edits and the
//! build-status API, and the tree from one `archive?format=tgz` with a top-level `prefix` (one
//! that cannot be used read file by file instead). Cloud reads the tree file by file.

use std::time::Duration;

mod archive_common;

use archive_common::{TREE, gzip, tarball, tree_archived, tree_head, tree_wanted};

use base64::Engine as _;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::bitbucket_cloud::BitbucketCloudClient;
use landfall_function::vcs::bitbucket_server::BitbucketServerClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{
    CommitStatus, PrState, RetryPolicy, StatusState, TreeFilter, VcsClient, VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{
    body_json, body_partial_json, header, method, path, path_regex, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
        .expect(2)
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
        .and(query_param("pagelen", "500"))
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
    assert!(
        c.is_approved(&RepoName::new("acme/infra"), PR)
            .await
            .unwrap()
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
            "state": "INPROGRESS", "name": "landfall/plan: a", "url": "https://logs/1", "description": "Planning"
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
            "reviewers": [{"user": {"name": "lead"}, "approved": true}]
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
    assert!(c.is_approved(&repo, PR).await.unwrap());
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
        .and(path(format!("/rest/build-status/1.0/commits/{SHA}")))
        .and(header("authorization", "Bearer bbs-token"))
        .and(body_partial_json(
            json!({"state": "SUCCESSFUL", "name": "landfall/plan: a", "url": "https://logs/2"}),
        ))
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
