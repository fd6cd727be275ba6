//! Property tests: the webhook parsers, the verifier and the command parser never panic, whatever
//! bytes arrive; and a valid command survives a round trip through its canonical spelling.

use std::path::Path;

use http::{HeaderMap, HeaderName, HeaderValue};
use landfall_function::command::{Command, ParsedComment, parse_comment};
use landfall_function::event::Provider;
use landfall_function::webhook::{self, Verifier};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::Value;

fn provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(Provider::ALL.to_vec())
}

/// The event header values each host uses, plus junk.
fn event_headers() -> impl Strategy<Value = HeaderMap> {
    let names = prop::sample::select(vec![
        "x-github-event",
        "x-gitea-event",
        "x-gitlab-event",
        "x-event-key",
        "content-type",
    ]);
    let values = prop::sample::select(vec![
        "pull_request",
        "issue_comment",
        "pull_request_review_comment",
        "ping",
        "push",
        "Merge Request Hook",
        "Note Hook",
        "System Hook",
        "pullrequest:created",
        "pullrequest:comment_created",
        "pr:opened",
        "pr:comment:added",
        "diagnostics:ping",
        "application/x-www-form-urlencoded",
        "",
        "weird",
    ]);
    prop::collection::vec((names, values), 0..3).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    })
}

/// Arbitrary JSON, biased towards the keys the parsers look at so that deep paths get exercised.
fn json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "action",
        "pull_request",
        "issue",
        "comment",
        "repository",
        "sender",
        "number",
        "head",
        "base",
        "ref",
        "sha",
        "user",
        "login",
        "full_name",
        "merged",
        "object_kind",
        "object_attributes",
        "iid",
        "oldrev",
        "changes",
        "title",
        "previous",
        "current",
        "draft",
        "note",
        "noteable_type",
        "merge_request",
        "last_commit",
        "id",
        "eventType",
        "resource",
        "pullRequest",
        "pullRequestId",
        "status",
        "content",
        "pullrequest",
        "source",
        "destination",
        "branch",
        "commit",
        "hash",
        "eventKey",
        "fromRef",
        "toRef",
        "latestCommit",
        "displayId",
        "project",
        "key",
        "slug",
        "is_pull",
        "zen",
        "body",
        "raw",
        "text",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "opened",
            "closed",
            "update",
            "MergeRequest",
            "landfall plan",
            "atlantis apply -d ..",
            "completed",
            "MERGED",
            "refs/heads/x",
            ""
        ])
        .prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(p in provider(), headers in event_headers(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = webhook::parse(p, &headers, &body);
        let _ = webhook::detect_provider(&headers, &body);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(p in provider(), headers in event_headers(), value in json()) {
        let body = serde_json::to_vec(&value).unwrap();
        let _ = webhook::parse(p, &headers, &body);
        let _ = webhook::detect_provider(&headers, &body);
    }

    #[test]
    fn the_verifier_never_panics_on_arbitrary_headers(p in provider(), name in prop::sample::select(vec![
        "x-hub-signature-256", "x-hub-signature", "x-gitlab-token", "authorization", "x-gitea-signature", "x-forgejo-signature",
    ]), value in "[ -~]{0,100}", allow_sha1 in any::<bool>()) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
        let verifier = Verifier::new(p, SecretString::from("secret".to_owned()), allow_sha1);
        let result = verifier.verify(&headers, b"{}");
        prop_assert!(result.is_err() || value.trim() == "secret" || value.contains("c2VjcmV0"));
    }

    #[test]
    fn the_command_parser_never_panics(text in ".*") {
        let _ = parse_comment(&text);
    }

    #[test]
    fn the_command_parser_never_panics_on_commands(tool in prop::sample::select(vec!["landfall", "atlantis", "LANDFALL"]), rest in r#"[a-z \-=.'"\\/p dwv\n-]{0,60}"#) {
        let parsed = parse_comment(&format!("{tool} {rest}"));
        prop_assert!(parsed.is_some(), "a comment starting with the tool name is always addressed to us");
        if let Some(ParsedComment::Invalid(invalid)) = parsed {
            prop_assert!(invalid.reply().contains("Usage"));
        }
    }

    #[test]
    fn a_valid_command_survives_its_canonical_spelling(
        action in prop::sample::select(vec!["plan", "apply"]),
        dir in prop::option::of("[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}"),
        workspace in prop::option::of("[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,9}"),
        verbose in any::<bool>(),
        extra in prop::collection::vec("-var=[a-z]{1,5}=[ -~]{0,10}", 0..3),
    ) {
        let mut text = format!("landfall {action}");
        if let Some(d) = &dir { text.push_str(" -d "); text.push_str(&shell_words::quote(d)); }
        if let Some(w) = &workspace { text.push_str(" --workspace="); text.push_str(&shell_words::quote(w)); }
        if verbose { text += " --verbose"; }
        if !extra.is_empty() { text.push_str(" -- "); text.push_str(&shell_words::join(&extra)); }
        let Some(ParsedComment::Command(first)) = parse_comment(&text) else {
            return Err(TestCaseError::fail(format!("{text:?} did not parse")));
        };
        let Some(ParsedComment::Command(second)) = parse_comment(&first.to_string()) else {
            return Err(TestCaseError::fail(format!("{first} did not parse")));
        };
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&first.extra_args, &extra);
        let _: &Command = &second;
    }
}

#[test]
fn mutated_corpus_deliveries_never_panic_the_parsers() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let files = [
        (
            "github-octokit-webhooks/pull_request/opened.payload.json",
            Provider::Github,
            "x-github-event",
            "pull_request",
        ),
        (
            "atlantis-webhooks/gitlab/gitlab-merge-request-event-update-new-commit.json",
            Provider::Gitlab,
            "x-gitlab-event",
            "Merge Request Hook",
        ),
        (
            "atlantis-webhooks/bitbucket-server/bitbucket-server-comment-event.json",
            Provider::BitbucketServer,
            "x-event-key",
            "pr:comment:added",
        ),
        (
            "atlantis-webhooks/bitbucket-cloud/bitbucket-cloud-comment-event.json",
            Provider::BitbucketCloud,
            "x-event-key",
            "pullrequest:comment_created",
        ),
        (
            "azuredevops-mcdafydd-go-azuredevops/git-pullrequest-comment-event-v2.json",
            Provider::AzureDevops,
            "x-vss-activityid",
            "a",
        ),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (rel, provider, name, value) in files {
        let body = std::fs::read(corpus.join(rel)).unwrap();
        let headers: HeaderMap = [(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )]
        .into_iter()
        .collect();
        for _ in 0..300 {
            let mut mutated = body.clone();
            for _ in 0..=(next() % 4) {
                let i = usize::try_from(next()).unwrap() % mutated.len();
                match next() % 3 {
                    0 => mutated[i] = (next() & 0xff) as u8,
                    1 => {
                        mutated.truncate(i);
                    }
                    _ => {
                        mutated.remove(i);
                    }
                }
                if mutated.is_empty() {
                    break;
                }
            }
            let _ = webhook::parse(provider, &headers, &mutated);
        }
    }
}
