//! The sweeper's reads and its conditional write, on the table's sweep index.

use super::items::{plan_item, s};
use super::{DynamoStore, SWEEP_INDEX};
use crate::store::keys;
use crate::store::{PlanRecord, PlanStatus, Result, Sweeps};

impl Sweeps for DynamoStore {
    async fn unfinished_runs(&self) -> Result<Vec<PlanRecord>> {
        let items = self
            .query_all(
                Some(SWEEP_INDEX),
                "gsi2pk = :run",
                &[(":run", s(keys::SWEEP_RUN))],
            )
            .await?;
        Ok(items
            .iter()
            .map(|item| self.fields(item).plan())
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn finish_stuck(&self, plan: &PlanRecord, run_id: &str) -> Result<bool> {
        let written = self
            .put(|put| {
                put.set_item(Some(plan_item(plan)))
                    .condition_expression(
                        "run_id = :run AND (#status = :planning OR #status = :applying)",
                    )
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":run", s(run_id))
                    .expression_attribute_values(":planning", s(PlanStatus::Planning.as_str()))
                    .expression_attribute_values(":applying", s(PlanStatus::Applying.as_str()))
            })
            .await?;
        Ok(written.is_ok())
    }
}
