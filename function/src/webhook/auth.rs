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
//! GitLab sends `webhook-signature` only when the hook has a signing token. When
//! `LANDFALL_WEBHOOK_SECRET` is a signing token (`whsec_...`), the signature alone decides: a
//! wrong, stale or malformed one is refused even if an `X-Gitlab-Token` is sent too, and so is a
//! delivery with no signature at all, whatever `X-Gitlab-Token` it carries (the token is sent in
//! the clear with every delivery, so whoever saw one could otherwise replay or forge any
//! delivery with it). A replay inside the five-minute window carries the same signed
//! `webhook-id`, which is then the delivery id ([`crate::webhook::delivery_id`]) and which the
//! store's de-duplication refuses.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
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

/// How far a Standard Webhooks `webhook-timestamp` may be from now (the specification's five
/// minutes, either way).
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_mins(5);

/// The prefix of a Standard Webhooks signing secret (GitLab's signing token).
const SIGNING_TOKEN_PREFIX: &str = "whsec_";

/// A webhook secret that cannot be used with its host.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// It starts with `whsec_`, so it is meant as a GitLab signing token, but the rest is not
    /// base64.
    #[error(
        "it starts with `whsec_` but the rest is not base64: copy the signing token exactly as GitLab shows it"
    )]
    BadSigningToken,
}

/// The HMAC key of a GitLab signing token (`whsec_` then the base64 key), `None` for a secret
/// that is not one (a plain secret token).
fn signing_key(secret: &str) -> Option<SecretSlice<u8>> {
    let encoded = secret.strip_prefix(SIGNING_TOKEN_PREFIX)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|key| !key.is_empty())
        .map(SecretSlice::from)
}

/// Checks at start-up that `secret` can authenticate `provider`'s deliveries.
pub fn check_secret(provider: Provider, secret: &SecretString) -> Result<(), SecretError> {
    let secret = secret.expose_secret();
    if provider == Provider::Gitlab
        && secret.starts_with(SIGNING_TOKEN_PREFIX)
        && signing_key(secret).is_none()
    {
        return Err(SecretError::BadSigningToken);
    }
    Ok(())
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
                match header(headers, "x-hub-signature") {
                    Some(value) if value.starts_with("sha1=") => {
                        if self.allow_sha1 {
                            check_hmac_sha1(secret, body, value)
                        } else {
                            Err(AuthError::Sha1NotAllowed)
                        }
                    }
                    Some(value) => {
                        check_hmac_sha256(secret, body, value, "sha256=", "X-Hub-Signature")
                    }
                    None => Err(AuthError::Missing {
                        expected: "X-Hub-Signature",
                    }),
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
                match header(headers, "x-hub-signature-256") {
                    Some(value) => {
                        check_hmac_sha256(secret, body, value, "sha256=", "X-Hub-Signature-256")
                    }
                    None => Err(AuthError::Missing {
                        expected: "X-Gitea-Signature or X-Forgejo-Signature",
                    }),
                }
            }
            Provider::Gitlab => self.verify_gitlab(headers, body, now),
            Provider::AzureDevops => {
                const HEADER: &str = "Authorization";
                let value = header(headers, "authorization")
                    .ok_or(AuthError::Missing { expected: HEADER })?;
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

    /// GitLab: with a signing token (`whsec_...`), the Standard Webhooks signature and nothing
    /// else; with a plain secret, `X-Gitlab-Token`.
    fn verify_gitlab(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let secret = self.secret.expose_secret().as_bytes();
        if let Some(key) = signing_key(self.secret.expose_secret()) {
            // A signing token accepts signed deliveries only: never the token itself.
            let signatures = header(headers, "webhook-signature").ok_or(AuthError::Missing {
                expected: "webhook-signature",
            })?;
            return check_standard_webhook(key.expose_secret(), headers, signatures, body, now);
        }
        let token = header(headers, "x-gitlab-token").ok_or(AuthError::Missing {
            expected: "X-Gitlab-Token",
        })?;
        if digests_equal(token.as_bytes(), secret) {
            Ok(())
        } else {
            Err(AuthError::Mismatch {
                header: "X-Gitlab-Token",
            })
        }
    }
}

/// The first value of a header as text, if present and visible ASCII.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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

/// Checks a [Standard Webhooks] signature: one or more space-separated `v1,<base64>` entries,
/// each an HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`; one must match, and the
/// timestamp must be within [`SIGNATURE_TOLERANCE`] of `now`.
///
/// [Standard Webhooks]: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
fn check_standard_webhook(
    key: &[u8],
    headers: &HeaderMap,
    signatures: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    const LABEL: &str = "webhook-signature";
    let id = header(headers, "webhook-id").ok_or(AuthError::Missing {
        expected: "webhook-id",
    })?;
    let timestamp = header(headers, "webhook-timestamp").ok_or(AuthError::Missing {
        expected: "webhook-timestamp",
    })?;
    let signed_at: u64 = timestamp
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| timestamp.parse().ok())
        .flatten()
        .ok_or(AuthError::Malformed {
            header: "webhook-timestamp",
        })?;
    let mac = standard_webhook_mac(key, id, timestamp, body);
    let candidates: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .filter(|sig| sig.len() == 32)
        .collect();
    if candidates.is_empty() {
        return Err(AuthError::Malformed { header: LABEL });
    }
    // Every candidate is checked, in constant time each, whether or not an earlier one matched.
    let matched = candidates.iter().fold(false, |found, sig| {
        mac.clone().verify_slice(sig).is_ok() | found
    });
    if !matched {
        return Err(AuthError::Mismatch { header: LABEL });
    }
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let skew_secs = now.abs_diff(signed_at);
    if skew_secs > SIGNATURE_TOLERANCE.as_secs() {
        return Err(AuthError::Stale { skew_secs });
    }
    Ok(())
}

