//! Webhooks: authentication ([`auth`]), recognising the host from the headers, and one parser per
//! host that turns its payload into an [`Event`]. Everything here is pure: headers and bytes in,
//! a value out.

pub mod auth;
mod azure_devops;
mod bitbucket_cloud;
mod bitbucket_server;
mod gitea;
mod github;
mod gitlab;

use std::borrow::Cow;

use http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use self::auth::header;
pub use self::auth::{AuthError, Verifier};
use crate::event::{CommentId, DeliveryId, Event, EventKind, IgnoreReason, Provider, RepoName};

/// Why a delivery that passed authentication cannot be parsed. The handler answers 400.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not the JSON the host sends for this event type.
    #[error("the body is not a valid {provider} {event} payload")]
    Json {
        /// The host.
        provider: Provider,
        /// The event type, as the host names it.
        event: String,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
}

/// Recognises the host from the headers it always sends; falls back to the few bodies that name
/// their host (Azure DevOps, GitLab, Bitbucket Server). `None` when nothing identifies it.
#[must_use]
pub fn detect_provider(headers: &HeaderMap, body: &[u8]) -> Option<Provider> {
    let has = |name: &str| headers.contains_key(name);
    if has("x-forgejo-event") || has("x-gitea-event") || has("x-gogs-event") {
        return Some(Provider::Gitea);
    }
    if has("x-github-event") {
        return Some(Provider::Github);
    }
    if has("x-gitlab-event") || has("x-gitlab-token") || has("x-gitlab-instance") {
        return Some(Provider::Gitlab);
    }
    if let Some(key) = header(headers, "x-event-key") {
        let cloud = has("x-hook-uuid")
            || has("x-request-uuid")
            || key.starts_with("pullrequest:")
            || key == "repo:push"
            || header(headers, "user-agent").is_some_and(|ua| ua.starts_with("Bitbucket-Webhooks"));
        return Some(if cloud {
            Provider::BitbucketCloud
        } else {
            Provider::BitbucketServer
        });
    }
    if has("x-vss-activityid") || has("x-vss-subscriptionid") {
        return Some(Provider::AzureDevops);
    }
    sniff_body(body)
}

fn sniff_body(body: &[u8]) -> Option<Provider> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sniff {
        publisher_id: Option<String>,
        event_type: Option<String>,
        event_key: Option<String>,
        #[serde(rename = "object_kind")]
        object_kind: Option<String>,
    }
    let sniff: Sniff = serde_json::from_slice(body).ok()?;
    if sniff.publisher_id.as_deref() == Some("tfs")
        || sniff
            .event_type
            .is_some_and(|t| t.starts_with("git.") || t.starts_with("ms.vss"))
    {
        Some(Provider::AzureDevops)
    } else if sniff.object_kind.is_some() {
        Some(Provider::Gitlab)
    } else if sniff.event_key.is_some() {
        Some(Provider::BitbucketServer)
    } else {
        None
    }
}

/// Parses an authenticated delivery from `provider` into an [`Event`].
pub fn parse(provider: Provider, headers: &HeaderMap, body: &[u8]) -> Result<Event, ParseError> {
    let body_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let body = json_body(headers, body);
    let mut event = match provider {
        Provider::Github => github::parse(headers, &body),
        Provider::Gitlab => gitlab::parse(headers, &body),
        Provider::AzureDevops => azure_devops::parse(&body),
        Provider::BitbucketCloud => bitbucket_cloud::parse(headers, &body),
        Provider::BitbucketServer => bitbucket_server::parse(headers, &body),
        Provider::Gitea => gitea::parse(headers, &body),
    }?;
    if event.delivery.is_none() {
        event.delivery = delivery_id(provider, headers);
    }
    event.body_sha256 = Some(body_sha256);
    Ok(event)
}

