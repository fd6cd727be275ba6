//! The retry rules every request follows, apart from how it is sent: rate-limit replies
//! (`Retry-After`, reset headers, GitHub's secondary limits) are waited out within bounds,
//! transient failures of idempotent calls are retried with backoff, and a call that creates
//! something is repeated only when the host said it refused it.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::super::VcsError;

/// How hard to try before giving up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest single wait; a rate limit that resets later fails with
    /// [`VcsError::RateLimited`] instead of holding the function.
    pub max_wait: Duration,
    /// The first backoff for transient failures without a hint; doubled each retry.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            max_wait: Duration::from_mins(1),
            backoff: Duration::from_millis(500),
        }
    }
}

/// Whether repeating a request can do harm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, PUT, PATCH of a whole resource, commit statuses (last write wins): retried on
    /// transient failures.
    Idempotent,
    /// POST that creates something (a comment): retried only when the host refused it with a
    /// rate-limit reply, never after a timeout or a 5xx that may have created it.
    NotIdempotent,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, VcsError> {
        serde_json::from_slice(&self.body).map_err(|source| VcsError::Decode {
            what: what.to_owned(),
            source,
        })
    }

    /// A header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request that did not get a response.
#[derive(Debug)]
pub struct TransportError {
    /// Whether the request may have reached the host (a timeout after sending): then a
    /// non-idempotent request must not be repeated.
    pub maybe_sent: bool,
    /// Whether trying again would fail the same way (a response larger than is read).
    pub lasting: bool,
    /// The cause.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What to do with a response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand it to the caller (success or an error it maps).
    Done,
    /// Wait, then try again.
    Retry(Duration),
    /// Rate limited for longer than we wait.
    RateLimited(Option<Duration>),
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn until_epoch(epoch: u64, now: SystemTime) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Duration::from_secs(epoch.saturating_sub(now))
}

/// What a response says about rate limits.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Throttle {
    /// Not a rate-limit reply.
    NotLimited,
    /// "Slow down", with the wait it asks for when it gives one.
    Limited(Option<Duration>),
}

/// Reads a rate-limit reply.
pub(crate) fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Throttle {
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let remaining = header_u64(headers, "x-ratelimit-remaining")
        .or_else(|| header_u64(headers, "ratelimit-remaining"));
    let reset = header_u64(headers, "x-ratelimit-reset")
        .or_else(|| header_u64(headers, "ratelimit-reset"))
        .map(|epoch| until_epoch(epoch, now));
    let limited = match status {
        StatusCode::TOO_MANY_REQUESTS => true,
        // GitHub answers 403 both for its primary limit (remaining 0) and its secondary limits
        // (Retry-After, or a message that says so).
        StatusCode::FORBIDDEN => {
            remaining == Some(0)
                || retry_after.is_some()
                || String::from_utf8_lossy(body)
                    .to_ascii_lowercase()
                    .contains("secondary rate limit")
        }
        _ => false,
    };
    if !limited {
        return Throttle::NotLimited;
    }
    Throttle::Limited(match (retry_after, remaining, reset) {
        (Some(wait), _, _) => Some(wait),
        (None, Some(0), Some(reset)) => Some(reset),
        // GitHub: a secondary limit without Retry-After means "wait at least a minute".
        (None, _, _) if status == StatusCode::FORBIDDEN => Some(Duration::from_mins(1)),
        _ => None,
    })
}

/// Judges one response of attempt `attempt` (0-based).
pub(crate) fn judge(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    attempt: u32,
    response: &RawResponse,
    now: SystemTime,
) -> Verdict {
    let backoff = policy.backoff.saturating_mul(2u32.saturating_pow(attempt));
    if let Throttle::Limited(wait) =
        rate_limit_wait(response.status, &response.headers, &response.body, now)
    {
        let wait_for = wait.unwrap_or(backoff);
        if attempt >= policy.max_retries || wait_for > policy.max_wait {
            return Verdict::RateLimited(wait);
        }
        // A refused request was not carried out, so even a POST may be sent again.
        return Verdict::Retry(wait_for);
    }
    let transient = matches!(
        response.status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    );
    if transient && idempotency == Idempotency::Idempotent && attempt < policy.max_retries {
        let hinted = header_u64(&response.headers, "retry-after").map(Duration::from_secs);
        return Verdict::Retry(hinted.unwrap_or(backoff).min(policy.max_wait));
    }
    Verdict::Done
}

