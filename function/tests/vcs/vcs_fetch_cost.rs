//! What getting a PR's Terraform files at the head SHA costs, measured against a wiremock GitHub
//! with a realistic monorepo (100 projects of 5 `.tf` files, 500 in all, beside 300 other
//! files) and a fixed 25 ms per response, GitHub-like latency on a good day (github.com answers
//! in 50-300 ms), side by side in one run: the tree listing plus one contents read per `.tf`
//! file at 8 and at 64 concurrent reads, planning's own path ([`read_files`]) when the host
//! has no archive (one read per file, [`READS_IN_FLIGHT`] at once), and planning's path with
//! GitHub's tarball (the listing beside one `tarball` request, its 302 followed to a second
//! fake standing in for codeload, the real `.tar.gz` of the whole tree streamed and unpacked).
//!
//! The same for GitLab, the shape of every host served through `vcs::http::Rest` (GitLab,
//! Gitea, Bitbucket Server): planning's path with the archive served directly by the API
//! (`repository/archive.tar.gz`, streamed into the reader), and without it.
//!
//! The figures are printed (`--nocapture`); the assertions hold the request counts and that
//! every path sees the same files, never the timings.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use landfall_function::event::{CommitSha, RepoName};
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::tree::{READS_IN_FLIGHT, read_files};
use landfall_function::vcs::{RetryPolicy, TreeFilter, VcsClient};
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::Semaphore;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::archive_common::{github_tarball, tarball};

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

/// A wiremock GitHub serving `files` at [`SHA`]; with `codeload`, its tarball endpoint
/// redirects there, where the `.tar.gz` of the whole tree is served.
async fn fake_github(files: &[(String, String)], codeload: Option<&MockServer>) -> MockServer {
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
    if let Some(codeload) = codeload {
        let signed = format!("{}/acme/mono/legacy.tar.gz/{SHA}?token=t", codeload.uri());
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/mono/tarball/{SHA}")))
            .respond_with(
                ResponseTemplate::new(302)
                    .set_delay(LATENCY)
                    .insert_header("location", signed.as_str()),
            )
            .mount(&server)
            .await;
        let entries: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_bytes()))
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("/acme/mono/legacy.tar.gz/{SHA}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_delay(LATENCY)
                    .set_body_bytes(github_tarball("acme/mono", SHA, &entries)),
            )
            .mount(codeload)
            .await;
    }
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
    let server = &fake_github(files, None).await;
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

