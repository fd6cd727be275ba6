//! Every PR-related delivery in the shared corpus (`../shared/corpus/`, read in place): signed here
//! with a test secret the way its host signs, verified, parsed, and the normalised event
//! snapshotted with insta (the published signature vectors and tamper checks:
//! `corpus_signatures`).

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use landfall_function::event::{CommentId, Event, Provider};
use landfall_function::webhook::{self, Verifier, auth};
use secrecy::SecretString;

pub(super) const SECRET: &str = "landfall-test-secret";

pub(super) fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// The headers each host sends with this file's event (the corpus keeps bodies only).
pub(super) fn delivery_headers(rel: &str) -> (Provider, Vec<(&'static str, String)>) {
    let name = rel.rsplit('/').next().unwrap();
    let dir = rel.split('/').next().unwrap();
    let header = |k: &'static str, v: &str| (k, v.to_owned());
    match dir {
        "github-octokit-webhooks" => {
            let event = rel.split('/').nth(1).unwrap();
            (
                Provider::Github,
                vec![
                    header("X-GitHub-Event", event),
                    header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ],
            )
        }
        "atlantis-webhooks" => match rel.split('/').nth(1).unwrap() {
            "github" => {
                let event = if name.contains("IssueComment") {
                    "issue_comment"
                } else {
                    "pull_request"
                };
                (
                    Provider::Github,
                    vec![
                        header("X-GitHub-Event", event),
                        header("X-GitHub-Enterprise-Host", "ghe.example.com"),
                    ],
                )
            }
            "gitlab" => {
                let event = if name.contains("Comment") || name.contains("comment") {
                    "Note Hook"
                } else {
                    "Merge Request Hook"
                };
                (
                    Provider::Gitlab,
                    vec![
                        header("X-Gitlab-Event", event),
                        header("X-Gitlab-Event-UUID", "gl-1"),
                    ],
                )
            }
            "bitbucket-cloud" => {
                let key = match name {
                    "bitbucket-cloud-comment-event.json" => "pullrequest:comment_created",
                    "bitbucket-cloud-pull-event-created.json" => "pullrequest:created",
                    "bitbucket-cloud-pull-event-fulfilled.json" => "pullrequest:fulfilled",
                    "bitbucket-cloud-pull-event-rejected.json" => "pullrequest:rejected",
                    "bitbucket-cloud-pull-event-updated.json" => "pullrequest:updated",
                    other => panic!("no event key for {other}"),
                };
                (
                    Provider::BitbucketCloud,
                    vec![
                        header("X-Event-Key", key),
                        header("X-Request-UUID", "bbc-1"),
                        header("X-Hook-UUID", "h"),
                    ],
                )
            }
            "bitbucket-server" => {
                let key = match name {
                    "bitbucket-server-comment-event.json" => "pr:comment:added",
                    "bitbucket-server-pull-event-created.json" => "pr:opened",
                    "bitbucket-server-pull-event-merged.json" => "pr:merged",
                    other => panic!("no event key for {other}"),
                };
                (
                    Provider::BitbucketServer,
                    vec![header("X-Event-Key", key), header("X-Request-Id", "bbs-1")],
                )
            }
            other => panic!("unknown atlantis folder {other}"),
        },
        "azuredevops-mcdafydd-go-azuredevops" => (
            Provider::AzureDevops,
            vec![
                header("X-VSS-ActivityId", "a"),
                header("User-Agent", "VSServices/15.255.65000.0"),
            ],
        ),
        "gitlab-xanzy-go-gitlab" => {
            let event = match name {
                "merge_request.json" | "group_merge_request.json" => "Merge Request Hook",
                "service_merge_request.json" => "System Hook",
                "push.json" => "Push Hook",
                "pipeline.json" => "Pipeline Hook",
                _ => "Note Hook",
            };
            (Provider::Gitlab, vec![header("X-Gitlab-Event", event)])
        }
        other => panic!("unknown corpus folder {other}"),
    }
}

pub(super) fn deliveries() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "github-octokit-webhooks",
        "atlantis-webhooks",
        "azuredevops-mcdafydd-go-azuredevops",
        "gitlab-xanzy-go-gitlab",
    ] {
        collect(&corpus().join(dir), &mut files);
    }
    let root = corpus();
    let mut rel: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    rel.sort();
    rel
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
    {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

pub(super) fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

pub(super) fn secret_for(provider: Provider) -> &'static str {
    if provider == Provider::AzureDevops {
        "landfall:landfall-test-secret"
    } else {
        SECRET
    }
}

/// Signs, verifies, detects the host and parses one corpus file; returns the inspect view.
fn inspect(rel: &str, body: &[u8]) -> serde_json::Value {
    serde_json::to_value(parse_delivery(rel, body).view(Some(true))).unwrap()
}

