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
    Deliver as _, FunctionUrl, apply_and_merge, apply_refused, initial_commit_and_policy,
    plan_and_lock, redelivery_and_unlock,
};

pub(crate) const TABLE: &str = "landfall-watch";
pub(crate) const BUCKET: &str = "landfall-watch-artifacts";
/// The function hand-offs go to (`aws_lambda_function.worker` in the platform). The emulator
/// serves only functions named as one of the workspace's binaries, so the worker takes the
/// bootstrap CLI's name; its instances run `landfall-function`, as the platform's do.
pub(crate) const WORKER: &str = "landfall";

/// The emulator with two instances of the function on moto's table and bucket, logging to
/// `log`, for `story` on `mock`; the store to check afterwards.
fn start_function(
    runtime: &tokio::runtime::Runtime,
    mock: &wiremock::MockServer,
    story: &crate::loop_common::Story,
    log: &Path,
) -> (LambdaEmulator, MotoServer, DynamoStore) {
    let policy = initial_commit_and_policy(story);
    let moto = MotoServer::start().expect("moto starts (run scripts/install-tools)");
    start_function_on(runtime, mock, story, log, &policy, moto, &[])
}

/// [`start_function`] with the operator policy at `policy`, on `moto`, with `extra` variables.
pub(crate) fn start_function_on(
    runtime: &tokio::runtime::Runtime,
    mock: &wiremock::MockServer,
    story: &crate::loop_common::Story,
    log: &Path,
    policy: &Path,
    moto: MotoServer,
    extra: &[(&'static str, String)],
) -> (LambdaEmulator, MotoServer, DynamoStore) {
    moto.create_bucket(BUCKET).unwrap();
    let data = story.dir.path().join("data");
    let mut emulator =
        LambdaEmulator::start("landfall-function").expect("cargo lambda watch starts");
    emulator.log_to(log);
    let mut env = server_env(mock, &data);
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
    ]
    .into_iter()
    .chain(extra.iter().cloned())
    {
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
    // As the platform deploys it: the webhook function answers deliveries (and takes reports)
    // and hands events to a second function, the worker, which does the work.
    let function = Path::new(env!("CARGO_BIN_EXE_landfall-function"));
    let mut webhook_env = env.clone();
    webhook_env.push(("LANDFALL_HANDOFF_FUNCTION", WORKER.to_owned()));
    emulator
        .start_instance(function, &webhook_env)
        .expect("the webhook function starts");
    emulator
        .start_instance_of(WORKER, function, &env)
        .expect("the worker starts");
    (emulator, moto, table)
}

#[test]
fn the_loop_through_cargo_lambda_watch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let log = story.dir.path().join("function.log");
    let (emulator, _moto, table) = start_function(&runtime, &mock, &story, &log);
    let data = story.dir.path().join("data");
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
    // Every answer came at once: the work was handed off to another invocation, of the worker.
    assert!(
        answers.iter().all(|took| *took < Duration::from_secs(5)),
        "{answers:?}"
    );
    let handed_off = logged(&log, "event handed off");
    assert!(!handed_off.is_empty());
    assert!(
        handed_off.iter().all(|line| line["function"] == WORKER),
        "{handed_off:#?}"
    );
}

/// The function's JSON log lines whose message is `message`.
fn logged(log: &Path, message: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == message)
        .collect()
}

/// Three projects in execution order groups 1, 2 and 3: the delivery's hand-off starts the
/// first group and returns; each runner's report, posted to the Function URL, starts the next.
/// No invocation waits for a run, so none takes more than a few seconds, whatever the runs take.
#[test]
fn three_execution_order_groups_under_lambda_start_from_the_reports() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let log = story.dir.path().join("function.log");
    let (emulator, _moto, table) = start_function(&runtime, &mock, &story, &log);
    let url = FunctionUrl {
        addr: emulator.addr(),
        path: emulator.function_url_path(),
        timeout: Duration::from_mins(2),
    };
    let project =
        |value: &str| format!("resource \"terraform_data\" \"x\" {{\n  input = \"{value}\"\n}}\n");
    let config = "version: 3\nprojects:\n  - dir: a\n    execution_order_group: 1\n  - dir: b\n    \
                  execution_order_group: 2\n  - dir: c\n    execution_order_group: 3\n";
    story.commit(
        "main",
        &[
            ("atlantis.yaml", config.to_owned()),
            ("a/main.tf", project("1")),
            ("b/main.tf", project("1")),
            ("c/main.tf", project("1")),
        ],
        "three projects",
    );
    story.commit(
        "groups",
        &[
            ("a/main.tf", project("2")),
            ("b/main.tf", project("2")),
            ("c/main.tf", project("2")),
        ],
        "change all three",
    );
    crate::loop_common::open_pr(&story, 1, "groups", "octocat");
    let id = story.next_delivery();
    let (status, took) = url.deliver("pull_request", &id, &story.pull_request("opened", 1, false));
    assert_eq!(status, 202);
    assert!(took < Duration::from_secs(5), "{took:?}");

    let deadline = std::time::Instant::now() + Duration::from_mins(3);
    loop {
        let recorded = logged(&log, "run report recorded").len();
        if recorded == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{recorded} of 3 groups reported; comments: {:#?}",
            story.comments(1)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let dispatched: Vec<String> = logged(&log, "run dispatched")
        .iter()
        .map(|line| line["project"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(dispatched, ["a", "b", "c"], "one group after another");
    // The function that took each report handed the next group to the worker.
    let handed_on = logged(&log, "what follows the run handed off");
    assert_eq!(handed_on.len(), 3, "{handed_on:#?}");
    assert!(
        handed_on.iter().all(|line| line["function"] == WORKER),
        "{handed_on:#?}"
    );
    for line in logged(&log, "event handled")
        .iter()
        .chain(&logged(&log, "run report recorded"))
    {
        assert!(
            line["elapsed_ms"].as_u64().unwrap() < 5_000,
            "an invocation waited: {line}"
        );
    }
    let comment = story.wait_comment(1, 0, "Plan: 1 to add");
    let _comment = {
        let deadline = std::time::Instant::now() + Duration::from_mins(1);
        let mut last = comment;
        while last.matches("Plan: 1 to add").count() < 3 {
            assert!(std::time::Instant::now() < deadline, "{last}");
            std::thread::sleep(Duration::from_millis(100));
            last = story.wait_comment(1, 0, "Plan: 1 to add");
        }
        last
    };
    runtime.block_on(async {
        let plans = table.list_plans("acme/infra", 1).await.unwrap();
        assert_eq!(plans.len(), 3, "{plans:?}");
    });
}