/// Planning's own path, [`read_files`] for the `.tf` files: with a codeload fake the archive
/// is used, without one the tarball request fails and every file is read on its own. The
/// requests counted are the API's and codeload's; the bytes, the files' read.
async fn planning(files: &[(String, String)], archive: bool) -> (Duration, usize, usize) {
    let codeload = MockServer::start().await;
    let server = &fake_github(files, archive.then_some(&codeload)).await;
    let c = client(server);
    let wanted = TreeFilter::new(is_tf);
    let started = Instant::now();
    let read = read_files(
        &c,
        &RepoName::new("acme/mono"),
        &CommitSha::new(SHA),
        &wanted,
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let requests = server.received_requests().await.unwrap().len()
        + codeload.received_requests().await.unwrap().len();
    let bytes = read.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(read.len(), 500);
    (took, requests, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_archive_costs_three_requests_where_file_reads_cost_one_per_file() {
    let files = repo_files();
    let tf_count = files.iter().filter(|(p, _)| is_tf(p)).count();
    assert_eq!(tf_count, 500);
    let tf_bytes: usize = files
        .iter()
        .filter(|(p, _)| is_tf(p))
        .map(|(_, b)| b.len())
        .sum();
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_bytes()))
        .collect();
    let tar_gz = github_tarball("acme/mono", SHA, &entries).len();
    let (t8, r8, b8) = per_file(&files, 8).await;
    let (t64, r64, b64) = per_file(&files, 64).await;
    let (tp, rp, bp) = planning(&files, false).await;
    let (ta, ra, ba) = planning(&files, true).await;
    eprintln!(
        "{tf_count} .tf files ({} KiB) in a tree of {} files, {} ms per response:\n\
         per-file, 8 in flight                     {r8:>3} requests {:>5} ms\n\
         per-file, 64 in flight                    {r64:>3} requests {:>5} ms\n\
         planning, no archive ({READS_IN_FLIGHT} in flight)       {rp:>3} requests {:>5} ms\n\
         planning, tarball ({} KiB) beside listing {ra:>3} requests {:>5} ms",
        tf_bytes / 1024,
        files.len(),
        LATENCY.as_millis(),
        t8.as_millis(),
        t64.as_millis(),
        tp.as_millis(),
        tar_gz / 1024,
        ta.as_millis(),
    );
    // Every way reads the same bytes.
    assert_eq!([b8, b64, bp, ba], [tf_bytes; 4]);
    // One listing plus one read per Terraform file (plus, for planning without an archive,
    // the tarball request that fails), against the listing, the tarball request and the
    // download.
    assert_eq!(
        (r8, r64, rp, ra),
        (1 + tf_count, 1 + tf_count, 2 + tf_count, 3)
    );
}

const GITLAB_PROJECT: &str = "/api/v4/projects/acme%2Fmono";

/// A wiremock GitLab serving `files` at [`SHA`] (the listing in one page); with `archive`, its
/// `archive.tar.gz` too, else that request fails.
async fn fake_gitlab(files: &[(String, String)], archive: bool) -> MockServer {
    let server = MockServer::start().await;
    let listing: Vec<_> = files
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob"}))
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("{GITLAB_PROJECT}/repository/tree")))
        .and(query_param("ref", SHA))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(LATENCY)
                .set_body_json(listing),
        )
        .mount(&server)
        .await;
    let bodies: Arc<std::collections::HashMap<String, String>> = Arc::new(
        files
            .iter()
            .map(|(p, b)| {
                let encoded = p.replace('/', "%2F");
                (
                    format!("{GITLAB_PROJECT}/repository/files/{encoded}/raw"),
                    b.clone(),
                )
            })
            .collect(),
    );
    Mock::given(method("GET"))
        .and(path_regex("/repository/files/"))
        .and(query_param("ref", SHA))
        .respond_with(move |r: &Request| match bodies.get(r.url.path()) {
            Some(b) => ResponseTemplate::new(200)
                .set_delay(LATENCY)
                .set_body_string(b.clone()),
            None => ResponseTemplate::new(404).set_delay(LATENCY),
        })
        .mount(&server)
        .await;
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_bytes()))
        .collect();
    let reply = if archive {
        ResponseTemplate::new(200).set_body_bytes(tarball(
            &format!("mono-{SHA}-{SHA}"),
            SHA,
            &entries,
        ))
    } else {
        ResponseTemplate::new(404)
    };
    Mock::given(method("GET"))
        .and(path(format!("{GITLAB_PROJECT}/repository/archive.tar.gz")))
        .and(query_param("sha", SHA))
        .respond_with(reply.set_delay(LATENCY))
        .mount(&server)
        .await;
    server
}

/// Planning's path against the fake GitLab, with or without its archive.
async fn gitlab_planning(files: &[(String, String)], archive: bool) -> (Duration, usize, usize) {
    let server = fake_gitlab(files, archive).await;
    let c = GitlabClient::new(
        Some(&format!("{}/api/v4", server.uri())),
        &SecretString::from("glpat-test"),
        RetryPolicy::default(),
    )
    .unwrap();
    let started = Instant::now();
    let read = read_files(
        &c,
        &RepoName::new("acme/mono"),
        &CommitSha::new(SHA),
        &TreeFilter::new(is_tf),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(read.len(), 500);
    let bytes = read.iter().map(|(_, b)| b.len()).sum();
    (took, server.received_requests().await.unwrap().len(), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_reads_the_tree_in_two_requests_where_file_reads_cost_one_per_file() {
    let files = repo_files();
    let tf_bytes: usize = files
        .iter()
        .filter(|(p, _)| is_tf(p))
        .map(|(_, b)| b.len())
        .sum();
    let (tp, rp, bp) = gitlab_planning(&files, false).await;
    let (ta, ra, ba) = gitlab_planning(&files, true).await;
    eprintln!(
        "GitLab, 500 .tf files, {} ms per response:\n\
         planning, no archive ({READS_IN_FLIGHT} in flight)   {rp:>3} requests {:>5} ms\n\
         planning, archive.tar.gz beside listing {ra:>3} requests {:>5} ms",
        LATENCY.as_millis(),
        tp.as_millis(),
        ta.as_millis(),
    );
    assert_eq!([bp, ba], [tf_bytes; 2]);
    // The listing, the archive request (failing, or the archive) and, without it, one read
    // per Terraform file.
    assert_eq!((rp, ra), (2 + 500, 2));
}
