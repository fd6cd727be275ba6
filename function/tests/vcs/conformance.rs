//! Conformance of every request the adapters make to the hosts' published API descriptions
//! (issue 20): for each host a fake host (`conformance_hosts`) answers every request, every
//! operation of the client is driven against it, and each request it received is checked against
//! the trimmed description in `api/{host}.json` (`conformance_check`): method and path template,
//! query names and values, JSON body fields and values. The test also fails when a client
//! operation made no request (a `VcsClient` method, or an adapter's own public async method, that
//! is not driven here), and when an operation of the description was not used (the data keeps
//! only what Landfall calls). The checker's own failures are tested on synthetic requests.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::discover::is_terraform_file;
use landfall_function::repo_config::MergeMethod;
use landfall_function::vcs::azure_devops::AzureDevopsClient;
use landfall_function::vcs::bitbucket_cloud::BitbucketCloudClient;
use landfall_function::vcs::bitbucket_server::BitbucketServerClient;
use landfall_function::vcs::gitea::GiteaClient;
use landfall_function::vcs::github::GithubClient;
use landfall_function::vcs::gitlab::GitlabClient;
use landfall_function::vcs::{
    Actor, BranchDeletion, CommitStatus, PrState, PullTarget, RetryPolicy, StatusState,
    TrackingIssue, TreeFilter, VcsClient, status_context,
};
use secrecy::SecretString;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::conformance_check::{adapter_operations, client_operations, description};
use crate::conformance_graphql::check_graphql;
use crate::conformance_hosts::{self as hosts, BASE, SHA};

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 0,
        max_wait: Duration::from_secs(1),
        backoff: Duration::from_millis(10),
    }
}

fn token(t: &str) -> SecretString {
    SecretString::from(t.to_owned())
}

/// A fake host, the operations driven against it and how many requests each made.
struct Harness {
    host: &'static str,
    server: MockServer,
    made: Vec<(String, usize)>,
}

impl Harness {
    async fn start(host: &'static str, respond: fn(&Request) -> ResponseTemplate) -> Self {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(respond)
            .mount(&server)
            .await;
        Harness {
            host,
            server,
            made: Vec::new(),
        }
    }

    fn uri(&self, base: &str) -> String {
        format!("{}{base}", self.server.uri())
    }

    async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Runs operation `name`, counting the requests it makes.
    async fn run<T>(&mut self, name: &str, operation: impl Future<Output = T>) -> T {
        let before = self.received().await.len();
        let out = operation.await;
        let after = self.received().await.len();
        self.made.push((name.to_owned(), after - before));
        out
    }

    /// The checks: every request documented, every documented operation used, every client
    /// operation driven and (but those in `no_request`) making requests.
    async fn finish(self, no_request: &[&str], adapter_sources: &[&str]) {
        let description = description(self.host);
        let requests = self.received().await;
        let mut used = BTreeSet::new();
        let mut failures = Vec::new();
        for r in &requests {
            if self.host == "github" && r.url.path() == "/graphql" {
                if let Err(why) = check_graphql(&r.body) {
                    failures.push(format!("POST /graphql: {why}"));
                }
                continue;
            }
            match description.check(r.method.as_str(), &r.url, &r.body) {
                Ok(index) => {
                    used.insert(index);
                }
                Err(why) => failures.push(why),
            }
        }
        assert!(
            failures.is_empty(),
            "{}: requests the API description does not document:\n{}",
            self.host,
            failures.join("\n")
        );
        let unused: Vec<String> = (description.operations.iter().enumerate())
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, op)| op.name())
            .collect();
        assert!(
            unused.is_empty(),
            "{}: operations of api/{}.json that no request used (keep only what Landfall calls): {unused:?}",
            self.host,
            self.host
        );
        let mut per_name: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, n) in &self.made {
            *per_name.entry(name.as_str()).or_default() += n;
        }
        for (name, n) in &per_name {
            let silent = no_request.contains(name);
            assert!(
                silent == (*n == 0),
                "{}: operation {name} made {n} requests{}",
                self.host,
                if silent {
                    ", where none was expected"
                } else {
                    ""
                }
            );
        }
        let mut expected = client_operations();
        for source in adapter_sources {
            expected.extend(adapter_operations(source));
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|name| !per_name.contains_key(name.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: client operations the conformance test does not drive: {missing:?}",
            self.host
        );
        eprintln!(
            "{}: {} requests from {} operations checked against {} documented operations",
            self.host,
            requests.len(),
            per_name.len(),
            description.operations.len()
        );
    }
}

fn repo(name: &str) -> RepoName {
    RepoName::new(name)
}

