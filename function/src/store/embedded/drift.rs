//! Drift records in the embedded store: one JSON record per project (keyed like its lock) and
//! one per repository.

use redb::ReadableTable as _;

use super::writer::Finish;
use super::{DRIFTS, EmbeddedStore, REPO_DRIFTS, decode, encode};
use crate::store::drift::{DriftRecord, Drifts, RepoDrift};
use crate::store::keys::{embedded_lock_key, embedded_repo_prefix, escape};
use crate::store::{LockKey, Result};

impl Drifts for EmbeddedStore {
    async fn get_drift(&self, key: &LockKey) -> Result<Option<DriftRecord>> {
        Ok(self
            .get_json("read a drift record", DRIFTS, embedded_lock_key(key))
            .await?)
    }

    async fn put_drift(&self, record: &DriftRecord) -> Result<()> {
        let (id, value) = (embedded_lock_key(&record.key), encode(record));
        self.write("write a drift record", move |txn, _| {
            txn.open_table(DRIFTS)?.insert(id.as_str(), value.as_slice())?;
            Ok(Finish::Commit(()))
        })
        .await?;
        Ok(())
    }

    async fn list_drift(&self, repo: Option<&str>) -> Result<Vec<DriftRecord>> {
        let prefix = repo.map(embedded_repo_prefix).unwrap_or_default();
        Ok(self
            .list_json("list drift records", DRIFTS, prefix, |r: &DriftRecord| &r.key)
            .await?)
    }

    async fn repo_drift(&self, repo: &str) -> Result<RepoDrift> {
        let found = self
            .get_json("read a repository's drift", REPO_DRIFTS, escape(repo))
            .await?;
        Ok(found.unwrap_or_default())
    }

    async fn put_repo_drift(&self, repo: &str, drift: &RepoDrift) -> Result<bool> {
        let (id, value) = (escape(repo), encode(drift));
        let expected = drift.version.saturating_sub(1);
        let written = self
            .write("write a repository's drift", move |txn, _| {
                let mut table = txn.open_table(REPO_DRIFTS)?;
                let kept = match table.get(id.as_str())? {
                    Some(v) => decode::<RepoDrift>(&id, v.value())?.version,
                    None => 0,
                };
                if kept != expected {
                    return Ok(Finish::Abort(false));
                }
                table.insert(id.as_str(), value.as_slice())?;
                Ok(Finish::Commit(true))
            })
            .await?;
        Ok(written)
    }
}
