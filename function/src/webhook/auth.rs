//! Webhook authentication, over the raw body and before any parsing, in constant time.
//!
//! | host | header | scheme |
//! |---|---|---|
//! | GitHub | `X-Hub-Signature-256: sha256=<hex>` | HMAC-SHA256 of the body (`X-Hub-Signature: sha1=` only when SHA-1 is allowed) |
//! | GitLab | `X-Gitlab-Token: <secret>` | the secret itself |
//! | Bitbucket Cloud, Server | `X-Hub-Signature: sha256=<hex>` | HMAC-SHA256 of the body |
//! | Gitea, Forgejo | `X-Gitea-Signature`, `X-Forgejo-Signature`, `X-Gogs-Signature`: `<hex>`, or `X-Hub-Signature-256` | HMAC-SHA256 of the body |
//! | Azure DevOps | `Authorization: Basic <base64(user:password)>` | the secret is `user:password` |
//!
//! Comparisons of secrets (GitLab, Azure DevOps) compare SHA-256 digests in constant time, so
//! neither the content nor the length of the secret leaks through timing.

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
            Provider::Gitlab => {
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
/// `webhook inspect` users who want to craft a delivery.
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
}
