//! Drift records in the table: a project's under `pk = drift#<repo>`, `sk = <project key>` with
//! `gsi2pk = drift` (every repository's records from the sweep index, never a scan); a
//! repository's under the same `pk` with `sk = #repo`. Each holds its record as JSON in `body`.

use super::items::{n, s};
use super::{DynamoStore, SWEEP_INDEX};
use crate::store::drift::{DriftRecord, Drifts, RepoDrift};
use crate::store::keys::{escape, project_key};
use crate::store::{LockKey, Result, StoreError};

/// The sweep index's key (`gsi2pk`) of a project's drift record.
const SWEEP_DRIFT: &str = "drift";

/// The sort key of a repository's own drift item (no project key starts with `#`, as `#` is
/// escaped).
const REPO_SK: &str = "#repo";

fn pk(repo: &str) -> String {
    format!("drift#{}", escape(repo))
}

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_slice(json.as_bytes())
        .map_err(|err| StoreError::InvalidRequest(format!("unreadable drift record: {err}")))
}

impl Drifts for DynamoStore {
    async fn get_drift(&self, key: &LockKey) -> Result<Option<DriftRecord>> {
        let Some(item) = self.get_item(pk(&key.repo), project_key(key)).await? else {
            return Ok(None);
        };
        decode(&self.fields(&item).string("body")?).map(Some)
    }

    async fn put_drift(&self, record: &DriftRecord) -> Result<bool> {
        let body = serde_json::to_string(record).expect("a drift record serialises");
        let (pk, sk) = (pk(&record.key.repo), project_key(&record.key));
        self.put_versioned((&pk, &sk), "drift", &body, record.version)
            .await
    }

    async fn list_drift(&self, repo: Option<&str>) -> Result<Vec<DriftRecord>> {
        let items = match repo {
            // Every item of the partition but the repository's own: a project key may sort
            // before `#repo` (a directory starting with a space, `!` or `"`).
            Some(repo) => {
                let mut items = self
                    .query_all(None, "pk = :pk", &[(":pk", s(pk(repo)))])
                    .await?;
                items.retain(|item| item.get("sk").and_then(|sk| sk.as_s().ok()).map(String::as_str) != Some(REPO_SK));
                items
            }
            None => {
                self.query_all(
                    Some(SWEEP_INDEX),
                    "gsi2pk = :drift",
                    &[(":drift", s(SWEEP_DRIFT))],
                )
                .await?
            }
        };
        let mut records = items
            .iter()
            .map(|item| decode::<DriftRecord>(&self.fields(item).string("body")?))
            .collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    async fn repo_drift(&self, repo: &str) -> Result<RepoDrift> {
        match self.get_item(pk(repo), REPO_SK.to_owned()).await? {
            Some(item) => decode(&self.fields(&item).string("body")?),
            None => Ok(RepoDrift::default()),
        }
    }

    async fn put_repo_drift(&self, repo: &str, drift: &RepoDrift) -> Result<bool> {
        let body = serde_json::to_string(drift).expect("a repository's drift serialises");
        self.put_versioned((&pk(repo), REPO_SK), "repo_drift", &body, drift.version)
            .await
    }
}

impl DynamoStore {
    /// Writes the item of `kind` holding `body` (a JSON record of `version`), only if the kept
    /// item's `version` is `version - 1` (0 for version 0; no item, or one without a version,
    /// counts as 0);
    /// returns whether it was written. A project's record is also put in the sweep index.
    async fn put_versioned(
        &self,
        (pk, sk): (&str, &str),
        kind: &str,
        body: &str,
        version: u64,
    ) -> Result<bool> {
        let expected = version.saturating_sub(1);
        let written = self
            .put_kind((pk, sk), kind, |put| {
                let mut put = put.item("body", s(body)).item("version", n(version));
                if sk != REPO_SK {
                    put = put.item("gsi2pk", s(SWEEP_DRIFT));
                }
                // No item, or one written before items had versions, counts as version 0.
                let condition = if expected == 0 {
                    "attribute_not_exists(version) OR version = :v"
                } else {
                    "version = :v"
                };
                put.condition_expression(condition)
                    .expression_attribute_values(":v", n(expected))
            })
            .await?;
        Ok(written.is_ok())
    }
}
