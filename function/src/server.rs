//! `landfall-function serve`: the webhook handler over plain HTTP/1.1, for self-hosting, laptops
//! and tests. It serves exactly the handler that Lambda runs ([`WebhookHandler::respond`]).
//!
//! Unlike Lambda, which bounds each invocation itself, `serve` faces its clients directly, before
//! any of them is authenticated, so it bounds what they can hold ([`ServeLimits`]):
//!
//! - **Connections:** a permit is taken before each `accept`, so connections beyond
//!   `LANDFALL_MAX_CONNECTIONS` wait in the kernel's accept queue; no task is spawned for them.
//! - **Time:** a client has `LANDFALL_BODY_TIMEOUT_SECS` to send its request headers, then as long
//!   again for its whole body; past either it is answered 408 and the connection closed. An idle
//!   keep-alive connection is closed quietly after the same time.
//! - **Memory:** a POST's body is read here, before the handler sees it. Its declared length is
//!   first reserved from `LANDFALL_BODY_BUDGET_BYTES`, shared by all bodies being read; a body the
//!   budget cannot hold is answered 503 with `Retry-After` before a byte of it is read. Then it is
//!   read into one allocation of that length, which the handler takes without a copy, and freed,
//!   with its reservation, when the answer is ready. A chunked body reserves as it grows.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::ServeLimits;
use crate::handler::{EventSink, WebhookHandler};

/// How long a closing connection's unread input is drained, so that a client still sending reads
/// its answer (a 408 or 503) instead of a reset.
const LINGER: Duration = Duration::from_secs(1);
/// The most unread input drained while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Accepts connections on `listener` until `shutdown` completes, answering each request with
/// `handler` within `limits`; `max_body_bytes` is the handler's body limit.
pub async fn serve<S: EventSink>(
    listener: TcpListener,
    handler: Arc<WebhookHandler<S>>,
    limits: ServeLimits,
    max_body_bytes: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let shared = Arc::new(Shared {
        handler,
        budget: Arc::new(Budget::new(limits.body_budget_bytes)),
        limits,
        max_body_bytes,
    });
    tokio::pin!(shutdown);
    let mut at_cap = false;
    loop {
        let permit = if let Ok(permit) = Arc::clone(&connections).try_acquire_owned() {
            at_cap = false;
            permit
        } else {
            if !at_cap {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection cap reached: new connections wait in the accept queue"
                );
                at_cap = true;
            }
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
                permit = Arc::clone(&connections).acquire_owned() => {
                    permit.expect("the connection semaphore is never closed")
                }
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => {
                tracing::info!("shutting down");
                return Ok(());
            }
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve_connection(stream, peer, shared).await;
            drop(permit);
        });
    }
}

/// What every connection shares.
struct Shared<S> {
    handler: Arc<WebhookHandler<S>>,
    budget: Arc<Budget>,
    limits: ServeLimits,
    max_body_bytes: usize,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

/// Serves one connection, answers 408 if its first request's headers do not arrive in time, and
/// closes it.
async fn serve_connection<S: EventSink>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<S>>,
) {
    let header_timeout = shared.limits.body_timeout;
    let served = Arc::new(AtomicBool::new(false));
    let service = {
        let served = Arc::clone(&served);
        service_fn(move |request: Request<Incoming>| {
            served.store(true, Ordering::Relaxed);
            let shared = Arc::clone(&shared);
            Box::pin(async move { Ok(shared.respond(request, peer).await) }) as ResponseFuture
        })
    };
    let mut connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    // Without hyper's shutdown, to keep the stream: a header timeout is answered on it.
    let outcome = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)).await;
    let http1::Parts { io, read_buf, .. } = connection.into_parts();
    let mut stream = io.into_inner();
    // Bytes of a request head that never ended.
    let partial_head = !read_buf.is_empty();
    drop(read_buf);
    match outcome {
        Ok(()) => {}
        Err(error) if error.is_timeout() => {
            // Before the first request, or in the middle of a later one's headers. A keep-alive
            // connection that merely went idle is closed without a word.
            if !served.load(Ordering::Relaxed) || partial_head {
                tracing::warn!(%peer, timeout_secs = header_timeout.as_secs(), status = 408, "the request headers did not arrive in time");
                let answer = raw_response(&timed_out(header_timeout));
                let _ = tokio::time::timeout(LINGER, stream.write_all(&answer)).await;
            }
        }
        Err(error) => tracing::debug!(%peer, %error, "connection ended with an error"),
    }
    close(stream).await;
}

