//! Drift records in the embedded store: one JSON record per project (keyed like its lock) and
//! one per repository.

use redb::{ReadableTable as _, TableDefinition};
use serde::Deserialize;

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

    async fn put_drift(&self, record: &DriftRecord) -> Result<bool> {
        let (id, value) = (embedded_lock_key(&record.key), encode(record));
        self.put_versioned("write a drift record", DRIFTS, id, value, record.version)
            .await
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
        self.put_versioned("write a repository's drift", REPO_DRIFTS, id, value, drift.version)
            .await
    }
}

/// The `version` of a JSON record written by [`EmbeddedStore::put_versioned`].
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    version: u64,
}

impl EmbeddedStore {
    /// Writes `value` (a JSON record of `version`) under `id`, only if the kept record's version
    /// is `version - 1` (none kept counts as 0); returns whether it was written.
    async fn put_versioned(
        &self,
        what: &'static str,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        id: String,
        value: Vec<u8>,
        version: u64,
    ) -> Result<bool> {
        let expected = version.saturating_sub(1);
        let written = self
            .write(what, move |txn, _| {
                let mut table = txn.open_table(table)?;
                let kept = match table.get(id.as_str())? {
                    Some(v) => decode::<Versioned>(&id, v.value())?.version,
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