/// The host's id for this delivery, from the header each host uses (Azure DevOps sends none: its
/// parser takes the notification's `id` from the payload). A blank header is no id.
///
/// | host | header |
/// |---|---|
/// | GitHub | `X-GitHub-Delivery` (kept by a redelivery) |
/// | GitLab, signed (Standard Webhooks) | `webhook-id`, the id the signature covers, and nothing else |
/// | GitLab, unsigned | `Idempotency-Key` (GitLab 17.4+: kept by retries and resends), else `X-Gitlab-Event-UUID`; never `X-Gitlab-Webhook-UUID`, which names the webhook, not the delivery |
/// | Bitbucket Cloud | `X-Request-UUID` (not `X-Hook-UUID`, which names the webhook) |
/// | Bitbucket Server / Data Center | `X-Request-Id` |
/// | Gitea, Forgejo, Gogs | `X-Forgejo-Delivery`, `X-Gitea-Delivery`, `X-Gogs-Delivery`, `X-GitHub-Delivery` |
///
/// A signed GitLab delivery is de-duplicated on its signed `webhook-id` only: its unsigned
/// headers can be changed by whoever replays it, so a replay inside the signature's five
/// minutes under fresh UUIDs still has the same id.
#[must_use]
pub fn delivery_id(provider: Provider, headers: &HeaderMap) -> Option<DeliveryId> {
    delivery_headers(provider, headers)
        .iter()
        .find_map(|n| header(headers, n).map(str::trim).filter(|v| !v.is_empty()))
        .map(DeliveryId::new)
}

/// The headers that carry the delivery id, in the order they are trusted.
fn delivery_headers(provider: Provider, headers: &HeaderMap) -> &'static [&'static str] {
    match provider {
        Provider::Github => &["x-github-delivery"],
        Provider::Gitlab if headers.contains_key("webhook-signature") => &["webhook-id"],
        Provider::Gitlab => &["idempotency-key", "x-gitlab-event-uuid"],
        Provider::BitbucketCloud => &["x-request-uuid"],
        Provider::BitbucketServer => &["x-request-id"],
        Provider::Gitea => &[
            "x-forgejo-delivery",
            "x-gitea-delivery",
            "x-gogs-delivery",
            "x-github-delivery",
        ],
        Provider::AzureDevops => &[],
    }
}

/// Where `provider`'s delivery id should have been, as a refusal names it: a delivery without
/// one is refused, since a replay of it could not be told from a new delivery.
#[must_use]
pub fn expected_delivery_id(provider: Provider, headers: &HeaderMap) -> &'static str {
    match provider {
        Provider::Github => "X-GitHub-Delivery header",
        Provider::Gitlab if headers.contains_key("webhook-signature") => "webhook-id header",
        Provider::Gitlab => "X-Gitlab-Event-UUID (or Idempotency-Key) header",
        Provider::BitbucketCloud => "X-Request-UUID header",
        Provider::BitbucketServer => "X-Request-Id header",
        Provider::Gitea => "X-Gitea-Delivery (or X-Forgejo-Delivery) header",
        Provider::AzureDevops => "notification id (the payload's `id`)",
    }
}

/// GitHub and Gitea can send `application/x-www-form-urlencoded` bodies with the JSON in a
/// `payload` field; everything else is the JSON itself. A "form" body that has no `payload` field
/// is read as JSON (tools such as `curl --data` label JSON as a form).
fn json_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Cow<'a, [u8]> {
    let form = header(headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !form || body.first() == Some(&b'{') {
        return Cow::Borrowed(body);
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map_or(Cow::Borrowed(body), |(_, v)| {
            Cow::Owned(v.into_owned().into_bytes())
        })
}

/// Deserialises a payload. The typed fast path refuses duplicate keys, which some hosts' payloads
/// have (GitLab repeats `git_http_url`); on any error the body is read again through
/// [`serde_json::Value`], which keeps the last duplicate as Go and Ruby parsers do, then as `T`
/// through the same typed reader ([`crate::json::from_value`]).
fn from_json<T: DeserializeOwned>(
    provider: Provider,
    event: &str,
    body: &[u8],
) -> Result<T, ParseError> {
    serde_json::from_slice(body)
        .or_else(|first| {
            // A failure of the second read is reported as the first: its place is in the body.
            serde_json::from_slice::<serde_json::Value>(body)
                .and_then(|value| crate::json::from_value(&value))
                .map_err(|_| first)
        })
        .map_err(|source| ParseError::Json {
            provider,
            event: event.to_owned(),
            source,
        })
}

/// `refs/heads/main` → `main`; other names unchanged.
fn short_branch(name: &str) -> String {
    name.strip_prefix("refs/heads/").unwrap_or(name).to_owned()
}

/// A comment id that the host gives as a number.
fn numbered_comment(id: Option<u64>) -> Option<CommentId> {
    id.map(|id| CommentId(id.to_string()))
}

/// A comment edited or deleted (`how`): not a command.
fn comment_changed(how: &str) -> EventKind {
    EventKind::Ignored(IgnoreReason::CommentChanged(how.to_owned()))
}

/// An event key (`pullrequest:approved`, `pr:reviewer:approved`, `issue:created`) the parser
/// does not handle: an unhandled action of the host's pull request events (keys under
/// `pr_event`), else an unhandled event; an empty key is a missing event type (Bitbucket).
fn unhandled_key(key: &str, pr_event: &str) -> EventKind {
    if key.is_empty() {
        return EventKind::Ignored(IgnoreReason::MissingEventType);
    }
    EventKind::Ignored(match key.split_once(':') {
        Some((event, action)) if event == pr_event => IgnoreReason::UnhandledAction {
            event: event.to_owned(),
            action: action.to_owned(),
        },
        _ => IgnoreReason::UnhandledEvent(key.to_owned()),
    })
}

/// The head's repository `head` as the delivery's `repo` spells it when they are the same
/// repository (Bitbucket's names are case-insensitive), else as given.
fn head_spelled_as(repo: Option<&RepoName>, head: impl Into<String>) -> RepoName {
    match repo {
        Some(repo) => crate::vcs::same_spelling(repo, head),
        None => RepoName::new(head.into()),
    }
}

/// Headers from `(name, value)` pairs, for the parsers' tests.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, http::HeaderValue::from_str(value).unwrap());
    }
    map
}

