//! The tests of the HMAC schemes (GitHub, Bitbucket, Gitea) and Azure DevOps' Basic auth; GitLab's
//! are beside its code.

use super::*;
use http::HeaderValue;

pub(super) use crate::webhook::test_headers as headers;

pub(super) fn verifier(provider: Provider, secret: &str) -> Verifier {
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
