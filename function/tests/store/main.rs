//! The stores against the contract, on the embedded store and on DynamoDB and S3 (moto): one test
//! binary, so the AWS SDK is linked once for all of them.

mod store_artifacts;
mod store_common;
mod store_contract;
mod store_faults;
mod store_ops;
mod store_races;
mod store_requests;
