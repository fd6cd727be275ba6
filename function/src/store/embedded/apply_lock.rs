//! The global apply lock in the embedded store: one record in a table of its own.

use redb::ReadableTable;

use super::writer::Finish;
use super::{APPLY_LOCK, EmbeddedStore, decode, encode};
use crate::store::keys::EMBEDDED_APPLY_LOCK_KEY as KEY;
use crate::store::{ApplyLock, ApplyLocks, Result};

impl ApplyLocks for EmbeddedStore {
    async fn apply_lock(&self) -> Result<Option<ApplyLock>> {
        Ok(self
            .get_json("read the apply lock", APPLY_LOCK, KEY.to_owned())
            .await?)
    }

    async fn set_apply_lock(&self, lock: &ApplyLock) -> Result<Option<ApplyLock>> {
        let lock = lock.clone();
        let outcome = self
            .write("set the apply lock", move |txn, _| {
                let mut table = txn.open_table(APPLY_LOCK)?;
                if let Some(value) = table.get(KEY)? {
                    let held = decode::<ApplyLock>(KEY, value.value())?;
                    return Ok(Finish::Abort(Some(held)));
                }
                table.insert(KEY, encode(&lock).as_slice())?;
                Ok(Finish::Commit(None))
            })
            .await?;
        Ok(outcome)
    }

    async fn clear_apply_lock(&self) -> Result<Option<ApplyLock>> {
        let outcome = self
            .write("clear the apply lock", move |txn, _| {
                let mut table = txn.open_table(APPLY_LOCK)?;
                let cleared = match table.remove(KEY)? {
                    Some(value) => Some(decode::<ApplyLock>(KEY, value.value())?),
                    None => None,
                };
                Ok(Finish::Commit(cleared))
            })
            .await?;
        Ok(outcome)
    }
}
