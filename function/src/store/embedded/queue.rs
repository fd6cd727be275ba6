//! Queued execution order groups in the embedded store: one JSON record per command, taken in
//! one write transaction.

use redb::ReadableTable as _;

use super::writer::Finish;
use super::{EmbeddedStore, RUN_QUEUES, decode, encode};
use crate::store::keys::{embedded_plan_prefix, escape};
use crate::store::queue::{QueueKey, QueuedGroups, RunQueues, TakenGroup};
use crate::store::{LockKey, Result};

fn id(queue: QueueKey<'_>) -> String {
    format!(
        "{}{}",
        embedded_plan_prefix(queue.repo, queue.pr),
        escape(queue.trigger)
    )
}

impl RunQueues for EmbeddedStore {
    async fn queue_groups(&self, queue: QueueKey<'_>, queued: &QueuedGroups) -> Result<()> {
        let (id, value) = (id(queue), encode(queued));
        Ok(self
            .put_json("queue execution order groups", RUN_QUEUES, id, value)
            .await?)
    }

    async fn next_group(
        &self,
        queue: QueueKey<'_>,
        finished: &LockKey,
    ) -> Result<Option<TakenGroup>> {
        let (id, finished) = (id(queue), finished.clone());
        let taken = self
            .write("take the next execution order group", move |txn, _| {
                let mut table = txn.open_table(RUN_QUEUES)?;
                let Some(value) = table.get(id.as_str())? else {
                    return Ok(Finish::Abort(None));
                };
                let mut queued = decode::<QueuedGroups>(&id, value.value())?;
                drop(value);
                let Some(next) = queued.take_after(&finished) else {
                    return Ok(Finish::Abort(None));
                };
                if queued.groups.is_empty() {
                    table.remove(id.as_str())?;
                } else {
                    table.insert(id.as_str(), encode(&queued).as_slice())?;
                }
                Ok(Finish::Commit(Some(next)))
            })
            .await?;
        Ok(taken)
    }
}
