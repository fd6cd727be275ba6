//! The Azure DevOps adapter against a wiremock Azure DevOps asserting the documented 7.1
//! requests: Basic auth with the PAT, iteration changes paged by `nextSkip`/`nextTop`, threads,
//! comment edits, commit statuses (a pull request's: `statuses`), reviewer votes (approvals at the current source commit, a
//! rejection stopping them all), `diffs/commits` for `undiverged`, and the user's effective
//! permission from the Git Repositories namespace's access control list (the identity's
//! descriptor looked up once, then cached). The permission look-up's requests are snapshotted.

use std::time::Duration;

use base64::Engine as _;
use landfall_function::event::{CommitSha, PullRequestNumber, RepoName};
use landfall_function::projects::{ChangedFile, FileStatus};
use landfall_function::vcs::azure_devops::AzureDevopsClient;
use landfall_function::vcs::{
    Access, Actor, CommitStatus, PrState, PullRequest, RetryPolicy, StatusState, VcsClient,
    VcsError,
};
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod delete_branch;
mod drift;
mod merge;
mod statuses;

const SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const REPO: &str = "/acme/Platform/_apis/git/repositories/infra";
const PR: PullRequestNumber = PullRequestNumber(42);

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(":azpat")
    )
}

fn client(server: &MockServer) -> AzureDevopsClient {
    let policy = RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
    };
    AzureDevopsClient::new(
        Some(&format!("{}/acme", server.uri())),
        &SecretString::from("azpat"),
        policy,
    )
    .unwrap()
}

fn repo() -> RepoName {
    RepoName::new("Platform/infra")
}

fn get(p: String) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", basic().as_str()))
        .and(query_param("api-version", "7.1"))
}

#[tokio::test]
async fn a_pull_request_is_read_with_refs_shortened_and_votes_counted() {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullrequests/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pullRequestId": 42, "status": "active", "mergeStatus": "succeeded",
            "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main",
            "lastMergeSourceCommit": {"commitId": SHA},
            "createdBy": {"uniqueName": "dev@acme.com"},
            "reviewers": [
                {"vote": 10, "id": "a1", "uniqueName": "lead@acme.com"},
                {"vote": 0, "id": "b2", "uniqueName": "dev@acme.com"}
            ]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let pr = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(
        (pr.head_branch.as_str(), pr.base_branch.as_str()),
        ("feature", "main")
    );
    assert_eq!((pr.state, pr.mergeable), (PrState::Open, Some(true)));
    assert_eq!(
        pr.head_repo,
        Some(repo()),
        "no forkSource: the repository itself"
    );
    assert!(!pr.is_fork(&repo()));
    assert_eq!(
        c.approvals(&repo(), PR, &CommitSha::new(SHA))
            .await
            .unwrap(),
        [Actor {
            login: "lead@acme.com".into(),
            id: Some("a1".into())
        }]
    );
}

#[tokio::test]
async fn changes_of_the_last_iteration_are_paged_by_next_skip_and_next_top() {
    let server = MockServer::start().await;
    get(format!("{REPO}/pullRequests/42/iterations"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 2, "value": [{"id": 1}, {"id": 2}]})),
        )
        .mount(&server)
        .await;
    get(format!("{REPO}/pullRequests/42/iterations/2/changes"))
        .and(query_param("$skip", "0"))
        .and(query_param("$top", "2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "changeEntries": [
                {"changeType": "edit", "item": {"path": "/envs/prod/main.tf"}},
                {"changeType": "add", "item": {"path": "/envs", "isFolder": true}},
                {"changeType": "delete", "item": {"path": "/envs/old/main.tf"}}
            ],
            "nextSkip": 3, "nextTop": 2000
        })))
        .expect(1)
        .mount(&server)
        .await;
    get(format!("{REPO}/pullRequests/42/iterations/2/changes"))
        .and(query_param("$skip", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "changeEntries": [
                {"changeType": "rename, edit", "item": {"path": "/b/new.tf"}, "originalPath": "/b/old.tf"}
            ],
            "nextSkip": 0, "nextTop": 0
        })))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server).changed_files(&repo(), PR).await.unwrap();
    assert_eq!(
        files,
        [
            ChangedFile::modified("envs/prod/main.tf"),
            ChangedFile::new("envs/old/main.tf", FileStatus::Removed),
            ChangedFile::renamed("b/old.tf", "b/new.tf"),
        ]
    );
}

