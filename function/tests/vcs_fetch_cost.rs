//! What getting a PR's Terraform files at the head SHA costs, measured against a wiremock GitHub
//! with a realistic monorepo (100 projects of 5 `.tf` files, 500 in all, beside 300 other
//! files) and a fixed 25 ms per response, GitHub-like latency on a good day (github.com answers
//! in 50-300 ms): the tree listing plus one contents read per `.tf` file, at 8 and at 64
//! concurrent reads, against one archive download of the same files (a tar of the whole tree).
//! The figures are printed; the assertions hold the request counts and the order of the costs.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::{RetryPolicy, VcsClient};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::Semaphore;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const LATENCY: Duration = Duration::from_millis(25);

/// A root module's file, about 1.5 KB like a real one.
fn tf(project: usize, file: usize) -> String {
    let mut s = format!(
        "terraform {{\n  backend \"s3\" {{\n    key = \"p{project}/terraform.tfstate\"\n  }}\n}}\n\n"
    );
    for i in 0..12 {
        let _ = write!(
            s,
            "resource \"terraform_data\" \"r{file}_{i}\" {{\n  input = {{\n    name = \"p{project}-{file}-{i}\"\n    tags = {{ team = \"platform\", env = \"prod\" }}\n  }}\n}}\n\n"
        );
    }
    s
}

fn is_tf(p: &str) -> bool {
    Path::new(p).extension().is_some_and(|e| e == "tf")
}

fn repo_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for p in 0..100 {
        for (f, name) in ["main", "variables", "outputs", "versions", "providers"]
            .iter()
            .enumerate()
        {
            files.push((format!("projects/p{p}/{name}.tf"), tf(p, f)));
        }
        files.push((format!("projects/p{p}/README.md"), "# project\n".repeat(40)));
        files.push((
            format!("projects/p{p}/values.yaml"),
            "key: value\n".repeat(60),
        ));
        files.push((
            format!("projects/p{p}/.terraform-docs.yml"),
            "x: 1\n".repeat(20),
        ));
    }
    files
}

/// The size of a tar of `files`: a 512-byte header per file, contents padded to 512, two
/// zero blocks at the end. An upper bound for the gzip GitHub sends.
fn tar_size(files: &[(String, String)]) -> usize {
    files
        .iter()
        .map(|(_, body)| 512 + body.len().div_ceil(512) * 512)
        .sum::<usize>()
        + 1024
}

async fn fake_github(files: &[(String, String)]) -> MockServer {
    let server = MockServer::start().await;
    let tree: Vec<_> = files
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob", "sha": "0"}))
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("/repos/acme/mono/git/trees/{SHA}")))
        .and(query_param("recursive", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(LATENCY)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": tree})),
        )
        .mount(&server)
        .await;
    let bodies: Arc<std::collections::HashMap<String, String>> = Arc::new(
        files
            .iter()
            .map(|(p, b)| (format!("/repos/acme/mono/contents/{p}"), b.clone()))
            .collect(),
    );
    Mock::given(method("GET"))
        .and(path_regex("^/repos/acme/mono/contents/"))
        .and(query_param("ref", SHA))
        .respond_with(move |r: &Request| match bodies.get(r.url.path()) {
            Some(b) => ResponseTemplate::new(200)
                .set_delay(LATENCY)
                .set_body_string(b.clone()),
            None => ResponseTemplate::new(404).set_delay(LATENCY),
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/acme/mono/tarball/{SHA}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(LATENCY)
                .set_body_bytes(vec![b'x'; tar_size(files)]),
        )
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> GithubClient {
    GithubClient::personal_token(
        Some(&server.uri()),
        SecretString::from("ghp_test"),
        RetryPolicy::default(),
    )
    .unwrap()
}

/// The tree, then every `.tf` file with at most `concurrency` reads in flight.
async fn per_file(files: &[(String, String)], concurrency: usize) -> (Duration, usize, usize) {
    let server = &fake_github(files).await;
    let c = client(server);
    let repo = RepoName::new("acme/mono");
    let sha = CommitSha::new(SHA);
    let started = Instant::now();
    let files = c.list_files(&repo, &sha).await.unwrap();
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut reads = tokio::task::JoinSet::new();
    for p in files.into_iter().filter(|p| is_tf(p)) {
        let (c, repo, sha, gate) = (c.clone(), repo.clone(), sha.clone(), Arc::clone(&gate));
        reads.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            c.read_file(&repo, &sha, &p).await.unwrap().unwrap().len()
        });
    }
    let mut bytes = 0;
    while let Some(n) = reads.join_next().await {
        bytes += n.unwrap();
    }
    let took = started.elapsed();
    (took, server.received_requests().await.unwrap().len(), bytes)
}

/// One archive download of the whole tree (the body stands in for GitHub's tar.gz).
async fn archive(files: &[(String, String)]) -> (Duration, usize, usize) {
    let server = &fake_github(files).await;
    let started = Instant::now();
    let body = reqwest::get(format!("{}/repos/acme/mono/tarball/{SHA}", server.uri()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let took = started.elapsed();
    (
        took,
        server.received_requests().await.unwrap().len(),
        body.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_archive_costs_one_request_where_file_reads_cost_one_per_file() {
    let files = repo_files();
    let tf_count = files.iter().filter(|(p, _)| is_tf(p)).count();
    assert_eq!(tf_count, 500);
    let (t8, r8, b8) = per_file(&files, 8).await;
    let (t64, r64, _) = per_file(&files, 64).await;
    let (ta, ra, ba) = archive(&files).await;
    eprintln!(
        "per-file, 8 in flight:  {r8} requests, {} KiB, {} ms\n\
         per-file, 64 in flight: {r64} requests, {} ms\n\
         archive:                {ra} request, {} KiB (uncompressed tar bound), {} ms",
        b8 / 1024,
        t8.as_millis(),
        t64.as_millis(),
        ba / 1024,
        ta.as_millis()
    );
    // One listing plus one read per Terraform file, against one download.
    assert_eq!((r8, r64, ra), (1 + tf_count, 1 + tf_count, 1));
    // Latency bound: 500 reads at 8 in flight take at least 63 round trips.
    assert!(t8 >= LATENCY * 63, "{t8:?}");
    assert!(ta < t8 && ta < t64, "archive {ta:?} vs {t8:?} / {t64:?}");
}
