//! Shared by the store test binaries: fixtures, a moto-backed DynamoDB store per test, and the
//! contract cases that both store implementations must pass.

#![allow(dead_code)] // Each test binary uses its own subset.

pub mod contract;
pub mod contract_apply_lock;
pub mod contract_drift;
pub mod contract_queue;
pub mod contract_release;
pub mod seam;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use landfall_e2e::MotoServer;
use landfall_function::store::retry::Backoff;
use landfall_function::store::{DynamoStore, EmbeddedStore, LockHolder, LockKey};

/// The repository most fixtures lock in.
pub const REPO: &str = "acme/infra";

/// A holder for PR `pr`, at a head commit named after it.
pub fn holder(pr: u64) -> LockHolder {
    LockHolder {
        pr,
        user: format!("user{pr}"),
        head_sha: format!("{pr:040x}"),
        pull_url: format!("https://git.example.test/{REPO}/pull/{pr}"),
    }
}

/// Project `n` of [`REPO`]: directory `projects/<n>`, workspace `default`.
pub fn project(n: usize) -> LockKey {
    LockKey::new(REPO, format!("projects/{n:03}"), "default")
}

/// Projects `0..count` of [`REPO`].
pub fn projects(count: usize) -> Vec<LockKey> {
    (0..count).map(project).collect()
}

/// An embedded store in a fresh temporary folder (kept alive by the returned guard).
pub fn embedded() -> (EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = EmbeddedStore::open_dir(dir.path()).expect("the embedded store opens");
    (store, dir)
}

/// An SDK configuration pointing at `moto`, with dummy credentials.
pub fn sdk_config(moto: &MotoServer) -> SdkConfig {
    SdkConfig::builder()
        .http_client(landfall_function::aws::http_client())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(landfall_e2e::AWS_REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

/// Starts a moto server for one test binary's test.
pub fn start_moto() -> MotoServer {
    MotoServer::start().expect("moto server starts (run scripts/install-tools)")
}

/// A DynamoDB store on a new table `table` of `moto`, through `client`.
pub async fn dynamo_store_with(client: &aws_sdk_dynamodb::Client, table: &str) -> DynamoStore {
    let store = DynamoStore::new(client, table).with_backoff(Backoff {
        base: std::time::Duration::from_millis(5),
        cap: std::time::Duration::from_millis(200),
        max_attempts: 12,
    });
    store.create_table().await.expect("the table is created");
    store
}

/// A DynamoDB store on a new table `table` of `moto`.
pub async fn dynamo_store(moto: &MotoServer, table: &str) -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(moto));
    dynamo_store_with(&client, table).await
}
