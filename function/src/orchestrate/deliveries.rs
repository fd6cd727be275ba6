//! Delivery de-duplication: what a delivery is known by, recorded before its work is queued, so
//! that a host's retry, a replay under a new id or a comment sent again as another event does
//! nothing more.

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
            .record_delivery(&key, DELIVERY_TTL)
            .await
            .map(drop)
            .map_err(|e| SinkError(Box::new(e)))
    }

    /// What a delivery is known by: its id, then its body, then the comment it carries. The
    /// same bytes under a new id are a replay (the id is not signed on most hosts), or a host's
    /// retry that changed its id (GitLab's event UUID). A comment seen before, new or changed,
    /// runs nothing again, whatever event it comes as.
    /// Each key comes with what a match of it means, for the log.
    fn delivery_keys(event: &Event) -> Vec<(String, &'static str)> {
        let Some(delivery) = &event.delivery else {
            return Vec::new();
        };
        let provider = event.provider.as_str();
        let body = event.body_sha256.as_ref().map(|sha| {
            let key = format!("{provider}:body:{sha}");
            (key, "a body seen before under another delivery id: not handled again")
        });
        let comment = Self::comment_key(event).map(|key| {
            let why = "a comment seen before (new, edited or deleted) in another delivery: its command does not run again";
            (key, why)
        });
        let id = format!("{provider}:{}", delivery.as_str());
        std::iter::once((id, "redelivery: already handled"))
            .chain(body)
            .chain(comment)
            .collect()
    }

    /// The key of the comment `event` carries: its host, repository and id.
    fn comment_key(event: &Event) -> Option<String> {
        let id = event.comment_id.as_ref()?;
        let repo = event.repo.as_ref().map_or("", RepoName::as_str);
        Some(format!("{}:comment:{repo}:{id}", event.provider.as_str()))
    }

    /// Forgets the delivery, best effort: its work could not be queued.
    pub(super) async fn forget(&self, event: &Event) {
        for (key, _) in Self::delivery_keys(event) {
            if let Err(err) = self.ctx.store.forget_delivery(&key).await {
                tracing::warn!(error = %err, "could not forget a delivery whose work was not queued");
            }
        }
    }

    /// Records the delivery; `true` when it was seen before (nothing more to do).
    pub(super) async fn is_redelivery(&self, event: &Event) -> Result<bool, SinkError> {
        for (n, (key, why)) in Self::delivery_keys(event).into_iter().enumerate() {
            let outcome = self
                .ctx
                .store
                .record_delivery(&key, DELIVERY_TTL)
                .await
                .map_err(|e| SinkError(Box::new(e)))?;
            if outcome == DeliveryOutcome::Duplicate {
                if n == 0 {
                    tracing::info!("{why}");
                } else {
                    // A replay, or a host's retry under a new id.
                    tracing::warn!("{why}");
                }
                return Ok(true);
            }
        }
        Ok(false)
    }
}
