//! The tree on GitLab: read from one `archive.tar.gz` with the token (a malformed one read file
//! by file instead), planning's head read from it, and neither a file read nor the archive
//! sending the `PRIVATE-TOKEN` to another host a redirect names.

use landfall_function::event::CommitSha;
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{TreeFilter, VcsClient, VcsError};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common::{TREE, tarball, tree_archived, tree_head, tree_wanted};

use super::{PROJECT, SHA, client, get, repo};

/// GitLab's `archive.tar.gz`: everything under `<project>-<sha>-<sha>/`.
fn gitlab_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    tarball(&format!("infra-{SHA}-{SHA}"), SHA, files)
}

/// The archive endpoint, as GitLab documents it, answering `archive` once.
async fn serve_archive(server: &MockServer, archive: Vec<u8>) {
    get(format!("{PROJECT}/repository/archive.tar.gz"))
        .and(query_param("sha", SHA))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(archive),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// The recursive listing of [`TREE`], and each of its files readable on its own, read
/// `reads` times each.
async fn serve_listing_and_files(server: &MockServer, reads: u64) {
    let listing: Vec<_> = TREE
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob"}))
        .collect();
    get(format!("{PROJECT}/repository/tree"))
        .and(query_param("ref", SHA))
        .and(query_param("recursive", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing))
        .expect(1)
        .mount(server)
        .await;
    for (file, bytes) in tree_wanted() {
        get(format!(
            "{PROJECT}/repository/files/{}/raw",
            file.replace('/', "%2F")
        ))
        .and(query_param("ref", SHA))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(*bytes))
        .expect(reads)
        .mount(server)
        .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("/repository/files/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

async fn read_head(c: &GitlabClient) -> HeadFiles {
    HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &["atlantis.yaml".into()])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_tree_is_read_from_one_archive_download_with_the_token() {
    let server = MockServer::start().await;
    serve_archive(&server, gitlab_archive(TREE)).await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&server)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.into_iter().collect::<Vec<_>>(), tree_archived());
}

#[tokio::test]
async fn planning_reads_the_head_from_the_archive_and_no_file_on_its_own() {
    let server = MockServer::start().await;
    serve_archive(&server, gitlab_archive(TREE)).await;
    serve_listing_and_files(&server, 0).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file() {
    let server = MockServer::start().await;
    let mut archive = gitlab_archive(TREE);
    archive.truncate(archive.len() / 2);
    serve_archive(&server, archive).await;
    serve_listing_and_files(&server, 1).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
}

#[tokio::test]
async fn a_redirect_off_the_host_is_not_followed_with_the_private_token() {
    let (server, elsewhere) = (MockServer::start().await, MockServer::start().await);
    get(format!("{PROJECT}/repository/files/main.tf/raw"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/stolen", elsewhere.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let read = client(&server)
        .read_file(&repo(), &CommitSha::new(SHA), "main.tf")
        .await;
    assert!(
        matches!(read, Err(VcsError::Status { status: 302, .. })),
        "{read:?}"
    );
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_archive_redirected_off_the_host_is_fetched_without_the_private_token() {
    let (server, storage) = (MockServer::start().await, MockServer::start().await);
    let signed = format!("{}/archive.tar.gz?signature=abc", storage.uri());
    get(format!("{PROJECT}/repository/archive.tar.gz"))
        .and(query_param("sha", SHA))
        .respond_with(ResponseTemplate::new(302).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/archive.tar.gz"))
        .and(query_param("signature", "abc"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(gitlab_archive(TREE)))
        .expect(1)
        .mount(&storage)
        .await;
    serve_listing_and_files(&server, 0).await;
    assert_eq!(read_head(&client(&server)).await, tree_head());
    for request in storage.received_requests().await.unwrap() {
        assert_eq!(request.headers.get("private-token"), None);
        assert_eq!(request.headers.get("authorization"), None);
    }
}
