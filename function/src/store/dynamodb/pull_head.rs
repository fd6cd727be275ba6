//! What a plan of the whole PR selected at a head, in the table: one item per PR and head
//! (`pk = head#<repo>#<pr>`, `sk = <head>`), the project keys as JSON, expiring after 180 days.

use super::items::{n, s};
use super::{DynamoStore, TTL_ATTRIBUTE};
use crate::store::keys::escape;
use crate::store::pull_head::{HeadKey, PullHeads};
use crate::store::{LockKey, Result, StoreError};

/// How long a head's selection is kept: longer than a pull request stays open in practice.
const SELECTED_TTL_SECS: u64 = 180 * 24 * 3600;

fn keys(at: HeadKey<'_>) -> (String, String) {
    (format!("head#{}#{}", escape(at.repo), at.pr), escape(at.head))
}

impl PullHeads for DynamoStore {
    async fn put_selected(&self, at: HeadKey<'_>, projects: &[LockKey]) -> Result<()> {
        let json = serde_json::to_string(projects).expect("lock keys serialise");
        let expires = crate::store::now_secs().saturating_add(SELECTED_TTL_SECS);
        let (pk, sk) = keys(at);
        // Unconditional: the latest plan of the whole PR at the head is what counts.
        let _ = self
            .put_kind((&pk, &sk), "head_selection", |put| {
                put.item("projects", s(&json))
                    .item(TTL_ATTRIBUTE, n(expires))
            })
            .await?;
        Ok(())
    }

    async fn selected(&self, at: HeadKey<'_>) -> Result<Option<Vec<LockKey>>> {
        let (pk, sk) = keys(at);
        let Some(item) = self.get_item(pk, sk).await? else {
            return Ok(None);
        };
        let json = self.fields(&item).string("projects")?;
        serde_json::from_slice(json.as_bytes()).map(Some).map_err(|err| {
            StoreError::InvalidRequest(format!("unreadable head selection: {err}"))
        })
    }
}