/// A pull request's plan status (`pull`), or a drift check's (`None`).
fn status(pull: Option<PullTarget>) -> CommitStatus {
    CommitStatus {
        context: status_context("landfall", "plan", "envs/prod"),
        state: StatusState::Pending,
        description: "Planning".into(),
        target_url: Some("https://ci.example.com/landfall/1".into()),
        branch: Some("feature".into()),
        pull,
    }
}

fn wanted() -> TreeFilter {
    TreeFilter::new(|p: &str| is_terraform_file(p) || p == "atlantis.yaml")
}

/// One host's case: its fake, the client on it, the pull request, person and team asked about,
/// the operations that make no request there (`read_tree` where the host offers no archive,
/// `is_member` where it has no membership check, `merge` where Landfall does not merge), the
/// merge methods the adapter merges with (the others refused without a request) and the
/// adapter's sources (its own public async operations must be driven too).
struct Case<C> {
    host: &'static str,
    respond: fn(&Request) -> ResponseTemplate,
    client: fn(&str) -> C,
    pull_request: (&'static str, u64),
    user: Actor,
    team: &'static str,
    silent: &'static [&'static str],
    merges: &'static [MergeMethod],
    sources: &'static [&'static str],
}

impl<C: VcsClient> Case<C> {
    /// Every `VcsClient` operation against the fake host, each expected to succeed (but the
    /// silent ones); `more` drives the adapter's own operations on the client and the harness.
    async fn check(self, more: impl AsyncFnOnce(&mut Harness, &C)) {
        let mut h = Harness::start(self.host, self.respond).await;
        let c = (self.client)(&h.uri(""));
        let (repo, number) = (
            repo(self.pull_request.0),
            PullRequestNumber(self.pull_request.1),
        );
        let (repo, user, silent) = (&repo, &self.user, self.silent);
        let sha = CommitSha::new(SHA);
        let pr = h.run("pull_request", c.pull_request(repo, number)).await;
        let pr = pr.expect("pull_request");
        let files = h.run("changed_files", c.changed_files(repo, number)).await;
        assert!(!files.expect("changed_files").is_empty());
        let file = c.read_file(repo, &sha, "envs/prod/main.tf");
        assert!(h.run("read_file", file).await.expect("read_file").is_some());
        let listed = h.run("list_files", c.list_files(repo, &sha)).await;
        assert!(!listed.expect("list_files").is_empty());
        let tree = h.run("read_tree", c.read_tree(repo, &sha, &wanted())).await;
        let tree = tree.expect("read_tree");
        assert_eq!(tree.is_none(), silent.contains(&"read_tree"));
        let id = c.post_comment(repo, number, "plan");
        let id = h.run("post_comment", id).await.expect("post_comment");
        let edit = c.edit_comment(repo, number, &id, "plan, edited");
        h.run("edit_comment", edit).await.expect("edit_comment");
        let pull = PullTarget {
            number,
            base: "main".into(),
        };
        for status in [status(Some(pull)), status(None)] {
            let set = c.set_status(repo, &sha, &status);
            h.run("set_status", set).await.expect("set_status");
        }
        let access = h.run("permission", c.permission(repo, user)).await;
        access.expect("permission");
        let approvals = h.run("approvals", c.approvals(repo, number, &sha)).await;
        approvals.expect("approvals");
        let contains = h.run("contains_base", c.contains_base(repo, &pr)).await;
        contains.expect("contains_base");
        // As read, with nothing more to ask (GitHub asks more of a `blocked` one, below).
        let mergeable = h.run("mergeable", c.mergeable(repo, &pr)).await;
        mergeable.expect("mergeable");
        let member = h.run("is_member", c.is_member(self.team, user)).await;
        assert_eq!(member.is_err(), silent.contains(&"is_member"));
        // The pull request merged, its branch in the base repository at the head commit.
        let mut merged = pr.clone();
        merged.state = PrState::Merged;
        merged.head_repo = Some(repo.clone());
        let deletion = h.run("delete_branch", c.delete_branch(repo, &merged)).await;
        assert_eq!(deletion.expect("delete_branch"), BranchDeletion::Deleted);
        // The open pull request merged at its head, with each method.
        for method in [MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase] {
            let merge = h.run("merge", c.merge(repo, &pr, method)).await;
            let supported = self.merges.contains(&method);
            assert_eq!(merge.is_ok(), supported, "merge with {method:?}: {merge:?}");
        }
        let info = h.run("repository", c.repository(repo)).await;
        let info = info.expect("repository");
        assert_eq!(
            (info.default_branch.as_str(), info.head_sha.as_str()),
            ("main", BASE)
        );
        assert!(info.clone_url.starts_with("https://"), "{info:?}");
        // A tracking issue created, then closed in place.
        let drift = TrackingIssue {
            title: hosts::ISSUE_TITLE.into(),
            body: "Drift found.".into(),
            open: true,
        };
        let created = h
            .run("tracking_issue", c.tracking_issue(repo, None, &drift))
            .await;
        assert_eq!(created.is_err(), silent.contains(&"tracking_issue"));
        if let Ok(created) = created {
            let created = created.expect("an open issue is created");
            let closed = TrackingIssue {
                open: false,
                ..drift
            };
            let kept = c.tracking_issue(repo, Some(&created), &closed);
            let kept = h.run("tracking_issue", kept).await.expect("tracking_issue");
            assert_eq!(kept, Some(created));
        }
        more(&mut h, &c).await;
        h.finish(silent, self.sources).await;
    }
}

