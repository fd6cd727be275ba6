//! What a plan of the whole PR selected at a head, in the embedded store: one JSON list of
//! lock keys per PR and head.

use super::{EmbeddedStore, PULL_HEADS, encode};
use crate::store::keys::{embedded_plan_prefix, escape};
use crate::store::pull_head::{HeadKey, PullHeads};
use crate::store::{LockKey, Result};

fn id(at: HeadKey<'_>) -> String {
    format!("{}{}", embedded_plan_prefix(at.repo, at.pr), escape(at.head))
}

impl PullHeads for EmbeddedStore {
    async fn put_selected(&self, at: HeadKey<'_>, projects: &[LockKey]) -> Result<()> {
        let (id, value) = (id(at), encode(&projects));
        Ok(self
            .put_json("keep a head's selection", PULL_HEADS, id, value)
            .await?)
    }

    async fn selected(&self, at: HeadKey<'_>) -> Result<Option<Vec<LockKey>>> {
        Ok(self
            .get_json("read a head's selection", PULL_HEADS, id(at))
            .await?)
    }
}
