//! The loop under the Lambda runtime emulator, shaped like production: `cargo lambda watch`
//! builds and runs `landfall-function` (two instances allowed), configured only by the brief's
//! variables with the DynamoDB store and S3 on moto and local dispatch. Signed GitHub deliveries
//! go through its Function URL endpoint; each invocation verifies, answers and hands the event
//! off as an asynchronous invocation of the function itself, sent to the emulator's own Invoke
//! API (`AWS_ENDPOINT_URL_LAMBDA`), which does the work; runners record their own results. The
//! same fake GitHub, local git repository, real `terraform` and story as `loop_serve.rs`: plan,
//! "locked by #1", apply refused without approval, a stale plan refused after a push, apply,
//! merge releases, the same delivery twice → one run, unlock.

mod loop_common;

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landfall_e2e::MotoServer;
use landfall_function::store::{DynamoStore, Store as _};
use loop_common::new_story;
use loop_common::server_env;
use loop_common::steps::{
    FunctionUrl, apply_and_merge, apply_refused, initial_commit_and_policy, plan_and_lock,
    redelivery_and_unlock,
};

const FUNCTION_URL: &str = "/lambda-url/landfall-function/";
const TABLE: &str = "landfall-watch";
const BUCKET: &str = "landfall-watch-artifacts";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cargo lambda watch` and everything it started (its own process group), killed when dropped.
struct Watch {
    child: Child,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_loop_through_cargo_lambda_watch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mock, mut story) = new_story(&runtime);
    let policy = initial_commit_and_policy(&story);
    let moto = MotoServer::start().expect("moto starts (run scripts/install-tools)");
    moto.create_bucket(BUCKET).unwrap();
    let data = story.dir.path().join("data");
    let port = free_port();
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
        (
            "AWS_ENDPOINT_URL_LAMBDA",
            format!("http://127.0.0.1:{port}"),
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
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(landfall_e2e::AWS_REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"),
        ))
        .build();
    let table = DynamoStore::new(&aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    runtime.block_on(table.create_table()).unwrap();
    let (_watch, addr) = start_watch(&env, port);
    // The first invocation waits for `cargo lambda watch` to build the function.
    let url = FunctionUrl {
        addr,
        path: FUNCTION_URL,
        timeout: Duration::from_mins(25),
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
    // Every answer but the first (which includes the build) came at once: the work was handed
    // off to another invocation.
    answers.remove(0);
    assert!(
        answers.iter().all(|took| *took < Duration::from_secs(5)),
        "{answers:?}"
    );
}

/// Starts `cargo lambda watch` with `env` on `port`, two instances at most (one answers a
/// delivery while the other works on the hand-off); returns it and its address once it listens.
fn start_watch(env: &[(&str, String)], port: u16) -> (Watch, String) {
    let cargo_lambda = landfall_e2e::tool("cargo-lambda");
    let env_vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut command = Command::new(&cargo_lambda);
    command
        .args([
            "lambda",
            "watch",
            "--package",
            "landfall-function",
            "--bin",
            "landfall-function",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--concurrency",
            "2",
            "--env-var",
            &env_vars.join(","),
        ])
        .current_dir(landfall_e2e::repo_root())
        .env("PATH", landfall_e2e::path_with_tools())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("LANDFALL_") {
            command.env_remove(name);
        }
    }
    let watch = Watch {
        child: command.spawn().expect("cargo lambda watch starts"),
    };
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_mins(2);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch never listened"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    (watch, addr)
}
