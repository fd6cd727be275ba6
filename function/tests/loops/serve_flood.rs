//! `landfall-function serve` under a slow-body flood, on loopback: the real binary, 40 connections
//! that each declare a 25 MiB body and trickle it, a few that stall in or right after their
//! headers, then 40 that send 25 MiB bodies at full speed. A signed delivery on a fresh connection
//! is still answered during the flood, the slow ones are cut off by the body timeout, the
//! process's RSS stays under 100 MB and returns near its idle level once the connections close.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use landfall_function::event::Provider;
use landfall_function::webhook::auth::sign;

use crate::loop_common::{Server, start_server};

const SECRET: &str = "serve-flood-secret";
/// The body timeout given to the server (`LANDFALL_BODY_TIMEOUT_SECS`).
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long after the timeout a cut-off connection may take to end.
const SLACK: Duration = Duration::from_secs(3);
/// The declared body: the default `LANDFALL_MAX_BODY_BYTES`, GitHub's cap.
const BODY: usize = 25 * 1024 * 1024;
const FLOOD: usize = 40;
/// The trickle: 256 KiB every 100 ms, 2.5 MiB/s, 10 s for a whole body.
const TRICKLE_CHUNK: usize = 256 * 1024;
const TRICKLE_EVERY: Duration = Duration::from_millis(100);
const MB: u64 = 1_000_000;

/// The server's resident set, in bytes.
fn rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// Samples the server's RSS every 20 ms, keeping the peak.
struct Sampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            while !s.load(Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(&path)
                    && let Some(kib) = status
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|n| n.parse::<u64>().ok())
                {
                    p.fetch_max(kib * 1024, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn peak(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// How one connection ended.
#[derive(Debug)]
struct Outcome {
    /// The response's status, if one arrived.
    status: Option<u16>,
    /// From the first byte sent to the connection's end (response read or connection closed).
    ended: Duration,
    /// Body bytes written.
    sent: usize,
}

/// Reads a response to its end (or the connection's), in a thread of its own.
fn read_response(stream: &TcpStream) -> JoinHandle<(Option<u16>, Instant)> {
    let mut stream = stream.try_clone().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    thread::spawn(move || {
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
        let status = String::from_utf8_lossy(&response)
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok());
        (status, Instant::now())
    })
}

fn head(delivery: &str, length: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-GitHub-Event: pull_request\r\n\
         X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: sha256={}\r\nContent-Length: {length}\r\n\r\n",
        "0".repeat(64)
    )
}

/// A connection that declares a `BODY`-byte body and sends it `chunk` bytes at a time, `every`
/// apart, until it is sent, the server answers or the connection breaks.
fn send_body(addr: &str, delivery: String, chunk: usize, every: Duration) -> JoinHandle<Outcome> {
    let addr = addr.to_owned();
    thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let reader = read_response(&stream);
        let started = Instant::now();
        let data = vec![b'x'; chunk];
        let mut sent = 0;
        if stream.write_all(head(&delivery, BODY).as_bytes()).is_ok() {
            while sent < BODY && !reader.is_finished() {
                let n = chunk.min(BODY - sent);
                if stream.write_all(&data[..n]).is_err() {
                    break;
                }
                sent += n;
                if !every.is_zero() {
                    thread::sleep(every);
                }
            }
        }
        let (status, at) = reader.join().unwrap();
        let _ = stream.shutdown(Shutdown::Both);
        Outcome {
            status,
            ended: at.duration_since(started),
            sent,
        }
    })
}

/// A connection that sends `bytes` and then nothing.
fn stall(addr: &str, bytes: String) -> JoinHandle<Outcome> {
    let addr = addr.to_owned();
    thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let reader = read_response(&stream);
        let started = Instant::now();
        let _ = stream.write_all(bytes.as_bytes());
        let (status, at) = reader.join().unwrap();
        Outcome {
            status,
            ended: at.duration_since(started),
            sent: 0,
        }
    })
}

