//! The function under the real Lambda runtime emulator: `cargo lambda watch` builds and starts
//! `landfall-function`, and the test posts signed deliveries to its local Function URL endpoint
//! (`/lambda-url/landfall-function/`), which reaches the handler as an API Gateway v2 / Function
//! URL event through `lambda_http`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;

const SECRET: &str = "lambda-watch-secret";

/// `cargo lambda watch` and everything it started (it runs in its own process group), killed when
/// dropped, whatever the test's outcome.
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Posts to the Function URL endpoint; returns the status and the body.
fn post(port: u16, headers: &[(&str, String)], body: &[u8], timeout: Duration) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut request = format!(
        "POST /lambda-url/landfall-function/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
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

#[test]
fn cargo_lambda_watch_serves_signed_deliveries_through_the_function_url() {
    let cargo_lambda = landfall_e2e::tool("cargo-lambda");
    let port = free_port();
    let data_dir = tempfile::tempdir().unwrap();
    let env_vars = format!(
        "LANDFALL_WEBHOOK_SECRET={SECRET},LANDFALL_VCS=github,LANDFALL_REPO_ALLOWLIST=Codertocat/*,LANDFALL_STORE=embedded,LANDFALL_DISPATCH=local,LANDFALL_DATA_DIR={}",
        data_dir.path().display()
    );
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
        ])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .args(["--env-var", &env_vars])
        .current_dir(landfall_e2e::repo_root())
        .env("PATH", landfall_e2e::path_with_tools())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0);
    let watch = Watch {
        child: command.spawn().expect("cargo lambda watch starts"),
    };

    // The emulator listens at once; the first invocation waits while the function builds.
    let deadline = Instant::now() + Duration::from_mins(2);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

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
    // Allow for the build: a cold build of the function's dependencies takes minutes on two cores.
    let (status, body) = post(port, &headers, &opened, Duration::from_mins(25));
    assert_eq!(status, 202, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["event"]["event"], "opened");
    assert_eq!(json["event"]["repo"], "Codertocat/Hello-World");

    let mut forged = headers.clone();
    let last = if sig.ends_with('0') { '1' } else { '0' };
    forged[2].1 = format!("{}{last}", &sig[..sig.len() - 1]);
    assert_eq!(post(port, &forged, &opened, Duration::from_mins(1)).0, 401);

    let outside =
        std::fs::read(corpus.join("atlantis-webhooks/github/githubPullRequestOpenedEvent.json"))
            .unwrap();
    let (_, sig) = sign(Provider::Github, SECRET, &outside);
    let headers = vec![
        ("X-GitHub-Event", "pull_request".to_owned()),
        (sig_name, sig),
    ];
    assert_eq!(
        post(port, &headers, &outside, Duration::from_mins(1)).0,
        403
    );
    drop(watch);
}
