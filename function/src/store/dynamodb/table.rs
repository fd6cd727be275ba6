//! Creating the table, for tests and local endpoints: production tables come from the rendered
//! Terraform. Built only for tests (`cfg(test)` or the `test-support` feature).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::{DynamoStore, REPO_INDEX, SWEEP_INDEX, TTL_ATTRIBUTE};
use crate::store::Result;

impl DynamoStore {
    /// Creates the table as the rendered Terraform does (with the [`REPO_INDEX`] and
    /// [`SWEEP_INDEX`] indexes) and turns
    /// on TTL; for tests and local endpoints.
    pub async fn create_table(&self) -> Result<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definitions have a name and a type")
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema elements have a name and a type")
        };
        let index = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash))
                .key_schema(key(range, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|err| self.request_error("CreateTable", err))
        };
        let repo_index = index(REPO_INDEX, "gsi1pk", "gsi1sk")?;
        let sweep_index = index(SWEEP_INDEX, "gsi2pk", "sk")?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .attribute_definitions(attribute("gsi1pk"))
            .attribute_definitions(attribute("gsi1sk"))
            .attribute_definitions(attribute("gsi2pk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(repo_index)
            .global_secondary_indexes(sweep_index)
            .send()
            .await
            .map_err(|err| self.request_error("CreateTable", aws_sdk_dynamodb::Error::from(err)))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|err| self.request_error("UpdateTimeToLive", err))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|err| {
                self.request_error("UpdateTimeToLive", aws_sdk_dynamodb::Error::from(err))
            })?;
        Ok(())
    }
}
