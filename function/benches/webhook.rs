//! Authenticate + parse + route a ~30 KB GitHub pull-request delivery, side by side with the floor
//! it is compared against: HMAC-SHA256 of the same bytes plus `serde_json::from_slice::<Value>`.
//! The target: the first at most 2x the second.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use landfall_function::allowlist::RepoAllowlist;
use landfall_function::config::DEFAULT_MAX_BODY_BYTES;
use landfall_function::event::Provider;
use landfall_function::handler::{LogSink, WebhookHandler};
use landfall_function::webhook::{Verifier, auth::sign};
use secrecy::SecretString;
use sha2::Sha256;

const SECRET: &str = "bench-secret";

fn delivery() -> (HeaderMap, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/github-octokit-webhooks/pull_request/opened.payload.json");
    let body = std::fs::read(path).unwrap();
    let (name, value) = sign(Provider::Github, SECRET, &body);
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_str(&value).unwrap());
    headers.insert("x-github-event", HeaderValue::from_static("pull_request"));
    headers.insert(
        "x-github-delivery",
        HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    );
    (headers, body)
}

fn bench(c: &mut Criterion) {
    let (headers, body) = delivery();
    let verifier = Verifier::new(
        Provider::Github,
        SecretString::from(SECRET.to_owned()),
        false,
    );
    let allowlist = RepoAllowlist::parse("Codertocat/*, acme/**").unwrap();
    let handler = WebhookHandler::new(verifier, allowlist, DEFAULT_MAX_BODY_BYTES, LogSink);
    let signature =
        hex::decode(&headers["x-hub-signature-256"].to_str().unwrap()["sha256=".len()..]).unwrap();

    let mut group = c.benchmark_group(format!("github_pull_request_{}_bytes", body.len()));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("authenticate_parse_route", |b| {
        b.iter(|| {
            let event = handler
                .admit(black_box(&headers), black_box(&body))
                .unwrap();
            assert!(event.is_actionable());
            event
        });
    });
    group.bench_function("hmac_sha256_plus_serde_value", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(black_box(&body));
            mac.verify_slice(&signature).unwrap();
            serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