const APP_KEY: &[u8] = include_bytes!("../vcs_fixtures/github-app-test-key.pem");

/// The address of a host's API at `base` under the fake's address `uri`.
fn at(uri: &str, base: &str) -> String {
    format!("{uri}{base}")
}

#[tokio::test]
async fn github_requests_are_documented_by_the_rest_api_description() {
    let case = Case {
        host: "github",
        respond: hosts::github,
        client: |uri| GithubClient::personal_token(Some(uri), token("ghp_test"), policy()).unwrap(),
        pull_request: ("acme/infra", 7),
        user: Actor::login("octocat"),
        team: "acme/platform",
        silent: &[],
        merges: &[MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase],
        sources: &[include_str!("../../src/vcs/github.rs")],
    };
    case.check(async |h: &mut Harness, c: &GithubClient| {
        let (acme, octocat) = (repo("acme/infra"), Actor::login("octocat"));
        // A pull request blocked by Landfall's own apply check alone: read again, the GraphQL
        // query, the branch (no protection rule shown) and the comparison (a strict check).
        let blocked = h.run("pull_request", c.pull_request(&acme, PullRequestNumber(8)));
        let blocked = blocked.await.expect("pull_request #8");
        let judged = h.run("mergeable", c.mergeable(&acme, &blocked)).await;
        assert_eq!(judged.expect("mergeable #8"), Some(true));
        // A GitHub App: the repository's installation, a token minted, the organisation's
        // installation for a team of another organisation.
        let app = GithubClient::app(Some(&h.uri("")), 12345, APP_KEY, None, policy()).unwrap();
        let pr = app.pull_request(&acme, PullRequestNumber(7));
        h.run("app pull_request", pr)
            .await
            .expect("pull_request as an App");
        let member = h.run("app is_member", app.is_member("ops/sre", &octocat));
        assert!(member.await.expect("is_member as an App"));
        // An App's statuses are check runs.
        let (sha, status) = (CommitSha::new(SHA), status(None));
        let check = app.set_status(&acme, &sha, &status);
        h.run("app set_status", check)
            .await
            .expect("set_status as an App");
        // A token for a runner from an App configured with its installation: minted at once.
        let configured = GithubClient::app(Some(&h.uri("")), 12345, APP_KEY, Some(42), policy());
        let configured = configured.unwrap();
        let t = h.run(
            "token_for",
            configured.token_for(&acme, Duration::from_hours(1)),
        );
        t.await.expect("token_for");
    })
    .await;
}

#[tokio::test]
async fn gitlab_requests_are_documented_by_the_api_source() {
    let case = Case {
        host: "gitlab",
        respond: hosts::gitlab,
        client: |uri| {
            GitlabClient::new(Some(&at(uri, "/api/v4")), &token("glpat"), policy()).unwrap()
        },
        pull_request: ("acme/infra", 7),
        user: Actor::login("dev"),
        team: "acme/platform",
        silent: &["mergeable"],
        merges: &[MergeMethod::Merge, MergeMethod::Squash],
        sources: &[include_str!("../../src/vcs/gitlab.rs")],
    };
    case.check(async |_: &mut Harness, _: &GitlabClient| {})
        .await;
}

#[tokio::test]
async fn gitea_requests_are_documented_by_the_swagger_description() {
    let case = Case {
        host: "gitea",
        respond: hosts::gitea,
        client: |uri| {
            GiteaClient::new(Some(&at(uri, "/api/v1")), &token("gt0k"), policy()).unwrap()
        },
        pull_request: ("acme/infra", 3),
        user: Actor::login("dev"),
        team: "acme/platform",
        silent: &["mergeable"],
        merges: &[MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase],
        sources: &[include_str!("../../src/vcs/gitea.rs")],
    };
    case.check(async |_: &mut Harness, _: &GiteaClient| {})
        .await;
}

#[tokio::test]
async fn azure_devops_requests_are_documented_by_the_rest_api_specs() {
    let case = Case {
        host: "azure_devops",
        respond: hosts::azure_devops,
        client: |uri| {
            AzureDevopsClient::new(Some(&at(uri, "/acme")), &token("azpat"), policy()).unwrap()
        },
        pull_request: ("Platform/infra", 42),
        user: Actor {
            login: "dev@example.com".into(),
            id: Some("id-dev".into()),
        },
        team: "acme/platform",
        silent: &["read_tree", "is_member", "mergeable"],
        merges: &[MergeMethod::Merge, MergeMethod::Squash, MergeMethod::Rebase],
        sources: &[
            include_str!("../../src/vcs/azure_devops/mod.rs"),
            include_str!("../../src/vcs/azure_devops/permissions.rs"),
        ],
    };
    case.check(async |_: &mut Harness, _: &AzureDevopsClient| {})
        .await;
}

