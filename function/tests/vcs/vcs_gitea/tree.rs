//! The tree on Gitea: read from one `archive/{sha}.tar.gz` with the token (after a 503),
//! served or redirected to storage and fetched without the token (even on the API's own host),
//! and a malformed one read file by file instead.

use landfall_function::event::CommitSha;
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::vcs::gitea::GiteaClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{TreeFilter, VcsClient};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common::{TREE, tarball, tree_archived, tree_head, tree_wanted};

use super::{SHA, client, get, repo};

const ARCHIVE: &str =
    "/api/v1/repos/acme/infra/archive/ec26c3e57ca3a959ca5aad62de7213c562f8c821.tar.gz";

/// Gitea's archive: `git archive --prefix=<repo>/`.
fn gitea_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    tarball("infra", SHA, files)
}

fn archive_reply(archive: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/octet-stream")
        .set_body_bytes(archive)
}

/// The recursive listing of [`TREE`], and each of its wanted files readable on its own,
/// `reads` times each.
async fn serve_listing_and_files(server: &MockServer, reads: u64) {
    let listing: Vec<_> = TREE
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob"}))
        .collect();
    get(&format!("/api/v1/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "true"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": listing})),
        )
        .expect(1)
        .mount(server)
        .await;
    for (file, bytes) in tree_wanted() {
        get(&format!("/api/v1/repos/acme/infra/raw/{file}"))
            .and(query_param("ref", SHA))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(*bytes))
            .expect(reads)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("^/api/v1/repos/acme/infra/raw/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

async fn read_head(c: &GiteaClient) -> HeadFiles {
    HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &["atlantis.yaml".into()])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_tree_is_read_from_one_archive_download_with_the_token_after_a_503() {
    let server = MockServer::start().await;
    get(ARCHIVE)
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    get(ARCHIVE)
        .respond_with(archive_reply(gitea_archive(TREE)))
        .expect(1)
        .mount(&server)
        .await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&server)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), tree_archived());
}

/// Gitea serving archives from its storage (`SERVE_DIRECT`) redirects to a pre-signed URL on
/// `storage`, which must get no token, even on the API's own host.
async fn assert_fetched_from_storage_without_the_token(server: &MockServer, storage: &MockServer) {
    let signed = format!(
        "{}/repo-archive/infra.tar.gz?X-Amz-Signature=abc",
        storage.uri()
    );
    get(ARCHIVE)
        .respond_with(ResponseTemplate::new(307).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repo-archive/infra.tar.gz"))
        .and(query_param("X-Amz-Signature", "abc"))
        .respond_with(archive_reply(gitea_archive(TREE)))
        .expect(1)
        .mount(storage)
        .await;
    serve_listing_and_files(server, 0).await;
    assert_eq!(read_head(&client(server)).await, tree_head());
    let requests = storage.received_requests().await.unwrap();
    let download = requests
        .iter()
        .find(|r| r.url.path() == "/repo-archive/infra.tar.gz")
        .unwrap();
    assert_eq!(download.headers.get("authorization"), None);
}

#[tokio::test]
async fn an_archive_served_from_storage_is_fetched_without_the_token() {
    let (server, storage) = (MockServer::start().await, MockServer::start().await);
    assert_fetched_from_storage_without_the_token(&server, &storage).await;
}

#[tokio::test]
async fn an_archive_redirect_on_the_same_host_is_fetched_without_the_token() {
    let server = MockServer::start().await;
    assert_fetched_from_storage_without_the_token(&server, &server).await;
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file() {
    let server = MockServer::start().await;
    let mut archive = gitea_archive(TREE);
    archive.truncate(archive.len() / 2);
    get(ARCHIVE)
        .respond_with(archive_reply(archive))
        .expect(1)
        .mount(&server)
        .await;
    serve_listing_and_files(&server, 1).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}