#[tokio::test]
async fn items_threads_comment_edits_and_statuses_use_the_documented_endpoints() {
    let server = MockServer::start().await;
    get(format!("{REPO}/items"))
        .and(query_param("path", "/atlantis.yaml"))
        .and(query_param("versionDescriptor.version", SHA))
        .and(query_param("versionDescriptor.versionType", "commit"))
        .and(query_param("$format", "octetStream"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 3\n"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pullRequests/42/threads")))
        .and(header("authorization", basic().as_str()))
        .and(query_param("api-version", "7.1"))
        .and(body_json(json!({
            "comments": [{"parentCommentId": 0, "content": "Planning...", "commentType": "text"}],
            "status": "active"
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 9, "comments": [{"id": 1}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{REPO}/pullRequests/42/threads/9/comments/1")))
        .and(body_json(json!({"content": "Planned"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/commits/{SHA}/statuses")))
        .and(body_json(json!({
            "state": "succeeded",
            "description": "Applied",
            "context": {"name": "prod", "genre": "landfall/apply: envs"}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let sha = CommitSha::new(SHA);
    assert_eq!(
        c.read_file(&repo(), &sha, "atlantis.yaml")
            .await
            .unwrap()
            .unwrap(),
        b"version: 3\n"
    );
    let id = c.post_comment(&repo(), PR, "Planning...").await.unwrap();
    assert_eq!(id.0, "9/1");
    c.edit_comment(&repo(), PR, &id, "Planned").await.unwrap();
    let status = CommitStatus {
        context: "landfall/apply: envs/prod".into(),
        state: StatusState::Success,
        description: "Applied".into(),
        target_url: None,
        branch: Some("feature".into()),
        pull: None,
    };
    c.set_status(&repo(), &sha, &status).await.unwrap();
}

// --- who may run commands, approvals that count, undiverged ---------------------------------

const BASE: &str = "0123456789abcdef0123456789abcdef01234567";
const IDENTITY: &str = "54d125f7-69f7-4191-904f-c5b96b6261c8";
const DESCRIPTOR: &str = "Microsoft.IdentityModel.Claims.ClaimsIdentity;7a394543-62fd-4274-a7d2-8fac775942b6\\dev@acme.com";
const NAMESPACE: &str = "2e9eb7ed-3c0a-47d4-87c1-0ffdd275fd87";
const PROJECT_ID: &str = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";
const REPO_ID: &str = "4bc14d40-c903-45e2-872e-0462c7748079";

/// Every request the fake received, as `METHOD path?query` with the query as sent, and the
/// authorization scheme.
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

fn dev() -> Actor {
    Actor {
        login: "dev@acme.com".into(),
        id: Some(IDENTITY.into()),
    }
}

/// The identities API resolving `id` to `descriptor` (or to nothing), `times` times.
async fn identity(server: &MockServer, id: &str, descriptor: Option<&str>, times: u64) {
    let value: Vec<_> = descriptor
        .into_iter()
        .map(|d| json!({"id": id, "descriptor": d, "providerDisplayName": "Dev", "isActive": true}))
        .collect();
    get("/acme/_apis/identities".to_owned())
        .and(query_param("identityIds", id))
        .and(query_param("queryMembership", "none"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"count": value.len(), "value": value})),
        )
        .expect(times)
        .mount(server)
        .await;
}

/// The repository's ids, `times` times.
async fn repository(server: &MockServer, times: u64) {
    get(REPO.to_owned())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": REPO_ID, "name": "infra",
            "project": {"id": PROJECT_ID, "name": "Platform", "state": "wellFormed"},
            "defaultBranch": "refs/heads/main"
        })))
        .expect(times)
        .mount(server)
        .await;
}

/// The repository's ACL for DESCRIPTOR: explicit `allow`, and the effective bits.
async fn acl(
    server: &MockServer,
    allow: u32,
    effective_allow: u32,
    effective_deny: u32,
    times: u64,
) {
    let token = format!("repoV2/{PROJECT_ID}/{REPO_ID}");
    get(format!("/acme/_apis/accesscontrollists/{NAMESPACE}"))
        .and(query_param("token", token.as_str()))
        .and(query_param("descriptors", DESCRIPTOR))
        .and(query_param("includeExtendedInfo", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1,
            "value": [{
                "inheritPermissions": true,
                "token": token,
                "acesDictionary": {
                    DESCRIPTOR: {
                        "descriptor": DESCRIPTOR,
                        "allow": allow, "deny": 0,
                        "extendedInfo": {"effectiveAllow": effective_allow, "effectiveDeny": effective_deny}
                    }
                },
                "includeExtendedInfo": true
            }]
        })))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_contribute_grant_inherited_from_a_group_is_write_and_the_descriptor_is_cached() {
    let server = MockServer::start().await;
    identity(&server, IDENTITY, Some(DESCRIPTOR), 1).await;
    repository(&server, 2).await;
    // Nothing granted to the user directly: GenericRead (2), GenericContribute (4),
    // CreateBranch (16) and PullRequestContribute (16384) through Contributors.
    acl(&server, 0, 2 | 4 | 16 | 16_384, 0, 2).await;
    let c = client(&server);
    assert_eq!(c.permission(&repo(), &dev()).await.unwrap(), Access::Write);
    insta::assert_snapshot!("permission_requests", request_log(&server).await);
    // The same person again: the descriptor is not looked up a second time.
    assert_eq!(c.permission(&repo(), &dev()).await.unwrap(), Access::Write);
}

#[tokio::test]
async fn manage_permissions_is_admin_read_is_read_and_a_deny_wins() {
    for (effective_allow, effective_deny, access) in [
        (2 | 4 | 8192, 0, Access::Admin),
        (2, 0, Access::Read),
        (2 | 4, 4, Access::Read),
        (0, 0, Access::None),
    ] {
        let server = MockServer::start().await;
        identity(&server, IDENTITY, Some(DESCRIPTOR), 1).await;
        repository(&server, 1).await;
        acl(&server, 0, effective_allow, effective_deny, 1).await;
        assert_eq!(
            client(&server).permission(&repo(), &dev()).await.unwrap(),
            access,
            "allow {effective_allow} deny {effective_deny}"
        );
    }
}

#[tokio::test]
async fn an_identity_the_organisation_does_not_know_has_no_access() {
    let server = MockServer::start().await;
    identity(&server, IDENTITY, None, 1).await;
    repository(&server, 0).await;
    acl(&server, 0, 4, 0, 0).await;
    assert_eq!(
        client(&server).permission(&repo(), &dev()).await.unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_user_without_an_identity_id_is_not_guessed() {
    let server = MockServer::start().await;
    let err = client(&server)
        .permission(&repo(), &Actor::login("dev@acme.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, VcsError::Config { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// The PR at `source` with these reviewers, from the fork `Outside/infra-fork`.
async fn pr_with_votes(server: &MockServer, source: &str, reviewers: serde_json::Value) {
    get(format!("{REPO}/pullrequests/42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pullRequestId": 42, "status": "active", "mergeStatus": "succeeded",
            "sourceRefName": "refs/heads/feature", "targetRefName": "refs/heads/main",
            "lastMergeSourceCommit": {"commitId": source},
            "createdBy": {"uniqueName": "outsider@example.com"},
            "forkSource": {"name": "refs/heads/feature",
                           "repository": {"id": "f0", "name": "infra-fork", "project": {"id": "p9", "name": "Outside"}}},
            "reviewers": reviewers
        })))
        .mount(server)
        .await;
}

fn vote(name: &str, vote: i32) -> serde_json::Value {
    json!({"id": format!("id-{name}"), "uniqueName": name, "displayName": name, "vote": vote})
}

#[tokio::test]
async fn approvals_are_votes_of_ten_or_five_by_people_at_the_current_source_commit() {
    let server = MockServer::start().await;
    pr_with_votes(
        &server,
        SHA,
        json!([
            vote("lead@acme.com", 10),
            vote("sre@acme.com", 5),
            vote("dev@acme.com", 0),
            vote("ops@acme.com", -5),
            {"id": "g1", "uniqueName": "vstfs:///Classification/TeamProject/x\\Team", "vote": 10, "isContainer": true}
        ]),
    )
    .await;
    let c = client(&server);
    let approvals = c
        .approvals(&repo(), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    let names: Vec<_> = approvals.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(names, ["lead@acme.com", "sre@acme.com"]);
    assert_eq!(approvals[0].id.as_deref(), Some("id-lead@acme.com"));
    let pr = c.pull_request(&repo(), PR).await.unwrap();
    assert_eq!(pr.head_repo, Some(RepoName::new("Outside/infra-fork")));
    assert!(pr.is_fork(&repo()));
}

#[tokio::test]
async fn a_rejection_or_a_moved_source_commit_leaves_no_approval() {
    let server = MockServer::start().await;
    pr_with_votes(
        &server,
        SHA,
        json!([vote("lead@acme.com", 10), vote("sec@acme.com", -10)]),
    )
    .await;
    let c = client(&server);
    assert!(
        c.approvals(&repo(), PR, &CommitSha::new(SHA))
            .await
            .unwrap()
            .is_empty()
    );
    let server = MockServer::start().await;
    pr_with_votes(&server, BASE, json!([vote("lead@acme.com", 10)])).await;
    let stale = client(&server)
        .approvals(&repo(), PR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert!(stale.is_empty(), "{stale:?}");
}

fn pull_request() -> PullRequest {
    PullRequest {
        number: PR,
        head_sha: CommitSha::new(SHA),
        head_branch: "feature".into(),
        base_branch: "main".into(),
        author: "dev@acme.com".into(),
        author_id: None,
        state: PrState::Open,
        mergeable: Some(true),
        head_repo: Some(repo()),
        merge_sha: None,
    }
}

/// `diffs/commits` from the base branch to the head, `behind` commits of the base missing.
async fn diffs(server: &MockServer, behind: u64, common: &str) {
    get(format!("{REPO}/diffs/commits"))
        .and(query_param("baseVersion", "main"))
        .and(query_param("baseVersionType", "branch"))
        .and(query_param("targetVersion", SHA))
        .and(query_param("targetVersionType", "commit"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "allChangesIncluded": true, "changeCounts": {"Edit": 1}, "changes": [],
            "commonCommit": common, "baseCommit": BASE, "targetCommit": SHA,
            "aheadCount": 3, "behindCount": behind
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_head_contains_the_base_when_it_is_behind_by_nothing() {
    let server = MockServer::start().await;
    diffs(&server, 0, BASE).await;
    assert!(
        client(&server)
            .contains_base(&repo(), &pull_request())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_base_with_commits_the_head_lacks_is_diverged() {
    let server = MockServer::start().await;
    diffs(&server, 2, "fedcba9876543210fedcba9876543210fedcba98").await;
    assert!(
        !client(&server)
            .contains_base(&repo(), &pull_request())
            .await
            .unwrap()
    );
}

/// The tree is listed as the Items API documents it (Git 7.1, Items - List): `recursionLevel` is
/// one of `none`, `oneLevel`, `oneLevelPlusNestedEmptyFolders`, `full`, spelled so.
#[tokio::test]
async fn the_tree_is_listed_with_the_documented_recursion_level() {
    let server = MockServer::start().await;
    get(format!("{REPO}/items"))
        .and(query_param("scopePath", "/"))
        .and(query_param("recursionLevel", "full"))
        .and(query_param("versionDescriptor.version", SHA))
        .and(query_param("versionDescriptor.versionType", "commit"))
        .and(query_param("api-version", "7.1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3,
            "value": [
                {"path": "/", "isFolder": true},
                {"path": "/envs", "isFolder": true},
                {"path": "/envs/main.tf", "gitObjectType": "blob"}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let files = client(&server)
        .list_files(&repo(), &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(files, vec!["envs/main.tf".to_owned()]);
}
