//! The tree on Bitbucket: Server's from one `archive?format=tgz` with a top-level `prefix` (one
//! that cannot be used read file by file instead), planning's head read from it; Cloud's file by
//! file, with no archive request.

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{TreeFilter, VcsClient};
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common;
use crate::archive_common::{TREE, gzip, tarball, tree_archived, tree_head, tree_wanted};

use super::{SERVER, SHA, cloud, server_client};

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