/// Sends with `send` until the response is final, within `policy`.
pub(crate) async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    what: &str,
    mut send: F,
) -> Result<RawResponse, VcsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<RawResponse, TransportError>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Ok(response) => match judge(policy, idempotency, attempt, &response, SystemTime::now())
            {
                Verdict::Done => return Ok(response),
                Verdict::Retry(wait) => {
                    tracing::warn!(what, status = %response.status, wait_ms = wait.as_millis(), attempt, "retrying VCS request");
                    tokio::time::sleep(wait).await;
                }
                Verdict::RateLimited(retry_after) => {
                    return Err(VcsError::RateLimited {
                        what: what.to_owned(),
                        retry_after,
                    });
                }
            },
            Err(e) => {
                let may_repeat =
                    !e.lasting && (idempotency == Idempotency::Idempotent || !e.maybe_sent);
                if !may_repeat || attempt >= policy.max_retries {
                    return Err(VcsError::Transport {
                        what: what.to_owned(),
                        source: e.source,
                    });
                }
                tokio::time::sleep(policy.backoff.saturating_mul(2u32.saturating_pow(attempt)))
                    .await;
            }
        }
        attempt += 1;
    }
}

/// Maps a final response to `Ok` (2xx) or the error it means.
pub(crate) fn check(response: RawResponse, what: &str) -> Result<RawResponse, VcsError> {
    if response.status.is_success() {
        return Ok(response);
    }
    if response.status == StatusCode::NOT_FOUND {
        return Err(VcsError::NotFound {
            what: what.to_owned(),
        });
    }
    let mut message = String::from_utf8_lossy(&response.body).into_owned();
    // On a character boundary: a host's message may be any UTF-8.
    message.truncate(message.floor_char_boundary(500));
    Err(VcsError::Status {
        what: what.to_owned(),
        status: response.status.as_u16(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> RawResponse {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Bytes::from(body.to_owned()),
        }
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_long_error_body_is_cut_on_a_character_boundary() {
        // 499 ASCII bytes then 'é' (2 bytes) straddles byte 500.
        let body = format!("{}é and more", "x".repeat(499));
        let Err(VcsError::Status { message, .. }) = check(response(500, &[], &body), "w") else {
            panic!("a 500 is an error");
        };
        assert_eq!(message, "x".repeat(499));
    }

    fn judge_at(idem: Idempotency, attempt: u32, r: &RawResponse) -> Verdict {
        judge(
            &RetryPolicy::default(),
            idem,
            attempt,
            r,
            UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    /// GitHub's primary limit spent, resetting `reset_in` seconds from [`NOW`].
    fn primary_limit(reset_in: u64) -> RawResponse {
        let reset = (NOW + reset_in).to_string();
        response(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
            "",
        )
    }

    #[test]
    fn retry_after_is_honoured_even_for_a_post_because_the_host_refused_it() {
        let r = response(429, &[("retry-after", "7")], "");
        assert_eq!(
            judge_at(Idempotency::NotIdempotent, 0, &r),
            Verdict::Retry(Duration::from_secs(7))
        );
    }

    #[test]
    fn githubs_primary_limit_waits_until_the_reset() {
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &primary_limit(30)),
            Verdict::Retry(Duration::from_secs(30))
        );
    }

    #[test]
    fn a_reset_beyond_the_longest_wait_fails_as_rate_limited() {
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &primary_limit(3600)),
            Verdict::RateLimited(Some(Duration::from_hours(1)))
        );
    }

    #[test]
    fn githubs_secondary_limit_without_retry_after_waits_a_minute() {
        let r = response(
            403,
            &[],
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        );
        assert_eq!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::Retry(Duration::from_mins(1))
        );
    }

    #[test]
    fn a_plain_forbidden_is_final() {
        let r = response(
            403,
            &[("x-ratelimit-remaining", "4999")],
            r#"{"message":"Resource not accessible"}"#,
        );
        assert_eq!(judge_at(Idempotency::Idempotent, 0, &r), Verdict::Done);
    }

    #[test]
    fn a_bad_gateway_repeats_a_get_but_never_a_post() {
        let r = response(502, &[], "");
        assert!(matches!(
            judge_at(Idempotency::Idempotent, 0, &r),
            Verdict::Retry(_)
        ));
        assert_eq!(judge_at(Idempotency::NotIdempotent, 0, &r), Verdict::Done);
    }

    #[test]
    fn retries_are_bounded() {
        let r = response(429, &[("retry-after", "1")], "");
        assert_eq!(
            judge_at(Idempotency::Idempotent, 3, &r),
            Verdict::RateLimited(Some(Duration::from_secs(1)))
        );
        let r = response(503, &[], "");
        assert_eq!(judge_at(Idempotency::Idempotent, 3, &r), Verdict::Done);
    }
}
