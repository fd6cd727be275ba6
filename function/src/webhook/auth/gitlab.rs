//! GitLab's two schemes: a signing token (`whsec_...`, [Standard Webhooks]) or a plain secret
//! token (`X-Gitlab-Token`).
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
use sha2::Sha256;

use super::{AuthError, digests_equal, required};
use crate::event::Provider;

/// How far a Standard Webhooks `webhook-timestamp` may be from now (the specification's five
/// minutes, either way).
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_mins(5);

/// The prefix of a Standard Webhooks signing secret (GitLab's signing token).
const SIGNING_TOKEN_PREFIX: &str = "whsec_";

/// A webhook secret that cannot be used with its host.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// Nothing but blanks (a secret stored from an empty variable): anyone could sign with it.
    #[error("it is blank: anyone could sign deliveries with it; set the secret the host has")]
    Blank,
    /// Azure DevOps authenticates service hooks with basic auth.
    #[error("for azure-devops the secret is the service hook's basic-auth `user:password`")]
    NotBasicAuth,
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

/// Checks at start-up that `secret` can authenticate `provider`'s deliveries, wherever it came
/// from (a value read from Secrets Manager included).
pub fn check_secret(provider: Provider, secret: &SecretString) -> Result<(), SecretError> {
    let secret = secret.expose_secret();
    if secret.trim().is_empty() {
        return Err(SecretError::Blank);
    }
    if provider == Provider::AzureDevops && !crate::config::is_basic_auth(secret) {
        return Err(SecretError::NotBasicAuth);
    }
    if provider == Provider::Gitlab
        && secret.starts_with(SIGNING_TOKEN_PREFIX)
        && signing_key(secret).is_none()
    {
        return Err(SecretError::BadSigningToken);
    }
    Ok(())
}

/// GitLab: with a signing token (`whsec_...`) as `secret`, the Standard Webhooks signature and
/// nothing else; with a plain secret, `X-Gitlab-Token`.
pub(super) fn verify(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthError> {
    if let Some(key) = signing_key(secret) {
        // A signing token accepts signed deliveries only: never the token itself.
        let signatures = required(headers, "webhook-signature", "webhook-signature")?;
        return check_standard_webhook(key.expose_secret(), headers, signatures, body, now);
    }
    let token = required(headers, "x-gitlab-token", "X-Gitlab-Token")?;
    if digests_equal(token.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::Mismatch {
            header: "X-Gitlab-Token",
        })
    }
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
    let id = required(headers, "webhook-id", "webhook-id")?;
    let timestamp = required(headers, "webhook-timestamp", "webhook-timestamp")?;
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

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::super::tests::{headers, verifier};
    use super::*;

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

    #[test]
    fn a_blank_secret_and_an_azure_devops_secret_without_a_password_stop_start_up() {
        let check = |p: Provider, s: &str| check_secret(p, &SecretString::from(s.to_owned()));
        for provider in [Provider::Github, Provider::Gitlab, Provider::AzureDevops] {
            assert_eq!(check(provider, "\n"), Err(SecretError::Blank));
            assert_eq!(check(provider, " \t"), Err(SecretError::Blank));
        }
        assert_eq!(
            check(Provider::AzureDevops, "hook"),
            Err(SecretError::NotBasicAuth)
        );
        assert_eq!(
            check(Provider::AzureDevops, ":"),
            Err(SecretError::NotBasicAuth)
        );
        assert_eq!(
            check(Provider::AzureDevops, "hook: "),
            Err(SecretError::NotBasicAuth)
        );
        assert_eq!(check(Provider::AzureDevops, "hook:pass"), Ok(()));
    }
}
