//! The whole loop on the production store: `landfall-function serve` configured only by the
//! brief's variables with `LANDFALL_STORE=dynamodb` (`LANDFALL_TABLE`, `LANDFALL_BUCKET`), pointed
//! at a moto server by `AWS_ENDPOINT_URL`, local dispatch of the real `landfall-runner` and the
//! real `terraform`. On DynamoDB the runner records its own result (plan record, commit status,
//! the shared PR comment) exactly as it does in a Kubernetes Job: the function never waits for
//! a run.
//!
//! The same story as `loop_serve.rs` (plan, "locked by #1", apply refused without approval,
//! stale plan refused, apply, merge releases, redelivery runs nothing, unlock); afterwards the
//! table holds no lock and no plan, and the bucket holds the planfiles and logs the runs stored.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use landfall_e2e::{AWS_REGION, MotoServer};
use landfall_function::store::{DynamoStore, Store as _};

use crate::loop_common::steps::{
    apply_and_merge, apply_refused, initial_commit_and_policy, plan_and_lock, redelivery_and_unlock,
};
use crate::loop_common::{new_story, server_env, start_server};

pub(crate) const TABLE: &str = "landfall-loop";
pub(crate) const BUCKET: &str = "landfall-loop-artifacts";

pub(crate) fn sdk_config(moto: &MotoServer) -> SdkConfig {
    SdkConfig::builder()
        .http_client(landfall_function::aws::http_client())
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(AWS_REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

/// `env` switched to the DynamoDB store and S3 bucket on `moto`, with the policy at `policy`.
pub(crate) fn dynamodb_env(
    mut env: Vec<(&'static str, String)>,
    moto: &MotoServer,
    policy: &std::path::Path,
) -> Vec<(&'static str, String)> {
    for (name, value) in [
        ("LANDFALL_STORE", "dynamodb".to_owned()),
        ("LANDFALL_TABLE", TABLE.to_owned()),
        ("LANDFALL_BUCKET", BUCKET.to_owned()),
        ("LANDFALL_POLICY", policy.display().to_string()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", AWS_REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ] {
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
    env
}

/// A moto server with the loop's table and bucket made; its SDK settings and the table.
pub(crate) fn moto_store(
    runtime: &tokio::runtime::Runtime,
) -> (MotoServer, SdkConfig, DynamoStore) {
    let moto = MotoServer::start().expect("moto starts (run scripts/install-tools)");
    let sdk = sdk_config(&moto);
    let table = DynamoStore::new(&aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    runtime.block_on(table.create_table()).unwrap();
    moto.create_bucket(BUCKET).unwrap();
    (moto, sdk, table)
}

#[test]
fn the_whole_loop_on_dynamodb_and_s3_with_runners_reporting_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (moto, sdk, table) = moto_store(&runtime);

    let (mock, mut story) = new_story(&runtime);
    let policy = initial_commit_and_policy(&story);
    let data = story.dir.path().join("data");
    let env = dynamodb_env(server_env(&mock, &data), &moto, &policy);
    let server = start_server(&env, &story.dir.path().join("server.log"));

    let mut answers = Vec::new();
    let opened = plan_and_lock(&server, &mut story, &data, &mut answers);
    let b = apply_refused(&server, &mut story, &data);
    apply_and_merge(&server, &mut story, &mut answers, &b);
    redelivery_and_unlock(&server, &mut story, &data, &opened);
    drop(server);

    runtime.block_on(async {
        assert_eq!(table.list_locks(None).await.unwrap(), vec![]);
        assert_eq!(table.list_plans("acme/infra", 1).await.unwrap(), vec![]);
        assert_eq!(table.list_plans("acme/infra", 2).await.unwrap(), vec![]);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert!(
            keys.iter()
                .any(|k| k.starts_with("planfiles/acme%2Finfra/pr-1/") && k.ends_with(".tfplan")),
            "{keys:?}"
        );
        assert!(
            keys.iter()
                .any(|k| k.starts_with("logs/acme%2Finfra/pr-1/")),
            "{keys:?}"
        );
    });
    for (id, pr, body) in &story.host.state.lock().unwrap().comments {
        eprintln!("--- comment {id} on #{pr} ---\n{body}");
    }
}
