//! Who may run a command, judged by its effect: a refused command leaves the lock and
//! dispatches nothing; an allowed one does what it says; a team the host cannot name counts no
//! member and leaves the others to count.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{Loop, comment};
use crate::store::Store as _;

#[tokio::test]
async fn a_readers_unlock_or_apply_leaves_the_lock_dispatches_nothing_and_is_refused_once() {
    for command in ["unlock", "apply", "cancel"] {
        let lp = Loop::new().await;
        lp.host_knows("drive-by", "read").await;
        let key = lp.hold_lock(1, "envs/prod").await;

        let text = format!("landfall {command}");
        lp.ctx
            .process(&comment("drive-by", &text, command))
            .await
            .unwrap();

        let held = lp.ctx.store.get_lock(&key).await.unwrap();
        assert!(held.is_some(), "{command}: the lock is still held");
        assert!(lp.nothing_dispatched(), "{command}");
        let comments = lp.comments().await;
        assert_eq!(comments.len(), 1, "{command}: one refusal: {comments:?}");
        let refused = format!("`{command}` refused");
        assert!(comments[0].contains(&refused), "{}", comments[0]);
    }
}

#[tokio::test]
async fn a_writer_unlocks_every_lock_of_the_pr_and_no_other() {
    let lp = Loop::new().await;
    lp.host_knows("maintainer", "write").await;
    let ours = lp.hold_lock(1, "envs/prod").await;
    let theirs = lp.hold_lock(2, "envs/dev").await;

    lp.ctx
        .process(&comment("maintainer", "landfall unlock", "d-3"))
        .await
        .unwrap();

    assert!(lp.ctx.store.get_lock(&ours).await.unwrap().is_none());
    assert!(lp.ctx.store.get_lock(&theirs).await.unwrap().is_some());
    let comments = lp.comments().await;
    assert!(comments[0].contains("envs/prod"), "{comments:?}");
}

/// A team name GitHub has no team by (no organisation) counts no member, and the policy's other
/// teams still count: before, the lookup's error ended the whole decision for everyone.
#[tokio::test]
async fn a_team_the_host_cannot_name_leaves_the_other_teams_to_count() {
    let text = "repos:\n- id: /.*/\n  permissions:\n    unlock: {access: nobody, teams: [platform, acme/sre]}\n";
    let lp = Loop::with_policy(Some(crate::repo_config::Policy::parse("repos.yaml", text).unwrap())).await;
    lp.host_knows("oncall", "read").await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams/sre/memberships/oncall"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "active", "role": "member"})))
        .mount(&lp.host)
        .await;
    let key = lp.hold_lock(1, "envs/prod").await;
    lp.ctx
        .process(&comment("oncall", "landfall unlock", "unlock-1"))
        .await
        .unwrap();
    let said = lp.comments().await;
    assert!(lp.ctx.store.get_lock(&key).await.unwrap().is_none(), "{said:?}");
}