/// Signs, verifies, detects the host and parses one corpus file.
fn parse_delivery(rel: &str, body: &[u8]) -> Event {
    let (provider, mut pairs) = delivery_headers(rel);
    let (sig_name, sig_value) = auth::sign(provider, secret_for(provider), body);
    pairs.push((sig_name, sig_value));
    let headers = header_map(&pairs);
    assert_eq!(
        webhook::detect_provider(&headers, body),
        Some(provider),
        "{rel}: host not recognised"
    );
    let verifier = Verifier::new(
        provider,
        SecretString::from(secret_for(provider).to_owned()),
        false,
    );
    verifier
        .verify(&headers, body)
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    webhook::parse(provider, &headers, body).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_corpus_delivery_verifies_parses_and_matches_its_snapshot() {
    let files = deliveries();
    assert!(
        files.len() >= 90,
        "expected the whole webhook corpus, found {} files",
        files.len()
    );
    for rel in files {
        let body = std::fs::read(corpus().join(&rel)).unwrap();
        let view = inspect(&rel, &body);
        let name = rel.trim_end_matches(".json").replace('/', "__");
        insta::assert_json_snapshot!(name, view);
    }
}

/// Every comment in the corpus, new or changed, is known by the id its host gives it (Azure
/// DevOps: thread and comment), so that its command runs at most once.
#[test]
fn every_comment_delivery_names_its_comment_by_the_host_s_id() {
    let mut seen = 0;
    for rel in deliveries() {
        let body = std::fs::read(corpus().join(&rel)).unwrap();
        let event = parse_delivery(&rel, &body);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // Azure DevOps: the comment beside its pull request (2.0), or the resource itself (1.0).
        let ado_comment = json
            .pointer("/resource/comment")
            .unwrap_or(&json["resource"]);
        let ado_thread = ado_comment
            .pointer("/_links/threads/href")
            .and_then(|href| href.as_str()?.rsplit('/').next());
        let expected = match event.provider {
            Provider::Gitlab => json
                .pointer("/object_attributes/id")
                .filter(|_| json["object_kind"] == "note")
                .map(ToString::to_string),
            Provider::AzureDevops => ado_thread
                .zip(ado_comment.get("id"))
                .map(|(thread, id)| format!("{thread}/{id}")),
            _ => json.pointer("/comment/id").map(ToString::to_string),
        };
        let Some(expected) = expected else {
            assert_eq!(event.comment_id, None, "{rel}");
            continue;
        };
        assert_eq!(event.comment_id, Some(CommentId(expected)), "{rel}");
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} comment deliveries in the corpus");
}

#[test]
fn comments_on_plain_issues_are_ignored() {
    for rel in deliveries().iter().filter(|r| {
        r.contains("issue_comment/") || r.contains("note_issue") || r.contains("note_commit")
    }) {
        let view = inspect(rel, &std::fs::read(corpus().join(rel)).unwrap());
        assert_eq!(view["event"], "ignored", "{rel}");
        assert!(
            view["reason"].as_str().unwrap().starts_with("comment on"),
            "{rel}"
        );
    }
}

#[test]
fn the_atlantis_comment_placeholder_becomes_a_command_when_filled_in() {
    let rel = "atlantis-webhooks/github/githubIssueCommentEvent.json";
    let raw = std::fs::read_to_string(corpus().join(rel)).unwrap();
    for (text, name) in [
        ("atlantis plan -d infra -- -var 'a=b'", "plan"),
        ("landfall apply -p staging", "apply"),
    ] {
        let body = raw.replace("###comment body###", text);
        let view = inspect(rel, body.as_bytes());
        assert_eq!(view["event"], "comment");
        assert_eq!(view["command"]["name"], name);
        assert_eq!(
            view["head_sha"],
            serde_json::Value::Null,
            "issue_comment never carries the head SHA"
        );
    }
    let body = raw.replace("###comment body###", "landfall destroy");
    let view = inspect(rel, body.as_bytes());
    assert_eq!(view["event"], "comment");
    assert!(
        view["command"]["reply"]
            .as_str()
            .unwrap()
            .contains("unknown command")
    );
}

/// Azure DevOps comment events through the whole handler: version 2.0 carries the pull request and
/// a command in a new comment is accepted (an edited one is ignored); version 1.0 names no
/// repository, so even a command is answered 200 `ignored` with the fix in the reason (not a bare
/// 403 the operator cannot act on).
#[test]
fn azure_devops_comment_events_in_both_resource_versions_get_a_clear_answer() {
    use http_body_util::Full;
    use landfall_function::allowlist::RepoAllowlist;
    use landfall_function::handler::{LogSink, WebhookHandler};

    let handler = WebhookHandler::new(
        Verifier::new(
            Provider::AzureDevops,
            SecretString::from(secret_for(Provider::AzureDevops).to_owned()),
            false,
        ),
        RepoAllowlist::parse("Fabrikam/*").unwrap(),
        1 << 20,
        LogSink,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let respond = |rel: &str, body: String| {
        let (_, pairs) = delivery_headers(rel);
        let (name, value) = auth::sign(
            Provider::AzureDevops,
            secret_for(Provider::AzureDevops),
            body.as_bytes(),
        );
        let mut request = http::Request::post("/");
        for (name, value) in pairs.into_iter().chain([(name, value)]) {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(bytes::Bytes::from(body))).unwrap();
        let response = runtime.block_on(handler.respond(request));
        let json: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        (response.status().as_u16(), json)
    };
    let dir = "azuredevops-mcdafydd-go-azuredevops";
    for version in ["v1", "v2"] {
        let rel = format!("{dir}/git-pullrequest-comment-event-{version}.json");
        let raw = std::fs::read_to_string(corpus().join(&rel)).unwrap();
        // Microsoft's samples are edits (the text last changed after it was published), which
        // carry no command; as first written, the same comment does.
        let written = raw.replace(
            r#""lastContentUpdatedDate": "2014-06-17T16:58:33.123889Z""#,
            r#""lastContentUpdatedDate": "2014-06-17T16:55:46.589889Z""#,
        );
        assert!(
            version == "v1" || written != raw,
            "{rel}: the dates are as expected"
        );
        for body in [
            raw.clone(),
            raw.replace("This is my comment.", "landfall plan"),
            written.replace("This is my comment.", "landfall plan"),
        ] {
            let (status, json) = respond(&rel, body.clone());
            let event = &json["event"];
            assert_eq!(event["number"], 1, "{rel}");
            if version == "v1" {
                assert_eq!(status, 200, "{rel}: {json}");
                assert_eq!(json["status"], "ignored");
                assert!(
                    event["reason"]
                        .as_str()
                        .unwrap()
                        .contains("set its resource version to 2.0"),
                    "{json}"
                );
            } else if body.contains("landfall plan")
                && body != raw.replace("This is my comment.", "landfall plan")
            {
                assert_eq!((status, &event["repo"]), (202, &"Fabrikam/Fabrikam".into()));
                assert_eq!(event["command"]["name"], "plan");
            } else {
                assert_eq!(
                    (status, &json["status"]),
                    (200, &"ignored".into()),
                    "{json}"
                );
                assert_eq!(event["reason"], "comment edited", "{json}");
            }
        }
    }
}

#[test]
fn gitlab_updates_are_pushes_only_with_oldrev_and_ready_only_when_draft_is_cleared() {
    for rel in deliveries()
        .iter()
        .filter(|r| r.contains("gitlab-merge-request-event-update") || r.contains("mark-as-ready"))
    {
        let view = inspect(rel, &std::fs::read(corpus().join(rel)).unwrap());
        let expected = if rel.ends_with("update-new-commit.json") {
            "pushed"
        } else if rel.ends_with("mark-as-ready.json") {
            "ready"
        } else {
            "ignored"
        };
        assert_eq!(view["event"], expected, "{rel}");
    }
}

#[test]
fn the_inspect_command_prints_the_contract_shape() {
    let rel = "github-octokit-webhooks/pull_request/opened.payload.json";
    let body = std::fs::read(corpus().join(rel)).unwrap();
    let (_, sig) = auth::sign(Provider::Github, SECRET, &body);
    let signed = |secret: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_landfall-function"))
            .args([
                "webhook",
                "inspect",
                "--header",
                "x-github-event: pull_request",
            ])
            .args(["--header", &format!("X-Hub-Signature-256: {sig}")])
            .args(["--secret", secret])
            .arg(corpus().join(rel))
            .output()
            .unwrap()
    };
    let out = signed(SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["provider"], "github");
    assert_eq!(view["event"], "opened");
    assert_eq!(view["repo"], "Codertocat/Hello-World");
    assert_eq!(view["number"], 2);
    assert_eq!(view["head_sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(
        (view["head_branch"].as_str(), view["base_branch"].as_str()),
        (Some("changes"), Some("master"))
    );
    assert_eq!(view["verified"], true);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_landfall-function"))
        .args(["webhook", "inspect", "--provider", "github", "-"])
        .stdin(std::fs::File::open(corpus().join(rel)).unwrap())
        .output()
        .unwrap();
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        view["event"], "opened",
        "the event type is inferred without X-GitHub-Event"
    );
    assert!(view["verified"].is_null());

    // A wrong secret: the view is shown, and the command fails as the function would refuse.
    let out = signed("not-the-secret");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["verified"], false);
}
