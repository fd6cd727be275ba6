//! Who may do what on GitLab: a user's role from `members/all/:user_id` (inherited included;
//! blocked or awaiting is none; looked up by exact username when the delivery gave no id),
//! approvals only while the head is the caller's, `undiverged` from `diverged_commits_count`, and
//! group membership from the encoded group path (direct members only).

use landfall_function::event::CommitSha;
use landfall_function::vcs::{Access, Actor, VcsClient, VcsError};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{MR, PROJECT, SHA, actor, client, get, mr_json, pull_request, repo};

/// `members/all/:user_id` answering `access_level` for user `id`.
async fn member(server: &MockServer, of: &str, id: u64, access_level: u64) {
    get(format!("{of}/members/all/{id}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "username": format!("user{id}"), "state": "active",
            "access_level": access_level
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_users_access_is_their_role_in_the_project_inherited_included() {
    let server = MockServer::start().await;
    let levels = [
        (5, Access::None),
        (10, Access::Read),
        (15, Access::Read),
        (20, Access::Read),
        (30, Access::Write),
        (40, Access::Write),
        (50, Access::Admin),
    ];
    for (id, (level, _)) in (1u64..).zip(levels) {
        member(&server, PROJECT, id, level).await;
    }
    get(format!("{PROJECT}/members/all/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v4/users"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    for (id, (level, access)) in (1u64..).zip(levels) {
        let who = actor("someone", Some(&id.to_string()));
        assert_eq!(
            c.permission(&repo(), &who).await.unwrap(),
            access,
            "access_level {level}"
        );
    }
    let outsider = actor("outsider", Some("404"));
    assert_eq!(
        c.permission(&repo(), &outsider).await.unwrap(),
        Access::None
    );
}

#[tokio::test]
async fn a_blocked_user_or_an_awaiting_membership_has_no_access() {
    let server = MockServer::start().await;
    for (id, extra) in [
        (1, json!({"state": "blocked"})),
        (
            2,
            json!({"state": "active", "membership_state": "awaiting"}),
        ),
    ] {
        let mut body = json!({"id": id, "username": "u", "access_level": 40});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        get(format!("{PROJECT}/members/all/{id}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let c = client(&server);
    for id in ["1", "2"] {
        assert_eq!(
            c.permission(&repo(), &actor("u", Some(id))).await.unwrap(),
            Access::None,
            "{id}"
        );
    }
}

#[tokio::test]
async fn an_actor_known_by_username_only_is_looked_up_once_by_exact_username() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(header("private-token", "glpat-test"))
        .and(query_param("username", "Dev.Lead"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 42, "username": "dev.lead", "state": "active"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("username", "ghost"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    member(&server, PROJECT, 42, 30).await;
    let c = client(&server);
    assert_eq!(
        c.permission(&repo(), &Actor::login("Dev.Lead"))
            .await
            .unwrap(),
        Access::Write
    );
    assert_eq!(
        c.permission(&repo(), &Actor::login("ghost")).await.unwrap(),
        Access::None,
        "a username GitLab does not know has no access, and no membership is asked"
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_number_is_refused_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_level": 50})))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    for id in ["../../groups/x", "", "12a"] {
        let result = c.permission(&repo(), &actor("dev", Some(id))).await;
        assert!(
            matches!(result, Err(VcsError::Config { .. })),
            "{id:?}: {result:?}"
        );
    }
}

const OLD: &str = "0000000000000000000000000000000000000000";

async fn approvals_of_mr_12(server: &MockServer, head: &str) {
    get(format!("{PROJECT}/merge_requests/12/approvals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 5, "iid": 12, "approvals_required": 1, "approvals_left": 0,
            "approved": true,
            "approved_by": [
                {"user": {"id": 1, "username": "root", "name": "Administrator", "state": "active"}},
                {"user": {"id": 7, "username": "lead", "name": "Lead", "state": "active"}}
            ]
        })))
        .expect(1)
        .mount(server)
        .await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            head,
            Some(7),
            7,
            "mergeable",
        )))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn approvals_are_the_approvers_while_the_head_is_the_callers() {
    let server = MockServer::start().await;
    approvals_of_mr_12(&server, SHA).await;
    let approvals = client(&server)
        .approvals(&repo(), MR, &CommitSha::new(SHA))
        .await
        .unwrap();
    assert_eq!(
        approvals,
        [actor("root", Some("1")), actor("lead", Some("7"))]
    );
}

#[tokio::test]
async fn approvals_for_a_head_that_is_no_longer_the_merge_requests_are_none() {
    let server = MockServer::start().await;
    approvals_of_mr_12(&server, SHA).await;
    let approvals = client(&server)
        .approvals(&repo(), MR, &CommitSha::new(OLD))
        .await
        .unwrap();
    assert!(approvals.is_empty(), "{approvals:?}");
}

#[tokio::test]
async fn undiverged_is_no_commit_of_the_target_branch_missing() {
    for (count, contains) in [(0, true), (3, false)] {
        let server = MockServer::start().await;
        get(format!("{PROJECT}/merge_requests/12"))
            .and(query_param("include_diverged_commits_count", "true"))
            .respond_with(ResponseTemplate::new(200).set_body_json({
                let mut mr = mr_json(SHA, Some(7), 7, "mergeable");
                mr["diverged_commits_count"] = json!(count);
                mr
            }))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(
            client(&server)
                .contains_base(&repo(), &pull_request())
                .await
                .unwrap(),
            contains,
            "{count}"
        );
    }
}

#[tokio::test]
async fn a_merge_request_without_a_diverged_count_fails_rather_than_passes_undiverged() {
    let server = MockServer::start().await;
    get(format!("{PROJECT}/merge_requests/12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(mr_json(
            SHA,
            Some(7),
            7,
            "mergeable",
        )))
        .mount(&server)
        .await;
    let result = client(&server)
        .contains_base(&repo(), &pull_request())
        .await;
    assert!(matches!(result, Err(VcsError::Decode { .. })), "{result:?}");
}

/// A group's members are its direct members, read from the encoded group path, as Atlantis reads
/// them: a member of a parent group only (whom `members/all` would list) is not one.
#[tokio::test]
async fn group_membership_is_read_from_the_encoded_group_path_direct_members_only() {
    const GROUP: &str = "/api/v4/groups/acme%2Fplatform";
    let server = MockServer::start().await;
    for (id, level) in [(42, 10), (43, 5)] {
        get(format!("{GROUP}/members/{id}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "username": format!("user{id}"), "state": "active",
                "access_level": level
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    for id in [44, 45] {
        get(format!("{GROUP}/members/{id}"))
            .respond_with(ResponseTemplate::new(404))
            .expect(1)
            .mount(&server)
            .await;
    }
    // User 45 is a Developer of `acme`, inherited into `acme/platform`: never asked.
    get(format!("{GROUP}/members/all/45"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 45, "username": "user45", "state": "active", "access_level": 30
        })))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(
        c.is_member("acme/platform", &actor("guest", Some("42")))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &actor("minimal", Some("43")))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &actor("outsider", Some("44")))
            .await
            .unwrap()
    );
    assert!(
        !c.is_member("acme/platform", &actor("parent-member", Some("45")))
            .await
            .unwrap()
    );
}
