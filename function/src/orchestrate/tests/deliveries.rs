//! Delivery de-duplication, judged by what the store already knows: a redelivery, the same body
//! under a new id, and a comment sent again as another event.

use std::sync::Arc;

use super::{Loop, comment};
use crate::event::{CommentId, DeliveryId, EventKind, IgnoreReason, Provider, RepoName};

#[tokio::test]
async fn a_redelivered_comment_is_handled_once() {
    let lp = Loop::new().await;
    lp.host_knows("drive-by", "read").await;
    let orchestrator = crate::orchestrate::Orchestrator {
        ctx: Arc::clone(&lp.ctx),
    };
    let event = comment("drive-by", "landfall unlock", "d-4");
    assert!(!orchestrator.is_redelivery(&event).await.unwrap());
    assert!(orchestrator.is_redelivery(&event).await.unwrap());
    let mut replay = event.clone();
    replay.delivery = Some(DeliveryId::new("d-5"));
    replay.body_sha256 = Some("ab".repeat(32));
    assert!(!orchestrator.is_redelivery(&replay).await.unwrap());
    replay.delivery = Some(DeliveryId::new("d-6"));
    assert!(
        orchestrator.is_redelivery(&replay).await.unwrap(),
        "the same body under a new id is a replay"
    );
}

#[tokio::test]
async fn a_comment_runs_once_whatever_event_it_is_sent_again_as() {
    let lp = Loop::new().await;
    let orchestrator = crate::orchestrate::Orchestrator {
        ctx: Arc::clone(&lp.ctx),
    };
    let with_id = |delivery: &str, body: &str, id: &str| {
        let mut event = comment("drive-by", "landfall apply", delivery);
        event.body_sha256 = Some(body.repeat(32));
        event.comment_id = Some(CommentId(id.to_owned()));
        event
    };
    assert!(!orchestrator.is_redelivery(&with_id("d-1", "a1", "77")).await.unwrap());
    // The same comment in another body under another id: an edit's delivery sent as new.
    assert!(orchestrator.is_redelivery(&with_id("d-2", "b2", "77")).await.unwrap());

    // A comment first seen edited: its delivery sent again as a new comment runs nothing.
    let mut edited = with_id("d-3", "c3", "78");
    edited.kind = EventKind::Ignored(IgnoreReason::CommentChanged("updated".to_owned()));
    orchestrator.note_changed_comment(&edited).await.unwrap();
    assert!(orchestrator.is_redelivery(&with_id("d-4", "d4", "78")).await.unwrap());

    // The same id in another repository, or on another host, is another comment.
    let mut elsewhere = with_id("d-5", "e5", "77");
    elsewhere.repo = Some(RepoName::new("acme/other"));
    assert!(!orchestrator.is_redelivery(&elsewhere).await.unwrap());
    let mut other_host = with_id("d-6", "f6", "77");
    other_host.provider = Provider::Gitea;
    assert!(!orchestrator.is_redelivery(&other_host).await.unwrap());
}

#[tokio::test]
async fn no_delivery_id_can_be_chosen_to_block_a_later_comment_and_a_replay_leaves_nothing() {
    let lp = Loop::new().await;
    let orchestrator = crate::orchestrate::Orchestrator {
        ctx: Arc::clone(&lp.ctx),
    };
    let event = |delivery: &str, body: &str, id: Option<&str>| {
        let mut event = comment("drive-by", "landfall apply", delivery);
        event.body_sha256 = Some(body.repeat(32));
        event.comment_id = id.map(|id| CommentId(id.to_owned()));
        event
    };
    assert!(!orchestrator.is_redelivery(&event("d-1", "a1", Some("5"))).await.unwrap());
    // A replay of that body under delivery ids spelled like the keys of later comments and
    // bodies: a replay, and what it wrote is forgotten.
    let planted = [
        "comment:acme/infra#1:79".to_owned(),
        "github:comment:acme/infra#1:79".to_owned(),
        format!("body:{}", "c3".repeat(32)),
    ];
    for id in &planted {
        assert!(orchestrator.is_redelivery(&event(id, "a1", None)).await.unwrap());
    }
    // The comment and the body those ids were chosen for are handled as new.
    assert!(!orchestrator.is_redelivery(&event("d-2", "b2", Some("79"))).await.unwrap());
    assert!(!orchestrator.is_redelivery(&event("d-3", "c3", Some("80"))).await.unwrap());
    // And each planted id, sent again with a new body, is a new delivery: nothing was kept.
    for (n, id) in planted.iter().enumerate() {
        let body = format!("e{n}");
        assert!(!orchestrator.is_redelivery(&event(id, &body, None)).await.unwrap(), "{id}");
    }
}
