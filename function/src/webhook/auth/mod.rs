//! Webhook authentication, over the raw body and before any parsing, in constant time.
//!
//! | host | header | scheme |
//! |---|---|---|
//! | GitHub | `X-Hub-Signature-256: sha256=<hex>` | HMAC-SHA256 of the body (`X-Hub-Signature: sha1=` only when SHA-1 is allowed) |
//! | GitLab | `webhook-signature: v1,<base64>` with `webhook-id`, `webhook-timestamp` | HMAC-SHA256 of `id.timestamp.body` keyed by the signing token (`whsec_<base64 key>`), the timestamp within five minutes of now ([Standard Webhooks]) |
//! | GitLab | `X-Gitlab-Token: <secret>` | the secret itself, when the secret is not a signing token (with a signing token, a delivery without `webhook-signature` is refused) |
//! | Bitbucket Cloud, Server | `X-Hub-Signature: sha256=<hex>` | HMAC-SHA256 of the body |
//! | Gitea, Forgejo | `X-Gitea-Signature`, `X-Forgejo-Signature`, `X-Gogs-Signature`: `<hex>`, or `X-Hub-Signature-256` | HMAC-SHA256 of the body |
//! | Azure DevOps | `Authorization: Basic <base64(user:password)>` | the secret is `user:password` |
//!
//! Comparisons of secrets (GitLab, Azure DevOps) compare SHA-256 digests in constant time, so
//! neither the content nor the length of the secret leaks through timing.
//!
//! GitLab's schemes, a signing token or a plain secret token, are in [`gitlab`].
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

mod gitlab;
#[cfg(test)]
mod tests;

pub use self::gitlab::{SIGNATURE_TOLERANCE, SecretError, check_secret, sign_standard_webhook};

use std::time::SystemTime;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::event::Provider;

/// Why a delivery is not authentic. The handler answers every variant with a bare 401; the detail
/// is for logs only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// None of the headers that carry the signature for this host is present.
    #[error("no {expected} header")]
    Missing {
        /// The header(s) looked for.
        expected: &'static str,
    },
    /// The header is there but not in the host's format (wrong prefix, not hex, wrong length).
    #[error("malformed {header} header")]
    Malformed {
        /// The header.
        header: &'static str,
    },
    /// The signature or token does not match the secret.
    #[error("{header} does not match the webhook secret")]
    Mismatch {
        /// The header.
        header: &'static str,
    },
    /// Only a SHA-1 signature was sent and the operator has not allowed SHA-1.
    #[error(
        "only a SHA-1 signature was sent and SHA-1 is not allowed (LANDFALL_WEBHOOK_ALLOW_SHA1)"
    )]
    Sha1NotAllowed,
    /// A Standard Webhooks signature (GitLab's signing token) that matches, over a timestamp too
    /// far from now: a replay, or a clock that is off.
    #[error(
        "webhook-timestamp is {skew_secs} s away from now (more than {} s): a replayed delivery or a skewed clock",
        SIGNATURE_TOLERANCE.as_secs()
    )]
    Stale {
        /// How far the signed timestamp is from now, in seconds.
        skew_secs: u64,
    },
}

/// How to authenticate deliveries: the host's scheme, the secret and whether SHA-1 is acceptable.
#[derive(Clone, Debug)]
pub struct Verifier {
    provider: Provider,
    secret: SecretString,
    allow_sha1: bool,
}

impl Verifier {
    /// A verifier for `provider`'s scheme with `secret`. SHA-1 signatures are refused unless
    /// `allow_sha1`.
    #[must_use]
    pub fn new(provider: Provider, secret: SecretString, allow_sha1: bool) -> Self {
        Verifier {
            provider,
            secret,
            allow_sha1,
        }
    }