/// Closes `stream` after draining what the client is still sending, for a short while.
async fn close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 16 * 1024];
    let mut drained = 0;
    let _ = tokio::time::timeout(LINGER, async {
        while drained < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

impl<S: EventSink> Shared<S> {
    /// Reads a POST's body within the budget and the timeout, then hands the request to the
    /// handler; everything else goes to the handler as it is.
    async fn respond(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<String> {
        if request.method() != Method::POST {
            return self.handler.respond(request).await;
        }
        let declared = declared_length(request.headers());
        let declared = match declared.map(usize::try_from) {
            // Over the limit: the handler refuses it (413) from the headers alone.
            Some(Ok(n)) if n <= self.max_body_bytes => Some(n),
            Some(_) => return self.handler.respond(request).await,
            None => None,
        };
        let Some(mut reservation) = self.budget.try_reserve(declared.unwrap_or(0)) else {
            tracing::warn!(%peer, declared, status = 503, "refused: the memory for request bodies is taken");
            return self.busy();
        };
        let (parts, body) = request.into_parts();
        let read = read_body(body, declared, self.max_body_bytes, &mut reservation);
        let body = match tokio::time::timeout(self.limits.body_timeout, read).await {
            Ok(Ok(body)) => body,
            Err(_) => {
                tracing::warn!(%peer, declared, timeout_secs = self.limits.body_timeout.as_secs(), status = 408, "the request body did not arrive in time");
                return timed_out(self.limits.body_timeout);
            }
            Ok(Err(BodyError::Budget)) => {
                tracing::warn!(%peer, status = 503, "refused: the memory for request bodies is taken");
                return self.busy();
            }
            Ok(Err(BodyError::TooLarge)) => {
                tracing::warn!(%peer, status = 413, "the request body is over the limit");
                let limit = self.max_body_bytes;
                return refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({ "error": "payload too large", "limit_bytes": limit }),
                );
            }
            Ok(Err(BodyError::Read(error))) => {
                tracing::debug!(%peer, %error, "cannot read the request body");
                return refusal(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": "cannot read the request body" }),
                );
            }
        };
        let response = self
            .handler
            .respond(Request::from_parts(parts, Full::new(body)))
            .await;
        // The body is freed by now; so is its share of the budget.
        drop(reservation);
        response
    }

    fn busy(&self) -> Response<String> {
        let mut response = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "error": "busy: too many request bodies are being read, retry later" }),
        );
        // By then every body being read has been read or cut off.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.limits.body_timeout.as_secs()),
        );
        response
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Why a body was not read.
#[derive(Debug)]
enum BodyError {
    /// The budget cannot hold more of it (a chunked body), or the system no more memory.
    Budget,
    /// It is over the limit (a chunked body).
    TooLarge,
    /// The connection failed or the framing is wrong.
    Read(hyper::Error),
}

