//! Queued execution order groups in the embedded store: one JSON record per command, taken in
//! one write transaction.

use redb::ReadableTable as _;

use super::writer::Finish;
use super::{EmbeddedStore, RUN_QUEUES, decode, encode};
use crate::run::{CommentThread, RunSpec};
use crate::store::keys::{embedded_plan_prefix, escape};
use crate::store::queue::{QueuedGroups, RunQueues};
use crate::store::{LockKey, Result};

fn id(repo: &str, pr: u64, trigger: &str) -> String {
    format!("{}{}", embedded_plan_prefix(repo, pr), escape(trigger))
}

impl RunQueues for EmbeddedStore {
    async fn queue_groups(
        &self,
        repo: &str,
        pr: u64,
        trigger: &str,
        queued: &QueuedGroups,
    ) -> Result<()> {
        let (id, value) = (id(repo, pr, trigger), encode(queued));
        self.write("queue execution order groups", move |txn, _| {
            txn.open_table(RUN_QUEUES)?
                .insert(id.as_str(), value.as_slice())?;
            Ok(Finish::Commit(()))
        })
        .await?;
        Ok(())
    }

    async fn next_group(
        &self,
        repo: &str,
        pr: u64,
        trigger: &str,
        finished: &LockKey,
    ) -> Result<Option<(CommentThread, Vec<RunSpec>)>> {
        let (id, finished) = (id(repo, pr, trigger), finished.clone());
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
                Ok(Finish::Commit(Some((queued.thread, next))))
            })
            .await?;
        Ok(taken)
    }
}
