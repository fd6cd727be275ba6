//! `landfall-function serve`, as an operator runs it: the real binary, configured by environment
//! variables, answering signed corpus deliveries over HTTP on loopback.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;

use crate::loop_common::{Server, start_server};

const SECRET: &str = "serve-test-secret";

/// The server's log lines so far, after a moment for the last ones to arrive.
fn logs_so_far(log: &Path) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(200));
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

impl Server {
    fn post(&self, headers: &[(&str, String)], body: &[u8]) -> (u16, serde_json::Value) {
        self.raw(&request("POST", "/", headers, body))
    }

    fn raw(&self, request: &[u8]) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        (
            status,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }
}

fn request(method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn corpus(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus")
            .join(rel),
    )
    .unwrap()
}

fn github(event: &str, body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    let (name, value) = sign(Provider::Github, SECRET, body);
    vec![
        (name, value),
        ("X-GitHub-Event", event.to_owned()),
        ("X-GitHub-Delivery", delivery.to_owned()),
    ]
}

#[test]
fn serve_answers_signed_deliveries_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = start_server(
        &[
            ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
            ("LANDFALL_REPO_ALLOWLIST", "Codertocat/*".to_owned()),
            (
                "LANDFALL_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
        ],
        &log,
    );
    let opened = corpus("github-octokit-webhooks/pull_request/opened.payload.json");

    let (status, body) = server.post(
        &github("pull_request", &opened, "delivery-accepted"),
        &opened,
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["event"]["event"], "opened");
    assert_eq!(body["event"]["number"], 2);

    let mut unsigned = github("pull_request", &opened, "delivery-unsigned");
    unsigned.remove(0);
    assert_eq!(
        server.post(&unsigned, &opened),
        (401, serde_json::json!({ "error": "unauthorized" }))
    );

    let mut tampered = opened.clone();
    tampered[100] ^= 1;
    assert_eq!(
        server
            .post(&github("pull_request", &opened, "d"), &tampered)
            .0,
        401
    );

    // An organisation hook's ping names no repository: acknowledged. A repository hook's ping from
    // a repository outside the allowlist is refused like any other delivery from it.
    let ping = corpus("github-octokit-webhooks/ping/with-organization.payload.json");
    let (status, body) = server.post(&github("ping", &ping, "delivery-ping"), &ping);
    assert_eq!((status, body["status"].as_str()), (200, Some("ping")));
    let ping = corpus("github-octokit-webhooks/ping/payload.json");
    assert_eq!(
        server
            .post(&github("ping", &ping, "delivery-ping-2"), &ping)
            .0,
        403
    );

    let pr = corpus("atlantis-webhooks/github/githubPullRequestOpenedEvent.json");
    assert_eq!(
        server
            .post(&github("pull_request", &pr, "delivery-forbidden"), &pr)
            .0,
        403
    );

    let logs = logs_so_far(&log);
    let accepted: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("delivery-accepted"))
        .collect();
    assert!(
        !accepted.is_empty(),
        "log lines carry the delivery id: {logs:?}"
    );
    let line: serde_json::Value = serde_json::from_str(accepted.last().unwrap()).unwrap();
    assert_eq!(line["span"]["repo"], "Codertocat/Hello-World");
    assert_eq!(line["span"]["pr"], 2);
    assert!(
        logs.iter().all(|l| !l.contains(SECRET)),
        "the secret never reaches a log"
    );
}

#[test]
fn serve_refuses_oversized_bodies_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(
        &[
            ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
            ("LANDFALL_MAX_BODY_BYTES", "1024".to_owned()),
            (
                "LANDFALL_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
        ],
        &dir.path().join("serve.log"),
    );
    // Declared too large: refused from the headers alone, with no body sent.
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: ping\r\nContent-Length: 26214401\r\n\r\n";
    let (status, body) = server.raw(head);
    assert_eq!(status, 413);
    assert_eq!(body["limit_bytes"], 1024);
    // Chunked, with no declared length: refused while reading.
    let chunk = "a".repeat(2000);
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: ping\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_eq!(server.raw(chunked.as_bytes()).0, 413);
}

#[test]
fn serve_refuses_to_start_without_a_secret_and_names_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("LANDFALL_WEBHOOK_SECRET")
        .env_remove("LANDFALL_WEBHOOK_SECRET_ARN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LANDFALL_WEBHOOK_SECRET is not set"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_an_invalid_setting_and_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LANDFALL_WEBHOOK_SECRET", SECRET)
        .env("LANDFALL_VCS", "perforce")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANDFALL_VCS=\"perforce\" is invalid"));
}

#[test]
fn under_lambda_without_arguments_start_up_still_checks_the_settings() {
    // Lambda starts the function with no arguments, a path that skips the command-line parser:
    // it must still refuse a bad setting before polling, and name it.
    let runtime_api = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            runtime_api.local_addr().unwrap().to_string(),
        )
        .env("LANDFALL_WEBHOOK_SECRET", SECRET)
        .env("LANDFALL_VCS", "perforce")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LANDFALL_VCS=\"perforce\" is invalid"),
        "{stderr}"
    );
    runtime_api.set_nonblocking(true).unwrap();
    assert!(runtime_api.accept().is_err(), "it polled the runtime API");

    // Outside Lambda, no arguments is a usage error that says what to run.
    let out = Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no command given"), "{stderr}");

    // With arguments, the parser is used even under Lambda.
    let out = Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .arg("--version")
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            runtime_api.local_addr().unwrap().to_string(),
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("landfall-function "));
}
