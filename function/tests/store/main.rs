//! The stores against the contract, on the embedded store and on DynamoDB and S3 (moto): one test
//! binary, so the AWS SDK is linked once for all of them.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their own harness's variables (PATH, seeds, the tools' places), not Landfall's settings"
)]

mod store_artifacts;
mod store_common;
mod store_contract;
mod store_faults;
mod store_ops;
mod store_races;
mod store_requests;