#[tokio::test]
async fn bitbucket_cloud_requests_are_documented_by_the_swagger_description() {
    let case = Case {
        host: "bitbucket_cloud",
        respond: hosts::bitbucket_cloud,
        client: |uri| {
            BitbucketCloudClient::new(Some(&at(uri, "/2.0")), &token("bot:pw"), policy()).unwrap()
        },
        pull_request: ("acme/infra", 5),
        user: Actor {
            login: "dev".into(),
            id: Some("{dev-uuid}".into()),
        },
        team: "acme/x",
        // Its merge takes no expected head: Landfall does not merge there.
        silent: &["read_tree", "is_member", "merge", "mergeable"],
        merges: &[],
        sources: &[include_str!("../../src/vcs/bitbucket_cloud.rs")],
    };
    case.check(async |h: &mut Harness, c: &BitbucketCloudClient| {
        let short = CommitSha::new(&SHA[..12]);
        let full = h
            .run("full_sha", c.full_sha(&repo("acme/infra"), &short))
            .await;
        assert_eq!(full.expect("full_sha").as_str(), SHA);
    })
    .await;
}

#[tokio::test]
async fn bitbucket_server_requests_are_documented_by_the_data_center_description() {
    let case = Case {
        host: "bitbucket_server",
        respond: hosts::bitbucket_server,
        client: |uri| BitbucketServerClient::new(Some(uri), &token("bbs"), policy()).unwrap(),
        pull_request: ("PLAT/infra", 5),
        user: Actor::login("dev"),
        team: "PLAT/x",
        silent: &["is_member", "merge", "tracking_issue", "mergeable"],
        merges: &[],
        sources: &[include_str!("../../src/vcs/bitbucket_server.rs")],
    };
    case.check(async |_: &mut Harness, _: &BitbucketServerClient| {})
        .await;
}

/// The checker is not vacuous: a misspelled body field, an undocumented path, query parameter
/// or value all fail, and the documented request passes.
#[test]
fn the_checker_refuses_what_the_description_does_not_document() {
    let github = description("github");
    let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1{p}")).unwrap();
    let comments = url("/repos/acme/infra/issues/7/comments");
    let ok = github.check("POST", &comments, br#"{"body": "plan"}"#);
    assert!(ok.is_ok(), "{ok:?}");
    let misspelled = github.check("POST", &comments, br#"{"bdy": "plan"}"#);
    assert!(
        misspelled
            .unwrap_err()
            .contains("body.bdy is not a documented field")
    );
    let path = github.check("GET", &url("/repos/acme/infra/pulls/7/commentz"), b"");
    assert!(
        path.unwrap_err()
            .contains("no operation of the description")
    );
    let method = github.check("DELETE", &url("/repos/acme/infra/pulls/7"), b"");
    assert!(
        method
            .unwrap_err()
            .contains("no operation of the description")
    );
    let query = github.check(
        "GET",
        &url("/repos/acme/infra/pulls/7/files?perpage=100"),
        b"",
    );
    assert!(
        query
            .unwrap_err()
            .contains("query parameter perpage is not documented")
    );
    let statuses = url(&format!("/repos/acme/infra/statuses/{SHA}"));
    let value = github.check(
        "POST",
        &statuses,
        br#"{"state": "succeeded", "context": "x"}"#,
    );
    assert!(
        value
            .unwrap_err()
            .contains("is not one of the documented values")
    );
    let azure = description("azure_devops");
    let threads = url("/acme/P/_apis/git/repositories/r/pullRequests/1/threads?api-version=7.1");
    let nested = br#"{"comments": [{"content": "x", "commentTyp": "text"}], "status": "active"}"#;
    let nested = azure.check("POST", &threads, nested);
    assert!(nested.unwrap_err().contains("body.comments[0].commentTyp"));
    let listing = url("/acme/P/_apis/git/repositories/r/items?recursionLevel=Full&api-version=7.1");
    assert!(azure.check("GET", &listing, b"").is_err());
    let bbs = description("bitbucket_server");
    let users = "/rest/api/1.0/users?permission.1=REPO_READ&permission.1.projectKey=P&start=0";
    assert!(bbs.check("GET", &url(users), b"").is_ok());
    let zero = "/rest/api/1.0/users?permission.0.projectKey=P";
    assert!(bbs.check("GET", &url(zero), b"").is_err());
}
