//! The sweeper's reads and its conditional write in the embedded store (local use: reading
//! every plan record of the file is cheap).

use redb::ReadableTable;

use super::writer::Finish;
use super::{EmbeddedStore, PLANS, decode, encode, read};
use crate::store::keys;
use crate::store::{PlanRecord, Result, Sweeps};

impl Sweeps for EmbeddedStore {
    async fn unfinished_runs(&self) -> Result<Vec<PlanRecord>> {
        let records: Vec<PlanRecord> = self
            .read("list unfinished runs", |txn, _| {
                let table = txn.open_table(PLANS)?;
                let mut out = Vec::new();
                for entry in table.iter()? {
                    let (key, value) = entry?;
                    let record: PlanRecord = decode(key.value(), value.value())?;
                    if record.in_progress() {
                        out.push(record);
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(records)
    }

    async fn finish_stuck(&self, plan: &PlanRecord, run_id: &str) -> Result<bool> {
        let plan = plan.clone();
        let run_id = run_id.to_owned();
        let written = self
            .write("fail a stuck run", move |txn, _| {
                let mut plans = txn.open_table(PLANS)?;
                let id = keys::embedded_plan_key(&plan.key, plan.pr);
                let Some(current) = read::<PlanRecord>(&plans, &id)? else {
                    return Ok(Finish::Abort(false));
                };
                if current.run_id != run_id || !current.in_progress() {
                    return Ok(Finish::Abort(false));
                }
                plans.insert(id.as_str(), encode(&plan).as_slice())?;
                Ok(Finish::Commit(true))
            })
            .await?;
        Ok(written)
    }
}