/// Reads `body` into one allocation: of the `declared` length (already reserved), or, when no
/// length is declared, grown as it comes (the reservation first), up to `limit` bytes.
async fn read_body(
    mut body: Incoming,
    declared: Option<usize>,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Bytes, BodyError> {
    let mut buf = Vec::new();
    if let Some(length) = declared {
        allocate(&mut buf, length)?;
    }
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue; // trailers
        };
        let len = buf.len() + data.len();
        if len > limit {
            return Err(BodyError::TooLarge);
        }
        if len > reservation.bytes {
            let more = len.max(reservation.bytes.saturating_mul(2)).min(limit);
            if !reservation.grow_to(more) {
                return Err(BodyError::Budget);
            }
        }
        if len > buf.capacity() {
            allocate(&mut buf, reservation.bytes)?;
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// The size from which a body gets a mapping of its own: glibc's initial mmap threshold (below
/// it, malloc serves from its arenas whatever the threshold).
const OWN_MAPPING_FROM: usize = 128 * 1024;
/// More than glibc's largest dynamic mmap threshold (32 MiB on 64-bit targets).
const OWN_MAPPING: usize = 32 * 1024 * 1024 + 64 * 1024;

/// Makes room in `buf` for `length` bytes in all.
///
/// glibc's malloc raises its mmap threshold to the size of each mapped allocation it frees (up
/// to 32 MiB): after one 25 MiB body, the next ones came from the arenas, which kept them after
/// a flood (RSS 89 MB instead of 35 MB in two runs of five of `tests/loops/serve_flood.rs`). An
/// allocation over 32 MiB always gets a mapping of its own, returned to the system when freed,
/// and freeing it leaves the threshold alone. So a body from 128 KiB up gets one: address space
/// only, as pages are resident only once written, and only as many as the body's length, which
/// the budget counts. Where the system refuses the address space, the exact size is used.
fn allocate(buf: &mut Vec<u8>, length: usize) -> Result<(), BodyError> {
    let additional = length.saturating_sub(buf.len());
    if cfg!(all(target_os = "linux", target_env = "gnu"))
        && length >= OWN_MAPPING_FROM
        && buf
            .try_reserve_exact(OWN_MAPPING.max(length) - buf.len())
            .is_ok()
    {
        return Ok(());
    }
    buf.try_reserve_exact(additional)
        .map_err(|_| BodyError::Budget)
}

/// The bytes that all bodies being read may hold together.
#[derive(Debug)]
struct Budget {
    capacity: usize,
    used: AtomicUsize,
}

impl Budget {
    fn new(capacity: usize) -> Self {
        Budget {
            capacity,
            used: AtomicUsize::new(0),
        }
    }

    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|total| *total <= self.capacity)
            })
            .is_ok()
    }

    fn try_reserve(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }
}

/// A share of the [`Budget`], returned when dropped.
#[derive(Debug)]
struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Grows the share to `bytes`, if the budget can hold them.
    fn grow_to(&mut self, bytes: usize) -> bool {
        let more = bytes.saturating_sub(self.bytes);
        if !self.budget.take(more) {
            return false;
        }
        self.bytes += more;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// A refusal by `serve` itself, as JSON like the handler's, closing the connection.
fn refusal(status: StatusCode, body: &serde_json::Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONNECTION, "close")
        .body(body.to_string())
        .expect("a status and static headers always build a response")
}

fn timed_out(timeout: Duration) -> Response<String> {
    refusal(
        StatusCode::REQUEST_TIMEOUT,
        &json!({ "error": "request timeout", "timeout_secs": timeout.as_secs() }),
    )
}

/// `response` as HTTP/1.1 bytes, for the one answer written outside hyper.
fn raw_response(response: &Response<String>) -> Vec<u8> {
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    for (name, value) in response.headers() {
        out.push_str(name.as_str());
        out.push_str(": ");
        out.push_str(value.to_str().unwrap_or_default());
        out.push_str("\r\n");
    }
    let _ = write!(
        out,
        "content-length: {}\r\n\r\n{}",
        response.body().len(),
        response.body()
    );
    out.into_bytes()
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_returned() {
        let budget = Arc::new(Budget::new(100));
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none());
        let mut b = budget.try_reserve(40).unwrap();
        assert!(!b.grow_to(41));
        drop(a);
        assert!(b.grow_to(100));
        assert!(budget.try_reserve(1).is_none());
        drop(b);
        assert_eq!(budget.used.load(Ordering::Relaxed), 0);
        assert!(budget.try_reserve(100).is_some());
    }

    #[test]
    fn a_timeout_written_by_hand_is_well_formed() {
        let raw = String::from_utf8(raw_response(&timed_out(Duration::from_secs(3)))).unwrap();
        assert!(raw.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{raw}");
        assert!(raw.contains("connection: close\r\n"), "{raw}");
        let body = raw.split("\r\n\r\n").nth(1).unwrap();
        assert!(raw.contains(&format!("content-length: {}\r\n", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["timeout_secs"], 3);
    }
}