/// A signed pull-request delivery on a fresh connection: its status and how long it took.
fn signed_delivery(addr: &str, delivery: &str) -> (Option<u16>, Duration) {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/corpus/github-octokit-webhooks/pull_request/opened.payload.json"),
    )
    .unwrap();
    let (name, value) = sign(Provider::Github, SECRET, &body);
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-GitHub-Event: pull_request\r\n\
         X-GitHub-Delivery: {delivery}\r\n{name}: {value}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    let reader = read_response(&stream);
    stream.write_all(&request).unwrap();
    let (status, at) = reader.join().unwrap();
    (status, at.duration_since(started))
}

fn mb(bytes: u64) -> String {
    format!("{}.{} MB", bytes / MB, bytes % MB / (MB / 10))
}

/// RSS once the connections are gone: the lowest of a few samples over a second.
fn settled_rss(server: &Server) -> u64 {
    let mut low = u64::MAX;
    for _ in 0..10 {
        thread::sleep(Duration::from_millis(100));
        low = low.min(rss(server));
    }
    low
}

#[test]
fn a_slow_body_flood_is_cut_off_and_its_memory_returns() {
    let data = tempfile::tempdir().unwrap();
    let timeout = TIMEOUT.as_secs().to_string();
    let server = start_server(
        &[
            ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
            ("LANDFALL_REPO_ALLOWLIST", "Codertocat/*".to_owned()),
            ("LANDFALL_DATA_DIR", data.path().display().to_string()),
            ("LANDFALL_BODY_TIMEOUT_SECS", timeout),
        ],
        &data.path().join("serve.log"),
    );
    let addr = server.addr.clone();

    // Warm up, then the idle level.
    assert_eq!(signed_delivery(&addr, "warm-up").0, Some(202));
    let idle = settled_rss(&server);

    // Phase 1: the slow flood.
    let mut sampler = Sampler::start(server.child.id());
    let flood_started = Instant::now();
    let slow: Vec<_> = (0..FLOOD)
        .map(|i| send_body(&addr, format!("slow-{i}"), TRICKLE_CHUNK, TRICKLE_EVERY))
        .collect();
    // Complete headers that promise a small body and send none; a head that never ends; a
    // connection that sends nothing at all.
    let stalled: Vec<_> = (0..3)
        .map(|i| stall(&addr, head(&format!("stalled-{i}"), 4096)))
        .chain((0..2).map(|_| stall(&addr, "POST / HTTP/1.1\r\nHost: x\r\n".to_owned())))
        .chain(std::iter::once(stall(&addr, String::new())))
        .collect();
    thread::sleep(Duration::from_millis(500));
    let during = signed_delivery(&addr, "during-the-flood");
    let slow: Vec<Outcome> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let stalled: Vec<Outcome> = stalled.into_iter().map(|t| t.join().unwrap()).collect();
    let slow_peak = sampler.peak();
    let flood_took = flood_started.elapsed();
    let after_slow = settled_rss(&server);

    // Phase 2: the same number of 25 MiB bodies at full speed (unsigned: refused once read).
    let mut sampler = Sampler::start(server.child.id());
    let fast: Vec<_> = (0..FLOOD)
        .map(|i| send_body(&addr, format!("fast-{i}"), 1024 * 1024, Duration::ZERO))
        .collect();
    let fast: Vec<Outcome> = fast.into_iter().map(|t| t.join().unwrap()).collect();
    let fast_peak = sampler.peak();
    let after_fast = settled_rss(&server);
    let after = signed_delivery(&addr, "after-the-flood");

    let count = |outcomes: &[Outcome], status: Option<u16>| {
        outcomes.iter().filter(|o| o.status == status).count()
    };
    let summary = |outcomes: &[Outcome]| {
        let mut statuses: Vec<String> = [Some(202), Some(401), Some(408), Some(503), None]
            .into_iter()
            .map(|s| {
                let label = s.map_or("closed".to_owned(), |s| s.to_string());
                format!("{label}: {}", count(outcomes, s))
            })
            .collect();
        let last = outcomes.iter().map(|o| o.ended).max().unwrap_or_default();
        statuses.push(format!("last ended after {last:.1?}"));
        statuses.join(", ")
    };
    eprintln!(
        "RSS idle {}, slow flood peak {} then {}, fast flood peak {} then {} \
         (slow flood {flood_took:.1?}; delivery during it {:?} in {:.1?}; after it {:?})\n\
         slow bodies: {}\nstalled: {}\nfast bodies: {}",
        mb(idle),
        mb(slow_peak),
        mb(after_slow),
        mb(fast_peak),
        mb(after_fast),
        during.0,
        during.1,
        after.0,
        summary(&slow),
        summary(&stalled),
        summary(&fast),
    );

    // A real delivery is answered during the flood, promptly, and after it.
    assert_eq!(during.0, Some(202), "the delivery during the flood");
    assert!(
        during.1 < Duration::from_secs(2),
        "answered in {:?}",
        during.1
    );
    assert_eq!(after.0, Some(202), "the delivery after the flood");

    // Every slow body is refused (503) or cut off (408) before it is sent, within the timeout.
    for outcome in &slow {
        assert!(
            outcome.sent < BODY && outcome.ended < TIMEOUT + SLACK,
            "a slow body was not cut off: {outcome:?}"
        );
        assert!(
            matches!(outcome.status, Some(408 | 503) | None),
            "{outcome:?}"
        );
    }
    assert!(
        count(&slow, Some(408)) >= 1,
        "some slow body was cut off by the timeout"
    );
    assert!(
        count(&slow, Some(503)) >= 1,
        "some slow body was refused by the budget"
    );
    // The stalled ones too, each with a 408.
    for outcome in &stalled {
        assert!(outcome.ended < TIMEOUT + SLACK, "{outcome:?}");
        assert_eq!(outcome.status, Some(408), "{outcome:?}");
    }
    // The fast bodies: read whole and refused as unsigned (401), or refused (503 or closed)
    // while the budget was taken.
    assert!(count(&fast, Some(401)) >= 1, "{}", summary(&fast));
    for outcome in &fast {
        assert!(
            matches!(outcome.status, Some(401 | 503) | None),
            "{outcome:?}"
        );
    }

    // Memory: bounded during the flood, back near idle after it.
    for (what, peak) in [("slow", slow_peak), ("fast", fast_peak)] {
        assert!(
            peak < 100 * MB,
            "RSS during the {what} flood: {} (idle {})",
            mb(peak),
            mb(idle)
        );
    }
    for (what, rss) in [("slow", after_slow), ("fast", after_fast)] {
        assert!(
            rss < idle + 20 * MB,
            "RSS after the {what} flood: {} (idle {})",
            mb(rss),
            mb(idle)
        );
    }
}