/// The HMAC-SHA256 of `<id>.<timestamp>.<body>`, before finalisation.
fn standard_webhook_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        mac.update(part);
    }
    mac
}

/// The `webhook-signature` value GitLab sends for `body` with a signing token `secret`
/// (`whsec_...`), delivery `id` and Unix `timestamp`; `None` when `secret` is not a signing token.
#[must_use]
pub fn sign_standard_webhook(
    secret: &str,
    id: &str,
    timestamp: u64,
    body: &[u8],
) -> Option<String> {
    let key = signing_key(secret)?;
    let mac = standard_webhook_mac(key.expose_secret(), id, &timestamp.to_string(), body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn verifier(provider: Provider, secret: &str) -> Verifier {
        Verifier::new(provider, SecretString::from(secret.to_owned()), false)
    }

    #[test]
    fn github_docs_vector_verifies() {
        let h = headers(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(
            verifier(Provider::Github, "It's a Secret to Everybody").verify(&h, b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let (_, value) = sign(Provider::Github, "s", b"x");
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_static("x-hub-signature-256"),
            HeaderValue::from_str(&value).unwrap(),
        );
        assert_eq!(verifier(Provider::Github, "s").verify(&h, b"x"), Ok(()));
    }

    #[test]
    fn every_provider_accepts_its_own_signature_and_refuses_another_secret() {
        for provider in Provider::ALL {
            let (name, value) = sign(provider, "user:correct horse", b"{\"a\":1}");
            let h = headers(&[(name, &value)]);
            assert_eq!(
                verifier(provider, "user:correct horse").verify(&h, b"{\"a\":1}"),
                Ok(()),
                "{provider}"
            );
            assert!(
                verifier(provider, "user:battery staple")
                    .verify(&h, b"{\"a\":1}")
                    .is_err(),
                "{provider}"
            );
        }
    }

    #[test]
    fn a_missing_signature_is_refused_for_every_provider() {
        for provider in Provider::ALL {
            assert!(matches!(
                verifier(provider, "s").verify(&HeaderMap::new(), b"{}"),
                Err(AuthError::Missing { .. })
            ));
        }
    }

    #[test]
    fn sha1_signatures_are_refused_unless_allowed() {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"s").unwrap();
        mac.update(b"body");
        let value = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
        let h = headers(&[("X-Hub-Signature", &value)]);
        assert_eq!(
            verifier(Provider::Github, "s").verify(&h, b"body"),
            Err(AuthError::Sha1NotAllowed)
        );
        let allowing = Verifier::new(Provider::Github, SecretString::from("s".to_owned()), true);
        assert_eq!(allowing.verify(&h, b"body"), Ok(()));
        assert!(allowing.verify(&h, b"bodY").is_err());
    }

    #[test]
    fn malformed_signatures_are_refused_without_panicking() {
        for value in [
            "",
            "sha256=",
            "sha256=zz",
            "sha1=00",
            "md5=abcd",
            "sha256=757107ea",
        ] {
            let h = headers(&[("X-Hub-Signature-256", value)]);
            assert!(
                verifier(Provider::Github, "s").verify(&h, b"x").is_err(),
                "{value}"
            );
        }
        for value in ["Bearer abc", "Basic !!!", "Basic"] {
            let h = headers(&[("Authorization", value)]);
            assert!(
                verifier(Provider::AzureDevops, "u:p")
                    .verify(&h, b"x")
                    .is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn forgejo_and_gitea_headers_both_verify() {
        let (_, hex) = sign(Provider::Gitea, "s", b"x");
        for name in [
            "X-Forgejo-Signature",
            "X-Gitea-Signature",
            "X-Gogs-Signature",
        ] {
            assert_eq!(
                verifier(Provider::Gitea, "s").verify(&headers(&[(name, &hex)]), b"x"),
                Ok(()),
                "{name}"
            );
        }
        let h = headers(&[("X-Hub-Signature-256", &format!("sha256={hex}"))]);
        assert_eq!(verifier(Provider::Gitea, "s").verify(&h, b"x"), Ok(()));
    }

    /// The Standard Webhooks specification's published vector.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: u64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn signed(signature: &str) -> HeaderMap {
        headers(&[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", &SPEC_TIMESTAMP.to_string()),
            ("webhook-signature", signature),
        ])
    }

    #[test]
    fn the_standard_webhooks_vector_verifies_and_is_what_we_sign() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        assert_eq!(
            v.verify_at(&signed(SPEC_SIGNATURE), SPEC_BODY, at(SPEC_TIMESTAMP)),
            Ok(())
        );
        assert_eq!(
            sign_standard_webhook(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).as_deref(),
            Some(SPEC_SIGNATURE)
        );
        assert_eq!(sign_standard_webhook("plain", SPEC_ID, 1, b""), None);
    }

    #[test]
    fn a_signed_timestamp_outside_five_minutes_is_refused_as_a_replay() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        let h = signed(SPEC_SIGNATURE);
        for ok in [SPEC_TIMESTAMP - 300, SPEC_TIMESTAMP + 300] {
            assert_eq!(v.verify_at(&h, SPEC_BODY, at(ok)), Ok(()), "{ok}");
        }
        assert_eq!(
            v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP + 301)),
            Err(AuthError::Stale { skew_secs: 301 })
        );
        assert_eq!(
            v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP - 3600)),
            Err(AuthError::Stale { skew_secs: 3600 })
        );
        // Against the real clock the 2021 vector is long stale.
        assert!(matches!(
            v.verify(&h, SPEC_BODY),
            Err(AuthError::Stale { .. })
        ));
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        let other = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for value in [
            format!("{other} {SPEC_SIGNATURE}"),
            format!("v1a,xyz {SPEC_SIGNATURE} {other}"),
        ] {
            assert_eq!(
                v.verify_at(&signed(&value), SPEC_BODY, at(SPEC_TIMESTAMP)),
                Ok(()),
                "{value}"
            );
        }
        assert_eq!(
            v.verify_at(&signed(other), SPEC_BODY, at(SPEC_TIMESTAMP)),
            Err(AuthError::Mismatch {
                header: "webhook-signature"
            })
        );
    }

    #[test]
    fn a_signature_without_its_id_or_timestamp_or_in_another_format_is_refused() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        let now = at(SPEC_TIMESTAMP);
        let mut h = signed(SPEC_SIGNATURE);
        h.remove("webhook-id");
        assert_eq!(
            v.verify_at(&h, SPEC_BODY, now),
            Err(AuthError::Missing {
                expected: "webhook-id"
            })
        );
        let mut h = signed(SPEC_SIGNATURE);
        h.remove("webhook-timestamp");
        assert!(matches!(
            v.verify_at(&h, SPEC_BODY, now),
            Err(AuthError::Missing { .. })
        ));
        for ts in [
            "",
            "+1614265330",
            "1614265330.0",
            "-1",
            "99999999999999999999999",
        ] {
            let mut h = signed(SPEC_SIGNATURE);
            h.insert("webhook-timestamp", HeaderValue::from_str(ts).unwrap());
            assert!(
                matches!(
                    v.verify_at(&h, SPEC_BODY, now),
                    Err(AuthError::Malformed { .. })
                ),
                "{ts:?}"
            );
        }
        for sig in [
            "",
            "v1,",
            "v1,!!!",
            "v1a,g0hM9SsE",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert!(
                matches!(
                    v.verify_at(&signed(sig), SPEC_BODY, now),
                    Err(AuthError::Malformed { .. })
                ),
                "{sig:?}"
            );
        }
    }

    #[test]
    fn with_a_signing_token_the_signature_decides_even_when_a_token_is_sent() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        let mut h = signed("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        h.insert("x-gitlab-token", HeaderValue::from_static(SPEC_SECRET));
        assert!(v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP)).is_err());
    }

    #[test]
    fn with_a_signing_token_an_unsigned_delivery_carrying_the_token_is_refused() {
        let v = verifier(Provider::Gitlab, SPEC_SECRET);
        let key = SPEC_SECRET.trim_start_matches("whsec_");
        for token in [SPEC_SECRET, key] {
            let mut h = headers(&[("x-gitlab-token", token)]);
            h.insert("webhook-id", HeaderValue::from_static(SPEC_ID));
            h.insert(
                "webhook-timestamp",
                HeaderValue::from_str(&SPEC_TIMESTAMP.to_string()).unwrap(),
            );
            assert_eq!(
                v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP)),
                Err(AuthError::Missing {
                    expected: "webhook-signature"
                }),
                "{token}"
            );
        }
        // The same delivery signed passes.
        let mut h = signed(SPEC_SIGNATURE);
        h.insert("x-gitlab-token", HeaderValue::from_static(SPEC_SECRET));
        assert_eq!(v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP)), Ok(()));
    }

    #[test]
    fn a_plain_secret_token_ignores_signatures_it_cannot_check() {
        let v = verifier(Provider::Gitlab, "plain-secret-token");
        let mut h = signed(SPEC_SIGNATURE);
        assert!(matches!(
            v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP)),
            Err(AuthError::Missing {
                expected: "X-Gitlab-Token"
            })
        ));
        h.insert(
            "x-gitlab-token",
            HeaderValue::from_static("plain-secret-token"),
        );
        assert_eq!(v.verify_at(&h, SPEC_BODY, at(SPEC_TIMESTAMP)), Ok(()));
    }

    #[test]
    fn a_signing_token_that_is_not_base64_stops_start_up() {
        let check = |s: &str| check_secret(Provider::Gitlab, &SecretString::from(s.to_owned()));
        assert_eq!(check(SPEC_SECRET), Ok(()));
        assert_eq!(check("plain"), Ok(()));
        assert_eq!(
            check("whsec_not base64!"),
            Err(SecretError::BadSigningToken)
        );
        assert_eq!(check("whsec_"), Err(SecretError::BadSigningToken));
        assert_eq!(
            check_secret(Provider::Github, &SecretString::from("whsec_!".to_owned())),
            Ok(())
        );
    }
}
