//! The loop under the Lambda runtime emulator, shaped like production: `cargo lambda watch`
//! serves the Lambda APIs to two instances of `landfall-function`, configured only by the brief's
//! variables with the DynamoDB store and S3 on moto and local dispatch. Signed GitHub deliveries
//! go through its Function URL endpoint; each invocation verifies, answers and hands the event
//! off as an asynchronous invocation of the function itself, sent to the emulator's own Invoke
//! API (`AWS_ENDPOINT_URL_LAMBDA`), which does the work; runners record their own results. The
//! same fake GitHub, local git repository, real `terraform` and story as `loop_serve.rs`: plan,
//! "locked by #1", apply refused without approval, a stale plan refused after a push, apply,
//! merge releases, the same delivery twice → one run, unlock.

use std::path::Path;
use std::time::Duration;

use landfall_e2e::{LambdaEmulator, MotoServer};
use landfall_function::store::{DynamoStore, Store as _};

use crate::loop_common::new_story;
use crate::loop_common::server_env;
use crate::loop_common::steps::{
    FunctionUrl, apply_and_merge, apply_refused, initial_commit_and_policy, plan_and_lock,
    redelivery_and_unlock,
};

const TABLE: &str = "landfall-watch";
const BUCKET: &str = "landfall-watch-artifacts";

#[test]
fn the_loop_through_cargo_lambda_watch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let policy = initial_commit_and_policy(&story);
    let moto = MotoServer::start().expect("moto starts (run scripts/install-tools)");
    moto.create_bucket(BUCKET).unwrap();
    let data = story.dir.path().join("data");
    let mut emulator =
        LambdaEmulator::start("landfall-function").expect("cargo lambda watch starts");
    let mut env = server_env(&mock, &data);
    for (name, value) in [
        (
            "LANDFALL_RUNNER",
            env!("CARGO_BIN_EXE_landfall-runner").to_owned(),
        ),
        ("LANDFALL_POLICY", policy.display().to_string()),
        ("LANDFALL_STORE", "dynamodb".to_owned()),
        ("LANDFALL_TABLE", TABLE.to_owned()),
        ("LANDFALL_BUCKET", BUCKET.to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ENDPOINT_URL_LAMBDA", emulator.endpoint()),
        // Runners post their reports to the function's URL (a real Lambda finds its own).
        (
            "LANDFALL_REPORT_URL",
            format!(
                "{}{}",
                emulator.endpoint(),
                emulator.function_url_path().trim_end_matches('/')
            ),
        ),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", landfall_e2e::AWS_REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ] {
        env.retain(|(n, _)| *n != name);
        env.push((name, value));
    }
    let sdk = aws_config::SdkConfig::builder()
        .http_client(landfall_function::aws::http_client())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(landfall_e2e::AWS_REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"),
        ))
        .build();
    let table = DynamoStore::new(&aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    runtime.block_on(table.create_table()).unwrap();
    // Two instances: one answers a delivery while the other works on the hand-off.
    let function = Path::new(env!("CARGO_BIN_EXE_landfall-function"));
    for _ in 0..2 {
        emulator
            .start_instance(function, &env)
            .expect("the function starts");
    }
    let url = FunctionUrl {
        addr: emulator.addr(),
        path: emulator.function_url_path(),
        timeout: Duration::from_mins(2),
    };

    let mut answers = Vec::new();
    let opened = plan_and_lock(&url, &mut story, &data, &mut answers);
    let b = apply_refused(&url, &mut story, &data);
    apply_and_merge(&url, &mut story, &mut answers, &b);
    let runs = redelivery_and_unlock(&url, &mut story, &data, &opened);
    assert_eq!(runs, 4, "plan, re-plan, apply, and PR #2's plan");
    runtime.block_on(async {
        assert_eq!(table.list_locks(None).await.unwrap(), vec![]);
        assert_eq!(table.list_plans("acme/infra", 1).await.unwrap(), vec![]);
    });
    // Every answer came at once: the work was handed off to another invocation.
    assert!(
        answers.iter().all(|took| *took < Duration::from_secs(5)),
        "{answers:?}"
    );
}
