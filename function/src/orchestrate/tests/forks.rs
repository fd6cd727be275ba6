//! A fork's pull request where the operator allows them: planned on a writer's command, for the
//! head they reviewed. Where the delivery names the head the comment was written at (GitLab,
//! Bitbucket, Azure DevOps), a head pushed after it is refused, not planned.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{Loop, REPO, SHA, comment};
use crate::event::CommitSha;
use crate::store::Store as _;

/// The fork's head, as the host says now.
async fn host_has_a_fork_pr(lp: &Loop) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPO}/pulls/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "number": 1, "state": "open", "merged": false, "mergeable_state": "clean",
            "head": {"ref": "evil", "sha": SHA, "repo": {"full_name": "outsider/infra"}},
            "base": {"ref": "main", "sha": SHA, "repo": {"full_name": REPO}},
            "user": {"login": "outsider"}
        })))
        .with_priority(1)
        .mount(&lp.host)
        .await;
    lp.host_has_a_terraform_pr("open", false).await;
    lp.host_grants("writer", "write").await;
}

#[tokio::test]
async fn a_writers_plan_of_a_fork_is_refused_when_the_head_moved_after_the_comment() {
    let policy =
        crate::repo_config::Policy::parse("repos.yaml", "repos:\n- id: /.*/\n  allow_fork_prs: true\n")
            .unwrap();
    let lp = Loop::with_policy(Some(policy)).await;
    host_has_a_fork_pr(&lp).await;

    // Written at an earlier head (full, then abbreviated as Bitbucket Cloud sends it).
    for (n, written_at) in ["1111111111111111111111111111111111111111", "1111111"]
        .into_iter()
        .enumerate()
    {
        let mut event = comment("writer", "landfall plan", &format!("moved-{n}"));
        event.head_sha = Some(CommitSha::new(written_at));
        lp.ctx.process(&event).await.unwrap();
        assert!(lp.nothing_dispatched(), "{written_at}");
        assert!(lp.ctx.store.list_locks(Some(REPO)).await.unwrap().is_empty());
    }
    lp.assert_commented(&["head moved after your comment"]).await;

    // Written at the head that would run (abbreviated too): planned.
    let mut event = comment("writer", "landfall plan", "at-head");
    event.head_sha = Some(CommitSha::new(&SHA[..7]));
    lp.ctx.process(&event).await.unwrap();
    assert!(!lp.nothing_dispatched());
    assert_eq!(lp.ctx.store.list_locks(Some(REPO)).await.unwrap().len(), 1);
}
