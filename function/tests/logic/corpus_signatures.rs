//! The hosts' signatures on the corpus's deliveries: the published signature vectors verify, every
//! single-byte change to a signed body, a signature, a GitLab signing token's id and timestamp, or
//! the secret is refused, and a delivery without a signature is refused.

use landfall_function::event::{DeliveryId, Provider};
use landfall_function::webhook::{self, Verifier, auth};
use secrecy::SecretString;

use crate::corpus::{SECRET, corpus, deliveries, delivery_headers, header_map, secret_for};

#[test]
fn published_signature_vectors_verify() {
    let vectors: serde_json::Value = serde_json::from_slice(
        &std::fs::read(corpus().join("signature-vectors/signature-vectors.json")).unwrap(),
    )
    .unwrap();
    for v in vectors["vectors"].as_array().unwrap() {
        let body = match v["payload_file"].as_str() {
            Some(file) => std::fs::read(corpus().join(file)).unwrap(),
            None => v["payload_text"].as_str().unwrap().as_bytes().to_vec(),
        };
        let provider: Provider = v["provider"].as_str().unwrap().parse().unwrap();
        let headers = header_map(&[(
            leak(v["header"].as_str().unwrap()),
            v["expected_header_value"].as_str().unwrap().to_owned(),
        )]);
        let verifier = Verifier::new(
            provider,
            SecretString::from(v["secret"].as_str().unwrap().to_owned()),
            false,
        );
        assert_eq!(
            verifier.verify(&headers, &body).is_ok(),
            v["must_verify"].as_bool().unwrap(),
            "{}",
            v["id"]
        );
        assert_eq!(
            auth::sign(provider, v["secret"].as_str().unwrap(), &body).1,
            v["expected_header_value"].as_str().unwrap()
        );
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[test]
fn every_single_byte_change_to_the_github_docs_vector_is_refused() {
    let secret = SecretString::from("It's a Secret to Everybody".to_owned());
    let verifier = Verifier::new(Provider::Github, secret, false);
    let body = b"Hello, World!".to_vec();
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = |value: &str| header_map(&[("X-Hub-Signature-256", value.to_owned())]);
    assert!(verifier.verify(&headers(sig), &body).is_ok());
    for i in 0..body.len() {
        for b in 0..=255u8 {
            if b == body[i] {
                continue;
            }
            let mut changed = body.clone();
            changed[i] = b;
            assert!(
                verifier.verify(&headers(sig), &changed).is_err(),
                "body byte {i} = {b}"
            );
        }
    }
    let sig_bytes = sig.as_bytes();
    for i in 0..sig_bytes.len() {
        for b in 0x20..0x7fu8 {
            if b == sig_bytes[i] {
                continue;
            }
            let mut changed = sig_bytes.to_vec();
            changed[i] = b;
            let changed = String::from_utf8(changed).unwrap();
            // Hex digits and the prefix are case-insensitive: a change of case is the same signature.
            if changed.eq_ignore_ascii_case(sig) {
                continue;
            }
            assert!(
                verifier.verify(&headers(&changed), &body).is_err(),
                "signature byte {i} = {b}"
            );
        }
    }
}

#[test]
fn every_single_byte_change_to_a_signed_corpus_body_is_refused_for_every_host() {
    let samples = [
        "atlantis-webhooks/bitbucket-server/bitbucket-server-pull-event-created.json",
        "atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-pull-event-updated.json",
        "github-octokit-webhooks/ping/payload.json",
    ];
    for rel in samples {
        let body = std::fs::read(corpus().join(rel)).unwrap();
        let (provider, _) = delivery_headers(rel);
        let (name, value) = auth::sign(provider, SECRET, &body);
        let headers = header_map(&[(name, value)]);
        let verifier = Verifier::new(provider, SecretString::from(SECRET.to_owned()), false);
        assert!(verifier.verify(&headers, &body).is_ok());
        let mut changed = body.clone();
        for i in 0..body.len() {
            changed[i] ^= 0x01;
            assert!(
                verifier.verify(&headers, &changed).is_err(),
                "{rel}: byte {i}"
            );
            changed[i] = body[i];
        }
    }
    // Gitea signs the same way; GitLab and Azure DevOps send the secret, so change the secret instead.
    let body = b"{}";
    let (name, value) = auth::sign(Provider::Gitea, SECRET, body);
    let verifier = Verifier::new(
        Provider::Gitea,
        SecretString::from(SECRET.to_owned()),
        false,
    );
    for i in 0..value.len() {
        let mut changed = value.clone().into_bytes();
        changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(
            verifier
                .verify(&header_map(&[(name, changed)]), body)
                .is_err()
        );
    }
    for provider in [Provider::Gitlab, Provider::AzureDevops] {
        let secret = secret_for(provider);
        let verifier = Verifier::new(provider, SecretString::from(secret.to_owned()), false);
        for i in 0..secret.len() {
            let mut wrong = secret.as_bytes().to_vec();
            wrong[i] ^= 0x01;
            let (name, value) = auth::sign(provider, std::str::from_utf8(&wrong).unwrap(), body);
            assert!(
                verifier
                    .verify(&header_map(&[(name, value)]), body)
                    .is_err(),
                "{provider} byte {i}"
            );
        }
    }
}

/// Flips each byte of `bytes` in turn (to every other printable ASCII byte when `printable`,
/// else by its lowest bit) and asserts that `refused` holds for every change.
fn every_single_byte_change(bytes: &[u8], printable: bool, refused: impl Fn(&[u8]) -> bool) {
    for i in 0..bytes.len() {
        let replacements: Vec<u8> = if printable {
            (0x20..0x7fu8).filter(|b| *b != bytes[i]).collect()
        } else {
            vec![bytes[i] ^ 0x01]
        };
        for b in replacements {
            let mut changed = bytes.to_vec();
            changed[i] = b;
            assert!(refused(&changed), "byte {i} changed to {b:#04x}");
        }
    }
}

/// GitLab's signing token (Standard Webhooks). Two vectors: the specification's published one,
/// and a corpus merge-request delivery signed with Python's `hmac` (key
/// `landfall-gitlab-signing-key-32b!`, id and timestamp below):
/// `base64(hmac.new(key, id + b"." + ts + b"." + body, sha256).digest())`.
#[test]
fn gitlab_signed_deliveries_verify_and_every_single_byte_change_is_refused() {
    use std::time::{Duration, UNIX_EPOCH};
    let vectors = [
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#.to_vec(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
        (
            "whsec_bGFuZGZhbGwtZ2l0bGFiLXNpZ25pbmcta2V5LTMyYiE=",
            "d4c1a2b0-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "1767225600",
            std::fs::read(
                corpus().join("atlantis-webhooks/gitlab/gitlab-merge-request-event.json"),
            )
            .unwrap(),
            "v1,0gF1x0L5GAzWe+mxb8XGVe5ptzZ9VV+B3jck85CSKZk=",
        ),
    ];
    for (secret, id, timestamp, body, signature) in vectors {
        let verifier = Verifier::new(
            Provider::Gitlab,
            SecretString::from(secret.to_owned()),
            false,
        );
        let now = UNIX_EPOCH + Duration::from_secs(timestamp.parse().unwrap());
        let headers = |id: &str, ts: &str, sig: &str| {
            let mut pairs = vec![("X-Gitlab-Event", "Merge Request Hook".to_owned())];
            for (name, value) in [
                ("webhook-id", id),
                ("webhook-timestamp", ts),
                ("webhook-signature", sig),
            ] {
                pairs.push((name, value.to_owned()));
            }
            header_map(&pairs)
        };
        let ok = headers(id, timestamp, signature);
        assert_eq!(verifier.verify_at(&ok, &body, now), Ok(()), "{id}");
        assert_eq!(
            auth::sign_standard_webhook(secret, id, timestamp.parse().unwrap(), &body).as_deref(),
            Some(signature)
        );
        // The parser reads the signed delivery like any other; its id is the delivery id.
        if body.len() > 100 {
            let event = webhook::parse(Provider::Gitlab, &ok, &body).unwrap();
            assert_eq!(event.delivery.as_ref().map(DeliveryId::as_str), Some(id));
        }
        every_single_byte_change(&body, false, |changed| {
            verifier.verify_at(&ok, changed, now).is_err()
        });
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        every_single_byte_change(id.as_bytes(), true, |changed| {
            let h = headers(&text(changed), timestamp, signature);
            verifier.verify_at(&h, &body, now).is_err()
        });
        every_single_byte_change(timestamp.as_bytes(), true, |changed| {
            let h = headers(id, &text(changed), signature);
            verifier.verify_at(&h, &body, now).is_err()
        });
        every_single_byte_change(signature.as_bytes(), true, |changed| {
            // A trailing space only separates signatures: the same one is still sent.
            let changed = text(changed);
            changed.trim_end() == signature
                || verifier
                    .verify_at(&headers(id, timestamp, &changed), &body, now)
                    .is_err()
        });
        // A changed secret fails too.
        let mut key = secret.as_bytes().to_vec();
        let last = key.len() - 2;
        key[last] = if key[last] == b'A' { b'B' } else { b'A' };
        let other = Verifier::new(Provider::Gitlab, SecretString::from(text(&key)), false);
        assert!(other.verify_at(&ok, &body, now).is_err());
    }
}

#[test]
fn requests_without_a_signature_are_refused() {
    for rel in deliveries().iter().take(200) {
        let (provider, pairs) = delivery_headers(rel);
        let body = std::fs::read(corpus().join(rel)).unwrap();
        let verifier = Verifier::new(
            provider,
            SecretString::from(secret_for(provider).to_owned()),
            false,
        );
        assert!(
            verifier.verify(&header_map(&pairs), &body).is_err(),
            "{rel}"
        );
    }
}