    /// The host whose scheme this verifier applies.
    #[must_use]
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Checks one delivery: its headers and its raw body.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// [`Verifier::verify`] with the clock given: signed timestamps are compared with `now`.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let secret = self.secret.expose_secret().as_bytes();
        match self.provider {
            Provider::Github => {
                if let Some(value) = header(headers, "x-hub-signature-256") {
                    return check_hmac_sha256(
                        secret,
                        body,
                        value,
                        "sha256=",
                        "X-Hub-Signature-256",
                    );
                }
                match header(headers, "x-hub-signature") {
                    Some(value) if self.allow_sha1 => check_hmac_sha1(secret, body, value),
                    Some(_) => Err(AuthError::Sha1NotAllowed),
                    None => Err(AuthError::Missing {
                        expected: "X-Hub-Signature-256",
                    }),
                }
            }
            Provider::BitbucketCloud | Provider::BitbucketServer => {
                let value = required(headers, "x-hub-signature", "X-Hub-Signature")?;
                if !value.starts_with("sha1=") {
                    check_hmac_sha256(secret, body, value, "sha256=", "X-Hub-Signature")
                } else if self.allow_sha1 {
                    check_hmac_sha1(secret, body, value)
                } else {
                    Err(AuthError::Sha1NotAllowed)
                }
            }
            Provider::Gitea => {
                for (name, label) in [
                    ("x-forgejo-signature", "X-Forgejo-Signature"),
                    ("x-gitea-signature", "X-Gitea-Signature"),
                    ("x-gogs-signature", "X-Gogs-Signature"),
                ] {
                    if let Some(value) = header(headers, name) {
                        return check_hmac_sha256(secret, body, value, "", label);
                    }
                }
                let expected = "X-Gitea-Signature or X-Forgejo-Signature";
                let value = required(headers, "x-hub-signature-256", expected)?;
                check_hmac_sha256(secret, body, value, "sha256=", "X-Hub-Signature-256")
            }
            Provider::Gitlab => gitlab::verify(self.secret.expose_secret(), headers, body, now),
            Provider::AzureDevops => {
                const HEADER: &str = "Authorization";
                let value = required(headers, "authorization", HEADER)?;
                let (scheme, encoded) = value
                    .trim()
                    .split_once(' ')
                    .ok_or(AuthError::Malformed { header: HEADER })?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(AuthError::Malformed { header: HEADER });
                }
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| AuthError::Malformed { header: HEADER })?;
                if digests_equal(&decoded, secret) {
                    Ok(())
                } else {
                    Err(AuthError::Mismatch { header: HEADER })
                }
            }
        }
    }
}

/// The first value of a header as text, if present and visible ASCII.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A header the scheme needs: its value, or [`AuthError::Missing`] naming it as `expected`.
fn required<'a>(
    headers: &'a HeaderMap,
    name: &str,
    expected: &'static str,
) -> Result<&'a str, AuthError> {
    header(headers, name).ok_or(AuthError::Missing { expected })
}

fn check_hmac_sha256(
    secret: &[u8],
    body: &[u8],
    value: &str,
    prefix: &'static str,
    label: &'static str,
) -> Result<(), AuthError> {
    let sig = decode_signature(value, prefix, 32).ok_or(AuthError::Malformed { header: label })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| AuthError::Mismatch { header: label })
}

fn check_hmac_sha1(secret: &[u8], body: &[u8], value: &str) -> Result<(), AuthError> {
    const LABEL: &str = "X-Hub-Signature";
    let sig = decode_signature(value, "sha1=", 20).ok_or(AuthError::Malformed { header: LABEL })?;
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| AuthError::Mismatch { header: LABEL })
}

fn decode_signature(value: &str, prefix: &str, len: usize) -> Option<Vec<u8>> {
    let value = value.trim();
    let hex_part = if prefix.is_empty() {
        value
    } else {
        let (head, tail) = value.split_at_checked(prefix.len())?;
        if !head.eq_ignore_ascii_case(prefix) {
            return None;
        }
        tail
    };
    let bytes = hex::decode(hex_part).ok()?;
    (bytes.len() == len).then_some(bytes)
}

/// Constant-time equality that hides the length too: compares SHA-256 digests.
fn digests_equal(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// Signs `body` the way `provider` does, returning `(header name, value)`. For tests, the bench and
/// `webhook inspect` users who want to craft a delivery. For GitLab this is the secret token
/// (`X-Gitlab-Token`); a GitLab signing token (`whsec_...`) accepts only signed deliveries,
/// which [`sign_standard_webhook`] makes.
#[must_use]
pub fn sign(provider: Provider, secret: &str, body: &[u8]) -> (&'static str, String) {
    let sha256 = || {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    };
    match provider {
        Provider::Github => ("X-Hub-Signature-256", format!("sha256={}", sha256())),
        Provider::BitbucketCloud | Provider::BitbucketServer => {
            ("X-Hub-Signature", format!("sha256={}", sha256()))
        }
        Provider::Gitea => ("X-Gitea-Signature", sha256()),
        Provider::Gitlab => ("X-Gitlab-Token", secret.to_owned()),
        Provider::AzureDevops => (
            "Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(secret)
            ),
        ),
    }
}