/// `provider`'s delivery of `body` under the event key `key` (Bitbucket's `X-Event-Key`),
/// parsed, for the parsers' tests.
#[cfg(test)]
pub(crate) fn with_event_key(provider: Provider, key: &str, body: &str) -> Event {
    let headers = test_headers(&[("x-event-key", key)]);
    parse(provider, &headers, body.as_bytes()).unwrap()
}

/// Whether a title marks a draft the way GitLab and Gitea do (`Draft:`, `[Draft]`, `(Draft)`,
/// `WIP:`, `[WIP]`).
fn has_draft_prefix(title: &str) -> bool {
    let t = title.trim_start().to_ascii_lowercase();
    ["draft:", "[draft]", "(draft)", "wip:", "[wip]"]
        .iter()
        .any(|p| t.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        test_headers(pairs)
    }

    #[test]
    fn gitea_headers_win_over_the_github_compatible_ones_it_also_sends() {
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-gitea-event", "pull_request"),
        ]);
        assert_eq!(detect_provider(&h, b""), Some(Provider::Gitea));
        let h = headers(&[
            ("x-github-event", "pull_request"),
            ("x-forgejo-event", "pull_request"),
        ]);
        assert_eq!(detect_provider(&h, b""), Some(Provider::Gitea));
    }

    #[test]
    fn bitbucket_cloud_and_server_are_told_apart_by_their_headers_and_keys() {
        let cloud = headers(&[("x-event-key", "repo:push"), ("x-hook-uuid", "u")]);
        assert_eq!(detect_provider(&cloud, b""), Some(Provider::BitbucketCloud));
        let cloud = headers(&[("x-event-key", "pullrequest:created")]);
        assert_eq!(detect_provider(&cloud, b""), Some(Provider::BitbucketCloud));
        for key in ["pr:opened", "diagnostics:ping", "repo:refs_changed"] {
            let server = headers(&[("x-event-key", key)]);
            let detected = detect_provider(&server, b"");
            assert_eq!(detected, Some(Provider::BitbucketServer), "{key}");
        }
    }

    #[test]
    fn bodies_that_name_their_host_are_recognised_without_headers() {
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"publisherId":"tfs"}"#),
            Some(Provider::AzureDevops)
        );
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"object_kind":"push"}"#),
            Some(Provider::Gitlab)
        );
        assert_eq!(
            detect_provider(&HeaderMap::new(), br#"{"eventKey":"pr:opened"}"#),
            Some(Provider::BitbucketServer)
        );
        assert_eq!(detect_provider(&HeaderMap::new(), br#"{"zen":"x"}"#), None);
        assert_eq!(detect_provider(&HeaderMap::new(), b"not json"), None);
    }

    #[test]
    fn form_encoded_bodies_are_unwrapped() {
        let h = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let body = json_body(&h, b"payload=%7B%22zen%22%3A%22x%22%7D");
        assert_eq!(&*body, br#"{"zen":"x"}"#);
        assert_eq!(&*json_body(&h, br#"{"zen":"x"}"#), br#"{"zen":"x"}"#);
        assert_eq!(&*json_body(&h, b"other=1"), b"other=1");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        #[derive(Deserialize)]
        struct T {
            a: Option<u8>,
        }
        let t: T = from_json(Provider::Gitlab, "x", br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(t.a, Some(2));
    }

    fn id(provider: Provider, pairs: &[(&'static str, &'static str)]) -> Option<String> {
        delivery_id(provider, &headers(pairs)).map(|d| d.as_str().to_owned())
    }

    #[test]
    fn each_host_s_delivery_id_comes_from_its_own_header() {
        let cases: [(Provider, &'static str); 8] = [
            (Provider::Github, "x-github-delivery"),
            (Provider::Gitlab, "x-gitlab-event-uuid"),
            (Provider::BitbucketCloud, "x-request-uuid"),
            (Provider::BitbucketServer, "x-request-id"),
            (Provider::Gitea, "x-gitea-delivery"),
            (Provider::Gitea, "x-forgejo-delivery"),
            (Provider::Gitea, "x-gogs-delivery"),
            (Provider::Gitea, "x-github-delivery"),
        ];
        for (provider, name) in cases {
            assert_eq!(
                id(provider, &[(name, "d-1")]).as_deref(),
                Some("d-1"),
                "{provider} {name}"
            );
            assert_eq!(
                id(provider, &[(name, "  ")]),
                None,
                "{provider}: a blank {name} is no id"
            );
            assert_eq!(id(provider, &[]), None, "{provider}");
        }
        // Headers that do not identify one delivery are never taken for its id.
        assert_eq!(
            id(Provider::BitbucketCloud, &[("x-hook-uuid", "hook")]),
            None
        );
        assert_eq!(id(Provider::Github, &[("x-github-hook-id", "1")]), None);
        assert_eq!(
            id(Provider::AzureDevops, &[("x-vss-activityid", "a")]),
            None
        );
    }

    #[test]
    fn a_signed_gitlab_delivery_is_known_by_its_signed_webhook_id_only() {
        const SIGNED: (&str, &str) = ("webhook-signature", "v1,abc");
        const EVENT_UUID: (&str, &str) = ("x-gitlab-event-uuid", "event-uuid");
        const KEY: (&str, &str) = ("idempotency-key", "key");
        const HOOK: (&str, &str) = ("x-gitlab-webhook-uuid", "hook-uuid");
        type Headers = &'static [(&'static str, &'static str)];
        let cases: [(Headers, Option<&str>); 7] = [
            (
                &[SIGNED, ("webhook-id", "msg_signed"), EVENT_UUID, KEY],
                Some("msg_signed"),
            ),
            // Signed but without its id: no id, rather than an unsigned header's.
            (&[SIGNED], None),
            (&[SIGNED, EVENT_UUID, KEY], None),
            // Unsigned: the idempotency key (kept by GitLab's retries) first, then the event
            // UUID; the webhook UUID names the hook, shared by all its deliveries: never an id.
            // An unsigned `webhook-id` is not an id either.
            (&[("webhook-id", "msg"), HOOK, EVENT_UUID, KEY], Some("key")),
            (
                &[("webhook-id", "msg"), HOOK, EVENT_UUID],
                Some("event-uuid"),
            ),
            (&[("webhook-id", "msg"), HOOK], None),
            (&[("webhook-id", "msg")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                id(Provider::Gitlab, pairs).as_deref(),
                expected,
                "{pairs:?}"
            );
        }
        let signed = headers(&[SIGNED]);
        assert_eq!(
            expected_delivery_id(Provider::Gitlab, &signed),
            "webhook-id header"
        );
    }

    #[test]
    fn draft_prefixes_are_recognised_in_any_case() {
        assert!(has_draft_prefix("Draft: fix"));
        assert!(has_draft_prefix("[WIP] fix"));
        assert!(has_draft_prefix("  wip: fix"));
        assert!(!has_draft_prefix("Drafting the plan"));
    }
}
