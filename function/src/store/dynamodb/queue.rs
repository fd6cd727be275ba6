//! Queued execution order groups in the table: one item per command (`pk = queue#<repo>#<pr>`,
//! `sk = <trigger>`), its groups as JSON and a version; a group is taken by a write conditional
//! on the version read, so two reports never take the same group. The item expires after a week.

use super::items::{n, s};
use super::{DynamoStore, TTL_ATTRIBUTE};
use crate::store::keys::escape;
use crate::store::queue::{QueueKey, QueuedGroups, RunQueues, TakenGroup};
use crate::store::{LockKey, Result, StoreError};

/// How long a command's queue is kept at most.
const QUEUE_TTL_SECS: u64 = 7 * 24 * 3600;

/// How often a take is tried again after another writer changed the queue in between.
const TAKE_ATTEMPTS: u32 = 5;

/// The queue's item key: its pull request (partition) and its command (sort key).
fn keys(queue: QueueKey<'_>) -> (String, String) {
    (
        format!("queue#{}#{}", escape(queue.repo), queue.pr),
        escape(queue.trigger),
    )
}

impl DynamoStore {
    async fn put_queue(
        &self,
        (pk, sk): (&str, &str),
        queued: &QueuedGroups,
        version: u64,
        expected: Option<u64>,
    ) -> Result<bool> {
        let json = serde_json::to_string(queued).expect("queued groups serialise");
        let expires = crate::store::now_secs().saturating_add(QUEUE_TTL_SECS);
        let written = self
            .put_kind((pk, sk), "run_queue", |put| {
                let put = put
                    .item("queue", s(&json))
                    .item("version", n(version))
                    .item(TTL_ATTRIBUTE, n(expires));
                match expected {
                    Some(v) => put
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", n(v)),
                    None => put,
                }
            })
            .await?;
        Ok(written.is_ok())
    }

    async fn delete_queue(&self, (pk, sk): (&str, &str), expected: u64) -> Result<bool> {
        let written = self
            .delete((pk, sk), |delete| {
                delete
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(expected))
            })
            .await?;
        Ok(written.is_ok())
    }
}

impl RunQueues for DynamoStore {
    async fn queue_groups(&self, queue: QueueKey<'_>, queued: &QueuedGroups) -> Result<()> {
        let (pk, sk) = keys(queue);
        self.put_queue((&pk, &sk), queued, 0, None).await?;
        Ok(())
    }

    async fn next_group(
        &self,
        queue: QueueKey<'_>,
        finished: &LockKey,
    ) -> Result<Option<TakenGroup>> {
        let (pk, sk) = keys(queue);
        for _ in 0..TAKE_ATTEMPTS {
            let Some(item) = self.get_item(pk.clone(), sk.clone()).await? else {
                return Ok(None);
            };
            let fields = self.fields(&item);
            let version = fields.number("version")?;
            let mut queued: QueuedGroups =
                serde_json::from_slice(fields.string("queue")?.as_bytes()).map_err(|err| {
                    StoreError::InvalidRequest(format!("unreadable run queue: {err}"))
                })?;
            let Some(next) = queued.take_after(finished) else {
                return Ok(None);
            };
            let taken = if queued.groups.is_empty() {
                self.delete_queue((&pk, &sk), version).await?
            } else {
                self.put_queue((&pk, &sk), &queued, version + 1, Some(version))
                    .await?
            };
            if taken {
                return Ok(Some(next));
            }
        }
        Ok(None)
    }
}
