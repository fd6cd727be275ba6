//! Cold start: the time from exec to the first poll of the Lambda runtime API
//! (`GET /2018-06-01/runtime/invocation/next`), for `landfall-function` and for a hello-world
//! `lambda_http` binary (`examples/hello_lambda.rs`) built the same way (the Lambda package's
//! profile, `lambda-package`: release with panics that abort; same package), measured side by side
//! against a fake runtime API on loopback. Also prints the package's
//! binary sizes. The targets: at most 1.5x the hello-world, and a binary under 15 MB.
//!
//! `LANDFALL_COLD_START_RUNS` sets the number of measured spawns per binary (default 40).
#![allow(
    clippy::disallowed_methods,
    reason = "a bench's knobs are its own process's variables, not Landfall's settings"
)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LAMBDA_ENV: [(&str, &str); 6] = [
    ("AWS_LAMBDA_FUNCTION_NAME", "landfall-function"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/landfall-function"),
    ("AWS_REGION", "us-east-1"),
];

/// The production configuration, as the rendered Terraform sets it (secrets given directly, so no
/// Secrets Manager call is part of the measurement).
const FUNCTION_ENV: [(&str, &str); 10] = [
    ("LANDFALL_VCS", "github"),
    ("LANDFALL_WEBHOOK_SECRET", "bench-secret"),
    ("LANDFALL_VCS_TOKEN", "bench-token"),
    ("LANDFALL_REPO_ALLOWLIST", "acme/*,platform/**"),
    ("LANDFALL_STORE", "dynamodb"),
    ("LANDFALL_TABLE", "landfall"),
    ("LANDFALL_BUCKET", "landfall-plans"),
    ("LANDFALL_RUNNER_NAMESPACE", "landfall"),
    ("LANDFALL_RUNNER_IMAGE", "landfall-runner:latest"),
    ("LANDFALL_RUNNER_SERVICE_ACCOUNT", "landfall-runner"),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    // Two builds: an example is built with the package's dev-dependencies, whose features
    // would leak into the function's dependencies (HTTP/2 among them) and make it bigger than
    // the binary that ships.
    for target in [
        &["--bin", "landfall-function"],
        &["--example", "hello_lambda"],
    ] {
        let status = Command::new(cargo)
            .args([
                "build",
                "--profile",
                "lambda-package",
                "-p",
                "landfall-function",
            ])
            .args(target)
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the lambda-package build failed");
    }
    let package = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("lambda-package");
    // Measured from copies written the way Lambda unpacks a deployment zip (plain writes), not
    // from the linker's output: how a file reached the page cache changes how many page faults
    // its first pages cost, by up to 10% for the same bytes.
    let deployed = tempfile::tempdir().expect("a temporary directory");
    let function = deploy(&package.join("landfall-function"), deployed.path());
    let hello = deploy(
        &package.join("examples").join("hello_lambda"),
        deployed.path(),
    );

    let runs: usize = std::env::var("LANDFALL_COLD_START_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut function_times = Vec::with_capacity(runs);
    let mut hello_times = Vec::with_capacity(runs);
    let mut function_faults = Vec::with_capacity(runs);
    let mut hello_faults = Vec::with_capacity(runs);
    for i in 0..runs + 3 {
        let f = first_poll(&function, &FUNCTION_ENV);
        let h = first_poll(&hello, &[]);
        if i >= 3 {
            // The first spawns warm the page cache; they are not counted.
            function_times.push(f.0);
            hello_times.push(h.0);
            function_faults.push(f.1);
            hello_faults.push(h.1);
        }
    }
    let f = Summary::of(&mut function_times);
    let h = Summary::of(&mut hello_times);
    function_faults.sort_unstable();
    hello_faults.sort_unstable();
    println!(
        "cold start, exec to first poll of the runtime API ({runs} spawns each, interleaved):"
    );
    println!(
        "  landfall-function  median {:>7.3} ms  mean {:>7.3} ms  p90 {:>7.3} ms",
        f.median, f.mean, f.p90
    );
    println!(
        "  hello_lambda       median {:>7.3} ms  mean {:>7.3} ms  p90 {:>7.3} ms",
        h.median, h.mean, h.p90
    );
    println!(
        "  ratio (median)     {:.2}x   (target: at most 1.5x)",
        f.median / h.median
    );
    // Each fault maps or copies a page: a new page (the relocated data, the stack, the heap)
    // costs most, and on a VM it is where the time goes.
    println!(
        "page faults by the first poll (median): landfall-function {}, hello_lambda {}",
        function_faults[runs / 2],
        hello_faults[runs / 2]
    );
    // Sizes and counts here are far below 2^52: the conversions to f64 are exact.
    #[allow(clippy::cast_precision_loss)]
    let size = |p: &Path| std::fs::metadata(p).map_or(f64::NAN, |m| m.len() as f64 / 1_000_000.0);
    println!("lambda-package binary sizes:");
    println!(
        "  landfall-function  {:.2} MB   (target: under 15 MB)",
        size(&function)
    );
    println!("  hello_lambda       {:.2} MB", size(&hello));
}

struct Summary {
    median: f64,
    mean: f64,
    p90: f64,
}

impl Summary {
    #[allow(clippy::cast_precision_loss)] // a few dozen samples: exact in f64
    fn of(times: &mut [Duration]) -> Summary {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let n = times.len();
        Summary {
            median: ms(times[n / 2]),
            mean: times.iter().map(|d| ms(*d)).sum::<f64>() / n as f64,
            p90: ms(times[(n * 9 / 10).min(n - 1)]),
        }
    }
}

/// Copies `binary` into `dir` with plain writes, executable.
fn deploy(binary: &Path, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bytes =
        std::fs::read(binary).unwrap_or_else(|e| panic!("cannot read {}: {e}", binary.display()));
    let copy = dir.join(binary.file_name().expect("a file name"));
    std::fs::write(&copy, bytes).expect("the copy is written");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .expect("the copy is executable");
    copy
}

/// The minor page faults `pid` has taken so far (`/proc/PID/stat`, field 10).
fn minor_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    after_name
        .split(' ')
        .nth(7)
        .and_then(|v| v.parse().ok())
        .expect("a minor fault count")
}

/// Spawns `binary` against a fresh fake runtime API and returns the time until its first poll,
/// and the page faults it took by then (it is blocked waiting for an invocation when they are
/// read). A thread blocks in `accept` and reads the request, so the figure is not rounded up to
/// a polling interval; the main thread only watches for a binary that stops before polling.
fn first_poll(binary: &Path, env: &[(&str, &str)]) -> (Duration, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let (polled, poll) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let _ = polled.send((Instant::now(), request));
    });
    let start = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(LAMBDA_ENV)
        .envs(env.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    // A binary that stops before polling (a start-up error) must fail the bench, not hang it.
    let (at, request) = loop {
        match poll.recv_timeout(Duration::from_millis(5)) {
            Ok(polled) => break polled,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    panic!(
                        "{} stopped ({status}) before polling the runtime API:\n{stderr}",
                        binary.display()
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the fake runtime API failed"),
        }
    };
    reader.join().unwrap();
    let faults = minor_faults(child.id());
    assert!(
        request.starts_with(b"GET /2018-06-01/runtime/invocation/next"),
        "{} sent {:?} first",
        binary.display(),
        String::from_utf8_lossy(&request)
    );
    let _ = child.kill();
    let _ = child.wait();
    (at.duration_since(start), faults)
}
