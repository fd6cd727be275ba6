//! The sweeper's reads and its conditional write, on the table's sweep index.

use aws_sdk_dynamodb::operation::put_item::PutItemError;

use super::items::{plan_item, s};
use super::{DynamoStore, SWEEP_INDEX, is_transient};
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
        let outcome = self
            .retrying("PutItem", is_transient::<PutItemError, _>, || {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(plan_item(plan)))
                    .condition_expression(
                        "run_id = :run AND (#status = :planning OR #status = :applying)",
                    )
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":run", s(run_id))
                    .expression_attribute_values(":planning", s(PlanStatus::Planning.as_str()))
                    .expression_attribute_values(":applying", s(PlanStatus::Applying.as_str()))
                    .send()
            })
            .await?;
        match outcome {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(self.request_error("PutItem", aws_sdk_dynamodb::Error::from(err))),
        }
    }
}
