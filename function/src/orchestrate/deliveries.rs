//! Delivery de-duplication: what a delivery is known by, recorded before its work is queued, so
//! that a host's retry, a replay under a new id or a comment sent again as another event does
//! nothing more.

use std::time::Duration;

use super::Orchestrator;
use crate::event::{Event, RepoName};
use crate::handler::SinkError;
use crate::store::{DELIVERY_TTL, DeliveryOutcome, Store as _};

impl Orchestrator {
    /// Notes that a comment was edited or deleted: its id is then known, so a delivery of it
    /// sent again as a new comment runs nothing (Bitbucket's event key is not signed).
    pub(super) async fn note_changed_comment(&self, event: &Event) -> Result<(), SinkError> {
        let Some(key) = Self::comment_key(event) else {
            return Ok(());
        };
        self.ctx
            .store
            .record_delivery(&key.name, key.ttl)
            .await
            .map(drop)
            .map_err(|e| SinkError(Box::new(e)))
    }

    /// What a delivery is known by: its id, then its body, then the comment it carries. The
    /// same bytes under a new id are a replay (the id is not signed on most hosts), or a host's
    /// retry that changed its id (GitLab's event UUID). A comment seen before, new or changed,
    /// runs nothing again, whatever event it comes as, and is remembered far longer than a
    /// delivery: its id is signed, so a captured command cannot be sent again once its delivery
    /// is forgotten. Each kind of key has its own prefix, so that no delivery id (an unsigned
    /// header on most hosts) can be chosen to match a body or a comment.
    fn delivery_keys(event: &Event) -> Vec<DeliveryKey> {
        let Some(delivery) = &event.delivery else {
            return Vec::new();
        };
        let provider = event.provider.as_str();
        let id = DeliveryKey {
            name: format!("{provider}:id:{}", delivery.as_str()),
            ttl: DELIVERY_TTL,
            seen: "redelivery: already handled",
        };
        let body = event.body_sha256.as_ref().map(|sha| DeliveryKey {
            name: format!("{provider}:body:{sha}"),
            ttl: DELIVERY_TTL,
            seen: "a body seen before under another delivery id: not handled again",
        });
        std::iter::once(id)
            .chain(body)
            .chain(Self::comment_key(event))
            .collect()
    }

    /// The key of the comment `event` carries: its host, repository, pull request and id.
    fn comment_key(event: &Event) -> Option<DeliveryKey> {
        let id = event.comment_id.as_ref()?;
        let repo = event.repo.as_ref().map_or("", RepoName::as_str);
        let pr = event.number.map_or(0, |n| n.0);
        Some(DeliveryKey {
            name: format!("{}:comment:{repo}#{pr}:{id}", event.provider.as_str()),
            ttl: COMMENT_TTL,
            seen: "a comment seen before (new, edited or deleted) in another delivery: its command does not run again",
        })
    }

    /// Forgets the delivery, best effort: its work could not be queued.
    pub(super) async fn forget(&self, event: &Event) {
        self.forget_keys(&Self::delivery_keys(event)).await;
    }

    async fn forget_keys(&self, keys: &[DeliveryKey]) {
        for key in keys {
            if let Err(err) = self.ctx.store.forget_delivery(&key.name).await {
                tracing::warn!(error = %err, "could not forget a delivery whose work was not queued");
            }
        }
    }

    /// Records the delivery; `true` when it was seen before (nothing more to do). The keys this
    /// call wrote are forgotten again when one of them was seen before or the store failed, so
    /// that a replay leaves nothing behind and a host's retry after a failure is handled.
    pub(super) async fn is_redelivery(&self, event: &Event) -> Result<bool, SinkError> {
        let keys = Self::delivery_keys(event);
        for (n, key) in keys.iter().enumerate() {
            let outcome = match self.ctx.store.record_delivery(&key.name, key.ttl).await {
                Ok(outcome) => outcome,
                Err(err) => {
                    self.forget_keys(&keys[..n]).await;
                    return Err(SinkError(Box::new(err)));
                }
            };
            if outcome == DeliveryOutcome::Duplicate {
                if n == 0 {
                    tracing::info!("{}", key.seen);
                } else {
                    // A replay, or a host's retry under a new id.
                    tracing::warn!("{}", key.seen);
                    self.forget_keys(&keys[..n]).await;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// How long a comment's id is remembered: a command comment older than this could be sent
/// again (a year and more: a pull request open that long is rare, and a key is a few bytes).
const COMMENT_TTL: Duration = Duration::from_hours(400 * 24);

/// One key a delivery is known by.
struct DeliveryKey {
    name: String,
    ttl: Duration,
    /// What finding it recorded means, for the log.
    seen: &'static str,
}
