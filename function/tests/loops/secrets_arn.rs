//! Secrets by ARN: the webhook secret lives in Secrets Manager (a local moto server), the function
//! is given only `LANDFALL_WEBHOOK_SECRET_ARN`, reads it at start-up and verifies deliveries with it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use landfall_e2e::MotoServer;
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;

const SECRET: &str = "secret-from-secrets-manager";

fn create_secret(moto: &MotoServer, name: &str, value: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = aws_sdk_secretsmanager::Config::builder()
            .http_client(landfall_function::aws::http_client())
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .region(Region::new(landfall_e2e::AWS_REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        let client = aws_sdk_secretsmanager::Client::from_conf(config);
        let out = client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        out.arn().unwrap().to_owned()
    })
}

/// `landfall-function serve` on `port`, given the webhook secret only by `arn` (in moto), its
/// data in the temporary folder `data`, its stdout piped.
fn serve_with_secret_arn(moto: &MotoServer, arn: &str, port: u16, data: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_landfall-function"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("LANDFALL_WEBHOOK_SECRET")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("LANDFALL_WEBHOOK_SECRET_ARN", arn)
        .env("LANDFALL_DATA_DIR", std::env::temp_dir().join(data))
        .stdout(Stdio::piped());
    moto.aws_env(&mut command);
    command
}

#[test]
fn the_webhook_secret_is_read_from_secrets_manager_by_arn() {
    let moto = MotoServer::start().unwrap();
    let arn = create_secret(&moto, "landfall/webhook", SECRET);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = serve_with_secret_arn(&moto, &arn, port, "landfall-arn-test");
    let mut child = command.stderr(Stdio::inherit()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("\"listening\""));
    let outcome = std::panic::catch_unwind(|| {
        assert!(listening, "the function did not start");
        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let (name, value) = sign(Provider::Github, SECRET, body);
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: 5a1e7c2e-0000-4000-8000-000000000001\r\n{name}: {value}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A secret stored blank (a `put-secret-value` from an empty variable) would let anyone sign
/// deliveries: the function does not start on it, as it does not on a blank direct value.
#[test]
fn a_blank_webhook_secret_in_secrets_manager_stops_start_up() {
    let moto = MotoServer::start().unwrap();
    let arn = create_secret(&moto, "landfall/blank", "\n");
    let mut command = serve_with_secret_arn(&moto, &arn, 0, "landfall-arn-blank-test");
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_mins(1);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the function kept running on a blank webhook secret");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("\"listening\""), "it listened:\n{stdout}");
    assert!(
        stderr.contains("LANDFALL_WEBHOOK_SECRET") && stderr.contains("blank"),
        "{stderr}"
    );
}
