//! Who may do what on GitHub: each reviewer's latest decision on the head commit as the
//! approvals, a collaborator's role (custom roles by their base role) as the permission, and team
//! membership (active only), with a personal token and with a GitHub App's organisation
//! installation.

use landfall_function::event::CommitSha;
use landfall_function::vcs::{Access, Actor, VcsClient, VcsError};
use serde_json::json;
use wiremock::matchers::{header, header_regex, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    JWT, PR, SHA, access_token, app, assert_app_jwts, client, expires_in, github_get, mint,
    refuse_unexpected, repo,
};

const OLD: &str = "0123456789abcdef0123456789abcdef01234567";

fn review(id: u64, login: Option<&str>, state: &str, commit: &str) -> serde_json::Value {
    json!({
        "id": id,
        "user": login.map(|l| json!({"login": l, "type": "User"})),
        "state": state,
        "commit_id": commit,
        "author_association": "COLLABORATOR",
        "body": ""
    })
}

#[tokio::test]
async fn approvals_are_each_reviewers_latest_decision_on_the_head_commit() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    let next = format!(
        "{}/repositories/1/pulls/7/reviews?per_page=100&page=2",
        server.uri()
    );
    github_get("/repos/acme/infra/pulls/7/reviews")
        .and(header("accept", "application/vnd.github+json"))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                .set_body_json(json!([
                    // alice approved an older commit, then the head: counts.
                    review(1, Some("alice"), "APPROVED", OLD),
                    // bob approved an older commit only: does not count.
                    review(2, Some("bob"), "APPROVED", OLD),
                    // carol approved the head, then asked for changes (page 2): withdrawn.
                    review(3, Some("carol"), "APPROVED", SHA),
                    // dave's approval of the head was dismissed.
                    review(4, Some("dave"), "DISMISSED", SHA),
                    review(5, Some("alice"), "APPROVED", SHA),
                    // erin approved the head, then only commented: still counts.
                    review(6, Some("erin"), "APPROVED", SHA),
                    review(7, Some("erin"), "COMMENTED", SHA),
                    // frank's review is still pending; a deleted account counts for nobody.
                    review(8, Some("frank"), "PENDING", SHA),
                    review(9, None, "APPROVED", SHA),
                ])),
        )
        .expect(2)
        .mount(&server)
        .await;
    github_get("/repositories/1/pulls/7/reviews")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            review(10, Some("carol"), "CHANGES_REQUESTED", SHA),
            review(11, Some("gina"), "APPROVED", SHA),
        ])))
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let logins = |actors: Vec<Actor>| actors.into_iter().map(|a| a.login).collect::<Vec<_>>();
    assert_eq!(
        logins(
            c.approvals(&repo(), PR, &CommitSha::new(SHA))
                .await
                .unwrap()
        ),
        ["alice", "erin", "gina"]
    );
    // At the older commit, only bob's latest decision was given there and approves.
    assert_eq!(
        logins(
            c.approvals(&repo(), PR, &CommitSha::new(OLD))
                .await
                .unwrap()
        ),
        ["bob"]
    );
}

async fn permission_reply(server: &MockServer, login: &str, reply: ResponseTemplate) {
    github_get(&format!(
        "/repos/acme/infra/collaborators/{login}/permission"
    ))
    .and(header("accept", "application/vnd.github+json"))
    .respond_with(reply)
    .expect(1)
    .mount(server)
    .await;
}

fn permission_json(login: &str, permission: &str, role: Option<&str>) -> ResponseTemplate {
    let mut body = json!({"permission": permission, "user": {"login": login}});
    if let Some(role) = role {
        body["role_name"] = json!(role);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn permission_reads_the_role_name_and_a_non_collaborator_has_none() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    // (login, legacy permission, role_name, expected)
    let cases = [
        ("owner", "admin", Some("admin"), Access::Admin),
        ("lead", "write", Some("maintain"), Access::Write),
        ("dev", "write", Some("write"), Access::Write),
        ("triager", "read", Some("triage"), Access::Read),
        ("viewer", "read", Some("read"), Access::Read),
        ("nobody", "none", Some("none"), Access::None),
        // A custom role: its base role (the legacy `permission`) decides.
        ("auditor", "write", Some("security-auditor"), Access::Write),
        ("watcher", "read", Some("compliance-viewer"), Access::Read),
        // An older GitHub Enterprise Server without role_name: the legacy permission.
        ("legacy", "write", None, Access::Write),
    ];
    for (login, permission, role, _) in cases {
        permission_reply(&server, login, permission_json(login, permission, role)).await;
    }
    permission_reply(
        &server,
        "outsider",
        ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
        })),
    )
    .await;
    let c = client(&server);
    for (login, _, _, expected) in cases {
        assert_eq!(
            c.permission(&repo(), &Actor::login(login)).await.unwrap(),
            expected,
            "{login}"
        );
    }
    assert_eq!(
        c.permission(&repo(), &Actor::login("outsider"))
            .await
            .unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_refused_permission_lookup_is_an_error_not_an_answer() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    permission_reply(
        &server,
        "dev",
        ResponseTemplate::new(403).set_body_json(
            json!({"message": "Must have push access to view collaborator permission."}),
        ),
    )
    .await;
    let err = client(&server)
        .permission(&repo(), &Actor::login("dev"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VcsError::Status { status: 403, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn team_membership_counts_only_an_active_membership() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    for (login, state) in [("alice", "active"), ("bob", "pending")] {
        github_get(&format!(
            "/orgs/acme/teams/platform-admins/memberships/{login}"
        ))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("https://api.github.com/teams/1/memberships/{login}"),
            "role": "member",
            "state": state
        })))
        .expect(1)
        .mount(&server)
        .await;
    }
    github_get("/orgs/acme/teams/platform-admins/memberships/carol")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let c = &c;
    let member = |login: &'static str| async move {
        c.is_member("acme/platform-admins", &Actor::login(login))
            .await
    };
    assert!(member("alice").await.unwrap());
    assert!(!member("bob").await.unwrap(), "an invitation not accepted");
    assert!(!member("carol").await.unwrap());
    for team in ["platform-admins", "acme/", "/platform", "acme/a/b"] {
        let err = c.is_member(team, &Actor::login("alice")).await.unwrap_err();
        assert!(matches!(err, VcsError::Config { .. }), "{team}: {err:?}");
    }
}

#[tokio::test]
async fn a_github_app_checks_team_membership_with_the_organisations_installation() {
    let server = MockServer::start().await;
    refuse_unexpected(&server).await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/installation"))
        .and(header_regex("authorization", JWT))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 42, "app_id": 12345, "account": {"login": "acme"}, "target_type": "Organization"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mint(42)
        .respond_with(access_token("ghs_acme", &expires_in(3600)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams/platform/memberships/alice"))
        .and(header("authorization", "Bearer ghs_acme"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"url": "u", "role": "maintainer", "state": "active"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let c = app(&server, None);
    for _ in 0..2 {
        assert!(
            c.is_member("acme/platform", &Actor::login("alice"))
                .await
                .unwrap()
        );
    }
    assert_app_jwts(&server, 2).await;
}
