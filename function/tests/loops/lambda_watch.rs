//! The function under the real Lambda runtime emulator: `cargo lambda watch` serves the Runtime
//! API to `landfall-function` and the test posts signed deliveries to its local Function URL
//! endpoint (`/lambda-url/landfall-function/`), which reaches the handler as an API Gateway v2 /
//! Function URL event through `lambda_http`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use landfall_e2e::LambdaEmulator;
use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;

const SECRET: &str = "lambda-watch-secret";

/// Posts to the Function URL endpoint; returns the status and the body.
fn post(
    emulator: &LambdaEmulator,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> (u16, String) {
    post_to(
        emulator,
        &emulator.function_url_path(),
        headers,
        body,
        timeout,
    )
}

/// Posts to `path` on the emulator; returns the status and the body.
pub(crate) fn post_to(
    emulator: &LambdaEmulator,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> (u16, String) {
    let mut stream = TcpStream::connect(emulator.addr()).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(k);
        request.push_str(": ");
        request.push_str(v);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The emulator with one instance of the function on the embedded store (in the returned
/// folder), local dispatch, GitHub, and `extra` settings.
fn start(extra: &[(&str, String)]) -> (LambdaEmulator, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut emulator =
        LambdaEmulator::start("landfall-function").expect("cargo lambda watch starts");
    let mut env = vec![
        ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
        ("LANDFALL_VCS", "github".to_owned()),
        ("LANDFALL_STORE", "embedded".to_owned()),
        ("LANDFALL_DISPATCH", "local".to_owned()),
        ("LANDFALL_DATA_DIR", data_dir.path().display().to_string()),
        (
            "LANDFALL_REPORT_URL",
            format!(
                "{}{}",
                emulator.endpoint(),
                emulator.function_url_path().trim_end_matches('/')
            ),
        ),
    ];
    env.extend(extra.iter().cloned());
    emulator
        .start_instance(Path::new(env!("CARGO_BIN_EXE_landfall-function")), &env)
        .expect("the function starts");
    (emulator, data_dir)
}

#[test]
fn cargo_lambda_watch_serves_signed_deliveries_through_the_function_url() {
    let (emulator, _data) = start(&[("LANDFALL_REPO_ALLOWLIST", "Codertocat/*".to_owned())]);

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let opened =
        std::fs::read(corpus.join("github-octokit-webhooks/pull_request/opened.payload.json"))
            .unwrap();
    let (sig_name, sig) = sign(Provider::Github, SECRET, &opened);
    let headers = vec![
        ("X-GitHub-Event", "pull_request".to_owned()),
        ("X-GitHub-Delivery", "lambda-delivery-1".to_owned()),
        (sig_name, sig.clone()),
    ];
    let (status, body) = post(&emulator, &headers, &opened, Duration::from_mins(1));
    assert_eq!(status, 202, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["event"]["event"], "opened");
    assert_eq!(json["event"]["repo"], "Codertocat/Hello-World");

    let mut forged = headers.clone();
    let last = if sig.ends_with('0') { '1' } else { '0' };
    forged[2].1 = format!("{}{last}", &sig[..sig.len() - 1]);
    assert_eq!(
        post(&emulator, &forged, &opened, Duration::from_mins(1)).0,
        401
    );

    let outside =
        std::fs::read(corpus.join("atlantis-webhooks/github/githubPullRequestOpenedEvent.json"))
            .unwrap();
    let (_, sig) = sign(Provider::Github, SECRET, &outside);
    let headers = vec![
        ("X-GitHub-Event", "pull_request".to_owned()),
        (sig_name, sig),
    ];
    assert_eq!(
        post(&emulator, &headers, &outside, Duration::from_mins(1)).0,
        403
    );
}

/// The schedule's invocation, `{"landfall": "sweep"}`, through the emulator's Invoke API: the
/// function sweeps (here: nothing in progress, no lock) and answers what it did.
#[test]
fn a_scheduled_invocation_sweeps() {
    let (emulator, _data) = start(&[
        ("LANDFALL_VCS_URL", "http://127.0.0.1:9".to_owned()),
        ("LANDFALL_VCS_TOKEN", "unused".to_owned()),
    ]);
    let path = "/2015-03-31/functions/landfall-function/invocations";
    let (status, body) = post_to(
        &emulator,
        path,
        &[],
        br#"{"landfall":"sweep"}"#,
        Duration::from_mins(1),
    );
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["swept"],
        serde_json::json!({
            "runs_checked": 0, "runs_failed": [], "prs_released": [], "drift_locks_released": []
        }),
        "{body}"
    );
}