#[test]
fn connections_beyond_the_cap_wait_in_the_accept_queue_for_a_free_one() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(
        &[
            ("LANDFALL_WEBHOOK_SECRET", SECRET.to_owned()),
            ("LANDFALL_DATA_DIR", data.path().display().to_string()),
            ("LANDFALL_BODY_TIMEOUT_SECS", "1".to_owned()),
            ("LANDFALL_MAX_CONNECTIONS", "2".to_owned()),
        ],
        &data.path().join("serve.log"),
    );
    let addr = server.addr.clone();
    // Both places taken: a keep-alive connection, answered once and then idle, and one that
    // never sends a byte.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains(r#"{"status":"ok"}"#) {
        let n = idle.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    let silent = stall(&addr, String::new());
    thread::sleep(Duration::from_millis(200));

    // A third waits until the silent one is cut off, then is served.
    let (status, took) = signed_delivery(&addr, "queued");
    eprintln!("with both places taken, a delivery was answered {status:?} after {took:.1?}");
    assert_eq!(status, Some(202));
    assert!(
        took > Duration::from_millis(500) && took < Duration::from_secs(1) + SLACK,
        "served after {took:?}"
    );
    let silent = silent.join().unwrap();
    assert_eq!(silent.status, Some(408), "{silent:?}");
    // The idle keep-alive connection was closed after the timeout, without a word.
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
