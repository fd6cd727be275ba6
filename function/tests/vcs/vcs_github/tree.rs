//! The tree on GitHub: a listing GitHub truncates walked folder by folder, and the tree read from
//! one tarball download (GitHub's 302 to a pre-signed URL on another host, or on the same host
//! for Enterprise, followed without the token) with planning's selection made from it, falling
//! back to one read per file when the archive cannot be used.

use landfall_function::event::CommitSha;
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::projects::{ChangedFile, Request, select};
use landfall_function::repo_config::{EffectivePolicy, REPO_CONFIG_FILES, load};
use landfall_function::vcs::archive::ArchiveLimits;
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::tree::HeadFiles;
use landfall_function::vcs::{TreeFilter, VcsClient};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::archive_common::{Entry, github_tarball, gzip, tar};

use super::{SHA, client, github_get, policy, repo};

#[tokio::test]
async fn a_tree_github_truncates_is_walked_folder_by_folder() {
    let server = MockServer::start().await;
    // The root and `envs` are too big to list recursively; `modules` is not.
    let trees = [
        (
            SHA,
            true,
            json!({"sha": SHA, "truncated": true, "tree": [{"path": "partial.tf", "type": "blob", "sha": "x"}]}),
        ),
        (
            SHA,
            false,
            json!({"sha": SHA, "truncated": false, "tree": [
                {"path": "README.md", "type": "blob", "sha": "b1"},
                {"path": "envs", "type": "tree", "sha": "t-envs"},
                {"path": "modules", "type": "tree", "sha": "t-mods"},
                {"path": "vendor", "type": "commit", "sha": "c1"}
            ]}),
        ),
        (
            "t-envs",
            true,
            json!({"sha": "t-envs", "truncated": true, "tree": []}),
        ),
        (
            "t-envs",
            false,
            json!({"sha": "t-envs", "truncated": false, "tree": [
                {"path": "prod", "type": "tree", "sha": "t-prod"},
                {"path": "versions.tf", "type": "blob", "sha": "b2"}
            ]}),
        ),
        (
            "t-prod",
            true,
            json!({"sha": "t-prod", "truncated": false, "tree": [
                {"path": "main.tf", "type": "blob", "sha": "b3"},
                {"path": "net", "type": "tree", "sha": "t-net"},
                {"path": "net/vpc.tf", "type": "blob", "sha": "b4"}
            ]}),
        ),
        (
            "t-mods",
            true,
            json!({"sha": "t-mods", "truncated": false, "tree": [
                {"path": "vpc/main.tf", "type": "blob", "sha": "b5"}
            ]}),
        ),
    ];
    for (sha, recursive, body) in trees {
        let m = github_get(&format!("/repos/acme/infra/git/trees/{sha}"));
        let m = if recursive {
            m.and(query_param("recursive", "1"))
        } else {
            m.and(query_param_is_missing("recursive"))
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let files = client(&server)
        .list_files(&repo(), &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(
        files,
        [
            "README.md",
            "envs/prod/main.tf",
            "envs/prod/net/vpc.tf",
            "envs/versions.tf",
            "modules/vpc/main.tf"
        ]
    );
}

const CODELOAD_TOKEN: &str = "AABCD3EFGHIJKLMNOPQRSTUVWXYZ";

/// A monorepo at [`SHA`]: `envs/dev` and `envs/prod` use `modules/net`, `envs/edge` nothing
/// local; `envs/prod/providers.tf` is a symlink, which archives hold as a link only.
const MONOREPO: &[(&str, &str)] = &[
    ("README.md", "# infra\n"),
    (
        "envs/dev/main.tf",
        "module \"net\" {\n  source = \"../../modules/net\"\n}\n",
    ),
    (
        "envs/edge/main.tf",
        "resource \"terraform_data\" \"edge\" {}\n",
    ),
    (
        "envs/prod/main.tf",
        "module \"net\" {\n  source = \"../../modules/net\"\n}\n",
    ),
    ("envs/prod/providers.tf", "provider \"aws\" {}\n"),
    ("modules/net/main.tf", "variable \"cidr\" {}\n"),
];
const SYMLINK: &str = "envs/prod/providers.tf";

/// The monorepo as GitHub's tarball holds it.
fn monorepo_tarball() -> Vec<u8> {
    let top = "acme-infra-ec26c3e";
    let paths: Vec<(String, Entry<'_>)> = MONOREPO
        .iter()
        .map(|(p, text)| {
            let entry = if *p == SYMLINK {
                Entry::Symlink("../../shared/providers.tf")
            } else {
                Entry::File(text.as_bytes())
            };
            (format!("{top}/{p}"), entry)
        })
        .collect();
    let entries: Vec<(&str, Entry<'_>)> = paths.iter().map(|(p, e)| (p.as_str(), *e)).collect();
    gzip(&tar(SHA, &entries))
}

/// The recursive tree listing of the monorepo (a symlink is a blob there).
async fn serve_listing(server: &MockServer) {
    let tree: Vec<_> = MONOREPO
        .iter()
        .map(|(p, _)| json!({"path": p, "type": "blob", "mode": if *p == SYMLINK { "120000" } else { "100644" }}))
        .collect();
    github_get(&format!("/repos/acme/infra/git/trees/{SHA}"))
        .and(query_param("recursive", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sha": SHA, "truncated": false, "tree": tree})),
        )
        .expect(1)
        .mount(server)
        .await;
}

/// The monorepo's Terraform files, each readable on its own (the contents API follows a
/// symlink); nothing else is.
async fn serve_contents(server: &MockServer) {
    for (file, text) in MONOREPO.iter().filter(|(p, _)| is_terraform_file(p)) {
        github_get(&format!("/repos/acme/infra/contents/{file}"))
            .and(query_param("ref", SHA))
            .and(header("accept", "application/vnd.github.raw+json"))
            .respond_with(ResponseTemplate::new(200).set_body_string(*text))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex("^/repos/acme/infra/contents/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(server)
        .await;
}

/// The paths read on their own through the contents API, sorted.
async fn contents_reads(server: &MockServer) -> Vec<String> {
    let mut reads: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .path()
                .strip_prefix("/repos/acme/infra/contents/")
                .map(str::to_owned)
        })
        .collect();
    reads.sort();
    reads
}

/// GitHub's tarball endpoint (under `api_prefix`): a 302 to a pre-signed URL on `codeload`
/// (a second host standing in for codeload.github.com), which serves `archive`.
async fn serve_tarball(
    api: &MockServer,
    api_prefix: &str,
    codeload: &MockServer,
    archive: Vec<u8>,
) {
    let signed = format!(
        "{}/acme/infra/legacy.tar.gz/{SHA}?token={CODELOAD_TOKEN}",
        codeload.uri()
    );
    github_get(&format!("{api_prefix}/repos/acme/infra/tarball/{SHA}"))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", signed.as_str()))
        .expect(1)
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/acme/infra/legacy.tar.gz/{SHA}")))
        .and(query_param("token", CODELOAD_TOKEN))
        .and(header("accept", "*/*"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-gzip")
                .set_body_bytes(archive),
        )
        .expect(1)
        .mount(codeload)
        .await;
}

/// No request to the download host carried a credential.
async fn assert_no_credentials(host: &MockServer) {
    let requests = host.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers.get("authorization"),
            None,
            "{}",
            request.url
        );
    }
}

/// What planning reads at the head, and the projects it selects when `modules/net` changes.
async fn plan_from(c: &GithubClient) -> (HeadFiles, Vec<String>) {
    let config_files: Vec<String> = REPO_CONFIG_FILES.iter().map(|f| (*f).to_owned()).collect();
    let head = HeadFiles::read(c, &repo(), &CommitSha::new(SHA), &config_files)
        .await
        .unwrap();
    let policy = EffectivePolicy::default();
    let config = load(
        &policy,
        head.config.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
    )
    .unwrap();
    let changed = [ChangedFile::modified("modules/net/main.tf")];
    let selection = select(
        &config,
        &policy,
        &head.tree(),
        &changed,
        "main",
        &Request::autoplan(),
    )
    .unwrap();
    let dirs = selection
        .projects
        .into_iter()
        .map(|s| s.project.dir)
        .collect();
    (head, dirs)
}

/// Every Terraform file of the monorepo with its text, as planning must see it.
fn monorepo_terraform() -> Vec<(String, String)> {
    MONOREPO
        .iter()
        .filter(|(p, _)| is_terraform_file(p))
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

/// With `archive` served under `limits`, planning reads every Terraform file on its own and
/// sees and selects exactly what the tree holds.
async fn assert_archive_not_used(archive: Vec<u8>, limits: ArchiveLimits) {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    serve_listing(&api).await;
    serve_tarball(&api, "", &codeload, archive).await;
    serve_contents(&api).await;
    let (head, dirs) = plan_from(&client(&api).with_archive_limits(limits)).await;
    assert_eq!(head.terraform, monorepo_terraform());
    assert_eq!(dirs, ["envs/dev", "envs/prod"]);
    let every_file: Vec<String> = monorepo_terraform().into_iter().map(|(p, _)| p).collect();
    assert_eq!(contents_reads(&api).await, every_file);
}

#[tokio::test]
async fn the_tree_is_read_from_one_tarball_and_the_redirect_is_followed_without_the_token() {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    let archive = github_tarball(
        "acme/infra",
        SHA,
        &[
            ("atlantis.yaml", b"version: 3\n"),
            ("README.md", b"# infra\n"),
            ("envs/prod/main.tf", b"a = 1\n"),
        ],
    );
    serve_tarball(&api, "", &codeload, archive).await;
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml");
    let files = client(&api)
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        [
            ("atlantis.yaml".to_owned(), b"version: 3\n".to_vec()),
            ("envs/prod/main.tf".to_owned(), b"a = 1\n".to_vec()),
        ]
    );
    assert_no_credentials(&codeload).await;
}

#[tokio::test]
async fn an_enterprise_tarball_redirect_on_the_same_host_is_followed_without_the_token() {
    let api = MockServer::start().await;
    let archive = github_tarball("acme/infra", SHA, &[("main.tf", b"a = 1\n")]);
    serve_tarball(&api, "/api/v3", &api, archive).await;
    let c = GithubClient::personal_token(
        Some(&format!("{}/api/v3", api.uri())),
        SecretString::from("ghp_test"),
        policy(),
    )
    .unwrap();
    let wanted = TreeFilter::new(|p: &str| is_terraform_file(p));
    let files = c
        .read_tree(&repo(), &CommitSha::new(SHA), &wanted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(files.keys().collect::<Vec<_>>(), ["main.tf"]);
    let download = api.received_requests().await.unwrap();
    let download = download
        .iter()
        .find(|r| r.url.path().starts_with("/acme/"))
        .unwrap();
    assert_eq!(download.headers.get("authorization"), None);
}

#[tokio::test]
async fn planning_selects_from_the_archive_and_reads_on_their_own_only_the_files_it_leaves_out() {
    let (api, codeload) = (MockServer::start().await, MockServer::start().await);
    serve_listing(&api).await;
    serve_tarball(&api, "", &codeload, monorepo_tarball()).await;
    serve_contents(&api).await;
    let (head, dirs) = plan_from(&client(&api)).await;
    assert_eq!(head.config, None);
    assert_eq!(head.terraform, monorepo_terraform());
    assert_eq!(dirs, ["envs/dev", "envs/prod"]);
    // The symlink only: archives hold it as a link, the contents API follows it.
    assert_eq!(contents_reads(&api).await, [SYMLINK]);
    assert_no_credentials(&codeload).await;
}

#[tokio::test]
async fn a_malformed_archive_falls_back_to_one_read_per_file_and_selects_the_same() {
    let mut archive = monorepo_tarball();
    archive.truncate(archive.len() / 2);
    assert_archive_not_used(archive, ArchiveLimits::default()).await;
    assert_archive_not_used(
        b"<html>not an archive</html>".to_vec(),
        ArchiveLimits::default(),
    )
    .await;
}

#[tokio::test]
async fn an_archive_with_a_path_out_of_the_tree_is_not_used() {
    // Were it used, `envs/edge` would seem to use `modules/net` and be planned.
    let archive = gzip(&tar(
        SHA,
        &[
            ("acme-infra-ec26c3e/", Entry::Dir),
            (
                "acme-infra-ec26c3e/envs/../envs/edge/main.tf",
                Entry::File(b"module \"net\" {\n  source = \"../../modules/net\"\n}\n"),
            ),
        ],
    ));
    assert_archive_not_used(archive, ArchiveLimits::default()).await;
}

#[tokio::test]
async fn an_archive_over_its_size_limit_is_not_used() {
    let limits = ArchiveLimits {
        kept: 64,
        ..ArchiveLimits::default()
    };
    assert_archive_not_used(monorepo_tarball(), limits).await;
}
